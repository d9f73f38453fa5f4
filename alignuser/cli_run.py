"""What the ``run``, ``validate``, ``report``, ``train`` and ``demo`` commands share.

Loading and checking a scenario (:func:`load_checked`), running it with progress bars
(:func:`run_scenario`), printing the ranking table (:func:`print_summary`) and the failed
recommenders (:func:`report_failures`), and the stderr console they print on. The commands
themselves are in :mod:`alignuser.cli`. Heavy libraries are imported inside the functions,
so importing this module stays cheap.
"""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = [
    "STATE",
    "console",
    "escape",
    "load_checked",
    "print_summary",
    "report_failures",
    "run_scenario",
]


def escape(text: str) -> str:
    """``text`` with rich markup escaped, to print as it is."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


#: Settings of the current invocation (set by the top-level options).
STATE = {"debug": False}


def console():
    """A rich console on stderr, at least 140 columns wide."""
    from rich.console import Console

    return Console(stderr=True, width=max(Console(stderr=True).width, 140))


def load_checked(
    path: Path, overrides: list[str] | None, out: Path | None = None, checked=None,
    for_run: bool = True,
):  # fmt: skip
    """The scenario, checked against the registries (:mod:`alignuser.preflight`)."""
    from alignuser.errors import ScenarioError
    from alignuser.preflight import check_output_dir, check_scenario
    from alignuser.scenario import load_scenario

    try:
        scenario = load_scenario(path, overrides or [])
        found = check_scenario(scenario, check_output=for_run and out is None, for_run=for_run)
        why = check_output_dir(out) if out is not None else None
        if why:
            raise ScenarioError(f"--out {out}: {why}; choose a folder you can write")
    except ScenarioError as exc:
        console().print(f"[red]Invalid scenario[/red]\n{escape(str(exc))}")
        raise typer.Exit(2) from None
    for line in found.warnings:
        console().print(f"[yellow]warning: {escape(line)}[/yellow]")
    if checked is not None:
        checked.append(found)
    return scenario


def print_summary(run_dir: Path) -> int:
    """Print the ranking table and any failed recommenders; the exit status."""
    import json

    from rich.table import Table

    from alignuser.simulation.outputs import read_manifest

    metrics = json.loads((run_dir / "metrics.json").read_text())
    manifest = read_manifest(run_dir)
    rows = {}
    for r in metrics["outcomes"]:
        rows.setdefault(r["recommender"], {})[r["metric"]] = r
    users = manifest.get("n_distinct_users")
    who = f"{manifest.get('n_agents')} agents" + (
        f" on {users} distinct users" if users and users != manifest.get("n_agents") else ""
    )
    policy = f", policy {manifest['policy']}" if manifest.get("policy") else ""
    table = Table(
        title=f"Macro outcomes ({who}{policy}, 95% CI)",
        caption="rank '=': tied, the paired 95% CI of the difference contains 0",
    )
    cols = [
        "watch_rate",
        "likes_per_page",
        "pages_per_session",
        "mean_rating",
        "satisfaction",
        "coverage",
    ]
    table.add_column("rank")
    table.add_column("recommender")
    for c in cols:
        table.add_column(c, justify="right")
    table.add_column("vs next (paired CI)", justify="right")
    table.add_column("agent-pages/s", justify="right")
    for rk in metrics["ranking"]:
        name = rk["recommender"]
        nxt = rk.get("vs_next")
        vs_next = (
            "-"
            if nxt is None or nxt != nxt  # NaN: the last one
            else f"{nxt:+.3f} [{rk['vs_next_ci_low']:+.3f}, {rk['vs_next_ci_high']:+.3f}]"
        )
        cells = []
        for c in cols:
            m = rows[name].get(c)
            cells.append(
                "-"
                if m is None or m["value"] is None
                else f"{m['value']:.3f} ±{(m['ci_high'] - m['ci_low']) / 2:.3f}"
                if m["ci_low"] is not None
                else f"{m['value']:.3f}"
            )
        speed = manifest.get("recommenders", {}).get(name, {}).get("agent_pages_per_second")
        tied = "=" if rk.get("tied_with") else ""
        table.add_row(f"{rk['rank']}{tied}", name, *cells, vs_next, str(speed))
    for r in metrics.get("left_out", []):
        table.add_row("-", r["recommender"], f"[red]{r['status']}: not ranked[/red]")
    console().print(table)
    return report_failures(manifest)


def report_failures(manifest: dict) -> int:
    """Print each recommender whose sessions failed; the exit status (1 when one failed)."""
    status = 0
    for label, e in sorted(manifest.get("recommenders", {}).items()):
        if e.get("status") not in ("failed", "partial"):
            continue
        what = "left out of the ranking" if e["status"] == "failed" else "ranked, with care"
        colour = "red" if e["status"] == "failed" else "yellow"
        console().print(
            f"[{colour}]{escape(label)}: {e['status']}: {e.get('failed_sessions')} of "
            f"{e.get('sessions')} sessions failed ({100 * e.get('failed_share', 0):.0f}%), "
            f"{what}; first error: {escape(str(e.get('first_error')))}[/{colour}]"
        )
        status = max(status, int(e["status"] == "failed"))
    if status:
        console().print(
            f"[red]Run status: {manifest.get('status')} (see manifest.json and faults/)[/red]"
        )
    return status


def run_scenario(scenario, out: Path | None, summary: bool = True) -> Path:
    """Run ``scenario`` into ``out`` (or resume ``out`` when ``scenario`` is None), with bars.

    Prints the ranking (``summary``) or only the failed recommenders; exits with status 2 on
    a user mistake, 1 when the run stopped or a recommender failed.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from alignuser.errors import AlignUserError
    from alignuser.simulation.runner import new_run_dir, resume, run

    if scenario is not None and out is None:
        out = new_run_dir(scenario)
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
        console=console(), transient=False,
    ) as bar:  # fmt: skip
        tasks: dict[str, int] = {}

        def progress(label: str, done: int, total: int) -> None:
            if label not in tasks:  # phases go 0 -> 1; a recommender counts its sessions
                phase = label in ("prepare", "report") or label.startswith("fit ")
                name = label if phase else f"{label} (sessions)"
                tasks[label] = bar.add_task(name, total=total)
            bar.update(tasks[label], completed=done, total=total)

        failure = None
        try:
            run_dir = run(scenario, out, progress=progress) if scenario else resume(out, progress)
        except AlignUserError as exc:
            failure = exc
        except Exception as exc:  # mid-run (a server gone, a disk full): say how to go on
            if STATE["debug"] or not (Path(out) / "scenario.yaml").exists():
                raise
            failure = exc
    if isinstance(failure, AlignUserError):
        console().print(f"[red]{escape(str(failure))}[/red]")
        raise typer.Exit(2)
    if failure is not None:
        first = str(failure).splitlines()[0] if str(failure) else ""
        console().print(
            f"[red]error: {type(failure).__name__}: {escape(first)}[/red]\n"
            f"The run stopped; {escape(str(out))} keeps its checkpoints. Fix the cause, "
            f"then continue it with: alignuser run --resume {escape(str(out))} "
            "[dim](alignuser --debug ... shows the traceback)[/dim]"
        )
        raise typer.Exit(1)
    if summary:
        failed = print_summary(run_dir)
        console().print(
            f"Results: [bold]{run_dir}[/bold] (report.html, metrics.md, events/, sessions/)"
        )
    else:
        from alignuser.simulation.outputs import read_manifest

        failed = report_failures(read_manifest(run_dir))
    if failed:
        raise typer.Exit(failed)
    return run_dir
