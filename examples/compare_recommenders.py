#!/usr/bin/env python
"""Recommender comparison with confidence intervals, from a finished run folder.

Usage:
    alignuser run scenarios/quickstart.yaml --out runs/quickstart
    python examples/compare_recommenders.py runs/quickstart [--metric watch_rate]

Prints the macro outcomes with 95% bootstrap CIs, the paired difference of every
recommender against the best one (same agents, common random numbers, so the bootstrap
resamples distinct users jointly), and saves ``compare_recommenders.png`` in the run folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from alignuser.evaluation import macro
from alignuser.evaluation.macro import macro_outcomes, rank_recommenders
from alignuser.simulation.outputs import read_events, read_manifest, read_sessions

RATIOS = ["likes_per_page", "mean_rating", "satisfaction", "watch_rate"]


def paired_differences(events, sessions, metric: str, best: str, n_boot: int = 1000, seed: int = 0):
    """Difference (other - best) of a ratio metric with a paired bootstrap CI over users."""
    pairs = macro.paired_differences(events, sessions, metric, n_boot=n_boot, seed=seed)
    rows = pairs[pairs["b"] == best].rename(columns={"a": "recommender", "b": "vs"})
    rows["significant"] = ~rows["tied"].astype(bool)
    return rows[["recommender", "vs", "difference", "ci_low", "ci_high", "significant"]].reset_index(drop=True)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--metric", default="watch_rate", choices=sorted(RATIOS))
    args = parser.parse_args(argv)
    events, sessions = read_events(args.run_dir), read_sessions(args.run_dir)
    manifest = read_manifest(args.run_dir)
    table = macro_outcomes(events, sessions, n_items=manifest.get("n_items", events.item_id.max() + 1),
                           max_rating=manifest.get("max_rating", 5))  # fmt: skip
    paired = macro.paired_differences(events, sessions, args.metric)
    ranking = rank_recommenders(table, args.metric, paired=paired)
    print(f"Ranking by {args.metric} (95% CI):\n{ranking.to_string(index=False)}\n")
    diffs = paired_differences(events, sessions, args.metric, ranking.iloc[0]["recommender"])
    print(f"Paired differences against the best:\n{diffs.to_string(index=False)}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    v = ranking["value"].to_numpy()
    ax.errorbar(ranking["recommender"], v, yerr=[v - ranking["ci_low"], ranking["ci_high"] - v],
                fmt="o", capsize=5)  # fmt: skip
    ax.set(title=f"{args.metric} per recommender (95% CI)", ylabel=args.metric)
    out = args.run_dir / "compare_recommenders.png"
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print(f"\nFigure: {out}")
    return diffs


if __name__ == "__main__":
    main()
