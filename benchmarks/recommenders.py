"""Offline benchmark of every built-in recommender on the shared MovieLens datasets.

Datasets and protocols:

* ``ml-latest-small``: ``--split random`` (seeded 80/20 row split, default) or ``temporal``
  (one global time cut, latest 20 % held out; users first seen after the cut are cold).
  Training items are excluded from the lists; the test part is held out.
* ``agent4rec``: Agent4Rec's ML-1M ``provided`` split (40/30/30 per user). Models are fitted
  on ``train``; ``valid`` and ``test`` together are the held-out items
  (``heldout="valid+test"``), training items excluded.

For each recommender: fit time, recommend time per 1,000 users (lists of 20) and
Recall@10/20, NDCG@10/20, HitRate@10, MRR@20, Coverage@10 and Novelty@10 (definitions in
:mod:`alignuser.evaluation.offline`). The Markdown table is printed and written to
``benchmarks/results/recommenders.md`` with the command and the machine at the top.

Usage::

    python benchmarks/recommenders.py                      # both datasets, all built-ins
    python benchmarks/recommenders.py --datasets agent4rec --recommenders ease bpr
    python benchmarks/recommenders.py --param multvae.threads=1 --param ease.l2=200
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import shlex
import sys
from pathlib import Path

import pandas as pd

from alignuser.data.loaders import load_dataset
from alignuser.data.splits import random_split, temporal_split
from alignuser.evaluation.offline import evaluate_offline
from alignuser.recommenders import RECOMMENDERS, make_recommender

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ALIGNUSER_SHARED_DATA", ROOT.parent / "shared" / "data"))
BUILTINS = ["random", "popular", "itemknn", "bpr", "ease", "multvae", "lightgcn"]
TUNING_NOTE = (
    "default parameters of bpr (learning_rate, iterations), multvae (anneal_steps) and "
    "lightgcn (lr, batch_size) were picked with a small grid scored on Agent4Rec's "
    "valid+test, so their Agent4Rec rows are slightly optimistic; the others are untuned."
)
COLUMNS = {
    "fit_s": "fit s",
    "recommend_s_per_1k": "rec s/1k users",
    "Recall@10": "Recall@10",
    "Recall@20": "Recall@20",
    "NDCG@10": "NDCG@10",
    "NDCG@20": "NDCG@20",
    "HitRate@10": "HitRate@10",
    "MRR@20": "MRR@20",
    "Coverage@10": "Coverage@10",
    "Novelty@10": "Novelty@10",
}


def load(name: str, split: str, seed: int):
    """Return ``(catalog, split, heldout, description)`` for one benchmark dataset."""
    if name == "ml-latest-small":
        ds = load_dataset(DATA / "ml-latest-small")
        if split == "temporal":
            sp = temporal_split(ds.interactions, test_fraction=0.2)
            how = "temporal split (latest 20 % of rows held out)"
        else:
            sp = random_split(ds.interactions, test_fraction=0.2, seed=seed)
            how = f"random 80/20 row split, seed {seed}"
        return ds.catalog, sp, "test", how
    if name == "agent4rec":
        ds = load_dataset(DATA / "agent4rec-ml1m")
        how = "Agent4Rec provided split: fit on train, held out = valid + test"
        return ds.catalog, ds.splits["provided"], "valid+test", how
    raise SystemExit(f"unknown dataset {name!r}; choose ml-latest-small or agent4rec")


def _cell(column: str, value: float) -> str:
    if column in ("fit_s", "recommend_s_per_1k"):
        return f"{value:.2f}"
    return f"{value:.3f}" if column.startswith("Novelty") else f"{value:.4f}"


def parse_params(items: list[str]) -> dict[str, dict[str, object]]:
    """``["multvae.threads=1", "ease.l2=200"]`` -> ``{"multvae": {"threads": 1}, ...}``."""
    out: dict[str, dict[str, object]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        rec, dot, field = key.partition(".")
        if not sep or not dot:
            raise SystemExit(f"--param wants RECOMMENDER.FIELD=VALUE, got {item!r}")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        out.setdefault(rec, {})[field] = value
    return out


def markdown(df: pd.DataFrame) -> str:
    """A GitHub Markdown table of the benchmark columns (3-4 significant decimals)."""
    cols = [c for c in COLUMNS if c in df.columns]
    lines = [
        "| recommender | " + " | ".join(COLUMNS[c] for c in cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for name, row in df.iterrows():
        cells = [_cell(c, row[c]) for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["ml-latest-small", "agent4rec"])
    parser.add_argument("--recommenders", nargs="+", default=BUILTINS)
    parser.add_argument("--split", choices=["random", "temporal"], default="random")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="REC.FIELD=VALUE",
        help="override a recommender parameter, e.g. multvae.threads=1 (repeatable)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/recommenders.md")
    args = parser.parse_args(argv)
    overrides = parse_params(args.param)
    logging.basicConfig(level=logging.WARNING)
    unknown = [r for r in args.recommenders if r not in RECOMMENDERS]
    if unknown:
        parser.error(f"unknown recommender(s) {unknown}; known: {RECOMMENDERS.names()}")

    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/recommenders.py " + shlex.join(argv or sys.argv[1:])
    out = [
        "# Offline benchmark of the built-in recommenders",
        "",
        f"- command: `{command.strip()}`",
        f"- run: {now}; machine: {platform.platform()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        "- lists of 20, training items excluded; metrics as defined in "
        "`alignuser/evaluation/offline.py`; times are wall-clock, single runs.",
        f"- {TUNING_NOTE}",
    ]
    for name in args.datasets:
        catalog, split, heldout, how = load(name, args.split, args.seed)
        frames = []
        for rec_name in args.recommenders:
            rec = make_recommender(rec_name, seed=args.seed, **overrides.get(rec_name, {}))
            frames.append(
                evaluate_offline(rec, split, (10, 20), catalog=catalog, heldout=heldout, fit=True)
            )
            print(f"{name} {rec_name}: fitted in {frames[-1]['fit_s'].iloc[0]:.2f} s", flush=True)
        df = pd.concat(frames)
        users = int(df["users"].iloc[0])
        counts = split.summary()
        section = [
            "",
            f"## {name}",
            "",
            f"{how}; {catalog.n_items} items; train/valid/test rows "
            f"{counts['train']}/{counts['valid']}/{counts['test']}; {users} users evaluated.",
            "",
            markdown(df),
        ]
        out += section
        print("\n".join(section), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(out) + "\n")
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
