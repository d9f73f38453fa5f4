"""Effect of word of mouth: compare two runs of the same scenario, social graph off and on.

Usage:
    alignuser run scenarios/social_influence.yaml --out runs/social-off --set social.graph=none
    alignuser run scenarios/social_influence.yaml --out runs/social-on
    python examples/social_influence.py runs/social-off runs/social-on

Prints, per recommender, watch rate, likes per page, coverage and how concentrated watching
is (share of watches going to the top 10 items) with and without the graph, and saves
``social_influence.png`` next to the second run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from alignuser.evaluation.macro import macro_outcomes
from alignuser.simulation.outputs import read_events, read_manifest, read_sessions

METRICS = ["watch_rate", "likes_per_page", "coverage"]


def _summary(run_dir: Path, condition: str) -> pd.DataFrame:
    events, sessions = read_events(run_dir), read_sessions(run_dir)
    m = read_manifest(run_dir)
    t = macro_outcomes(events, sessions, n_items=m.get("n_items", events.item_id.max() + 1),
                       max_rating=m.get("max_rating", 5), n_boot=500)  # fmt: skip
    t = t[t["metric"].isin(METRICS)].copy()
    watched = events[events["watched"]]
    top = watched.groupby("recommender")["item_id"].apply(
        lambda s: s.value_counts().head(10).sum() / max(len(s), 1)
    )
    extra = pd.DataFrame({"recommender": top.index, "metric": "top10_share", "value": top.values})
    t = pd.concat([t, extra], ignore_index=True)
    t["condition"] = condition
    return t


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_off", type=Path)
    parser.add_argument("run_on", type=Path)
    args = parser.parse_args(argv)
    both = pd.concat([_summary(args.run_off, "off"), _summary(args.run_on, "on")])
    table = both.pivot_table(index=["recommender", "metric"], columns="condition", values="value")
    table["change"] = table["on"] - table["off"]
    print(table.round(4).to_string())

    import matplotlib

    matplotlib.use("Agg")

    sub = both[both["metric"] == "watch_rate"].pivot(
        index="recommender", columns="condition", values="value"
    )
    ax = sub[["off", "on"]].plot.bar(
        figsize=(6, 4), rot=0, title="watch rate without / with word of mouth"
    )
    out = args.run_on / "social_influence.png"
    ax.figure.savefig(out, dpi=110, bbox_inches="tight")
    print(f"\nFigure: {out}")
    return table


if __name__ == "__main__":
    main()
