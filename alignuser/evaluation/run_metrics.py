"""The metrics of a run folder: macro outcomes, ranking, ``metrics.json``, ``metrics.md``, report.

:func:`write_metrics` reads what a run wrote (events, sessions, the manifest's recommender
entries) and writes its metrics; the orchestration (:func:`alignuser.simulation.runner.run`)
calls it when the population has finished, ``alignuser report RUN_DIR`` to recompute them.
Recommenders whose run ``failed`` are left out of the ranking and the paired differences
(and named in both files).

Example:
    >>> from alignuser.evaluation.run_metrics import write_metrics  # doctest: +SKIP
    >>> table = write_metrics(run_dir, prep.catalog, prep.scale.max, scenario)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from alignuser.data.tables import Catalog
    from alignuser.scenario import Scenario

__all__ = ["metrics_markdown", "write_metrics"]


def write_metrics(
    run_dir: Path, catalog: Catalog, max_rating: int, scenario: Scenario | None = None
) -> pd.DataFrame:
    """Compute macro outcomes and write ``metrics.json``, ``metrics.md`` and the report.

    Args:
        run_dir: The run folder (its events, sessions and ``manifest.json`` are read).
        catalog: The run's catalog (item count, popularity and genres of the outcomes).
        max_rating: Top of the rating scale.
        scenario: The run's scenario (its seed seeds the bootstrap; ``output.report: false``
            skips ``report.html``); ``None``: seed 0, with the report.

    Returns:
        The macro outcomes table.
    """
    from alignuser.evaluation.macro import macro_outcomes, paired_differences, rank_recommenders
    from alignuser.simulation.outputs import read_events, read_manifest, read_sessions, write_json

    events, sessions = read_events(run_dir), read_sessions(run_dir)
    entries = read_manifest(run_dir).get("recommenders", {})
    left_out = [
        {"recommender": k, **{f: e.get(f) for f in ("status", "failed_share", "first_error")}}
        for k, e in sorted(entries.items())
        if e.get("status") == "failed"
    ]
    genres = [frozenset(g) for g in catalog.df["genres"]]
    table = macro_outcomes(
        events, sessions, catalog.n_items, catalog.df["popularity"].to_numpy(float), genres,
        max_rating, seed=scenario.seed if scenario else 0,
    )  # fmt: skip
    dropped = {r["recommender"] for r in left_out}
    kept = ~sessions["recommender"].isin(dropped)
    paired = paired_differences(
        events[~events["recommender"].isin(dropped)], sessions[kept], "watch_rate",
        seed=scenario.seed if scenario else 0,
    )  # fmt: skip
    ranking = rank_recommenders(table, "watch_rate", exclude=sorted(dropped), paired=paired)
    write_json(
        run_dir / "metrics.json",
        {
            "outcomes": table.to_dict(orient="records"),
            "ranking": ranking.to_dict(orient="records"),
            "paired": paired.to_dict(orient="records"),
            "left_out": left_out,
        },
    )
    (run_dir / "metrics.md").write_text(
        metrics_markdown(table, ranking, left_out), encoding="utf-8"
    )
    if scenario is None or scenario.output.report:
        from alignuser.evaluation.report import write_report

        write_report(run_dir, table, ranking, events, sessions, left_out=left_out)
    return table


def metrics_markdown(table: pd.DataFrame, ranking: pd.DataFrame, left_out: list[dict]) -> str:
    """The text of ``metrics.md``: outcomes with CIs, the ranking, the recommenders left out."""
    from alignuser.evaluation.macro import wide

    md = [
        "# Macro outcomes (value [95% CI])",
        "",
        wide(table).to_markdown(),
        "",
        "## Ranking by watch_rate",
        "",
        "Recommenders share a rank when the paired 95% CI of their difference (same agents, "
        "same random numbers, users resampled) contains 0.",
        "",
        ranking.to_markdown(index=False),
    ]
    for r in left_out:
        md += [
            "",
            f"Left out of the ranking: {r['recommender']} ({r['status']}: "
            f"{100 * (r['failed_share'] or 0):.0f}% of sessions failed; first error: "
            f"{r['first_error']})",
        ]
    return "\n".join(md) + "\n"
