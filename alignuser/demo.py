"""``alignuser demo``: the quickstart with AlignUSER users beside the choice baseline.

The quickstart scenario (``scenarios/quickstart.yaml``) simulates its population with the
learned AlignUSER policy, trained on the embedded synthetic world's training split on the
first run and reused from the user cache afterwards (``policy.checkpoint: auto``, see
:mod:`alignuser.training.auto`). The demo runs it twice on the same recommenders, agents and
seed: once with that policy and once with the calibrated choice model (the RecSim-style
baseline), each in its own run folder (``RUN_DIR/alignuser``, ``RUN_DIR/choice``), and
prints one table whose rows say which policy produced them, plus whether the two user
models rank the recommenders alike. ``RUN_DIR/comparison.md`` keeps the table.

Example:
    >>> from alignuser.demo import demo_scenarios  # doctest: +SKIP
    >>> list(demo_scenarios(quickstart))  # doctest: +SKIP
    ['alignuser', 'choice']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = [
    "BASELINE", "comparison_rows", "demo_scenarios", "rank_agreement", "report_comparison",
    "write_comparison",
]  # fmt: skip

BASELINE = {"name": "choice", "params": {"calibrate": True}, "checkpoint": None}
"""The baseline policy the demo runs beside the learned one."""

COLUMNS = ("watch_rate", "likes_per_page", "pages_per_session", "mean_rating", "satisfaction")


def demo_scenarios(scenario, baseline: bool = True) -> dict[str, Any]:
    """``{policy label: scenario}``: the scenario as given, then the choice baseline.

    The baseline copy differs in its policy only (same data, agents, recommenders, seed).
    """
    out = {scenario.policy.name: scenario}
    if baseline and scenario.policy.name != BASELINE["name"]:
        copy = scenario.model_copy(deep=True)
        copy.policy = type(scenario.policy).model_validate(BASELINE)
        out[BASELINE["name"]] = copy
    return out


def comparison_rows(run_dirs: dict[str, Path]) -> list[dict[str, Any]]:
    """One row per (policy, recommender): rank, macro outcomes with CI, agent-pages/s."""
    rows = []
    for policy, run_dir in run_dirs.items():
        metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
        manifest = json.loads((Path(run_dir) / "manifest.json").read_text())
        values: dict[str, dict] = {}
        for r in metrics["outcomes"]:
            values.setdefault(r["recommender"], {})[r["metric"]] = r
        for rk in metrics["ranking"]:
            name = rk["recommender"]
            row = {
                "policy": manifest.get("policy", policy),
                "rank": f"{rk['rank']}{'=' if rk.get('tied_with') else ''}",
                "recommender": name,
            }
            for c in COLUMNS:
                m = values.get(name, {}).get(c)
                row[c] = None if m is None else m
            entry = manifest.get("recommenders", {}).get(name, {})
            row["agent_pages_per_second"] = entry.get("agent_pages_per_second")
            rows.append(row)
    return rows


def _cell(m) -> str:
    if m is None or m.get("value") is None:
        return "-"
    if m.get("ci_low") is None:
        return f"{m['value']:.3f}"
    return f"{m['value']:.3f} ±{(m['ci_high'] - m['ci_low']) / 2:.3f}"


def rank_agreement(rows: list[dict[str, Any]]) -> float | None:
    """Kendall's tau between the first two policies' rankings of the same recommenders.

    Ties count as neither concordant nor discordant (tau-a over untied pairs); ``None``
    with fewer than two policies or two shared recommenders.
    """
    by: dict[str, dict[str, float]] = {}
    for r in rows:
        by.setdefault(r["policy"], {})[r["recommender"]] = float(str(r["rank"]).rstrip("="))
    if len(by) < 2:
        return None
    a, b = list(by.values())[:2]
    common = sorted(set(a) & set(b))
    pairs = [(x, y) for i, x in enumerate(common) for y in common[i + 1 :]]
    if not pairs:
        return None
    s = sum(
        (1 if (a[x] - a[y]) * (b[x] - b[y]) > 0 else -1 if (a[x] - a[y]) * (b[x] - b[y]) < 0 else 0)
        for x, y in pairs
    )
    return s / len(pairs)


def table_cells(row: dict[str, Any]) -> list[str]:
    """A row's printed cells: policy, rank, recommender, outcomes, agent-pages/s."""
    speed = row.get("agent_pages_per_second")
    return [
        row["policy"],
        row["rank"],
        row["recommender"],
        *[_cell(row[c]) for c in COLUMNS],
        "-" if speed is None else f"{speed:,.0f}",
    ]


def write_comparison(path: Path, rows: list[dict[str, Any]]) -> str:
    """Write the comparison as Markdown to ``path``; returns the text."""
    head = ["policy", "rank", "recommender", *COLUMNS, "agent-pages/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(table_cells(r)) + " |" for r in rows]
    tau = rank_agreement(rows)
    if tau is not None:
        lines += ["", f"Rank agreement of the two policies (Kendall's tau): {tau:+.2f}"]
    text = "\n".join(lines) + "\n"
    Path(path).write_text(text, encoding="utf-8")
    return text


def report_comparison(run_dirs: dict[str, Path], path: Path, console) -> list[dict[str, Any]]:
    """Print the comparison table (rich) and the rank agreement; write it to ``path``."""
    from rich.table import Table

    rows = comparison_rows(run_dirs)
    table = Table(
        title="Macro outcomes per user policy (95% CI)",
        caption="rank '=': tied, the paired 95% CI of the difference contains 0",
    )
    for c in ("policy", "rank", "recommender", *COLUMNS, "agent-pages/s"):
        table.add_column(c, justify="left" if c in ("policy", "recommender") else "right")
    for r in rows:
        table.add_row(*table_cells(r))
    console.print(table)
    tau = rank_agreement(rows)
    if tau is not None:
        console.print(f"Rank agreement of the two user policies (Kendall's tau): {tau:+.2f}")
    write_comparison(path, rows)
    console.print(f"Results: [bold]{path.parent}[/bold] ({', '.join(run_dirs)}; {path.name})")
    return rows
