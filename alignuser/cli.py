"""``alignuser`` command line: a thin layer over the Python API.

Commands:

* ``alignuser run SCENARIO [--set key=value ...] [--out RUN_DIR]``: run a scenario;
* ``alignuser validate SCENARIO [--set ...]``: check a scenario file, print the resolved one;
* ``alignuser report RUN_DIR``: recompute metrics and ``report.html`` of a finished run;
* ``alignuser demo``: run ``scenarios/quickstart.yaml`` (synthetic world, no download);
* ``alignuser eval taste|rating|next-action|selection|all``: alignment protocols.

Precedence of settings: ``--set`` > YAML file > built-in defaults (see
:mod:`alignuser.scenario`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.split("\n\n")[0])


def _mount_eval() -> None:
    from alignuser.evaluation.eval_cli import eval_app

    app.add_typer(
        eval_app, name="eval", help="Alignment evaluation protocols (see benchmarks/ALIGNMENT.md)."
    )


_mount_eval()

SetOpt = typer.Option(None, "--set", help="Override a scenario key: a.b=value (repeatable).")


def _console():
    from rich.console import Console

    return Console(stderr=True, width=max(Console(stderr=True).width, 140))


def _load(path: Path, overrides: list[str] | None):
    from alignuser.errors import ScenarioError
    from alignuser.scenario import load_scenario

    try:
        return load_scenario(path, overrides or [])
    except ScenarioError as exc:
        _console().print(f"[red]Invalid scenario[/red]\n{exc}")
        raise typer.Exit(2) from None


def _summary(run_dir: Path) -> None:
    import json

    from rich.table import Table

    from alignuser.simulation.outputs import read_manifest

    metrics = json.loads((run_dir / "metrics.json").read_text())
    manifest = read_manifest(run_dir)
    rows = {}
    for r in metrics["outcomes"]:
        rows.setdefault(r["recommender"], {})[r["metric"]] = r
    table = Table(title=f"Macro outcomes ({manifest.get('n_agents')} agents, 95% CI)")
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
    table.add_column("agent-pages/s", justify="right")
    for rk in metrics["ranking"]:
        name = rk["recommender"]
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
        table.add_row(str(rk["rank"]), name, *cells, str(speed))
    _console().print(table)


def _run(scenario, out: Path | None) -> Path:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from alignuser.errors import AlignUserError
    from alignuser.simulation.runner import resume, run

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("step {task.completed}"),
        TimeElapsedColumn(), console=_console(), transient=False,
    ) as bar:  # fmt: skip
        tasks: dict[str, int] = {}

        def progress(label: str, step: int, cap: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=cap)
            bar.update(tasks[label], completed=step)

        try:
            run_dir = run(scenario, out, progress=progress) if scenario else resume(out, progress)
        except AlignUserError as exc:
            _console().print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
    _summary(run_dir)
    _console().print(
        f"Results: [bold]{run_dir}[/bold] (report.html, metrics.md, events/, sessions/)"
    )
    return run_dir


@app.command("run")
def run_cmd(
    scenario: Path = typer.Argument(None, help="Scenario YAML file."),
    set_: list[str] = SetOpt,
    out: Path = typer.Option(None, "--out", help="Run folder (default: output.dir/<name>-<time>)."),
    resume: Path = typer.Option(None, "--resume", help="Continue an interrupted run folder."),
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
    _run(_load(scenario, set_), out)


@app.command()
def validate(scenario: Path = typer.Argument(...), set_: list[str] = SetOpt) -> None:
    """Check a scenario file and print it fully resolved (defaults filled in)."""
    s = _load(scenario, set_)
    typer.echo(s.to_yaml())
    _console().print(f"[green]{scenario}: valid[/green]")


@app.command()
def report(run_dir: Path = typer.Argument(..., help="A finished run folder.")) -> None:
    """Recompute metrics and report.html for a run folder."""
    from alignuser.scenario import load_scenario
    from alignuser.simulation.runner import finalize, prepare

    scenario_file = run_dir / "scenario.yaml"
    if not scenario_file.exists():
        _console().print(f"[red]{run_dir}: not a run folder (no scenario.yaml)[/red]")
        raise typer.Exit(2)
    scenario = load_scenario(scenario_file)
    prep = prepare(scenario)
    finalize(run_dir, prep.catalog, prep.scale.max, scenario)
    _summary(run_dir)
    _console().print(f"Report: [bold]{run_dir / 'report.html'}[/bold]")


@app.command()
def train(
    scenario: Path = typer.Argument(..., help="Scenario YAML (dataset, split, train: {...})."),
    set_: list[str] = SetOpt,
    out: Path = typer.Option(Path("runs/policy"), "--out", help="Training folder."),
) -> None:
    """Train the AlignUSER policy (world model, then counterfactual alignment) on the data.

    Only the training part of the scenario's ``split`` is used (validation is carved from
    it per user in time); a temporal split of an impression log cuts pages and clicks at
    one time, as the evaluation protocols do. Re-running the same command resumes from
    ``OUT/last`` after an interruption. The best checkpoint lands in ``OUT/policy``; use it
    with
    ``policy: {name: alignuser, checkpoint: OUT/policy}``.
    """
    from pydantic import ValidationError

    from alignuser.simulation.runner import load_data, split_train
    from alignuser.training.trainer import TrainConfig
    from alignuser.training.trainer import train as train_policy

    s = _load(scenario, set_)
    try:
        config = TrainConfig.model_validate({"seed": s.seed, "progress": True, **s.train})
    except ValidationError as exc:
        keys = "; ".join(f"train.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        _console().print(f"[red]Invalid scenario[/red]\n{scenario}: {keys}")
        raise typer.Exit(2) from None
    dataset = load_data(s)
    # only the scenario split's training part reaches training (its test part stays unseen)
    if s.split.method == "temporal" and dataset.impressions is not None:
        # impression logs are cut at one time, as the next-action / replay / fidelity
        # protocols cut them: pages and interactions before the cut only
        from alignuser.evaluation.next_action import impression_time_split

        dataset, _, part, _ = impression_time_split(dataset, s.split.test_fraction)
    else:
        part = None if s.split.method == "none" else split_train(s, dataset)
    metrics = train_policy(config, dataset, out, interactions=part)
    _console().print_json(data={k: v for k, v in metrics.items() if not isinstance(v, list)})
    _console().print(f"Policy: [bold]{out / 'policy'}[/bold]")


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
    out: Path = typer.Option(None, "--out", help="Run folder."),
) -> None:
    """Run the quickstart scenario on the embedded synthetic world (no download, no server)."""
    _run(_load(_packaged_scenario("quickstart.yaml"), set_), out)


def main() -> None:  # pragma: no cover
    """Entry point for ``python -m alignuser``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    app(sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    main()
