"""``alignuser`` command line: a thin layer over the Python API.

Commands:

* ``alignuser run SCENARIO [--set key=value ...] [--out RUN_DIR]``: run a scenario;
* ``alignuser validate SCENARIO [--set ...]``: check a scenario file, print the resolved one;
* ``alignuser report RUN_DIR``: recompute metrics and ``report.html`` of a finished run;
* ``alignuser demo``: run ``scenarios/quickstart.yaml`` (synthetic world, no download);
* ``alignuser eval taste|rating|next-action|selection|all``: alignment protocols.

Precedence of settings: ``--set`` > YAML file > built-in defaults (see
:mod:`alignuser.scenario`).

Errors: a user mistake (a bad scenario, a missing file, a damaged run folder) is printed as
one line per problem, naming the file, the key and the fix, and the command exits with
status 2; a run whose recommender's sessions mostly failed exits with status 1. Any other
error prints one line too; ``alignuser --debug ...`` shows its traceback instead.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import typer
from typer.core import TyperGroup

try:  # typer >= 0.20 carries its own copy of click
    from typer._click.exceptions import ClickException as _ClickException
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import ClickException as _ClickException

#: Exceptions that are the command line's own way of ending (usage errors, exit codes).
_CLI_EXITS = (typer.Exit, typer.Abort, _ClickException)


class _Group(TyperGroup):
    """The top-level command group: turns errors into one-line messages (unless --debug)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except _CLI_EXITS:
            raise
        except Exception as exc:
            if ctx.params.get("debug") or os.environ.get("ALIGNUSER_DEBUG"):
                raise
            raise typer.Exit(_explain(exc)) from None


def _explain(exc: Exception) -> int:
    """Print ``exc`` as the user should read it; the exit status."""
    from alignuser.errors import AlignUserError

    con = _console()
    hint = "[dim](alignuser --debug ... shows the traceback)[/dim]"
    if isinstance(exc, AlignUserError):
        con.print(f"[red]{_escape(str(exc))}[/red]")
        return 2
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        con.print(f"[red]{_escape(where + exc.strerror)}[/red] {hint}")
        return 2
    con.print(
        f"[red]error: {type(exc).__name__}: {_escape(str(exc).splitlines()[0] if str(exc) else '')}"
        f"[/red]\nThis is not a known user mistake; it may be a bug in alignuser or in a "
        f"plug-in. {hint}"
    )
    return 1


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


app = typer.Typer(
    cls=_Group,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="markdown",  # docstrings' ``code`` and paragraphs read as text
    help="The alignuser command line: a thin layer over the Python API.",
)


#: Settings of the current invocation (set by the top-level options).
_STATE = {"debug": False}


class _StderrHandler(logging.StreamHandler):
    """Log records to whatever ``sys.stderr`` is when they are emitted."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _show_version(value: bool) -> None:
    if value:
        import platform

        import alignuser

        typer.echo(f"alignuser {alignuser.__version__} (Python {platform.python_version()})")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_show_version,
        is_eager=True,
        metavar="",
        help="Print the version.",
    ),
    debug: bool = typer.Option(
        False, "--debug", metavar="", help="Show the traceback of an error."
    ),
    log_level: str = typer.Option(
        None,
        "--log-level",
        metavar="LEVEL",
        help="Log messages from this level up: debug, info, warning, error.",
    ),
) -> None:
    """Evaluate recommender systems with human-aligned synthetic users."""
    _STATE["debug"] = debug or bool(os.environ.get("ALIGNUSER_DEBUG"))
    if log_level:
        level = logging.getLevelName(log_level.upper())
        if not isinstance(level, int):
            raise typer.BadParameter(
                f"{log_level!r}: use debug, info, warning or error", param_hint="--log-level"
            )
        root = logging.getLogger()
        for h in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
            root.removeHandler(h)  # a second invocation in one process replaces it
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(level)


def _mount_eval() -> None:
    from alignuser.evaluation.cli import eval_app

    app.add_typer(
        eval_app, name="eval", help="Alignment evaluation protocols (see benchmarks/ALIGNMENT.md)."
    )


_mount_eval()

SetOpt = typer.Option(
    None, "--set", metavar="KEY=VALUE", help="Override a scenario key: a.b=value (repeatable)."
)


def _console():
    from rich.console import Console

    return Console(stderr=True, width=max(Console(stderr=True).width, 140))


def _load(
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
        _console().print(f"[red]Invalid scenario[/red]\n{_escape(str(exc))}")
        raise typer.Exit(2) from None
    for line in found.warnings:
        _console().print(f"[yellow]warning: {_escape(line)}[/yellow]")
    if checked is not None:
        checked.append(found)
    return scenario


def _summary(run_dir: Path) -> int:
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
    _console().print(table)
    return _report_failures(manifest)


def _report_failures(manifest: dict) -> int:
    """Print each recommender whose sessions failed; the exit status (1 when one failed)."""
    status = 0
    for label, e in sorted(manifest.get("recommenders", {}).items()):
        if e.get("status") not in ("failed", "partial"):
            continue
        what = "left out of the ranking" if e["status"] == "failed" else "ranked, with care"
        colour = "red" if e["status"] == "failed" else "yellow"
        _console().print(
            f"[{colour}]{_escape(label)}: {e['status']}: {e.get('failed_sessions')} of "
            f"{e.get('sessions')} sessions failed ({100 * e.get('failed_share', 0):.0f}%), "
            f"{what}; first error: {_escape(str(e.get('first_error')))}[/{colour}]"
        )
        status = max(status, int(e["status"] == "failed"))
    if status:
        _console().print(
            f"[red]Run status: {manifest.get('status')} (see manifest.json and faults/)[/red]"
        )
    return status


def _run(scenario, out: Path | None, summary: bool = True) -> Path:
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
        console=_console(), transient=False,
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
            if _STATE["debug"] or not (Path(out) / "scenario.yaml").exists():
                raise
            failure = exc
    if isinstance(failure, AlignUserError):
        _console().print(f"[red]{_escape(str(failure))}[/red]")
        raise typer.Exit(2)
    if failure is not None:
        first = str(failure).splitlines()[0] if str(failure) else ""
        _console().print(
            f"[red]error: {type(failure).__name__}: {_escape(first)}[/red]\n"
            f"The run stopped; {_escape(str(out))} keeps its checkpoints. Fix the cause, "
            f"then continue it with: alignuser run --resume {_escape(str(out))} "
            "[dim](alignuser --debug ... shows the traceback)[/dim]"
        )
        raise typer.Exit(1)
    if summary:
        failed = _summary(run_dir)
        _console().print(
            f"Results: [bold]{run_dir}[/bold] (report.html, metrics.md, events/, sessions/)"
        )
    else:
        from alignuser.simulation.outputs import read_manifest

        failed = _report_failures(read_manifest(run_dir))
    if failed:
        raise typer.Exit(failed)
    return run_dir


@app.command("run")
def run_cmd(
    scenario: Path = typer.Argument(None, metavar="SCENARIO", help="Scenario YAML file."),
    set_: list[str] = SetOpt,
    out: Path = typer.Option(
        None, "--out", metavar="RUN_DIR", help="Run folder (default: output.dir/NAME-TIME)."
    ),
    resume: Path = typer.Option(
        None, "--resume", metavar="RUN_DIR", help="Continue an interrupted run folder."
    ),
) -> None:
    """Run a population simulation described by a scenario file (or resume one)."""
    if resume is not None:
        if scenario is not None or set_:
            _console().print("[red]--resume takes the run folder only (its scenario.yaml)[/red]")
            raise typer.Exit(2)
        _run(None, resume)
        return
    if scenario is None:
        _console().print("[red]give a scenario file, or --resume RUN_DIR[/red]")
        raise typer.Exit(2)
    _run(_load(scenario, set_, out), out)


@app.command()
def validate(
    scenario: Path = typer.Argument(..., metavar="SCENARIO", help="Scenario YAML file."),
    set_: list[str] = SetOpt,
) -> None:
    """Check a scenario file and print it fully resolved (defaults filled in).

    Besides the scenario's own keys, the names it gives (recommenders, policy, dataset
    format) are looked up in the registries, each plug-in's params are checked against the
    ones it accepts (and shown with its defaults), and output.dir is checked writable.
    """
    import yaml

    checked: list = []
    s = _load(scenario, set_, checked=checked)
    data = s.model_dump(mode="json")
    for key, params in checked[0].params.items():
        node = data
        for part in key.split(".")[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node["params"] = params
    typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    _console().print(f"[green]{scenario}: valid[/green]")


@app.command()
def report(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="A finished run folder."),
) -> None:
    """Recompute metrics and report.html for a run folder."""
    from alignuser.scenario import load_scenario
    from alignuser.simulation.integrity import verify_run
    from alignuser.simulation.runner import finalize, prepare

    scenario_file = run_dir / "scenario.yaml"
    if not scenario_file.exists():
        _console().print(f"[red]{run_dir}: not a run folder (no scenario.yaml)[/red]")
        raise typer.Exit(2)
    scenario = load_scenario(scenario_file)
    verify_run(run_dir)  # damaged parts are named (a RunOutputError, exit status 2)
    from alignuser.simulation.outputs import read_manifest

    if read_manifest(run_dir).get("status") == "running":
        _console().print(
            f"[yellow]warning: {_escape(str(run_dir))} did not finish (status running): the "
            f"metrics cover what was written; finish it with: alignuser run --resume "
            f"{_escape(str(run_dir))}[/yellow]"
        )
    prep = prepare(scenario)
    finalize(run_dir, prep.catalog, prep.scale.max, scenario)
    failed = _summary(run_dir)
    _console().print(f"Report: [bold]{run_dir / 'report.html'}[/bold]")
    if failed:
        raise typer.Exit(failed)


@app.command()
def train(
    scenario: Path = typer.Argument(
        ..., metavar="SCENARIO", help="Scenario YAML (dataset, split, train: {...})."
    ),
    set_: list[str] = SetOpt,
    out: Path = typer.Option(Path("runs/policy"), "--out", metavar="DIR", help="Training folder."),
) -> None:
    """Train the AlignUSER policy (world model, then counterfactual alignment) on the data.

    Only the training part of the scenario's ``split`` is used (validation is carved from
    it per user in time); a temporal split of an impression log cuts pages and clicks at
    one time, as the evaluation protocols do. Re-running the same command resumes from
    ``OUT/last`` after an interruption. The best checkpoint lands in ``OUT/policy``; use it
    with
    ``policy: {name: alignuser, checkpoint: OUT/policy}``.
    """
    from alignuser.data.scenario_data import load_data, training_data
    from alignuser.errors import ScenarioError
    from alignuser.training.auto import train_config
    from alignuser.training.trainer import train as train_policy

    s = _load(scenario, set_, for_run=False)
    try:
        config = train_config(s, progress=True)
    except ScenarioError as exc:
        _console().print(f"[red]Invalid scenario[/red]\n{_escape(str(exc))}")
        raise typer.Exit(2) from None
    dataset, part = training_data(s, load_data(s))
    metrics = train_policy(config, dataset, out, interactions=part)
    _console().print_json(data={k: v for k, v in metrics.items() if not isinstance(v, list)})
    policy = (out / "policy").resolve()
    _console().print(f"Policy: [bold]{_escape(str(policy))}[/bold]")
    _console().print(
        "Simulate with it in any scenario on this catalog:\n"
        f"  alignuser run SCENARIO --set policy.name=alignuser "
        f"--set policy.checkpoint={_escape(str(policy))}"
    )


def _packaged_scenario(name: str) -> Path:
    here = Path(__file__).resolve().parent
    for cand in (
        Path.cwd() / "scenarios" / name,
        here.parent / "scenarios" / name,
        here / "resources" / "scenarios" / name,
    ):
        if cand.exists():
            return cand
    raise typer.BadParameter(f"scenario {name} not found")


@app.command()
def demo(
    set_: list[str] = SetOpt,
    out: Path = typer.Option(None, "--out", metavar="RUN_DIR", help="Run folder."),
    baseline: bool = typer.Option(
        True, "--baseline/--no-baseline", help="Also run the choice baseline beside it."
    ),
) -> None:
    """Run the quickstart on the embedded synthetic world (no download, no server).

    AlignUSER users (a policy trained on the world's training split on the first demo, then
    reused from the user cache) browse three recommenders; the calibrated choice model runs
    beside them on the same agents. Each policy's run lands in ``RUN_DIR/<policy>``.
    """
    from alignuser.demo import demo_scenarios, report_comparison
    from alignuser.simulation.runner import new_run_dir

    scenario = _load(_packaged_scenario("quickstart.yaml"), set_, out)
    out = out or new_run_dir(scenario)
    dirs = {name: _run(sc, out / name, summary=False)
            for name, sc in demo_scenarios(scenario, baseline).items()}  # fmt: skip
    report_comparison(dirs, out / "comparison.md", _console())


def main() -> None:  # pragma: no cover
    """Entry point for ``python -m alignuser``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    app(sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    main()
