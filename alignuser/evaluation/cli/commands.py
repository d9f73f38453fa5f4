"""The protocol commands of ``alignuser eval``: taste, rating, ..., judge and ``all``.

Each command reads its flags and hands them to :func:`~alignuser.evaluation.cli.app.
run_protocol` (the protocol's runner in :mod:`alignuser.evaluation.suite`, then its tables
written); the human-likeness commands are in :mod:`~alignuser.evaluation.cli.likeness`.

Example:
    >>> from typer.testing import CliRunner  # doctest: +SKIP
    >>> CliRunner().invoke(eval_app, ["selection", "--worlds", "1"])  # doctest: +SKIP
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import typer

from alignuser.evaluation.cli.app import (
    ChatOpt,
    Ckpt,
    DataOpt,
    FormatOpt,
    LoaderOpt,
    NTestOpt,
    Out,
    ScenarioOpt,
    SplitOpt,
    SplitSeedOpt,
    TestFracOpt,
    TrainDirOpt,
    TrainOpt,
    chat_option,
    checkpoints_option,
    data_keywords,
    eval_app,
    exit_error,
    parse_ints,
    run_protocol,
    train_config_option,
)

__all__ = ["all_cmd", "fidelity", "judge", "next_action_cmd", "off_policy", "rating", "replay",
           "selection", "taste"]  # fmt: skip


@eval_app.command()
def taste(
    data: Path = DataOpt,
    fmt: str = FormatOpt,
    option: list[str] = LoaderOpt,
    scenario: Path = ScenarioOpt,
    split: str = SplitOpt,
    test_fraction: float = TestFracOpt,
    n_test: int = NTestOpt,
    split_seed: int = SplitSeedOpt,
    users: int = typer.Option(None, help="Subsample this many users (default all)."),
    ms: str = typer.Option("1,2,3,9", help="Negative ratios m."),
    seeds: str = typer.Option("0,1,2"),
    mode: str = typer.Option("sample", help="sample or greedy watch decisions."),
    alignuser_checkpoint: str = Ckpt,
    chat: str = ChatOpt,
    out: Path = Out,
) -> None:
    """Agent4Rec 1:m taste discrimination (default data: agent4rec-ml1m)."""
    dk = partial(data_keywords, data, fmt, option, scenario, split, test_fraction, n_test,
                 split_seed)  # fmt: skip
    run_protocol("taste", out, dk, users=users, ms=parse_ints(ms), seeds=parse_ints(seeds),
                 mode=mode, checkpoint=alignuser_checkpoint, chat=chat_option(chat))  # fmt: skip


@eval_app.command()
def rating(
    data: Path = typer.Option(
        None, "--data", help="Dataset folder or file (default: ml-100k folds, ml-latest-small)."
    ),
    fmt: str = FormatOpt,
    option: list[str] = LoaderOpt,
    scenario: Path = ScenarioOpt,
    split: str = SplitOpt,
    test_fraction: float = TestFracOpt,
    n_test: int = NTestOpt,
    split_seed: int = SplitSeedOpt,
    folds: str = typer.Option("u1,u2,u3,u4,u5", help="ml-100k folds (default data only)."),
    max_ratings: int = typer.Option(None, help="Subsample test ratings per split."),
    alignuser_checkpoint: str = Ckpt,
    chat: str = ChatOpt,
    out: Path = Out,
) -> None:
    """RMSE / MAE of ratings of held-out watched items."""
    dk = partial(data_keywords, data, fmt, option, scenario, split, test_fraction, n_test,
                 split_seed)  # fmt: skip
    run_protocol("rating", out, dk, folds=[f for f in folds.split(",") if f],
                 max_ratings=max_ratings, checkpoint=alignuser_checkpoint,
                 chat=chat_option(chat))  # fmt: skip


@eval_app.command("next-action")
def next_action_cmd(
    data: Path = typer.Option(
        None, "--data", help="Impressions dataset folder or Parquet log (default ebnerd-sample)."
    ),
    fmt: str = FormatOpt,
    option: list[str] = LoaderOpt,
    scenario: Path = ScenarioOpt,
    test_fraction: float = typer.Option(0.3, help="Latest share of the pages tested."),
    seeds: str = typer.Option("0,1,2"),
    alignuser_checkpoint: str = Ckpt,
    chat: str = ChatOpt,
    out: Path = Out,
) -> None:
    """Top-1 / MRR of the clicked item and exit accuracy on later impressions."""
    dk = partial(data_keywords, data, fmt, option, scenario)
    run_protocol("next_action", out, dk, seeds=parse_ints(seeds),
                 checkpoint=alignuser_checkpoint, chat=chat_option(chat),
                 test_fraction=test_fraction)  # fmt: skip


@eval_app.command()
def selection(
    data: Path = typer.Option(
        None, "--data", help="Rank recommenders on this dataset (default: synthetic worlds)."
    ),
    fmt: str = FormatOpt,
    option: list[str] = LoaderOpt,
    scenario: Path = ScenarioOpt,
    split: str = SplitOpt,
    test_fraction: float = TestFracOpt,
    n_test: int = NTestOpt,
    split_seed: int = SplitSeedOpt,
    recommenders: str = typer.Option(
        None, help="With --data: recommenders to rank (default random,popular,itemknn,ease)."
    ),
    logs: Path = typer.Option(
        None, "--logs", help="Your A/B test: an impressions log (Parquet or dataset folder)."
    ),
    arm_column: str = typer.Option(None, "--arm-column", help="With --logs: the arm column."),
    worlds: int = typer.Option(3, help="Synthetic world seeds."),
    n_users: int = typer.Option(300),
    n_items: int = typer.Option(300),
    alignuser_checkpoint: str = Ckpt,
    alignuser_train: Path = TrainOpt,
    alignuser_train_dir: Path = TrainDirOpt,
    chat: str = ChatOpt,
    out: Path = Out,
) -> None:
    """System selection: synthetic world's true ranking, --data offline, or --logs A/B arms.

    With --logs FILE --arm-column COL: which arm the simulated users prefer on each arm's
    later pages (the latest --test-fraction, default 0.3), against the arms' real CTRs.
    """
    cfg, spec = train_config_option(alignuser_train), chat_option(chat)
    recs = [r for r in recommenders.split(",") if r] if recommenders else None
    if logs is not None or arm_column is not None:

        def dk():
            return {"logs": logs, "arm_column": arm_column, "fmt": fmt,
                    "options": data_keywords(None, fmt, option, None)["options"],
                    "test_fraction": test_fraction}  # fmt: skip
    else:
        dk = partial(data_keywords, data, fmt, option, scenario, split, test_fraction, n_test,
                 split_seed)  # fmt: skip
    run_protocol("selection", out, dk, worlds=worlds, n_users=n_users, n_items=n_items,
                 checkpoint=alignuser_checkpoint, train_config=cfg,
                 train_dir=alignuser_train_dir, chat=spec, recommenders=recs)  # fmt: skip


@eval_app.command()
def fidelity(
    data: Path = typer.Option(
        None, "--data", help="Dataset folder or file (default ebnerd-sample and ml-latest-small)."
    ),
    fmt: str = FormatOpt,
    option: list[str] = LoaderOpt,
    scenario: Path = ScenarioOpt,
    split: str = SplitOpt,
    test_fraction: float = TestFracOpt,
    n_test: int = NTestOpt,
    split_seed: int = SplitSeedOpt,
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
    ck = checkpoints_option(alignuser_checkpoint)
    dk = partial(data_keywords, data, fmt, option, scenario, split, test_fraction, n_test,
                 split_seed)  # fmt: skip
    run_protocol("fidelity", out, dk, seeds=parse_ints(seeds), checkpoint=ck,
                 chat=chat_option(chat), max_users=max_users,
                 plots_dir=out / "fidelity_plots")  # fmt: skip


@eval_app.command()
def replay(
    data: Path = typer.Option(
        None, "--data", help="Impressions dataset folder or Parquet log (default ebnerd-sample)."
    ),
    fmt: str = FormatOpt,
    option: list[str] = LoaderOpt,
    scenario: Path = ScenarioOpt,
    seeds: str = typer.Option("0,1,2"),
    test_fraction: float = typer.Option(0.3, help="Latest share of the log that is replayed."),
    alignuser_checkpoint: str = Ckpt,
    chat: str = ChatOpt,
    out: Path = Out,
) -> None:
    """Replay logged pages: each policy's predicted CTR per position vs the real CTR."""
    dk = partial(data_keywords, data, fmt, option, scenario)
    run_protocol("replay", out, dk, seeds=parse_ints(seeds), checkpoint=alignuser_checkpoint,
                 test_fraction=test_fraction, chat=chat_option(chat))  # fmt: skip


@eval_app.command("off-policy")
def off_policy(
    data: Path = typer.Option(
        None, "--data", help="Open Bandit Dataset folder (default: shared obd-small)."
    ),
    campaigns: str = typer.Option("all,men,women", help="Campaigns."),
    policies: str = typer.Option("choice,alignuser", help="Simulator user policies."),
    n_boot: int = typer.Option(500, help="Bootstrap resamples of each interval."),
    seed: int = typer.Option(0),
    alignuser_checkpoint: str = Ckpt,
    alignuser_train: Path = typer.Option(
        None,
        "--alignuser-train",
        help="Train the learned policy on each training log "
        "with this YAML (scenario train: section or bare train keys).",
    ),
    alignuser_train_dir: Path = typer.Option(
        None, "--alignuser-train-dir", help="Keep the per-log training folders here."
    ),
    out: Path = Out,
) -> None:
    """Off-policy system selection on a multi-policy A/B log (Open Bandit Dataset).

    Fit on one logging policy's log, predict the other's CTR (both directions, per
    campaign): the simulator vs IPW / SNIPW / DM / DR and the naive estimate, against the
    truth with a bootstrap interval. Writes <out>/off_policy.md and .json.
    """
    cfg = train_config_option(alignuser_train)
    run_protocol("off_policy", out, data=data,
                 campaigns=[c for c in campaigns.split(",") if c],
                 policies=[p for p in policies.split(",") if p], n_boot=n_boot, seed=seed,
                 checkpoint=alignuser_checkpoint, train_config=cfg,
                 train_dir=alignuser_train_dir)  # fmt: skip


@eval_app.command()
def judge(
    run_dir: Path = typer.Argument(..., help="A finished run folder (alignuser run ...)."),
    judge_spec: str = typer.Option(
        None,
        "--judge",
        help="Judge chat model: openai:MODEL[@BASE_URL] (OpenAI-compatible), or offline "
        "local:smollm2 / transformers:DIR[@FILE.gguf].",
    ),
    n_sessions: int = typer.Option(50, help="Sessions sampled per recommender and from logs."),
    seed: int = typer.Option(0),
    out: Path = Out,
) -> None:
    """Human-likeness 1..5 by an LLM judge (optional; no judge, no number)."""
    run_protocol("judge", out, run_dir=run_dir, judge=judge_spec, n_sessions=n_sessions,
                 seed=seed)


@eval_app.command("all")
def all_cmd(
    data: Path = typer.Option(
        None, "--data", help="Run every protocol on this dataset (default: the shared ones)."
    ),
    fmt: str = FormatOpt,
    option: list[str] = LoaderOpt,
    scenario: Path = ScenarioOpt,
    split: str = SplitOpt,
    test_fraction: float = TestFracOpt,
    n_test: int = NTestOpt,
    split_seed: int = SplitSeedOpt,
    users: int = typer.Option(None, help="Taste: subsample users."),
    alignuser_checkpoint: str = Ckpt,
    alignuser_train: Path = TrainOpt,
    alignuser_train_dir: Path = TrainDirOpt,
    chat: str = ChatOpt,
    out: Path = Out,
) -> None:
    """Every protocol, one JSON + Markdown file each.

    With ``--data`` / ``--scenario`` a protocol the dataset cannot serve (next-action and
    replay need impressions) is skipped with its one-line reason; the others still run.
    """
    from alignuser.errors import AlignUserError

    ck, spec = alignuser_checkpoint, chat_option(chat)
    cfg = train_config_option(alignuser_train)  # validated before any protocol runs
    own = data is not None or scenario is not None
    try:
        dk = data_keywords(data, fmt, option, scenario, split, test_fraction, n_test, split_seed)
    except AlignUserError as exc:
        raise exit_error(exc) from None
    pages = {k: v for k, v in dk.items() if k != "split"}
    sel = {"train_config": cfg, "train_dir": alignuser_train_dir}
    if own:
        sel = {}
    jobs = [("taste", dk, {"users": users}), ("rating", dk, {}), ("next_action", pages, {}),
            ("fidelity", dk, {"plots_dir": out / "fidelity_plots"}), ("replay", pages, {}),
            ("selection", dk, sel)]  # fmt: skip
    if not own:  # the Open Bandit Dataset protocol reads its own data (no checkpoint fits it)
        jobs.append(("off_policy", {}, {"checkpoint": None, "chat": None}))
    ran = 0
    for name, data_kw, kw in jobs:
        try:
            run_protocol(name, out, data_kw, **{"checkpoint": ck, "chat": spec, **kw})
            ran += 1
        except typer.Exit:
            if not own:
                raise
            typer.echo(f"{name}: not run (see the error above)", err=True)
    if not ran:
        raise typer.Exit(2)
