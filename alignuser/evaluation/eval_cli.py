"""``alignuser eval ...``: the alignment protocols from the command line (a typer sub-app).

Commands (each writes ``<out>/<protocol>.json`` and ``<out>/<protocol>.md``):

* ``taste``: Agent4Rec 1:m taste discrimination (default data: ``agent4rec-ml1m``);
* ``rating``: RMSE / MAE (ml-100k folds ``u1..u5`` and ml-latest-small, temporal split);
* ``next-action``: clicks and exits on later impressions (default data: ``ebnerd-sample``);
* ``selection``: system selection in the synthetic world against the known truth;
* ``fidelity``: macro fidelity, simulated vs human session statistics (Wasserstein, KS, plots);
* ``replay``: predicted vs real CTR per position on the later pages of an impressions log;
* ``judge RUN_DIR --judge openai:<model>@<url>``: LLM-as-judge human-likeness of a run
  (optional; without ``--judge`` its row reads "not run");
* ``all``: every protocol above.

The shared datasets folder is ``$ALIGNUSER_SHARED_DATA`` (default ``../shared/data``). The
learned policy joins the line-up with ``--alignuser-checkpoint DIR``; without it its row reads
"not run". For ``selection`` (and ``all``), ``--alignuser-train FILE`` (a scenario YAML's
``train:`` section, or a bare mapping of train keys) trains it per synthetic world on that
world's train logs instead. ``--chat openai:MODEL[@BASE_URL]`` (every protocol but
``judge``) adds the ``chat`` baseline, an LLM behind any OpenAI-compatible server (e.g. vLLM)
prompted Agent4Rec-style; off by default, a malformed spec exits 2.

This module holds the typer commands only; each protocol runs through its runner in
:mod:`alignuser.evaluation.suite`, whose names are re-exported here.

Example:
    >>> from typer.testing import CliRunner  # doctest: +SKIP
    >>> CliRunner().invoke(eval_app, ["selection", "--worlds", "1"])  # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from alignuser.evaluation.suite import (
    POLICIES,
    RUNNERS,
    _meta,
    read_train_config,
    run_fidelity,
    run_judge,
    run_next_action,
    run_rating,
    run_replay,
    run_selection,
    run_taste,
    shared_data,
    write_tables,
)
from alignuser.evaluation.suite import _not_run as _not_run  # re-exported (replay)

eval_app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.split("\n\n")[0])


def _ints(text: str) -> list[int]:
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


def _chat(spec: str | None) -> str | None:
    """Validated ``--chat`` spec (exit 2 with the expected form)."""
    if spec is None:
        return None
    from alignuser.evaluation.protocols import parse_chat_spec

    try:
        parse_chat_spec(spec)
    except ValueError as exc:
        typer.echo(f"Invalid --chat: {exc}", err=True)
        raise typer.Exit(2) from None
    return spec


def _train_config(path: Path | None):
    """Validated train config of ``--alignuser-train`` (exit 2 naming file and key)."""
    if path is None:
        return None
    try:
        return read_train_config(path)
    except ValueError as exc:
        typer.echo(f"Invalid train config\n{exc}", err=True)
        raise typer.Exit(2) from None


def _go(name: str, out: Path, **kw) -> None:
    start = time.perf_counter()
    tables = RUNNERS[name](**kw)
    md = write_tables(out, name, tables, _meta(f"alignuser eval {name}", start))
    typer.echo(tables["summary"].to_string(index=False))
    typer.echo(f"wrote {md}")


@eval_app.command()
def taste(
    data: Path = typer.Option(None, help="Dataset folder (default agent4rec-ml1m)."),
    users: int = typer.Option(None, help="Subsample this many users (default all)."),
    ms: str = typer.Option("1,2,3,9", help="Negative ratios m."),
    seeds: str = typer.Option("0,1,2"),
    mode: str = typer.Option("sample", help="sample or greedy watch decisions."),
    alignuser_checkpoint: str = Ckpt,
    chat: str = ChatOpt,
    out: Path = Out,
) -> None:
    """Agent4Rec 1:m taste discrimination."""
    _go("taste", out, data=data, users=users, ms=_ints(ms), seeds=_ints(seeds), mode=mode,
        checkpoint=alignuser_checkpoint, chat=_chat(chat))  # fmt: skip


@eval_app.command()
def rating(
    folds: str = typer.Option("u1,u2,u3,u4,u5", help="ml-100k folds."),
    max_ratings: int = typer.Option(None, help="Subsample test ratings per split."),
    alignuser_checkpoint: str = Ckpt,
    chat: str = ChatOpt,
    out: Path = Out,
) -> None:
    """RMSE / MAE of ratings of held-out watched items."""
    _go("rating", out, folds=[f for f in folds.split(",") if f], max_ratings=max_ratings,
        checkpoint=alignuser_checkpoint, chat=_chat(chat))  # fmt: skip


@eval_app.command("next-action")
def next_action_cmd(
    data: Path = typer.Option(None, help="Impressions dataset (default ebnerd-sample)."),
    seeds: str = typer.Option("0,1,2"),
    alignuser_checkpoint: str = Ckpt,
    chat: str = ChatOpt,
    out: Path = Out,
) -> None:
    """Top-1 / MRR of the clicked item and exit accuracy on later impressions."""
    _go("next_action", out, data=data, seeds=_ints(seeds), checkpoint=alignuser_checkpoint,
        chat=_chat(chat))  # fmt: skip


@eval_app.command()
def selection(
    worlds: int = typer.Option(3, help="Synthetic world seeds."),
    n_users: int = typer.Option(300),
    n_items: int = typer.Option(300),
    alignuser_checkpoint: str = Ckpt,
    alignuser_train: Path = TrainOpt,
    alignuser_train_dir: Path = TrainDirOpt,
    chat: str = ChatOpt,
    out: Path = Out,
) -> None:
    """System selection against the synthetic world's true online ranking."""
    cfg, spec = _train_config(alignuser_train), _chat(chat)
    _go("selection", out, worlds=worlds, n_users=n_users, n_items=n_items,
        checkpoint=alignuser_checkpoint, train_config=cfg,
        train_dir=alignuser_train_dir, chat=spec)  # fmt: skip


@eval_app.command()
def fidelity(
    data: Path = typer.Option(
        None, help="Dataset folder (default ebnerd-sample and ml-latest-small)."
    ),
    seeds: str = typer.Option("0"),
    max_users: int = typer.Option(200, help="Held-out users per dataset (subsample)."),
    alignuser_checkpoint: str = typer.Option(
        None,
        "--alignuser-checkpoint",
        help="Policy checkpoint folder, or NAME=DIR,... per dataset "
        "(e.g. ebnerd=DIR,ml-latest-small=DIR): a policy is only meaningful on its data.",
    ),
    chat: str = ChatOpt,
    out: Path = Out,
) -> None:
    """Macro fidelity: session statistics of held-out users vs their simulation, with plots."""
    from alignuser.evaluation.fidelity import parse_checkpoints

    try:
        ck = parse_checkpoints(alignuser_checkpoint)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    _go("fidelity", out, data=data, seeds=_ints(seeds), checkpoint=ck, chat=_chat(chat),
        max_users=max_users, plots_dir=out / "fidelity_plots")  # fmt: skip


@eval_app.command()
def replay(
    data: Path = typer.Option(None, help="Impressions dataset folder or Parquet log."),
    seeds: str = typer.Option("0,1,2"),
    test_fraction: float = typer.Option(0.3, help="Latest share of the log that is replayed."),
    alignuser_checkpoint: str = Ckpt,
    chat: str = ChatOpt,
    out: Path = Out,
) -> None:
    """Replay logged pages: each policy's predicted CTR per position vs the real CTR."""
    _go("replay", out, data=data, seeds=_ints(seeds), checkpoint=alignuser_checkpoint,
        test_fraction=test_fraction, chat=_chat(chat))  # fmt: skip


@eval_app.command()
def judge(
    run_dir: Path = typer.Argument(..., help="A finished run folder (alignuser run ...)."),
    judge_spec: str = typer.Option(
        None,
        "--judge",
        help="Judge chat model: openai:MODEL or openai:MODEL@BASE_URL (OpenAI-compatible).",
    ),
    n_sessions: int = typer.Option(50, help="Sessions sampled per recommender and from logs."),
    seed: int = typer.Option(0),
    out: Path = Out,
) -> None:
    """Human-likeness 1..5 by an LLM judge (optional; no judge, no number)."""
    _go("judge", out, run_dir=run_dir, judge=judge_spec, n_sessions=n_sessions, seed=seed)


@eval_app.command("all")
def all_cmd(
    users: int = typer.Option(None, help="Taste: subsample users."),
    alignuser_checkpoint: str = Ckpt,
    alignuser_train: Path = TrainOpt,
    alignuser_train_dir: Path = TrainDirOpt,
    chat: str = ChatOpt,
    out: Path = Out,
) -> None:
    """Every protocol, one JSON + Markdown file each."""
    ck, spec = alignuser_checkpoint, _chat(chat)
    cfg = _train_config(alignuser_train)  # validated before any protocol runs
    jobs = [("taste", {"users": users}), ("rating", {}), ("next_action", {}),
            ("fidelity", {"plots_dir": out / "fidelity_plots"}), ("replay", {}),
            ("selection", {"train_config": cfg, "train_dir": alignuser_train_dir})]  # fmt: skip
    for name, kw in jobs:
        _go(name, out, checkpoint=ck, chat=spec, **kw)


__all__ = ["POLICIES", "RUNNERS", "eval_app", "read_train_config", "run_fidelity", "run_judge",
           "run_next_action", "run_rating", "run_replay", "run_selection", "run_taste",
           "shared_data", "write_tables"]  # fmt: skip
