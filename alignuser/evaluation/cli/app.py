"""The ``alignuser eval`` sub-app and what its commands share: options, checks, running.

:data:`eval_app` is the typer app; the commands of
:mod:`~alignuser.evaluation.cli.commands` and :mod:`~alignuser.evaluation.cli.likeness`
register on it. The shared pieces: the typer options (``Out``, ``Ckpt``, ``DataOpt``,
``ChatOpt``...), flag checks that exit 2 with one line (:func:`chat_option`,
:func:`train_config_option`, :func:`checkpoints_option`), the runner keywords of the data
flags (:func:`data_keywords`) and :func:`run_protocol`, which runs one protocol's runner of
:mod:`~alignuser.evaluation.suite` and writes its tables.

Example:
    >>> parse_ints("0,1,,2")
    [0, 1, 2]
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from alignuser.evaluation.common import run_meta, write_tables
from alignuser.evaluation.suite import RUNNERS, read_train_config

__all__ = ["HELP", "chat_option", "checkpoints_option", "data_keywords", "eval_app", "exit_error",
           "parse_ints", "run_protocol", "train_config_option"]  # fmt: skip

#: The sub-app's help line.
HELP = "``alignuser eval ...``: the alignment protocols from the command line (a typer sub-app)."

#: The ``alignuser eval`` sub-app (its commands register on it when the package is imported).
eval_app = typer.Typer(add_completion=False, no_args_is_help=True, help=HELP)


def parse_ints(text: str) -> list[int]:
    """Comma-separated integers (``"0,1,2"``; empty parts skipped)."""
    return [int(x) for x in text.split(",") if x.strip()]


Out = typer.Option(Path("runs/eval"), "--out", help="Folder for <protocol>.json / .md.")
Ckpt = typer.Option(None, "--alignuser-checkpoint", help="Policy checkpoint folder.")
TrainOpt = typer.Option(
    None,
    "--alignuser-train",
    help="Selection: train the policy per world with this YAML (scenario train: section "
    "or bare train keys).",
)
TrainDirOpt = typer.Option(
    None, "--alignuser-train-dir", help="Selection: keep per-world training folders here."
)


ChatOpt = typer.Option(
    None,
    "--chat",
    help="Chat-model policy baseline, openai:MODEL\\[@BASE_URL] (any OpenAI-compatible "
    "server, e.g. vLLM); off by default",
)


def chat_option(spec: str | None) -> str | None:
    """Validated ``--chat`` spec (exit 2 with the expected form)."""
    if spec is None:
        return None
    from alignuser.evaluation.chat_baseline import parse_chat_spec

    try:
        parse_chat_spec(spec)
    except ValueError as exc:
        typer.echo(f"Invalid --chat: {exc}", err=True)
        raise typer.Exit(2) from None
    return spec


def train_config_option(path: Path | None):
    """Validated train config of ``--alignuser-train`` (exit 2 naming file and key)."""
    if path is None:
        return None
    try:
        return read_train_config(path)
    except ValueError as exc:
        typer.echo(f"Invalid train config\n{exc}", err=True)
        raise typer.Exit(2) from None


DataOpt = typer.Option(
    None, "--data", help="Dataset folder or file (default: the protocol's shared dataset)."
)
FormatOpt = typer.Option(
    None, "--format", help="Loader name (default: detected), e.g. generic, ml-100k, obd."
)
LoaderOpt = typer.Option(
    None,
    "--option",
    "-o",
    help="Loader option KEY=VALUE, repeatable; YAML values, dotted keys nest "
    "(-o columns.user=uid -o items=items.csv -o item_columns.item=iid).",
)
ScenarioOpt = typer.Option(
    None, "--scenario", help="Scenario YAML: its dataset: (and split: unless --split)."
)
SplitOpt = typer.Option(
    None,
    "--split",
    help="auto | temporal | random | leave-last-n | provided[:NAME] | column:COL "
    "(default: the scenario's, else auto).",
)
TestFracOpt = typer.Option(None, "--test-fraction", help="Split: test share (default 0.2).")
NTestOpt = typer.Option(None, "--n-test", help="leave-last-n: held-out events per user.")
SplitSeedOpt = typer.Option(None, "--split-seed", help="random split: seed (default 0).")


def data_keywords(data, fmt, option, scenario, split=None, test_fraction=None, n_test=None,
            split_seed=None) -> dict:  # fmt: skip
    """Runner keywords choosing the dataset and split (DatasetError on a bad flag)."""
    from alignuser.evaluation.datasource import SplitChoice, parse_options

    if data is not None and scenario is not None:
        from alignuser.errors import DatasetError

        raise DatasetError("give --data or --scenario, not both")
    kw = {"data": data, "fmt": fmt, "options": parse_options(option), "scenario": scenario}
    if any(v is not None for v in (split, test_fraction, n_test, split_seed)):
        kw["split"] = SplitChoice.parse(split, test_fraction=test_fraction, n_test=n_test,
                                        seed=split_seed)  # fmt: skip
    return kw


def exit_error(exc: Exception) -> typer.Exit:
    """Print ``exc`` as one ``error:`` line on stderr; the exit (code 2) to raise."""
    typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
    return typer.Exit(2)


def run_protocol(name: str, out: Path, data_kw=None, **kw) -> None:
    """Run one protocol and write its tables; an AlignUserError is one line, exit 2."""
    from alignuser.errors import AlignUserError

    start = time.perf_counter()
    try:
        tables = RUNNERS[name](**(data_kw() if callable(data_kw) else data_kw or {}), **kw)
    except AlignUserError as exc:
        raise exit_error(exc) from None
    meta = run_meta(f"alignuser eval {name.replace('_', '-')}", start)
    md = write_tables(out, name, tables, meta)
    if "data" in tables:
        typer.echo(tables["data"].to_string(index=False))
    typer.echo(tables["summary"].to_string(index=False))
    typer.echo(f"wrote {md}")


def checkpoints_option(text: str | None):
    """The ``--alignuser-checkpoint`` value read by
    :func:`~alignuser.evaluation.fidelity.checkpoints.parse_checkpoints` (exit 2 when bad).
    """  # noqa: D205
    from alignuser.evaluation.fidelity.checkpoints import parse_checkpoints

    try:
        return parse_checkpoints(text)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
