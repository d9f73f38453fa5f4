"""``report.html``: a self-contained page of tables and plots for one run.

Figures are rendered with matplotlib (Agg backend) and embedded as base64 PNG, so the file
can be mailed or opened offline. They are also saved under ``RUN_DIR/figures/``.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from alignuser.evaluation.common import png_base64, pyplot

KEY_METRICS = [
    "watch_rate",
    "likes_per_page",
    "pages_per_session",
    "mean_rating",
    "satisfaction",
    "coverage",
]


def figure_outcomes(table: pd.DataFrame, out: Path) -> str:
    """Bar charts of the key metrics per recommender, with 95% CI error bars."""
    plt = pyplot()
    metrics = [m for m in KEY_METRICS if m in set(table["metric"])]
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5))
    for ax, metric in zip(axes.ravel(), metrics):
        t = table[table["metric"] == metric].sort_values("recommender")
        v = t["value"].to_numpy(float)
        lo = np.clip(np.nan_to_num(v - t["ci_low"].to_numpy(float)), 0, None)
        hi = np.clip(np.nan_to_num(t["ci_high"].to_numpy(float) - v), 0, None)
        ax.bar(t["recommender"], v, yerr=[lo, hi], capsize=4, color="#4878a8")
        ax.set_title(metric)
        ax.tick_params(axis="x", rotation=30)
    for ax in axes.ravel()[len(metrics) :]:
        ax.axis("off")
    fig.suptitle("Macro outcomes per recommender (95% bootstrap CI over agents)")
    fig.tight_layout()
    return png_base64(fig, out)


def figure_distributions(events: pd.DataFrame, sessions: pd.DataFrame, out: Path) -> str:
    """Watch rate by page, exit page, rating and satisfaction distributions."""
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(12, 7))
    for label, ev in events.groupby("recommender"):
        by_page = ev.groupby("page")["watched"].mean()
        axes[0, 0].plot(by_page.index, by_page.values, marker="o", label=label)
        by_pos = ev.groupby("position")["watched"].mean()
        axes[0, 1].plot(by_pos.index + 1, by_pos.values, marker="s", label=label)
    axes[0, 0].set(title="watch rate by page", xlabel="page", ylabel="watch rate")
    axes[0, 1].set(title="watch rate by position on the page", xlabel="position")
    labels = sorted(sessions["recommender"].unique())
    pages = [sessions.loc[sessions["recommender"] == r, "pages"].to_numpy() for r in labels]
    if pages and max(len(p) for p in pages):
        top = int(max(p.max() for p in pages if len(p)))
        axes[1, 0].hist(pages, bins=np.arange(0.5, top + 1.5), label=labels)
    axes[1, 0].set(title="pages per session (exit page)", xlabel="page")
    watched = events[events["watched"].astype(bool)]
    ratings = [watched.loc[watched["recommender"] == r, "rating"].to_numpy() for r in labels]
    if any(len(r) for r in ratings):
        top = int(np.nanmax(np.concatenate([r for r in ratings if len(r)])))
        axes[1, 1].hist(ratings, bins=np.arange(0.5, top + 1.5), label=labels)
    axes[1, 1].set(title="rating histogram", xlabel="rating")
    for ax in axes.ravel():
        ax.legend(fontsize=8)
    fig.tight_layout()
    return png_base64(fig, out)


def write_report(
    run_dir: str | Path,
    table: pd.DataFrame,
    ranking: pd.DataFrame,
    events: pd.DataFrame,
    sessions: pd.DataFrame,
    left_out: list[dict] | None = None,
) -> Path:
    """Write ``report.html`` (and ``figures/*.png``) into the run folder.

    ``left_out``: recommenders kept out of the ranking (``recommender, status,
    failed_share, first_error``), listed under it.
    """
    from alignuser.evaluation.macro import wide
    from alignuser.simulation.outputs import read_manifest

    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    figs = run_dir / "figures"
    img1 = figure_outcomes(table, figs / "outcomes.png")
    img2 = figure_distributions(events, sessions, figs / "distributions.png")
    from alignuser.evaluation.likeness.panel import likeness_panel

    likeness = likeness_panel(run_dir, figs)
    timing = pd.DataFrame(
        [
            {"recommender": k, **{f"{p} s": s for p, s in v.get("part_seconds", {}).items()},
             "agent-pages/s": v.get("agent_pages_per_second")}
            for k, v in manifest.get("recommenders", {}).items()
        ]
    )  # fmt: skip
    title = html.escape(f"alignuser report: {manifest.get('scenario', run_dir.name)}")
    dropped = "".join(
        f"<p><b>Left out of the ranking: {html.escape(r['recommender'])}</b> ({r['status']}: "
        f"{100 * (r.get('failed_share') or 0):.0f}% of sessions failed; first error: "
        f"{html.escape(str(r.get('first_error')))})</p>"
        for r in left_out or []
    )
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1300px}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:4px 8px}} th{{background:#eef}} img{{max-width:100%}}</style></head><body>
<h1>{title}</h1>
<p>{manifest.get("n_agents", "?")} agents, seed {manifest.get("seed", "?")}, dataset
{html.escape(str(manifest.get("dataset", {}).get("name", "?")))}, status {manifest.get("status", "?")}.</p>
<h2>Ranking by watch rate</h2><p>Recommenders share a rank when the paired 95% CI of their
difference (same agents and random numbers, distinct users resampled) contains 0;
<code>vs_next</code> is the paired difference to the next one.</p>
{ranking.to_html(index=False, float_format=lambda x: f"{x:.4f}")}{dropped}
<h2>Macro outcomes: value [95% CI]</h2>{wide(table).to_html()}
<img alt="outcomes" src="data:image/png;base64,{img1}">
<h2>Distributions</h2><img alt="distributions" src="data:image/png;base64,{img2}">
{likeness}
<h2>Run time per part</h2>{timing.to_html(index=False) if len(timing) else "<p>n/a</p>"}
</body></html>"""
    out = run_dir / "report.html"
    out.write_text(body, encoding="utf-8")
    return out
