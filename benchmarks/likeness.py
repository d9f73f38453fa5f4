"""Discriminator human-likeness of every policy on EB-NeRD and Agent4Rec (ML-1M).

Usage::

    python benchmarks/likeness.py [--checkpoints DIR+DIR+DIR] [--seeds 0,1,2]
        [--max-users 1000] [--out benchmarks/results]

Runs :func:`alignuser.evaluation.likeness.run_likeness` (what ``alignuser eval likeness``
runs) on the shared ``ebnerd-sample`` and ``agent4rec-ml1m``; the AlignUSER checkpoints
(one row each, joined by ``+``) apply to the data they were trained on: ``--checkpoints``
to Agent4Rec, ``--ebnerd-checkpoints`` (``scenarios/train_ebnerd.yaml``, whose time cut is
this protocol's) to EB-NeRD.
Writes ``likeness.md`` and ``likeness.json`` with the exact command and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEFAULT_CKPTS = "/tmp/tr/full_s0/policy+/tmp/tr/full_s1/policy+/tmp/tr/full_s2/policy"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoints", default=DEFAULT_CKPTS, help="Agent4Rec checkpoints, '+'")
    ap.add_argument("--ebnerd-checkpoints", default=None, help="EB-NeRD checkpoints, '+'")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--max-users", type=int, default=1000)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args()
    from alignuser.evaluation.common import run_meta, write_tables
    from alignuser.evaluation.likeness import run_likeness

    start = time.perf_counter()
    tables = run_likeness(seeds=[int(s) for s in args.seeds.split(",")],
                          checkpoint={"agent4rec-ml1m": args.checkpoints,
                                      "ebnerd-sample": args.ebnerd_checkpoints},
                          max_users=args.max_users, n_boot=args.n_boot)  # fmt: skip
    imp = tables["importance"]
    top = imp.groupby(["dataset", "policy", "feature"], sort=False)[
        ["importance", "feature_auc", "human_mean", "sim_mean"]
    ].mean()
    top = top.reset_index().sort_values(["dataset", "policy", "importance"],
                                        ascending=[True, True, False], kind="stable")  # fmt: skip
    tables["top_features"] = top.groupby(["dataset", "policy"], sort=False).head(4)
    command = "python benchmarks/likeness.py " + " ".join(sys.argv[1:])
    meta = run_meta(command.strip(), start, threads=os.environ.get("OMP_NUM_THREADS", ""))
    importance = tables.pop("importance")  # per seed and feature: JSON only (long)
    md = write_tables(Path(args.out), "likeness", tables, meta)
    doc = json.loads((Path(args.out) / "likeness.json").read_text())
    doc["importance"] = json.loads(importance.to_json(orient="records"))
    (Path(args.out) / "likeness.json").write_text(json.dumps(doc, indent=1))
    print(tables["summary"].to_string(index=False))
    print(f"wrote {md}")


if __name__ == "__main__":
    main()
