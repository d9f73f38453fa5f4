"""Does the learned model itself carry taste? AlignUSER variants against every baseline.

The Agent4Rec 1:m taste protocol (:mod:`alignuser.evaluation.taste`) on the same sampled
items for every policy, with

* for each AlignUSER variant (one checkpoint per training seed): the AUC of the full watch
  score, of the **LM part** alone (the language model's own logit, item tower and history
  tokens included, without the cue head: :meth:`PolicyModel.watch_parts`) and of the cue
  head's part alone; accuracy with **sampled** decisions (what a simulation does) and with
  **thresholded** ones (``P(watch) >= 0.5``), and the watch rate;
* the baselines (random, popularity, mf, choice) under both rules too
  (:func:`~alignuser.evaluation.baselines.decide_watch`): no policy wins by its rule.

Each AlignUSER cell is the mean +- std over training seeds of the mean over the sample
seeds; baseline cells are mean +- std over the sample seeds.

Usage::

    python benchmarks/taste_ablations.py \\
        --checkpoints "full=A,B,C;LM alone=D,E,F" [--users 1000] [--ms 1,9] [--seeds 0,1,2]

Writes ``benchmarks/results/taste_ablations.md`` (and ``.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

BASELINES = ("random", "popularity", "mf", "choice")


def _variants(spec: str) -> dict[str, list[str]]:
    out = {}
    for part in spec.split(";"):
        if part.strip():
            name, _, dirs = part.partition("=")
            out[name.strip()] = [d.strip() for d in dirs.split(",") if d.strip()]
    return out


def _samples(ds, split, builder, ms, seeds, users):
    from alignuser.evaluation.taste import sample_taste_items

    out = {}
    for m in ms:
        for seed in seeds:
            sample = sample_taste_items(split, ds.n_items, m, seed, users)
            states, order = [], []
            for u, g in sample.groupby("user_id", sort=True):
                states.extend(builder.pages(int(u), g["item_id"].tolist(), 4))
                order.append(g.index.to_numpy())
            y = sample["label"].to_numpy()[np.concatenate(order)]
            out[(m, seed)] = (states, y)
    return out


def _alignuser_row(pm, states, y, m, seed):
    from alignuser.evaluation.protocols import rng_for
    from alignuser.training.evaluate import auc

    parts = pm.watch_parts(states)
    cal = pm.calibration
    z = float(cal.get("watch_scale", 1.0)) * (parts["lm"] + parts["cues"]) + float(
        cal.get("watch_bias", 0.0)
    )
    p = 1 / (1 + np.exp(-z))
    sampled = rng_for(seed, 202, m, 99).random(len(p)) < p
    thr = p >= 0.5
    return {
        "auc": auc(p, y),
        "lm_auc": auc(parts["lm"], y),
        "cue_auc": auc(parts["cues"], y) if np.any(parts["cues"]) else float("nan"),
        "acc_sampled": float((sampled == y.astype(bool)).mean()),
        "acc_threshold": float((thr == y.astype(bool)).mean()),
        "watch_rate": float(p.mean()),
    }


def _baseline_row(policy, states, y, m, seed, k):
    from alignuser.evaluation.baselines import decide_watch, watch_probabilities
    from alignuser.evaluation.protocols import rng_for
    from alignuser.training.evaluate import auc

    score = watch_probabilities(policy, states, rng_for(seed, 202, m, k))
    row = {"auc": auc(score, y), "lm_auc": float("nan"), "cue_auc": float("nan")}
    for mode in ("sample", "greedy"):
        pred = decide_watch(policy, states, rng_for(seed, 202, m, k), mode)
        row["acc_sampled" if mode == "sample" else "acc_threshold"] = float(
            (pred == y.astype(bool)).mean()
        )
        if mode == "sample":
            row["watch_rate"] = float(pred.mean())
    return row


KEYS = ("auc", "lm_auc", "cue_auc", "acc_sampled", "acc_threshold", "watch_rate")


def _cell(vals) -> str:
    vals = [v for v in vals if v == v]
    if not vals:
        return "-"
    if len(vals) == 1:
        return f"{vals[0]:.3f}"
    return f"{np.mean(vals):.3f} +- {np.std(vals, ddof=1):.3f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"
                                          / "agent4rec-ml1m"))  # fmt: skip
    ap.add_argument("--checkpoints", required=True, help="'name=DIR[,DIR...];name2=...'")
    ap.add_argument("--users", type=int, default=0, help="0: every user")
    ap.add_argument("--ms", default="1,9")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "taste_ablations.md"))
    args = ap.parse_args()
    from alignuser.data.loaders import load_dataset
    from alignuser.evaluation.protocols import StateBuilder, build_policies
    from alignuser.policy.checkpoint import load_policy_model

    t0 = time.time()
    ds = load_dataset(args.data)
    split = ds.splits.get("provided") or next(iter(ds.splits.values()))
    users = None
    if args.users:
        pool = np.unique(split.train.df["user_id"].to_numpy())
        users = np.sort(np.random.default_rng(0).choice(pool, min(args.users, len(pool)), False))
    ms = [int(x) for x in args.ms.split(",")]
    seeds = [int(x) for x in args.seeds.split(",")]
    builder = StateBuilder(ds, split.train)
    samples = _samples(ds, split, builder, ms, seeds, users)
    results: dict[str, dict] = {}
    pols = build_policies(ds, split.train, BASELINES, 0)
    for k, (name, pol) in enumerate(pols.items()):
        per_m = {m: [_baseline_row(pol, *samples[(m, s)], m, s, k) for s in seeds] for m in ms}
        results[name] = {"kind": "baseline", "per_m": per_m}
        print(name, {m: {kk: np.mean([r[kk] for r in v]) for kk in KEYS} for m, v in per_m.items()},
              flush=True)  # fmt: skip
    for name, dirs in _variants(args.checkpoints).items():
        per_m = {m: [] for m in ms}
        for d in dirs:
            pm = load_policy_model(d)
            for m in ms:
                rows = [_alignuser_row(pm, *samples[(m, s)], m, s) for s in seeds]
                per_m[m].append({kk: float(np.mean([r[kk] for r in rows])) for kk in KEYS})
        results[name] = {"kind": "alignuser", "dirs": dirs, "per_m": per_m}
        print(name, per_m, flush=True)
    n_users = samples[(ms[0], seeds[0])][1].shape
    lines = [
        "# Taste 1:m (Agent4Rec ML-1M split): AlignUSER variants and baselines, same items",
        "",
        f"Command: `python {' '.join(sys.argv)}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (shared), no GPU; "
        f"{time.time() - t0:.0f} s; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.  ",
        f"Users: {'all' if users is None else len(users)}; sample seeds {args.seeds}; "
        f"pairs at m={ms[0]}: {n_users[0]}. AlignUSER cells: mean +- std over training seeds "
        "(each the mean over sample seeds); baselines: over sample seeds. `lm_auc`: the LM's "
        "own part of the watch logit; `cue_auc`: the cue head's part; thresholded: "
        "P(watch) >= 0.5 (baselines: their deterministic rule).",
        "",
    ]
    for m in ms:
        lines += [f"## 1:{m}", "", "| policy | " + " | ".join(KEYS) + " |",
                  "|---|" + "---:|" * len(KEYS)]  # fmt: skip
        for name, r in results.items():
            rows = r["per_m"][m]
            label = name if r["kind"] == "baseline" else f"alignuser: {name} ({len(rows)} seeds)"
            lines.append(f"| {label} | " + " | ".join(_cell([x[k] for x in rows]) for k in KEYS)
                         + " |")  # fmt: skip
        lines.append("")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
