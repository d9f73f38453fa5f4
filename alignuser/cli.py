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

The commands are defined here; what they share (loading a checked scenario, running it with
progress bars, the ranking table) is in :mod:`alignuser.cli_run`.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import typer
from typer.core import TyperGroup

from alignuser.cli_run import STATE, console, escape, load_checked, print_summary, run_scenario

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

    con = console()
    hint = "[dim](alignuser --debug ... shows the traceback)[/dim]"
    if isinstance(exc, AlignUserError):
        con.print(f"[red]{escape(str(exc))}[/red]")
        return 2
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        con.print(f"[red]{escape(where + exc.strerror)}[/red] {hint}")
        return 2
    con.print(
        f"[red]error: {type(exc).__name__}: {escape(str(exc).splitlines()[0] if str(exc) else '')}"
        f"[/red]\nThis is not a known user mistake; it may be a bug in alignuser or in a "
        f"plug-in. {hint}"
    )
    return 1


app = typer.Typer(
    cls=_Group,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="markdown",  # docstrings' ``code`` and paragraphs read as text
    help="The alignuser command line: a thin layer over the Python API.",
)


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
    STATE["debug"] = debug or bool(os.environ.get("ALIGNUSER_DEBUG"))
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
            console().print("[red]--resume takes the run folder only (its scenario.yaml)[/red]")
            raise typer.Exit(2)
        run_scenario(None, resume)
        return
    if scenario is None:
        console().print("[red]give a scenario file, or --resume RUN_DIR[/red]")
        raise typer.Exit(2)
    run_scenario(load_checked(scenario, set_, out), out)


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
    s = load_checked(scenario, set_, checked=checked)
    data = s.model_dump(mode="json")
    for key, params in checked[0].params.items():
        node = data
        for part in key.split(".")[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node["params"] = params
    typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    console().print(f"[green]{scenario}: valid[/green]")


@app.command()
def report(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="A finished run folder."),
) -> None:
    """Recompute metrics and report.html for a run folder."""
    from alignuser.evaluation.run_metrics import write_metrics
    from alignuser.scenario import load_scenario
    from alignuser.simulation.integrity import verify_run
    from alignuser.simulation.runner import prepare

    scenario_file = run_dir / "scenario.yaml"
    if not scenario_file.exists():
        console().print(f"[red]{run_dir}: not a run folder (no scenario.yaml)[/red]")
        raise typer.Exit(2)
    scenario = load_scenario(scenario_file)
    verify_run(run_dir)  # damaged parts are named (a RunOutputError, exit status 2)
    from alignuser.simulation.outputs import read_manifest

    if read_manifest(run_dir).get("status") == "running":
        console().print(
            f"[yellow]warning: {escape(str(run_dir))} did not finish (status running): the "
            f"metrics cover what was written; finish it with: alignuser run --resume "
            f"{escape(str(run_dir))}[/yellow]"
        )
    prep = prepare(scenario)
    write_metrics(run_dir, prep.catalog, prep.scale.max, scenario)
    failed = print_summary(run_dir)
    console().print(f"Report: [bold]{run_dir / 'report.html'}[/bold]")
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

    s = load_checked(scenario, set_, for_run=False)
    try:
        config = train_config(s, progress=True)
    except ScenarioError as exc:
        console().print(f"[red]Invalid scenario[/red]\n{escape(str(exc))}")
        raise typer.Exit(2) from None
    dataset, part = training_data(s, load_data(s))
    metrics = train_policy(config, dataset, out, interactions=part)
    console().print_json(data={k: v for k, v in metrics.items() if not isinstance(v, list)})
    policy = (out / "policy").resolve()
    console().print(f"Policy: [bold]{escape(str(policy))}[/bold]")
    console().print(
        "Simulate with it in any scenario on this catalog:\n"
        f"  alignuser run SCENARIO --set policy.name=alignuser "
        f"--set policy.checkpoint={escape(str(policy))}"
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

    scenario = load_checked(_packaged_scenario("quickstart.yaml"), set_, out)
    out = out or new_run_dir(scenario)
    dirs = {name: run_scenario(sc, out / name, summary=False)
            for name, sc in demo_scenarios(scenario, baseline).items()}  # fmt: skip
    report_comparison(dirs, out / "comparison.md", console())


def main() -> None:  # pragma: no cover
    """Entry point for ``python -m alignuser``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    app(sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    main()
