"""Recommender comparison with confidence intervals, from a finished run folder.

Usage:
    alignuser run scenarios/quickstart.yaml --out runs/quickstart
    python examples/compare_recommenders.py runs/quickstart [--metric watch_rate]

Prints the macro outcomes with 95% bootstrap CIs, the paired difference of every
recommender against the best one (same agents, common random numbers, so the bootstrap
resamples agents jointly), and saves ``compare_recommenders.png`` in the run folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from alignuser.evaluation.macro import agent_aggregates, macro_outcomes, rank_recommenders
from alignuser.simulation.outputs import read_events, read_manifest, read_sessions

RATIOS = {"watch_rate": ("watched", "shown"), "likes_per_page": ("likes", "pages"),
          "mean_rating": ("rating_sum", "watched"), "satisfaction": ("sat_sum", "sat_n")}  # fmt: skip


def paired_differences(events, sessions, metric: str, best: str, n_boot: int = 1000, seed: int = 0):
    """Difference (other - best) of a ratio metric with a paired agent bootstrap CI."""
    num, den = RATIOS[metric]
    agents = np.sort(sessions["agent_id"].unique())
    rng = np.random.default_rng(seed)
    w = rng.multinomial(len(agents), np.full(len(agents), 1 / len(agents)), size=n_boot)
    aggs = {
        r: agent_aggregates(
            events[events.recommender == r], sessions[sessions.recommender == r]
        ).reindex(agents, fill_value=0)
        for r in sessions["recommender"].unique()
    }
    ref = aggs[best]
    ref_boot = (w @ ref[num].to_numpy(float)) / (w @ ref[den].to_numpy(float))
    rows = []
    for r, agg in aggs.items():
        if r == best:
            continue
        boot = (w @ agg[num].to_numpy(float)) / (w @ agg[den].to_numpy(float)) - ref_boot
        diff = agg[num].sum() / agg[den].sum() - ref[num].sum() / ref[den].sum()
        lo, hi = np.nanpercentile(boot, [2.5, 97.5])
        rows.append({"recommender": r, "vs": best, "difference": diff, "ci_low": lo, "ci_high": hi,
                     "significant": not (lo <= 0 <= hi)})  # fmt: skip
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--metric", default="watch_rate", choices=sorted(RATIOS))
    args = parser.parse_args(argv)
    events, sessions = read_events(args.run_dir), read_sessions(args.run_dir)
    manifest = read_manifest(args.run_dir)
    table = macro_outcomes(events, sessions, n_items=manifest.get("n_items", events.item_id.max() + 1),
                           max_rating=manifest.get("max_rating", 5))  # fmt: skip
    ranking = rank_recommenders(table, args.metric)
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
