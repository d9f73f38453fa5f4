"""``alignuser eval likeness`` and ``alignuser eval judge-agreement`` (human-likeness).

Registered on :data:`~alignuser.evaluation.cli.app.eval_app` when the package is imported;
the protocols are :func:`~alignuser.evaluation.likeness.run_likeness` and
:func:`~alignuser.evaluation.judge.agreement.run_judge_agreement`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from alignuser.evaluation.cli.app import (
    ChatOpt,
    FormatOpt,
    LoaderOpt,
    NTestOpt,
    Out,
    ScenarioOpt,
    SplitOpt,
    SplitSeedOpt,
    TestFracOpt,
    chat_option,
    checkpoints_option,
    data_keywords,
    eval_app,
    parse_ints,
    run_protocol,
)

__all__ = ["judge_agreement", "likeness"]


@eval_app.command()
def likeness(
    data: Path = typer.Option(
        None, "--data", help="Dataset folder or file (default ebnerd-sample and agent4rec-ml1m)."
    ),
    fmt: str = FormatOpt,
    option: list[str] = LoaderOpt,
    scenario: Path = ScenarioOpt,
    split: str = SplitOpt,
    test_fraction: float = TestFracOpt,
    n_test: int = NTestOpt,
    split_seed: int = SplitSeedOpt,
    seeds: str = typer.Option("0", help="Simulation seeds (one test each)."),
    max_users: int = typer.Option(300, help="Held-out users per dataset (subsample)."),
    n_boot: int = typer.Option(1000, help="Bootstrap resamples of each AUC interval."),
    policies: str = typer.Option("random,popularity,mf,choice,alignuser", help="Line-up."),
    alignuser_checkpoint: str = typer.Option(
        None,
        "--alignuser-checkpoint",
        help="Policy checkpoint folder, or NAME=DIR,... per dataset; DIR1+DIR2+... gives one "
        "row per checkpoint (e.g. agent4rec-ml1m=/tmp/s0/policy+/tmp/s1/policy).",
    ),
    chat: str = ChatOpt,
    out: Path = Out,
) -> None:
    """Discriminator two-sample test: AUC of real vs simulated sessions (0.5 = human-like)."""
    ck = checkpoints_option(alignuser_checkpoint)
    own = data is not None or scenario is not None

    def dk():
        return data_keywords(data, fmt, option, scenario, split, test_fraction, n_test,
                             split_seed) if own else {}  # fmt: skip

    run_protocol("likeness", out, dk, seeds=parse_ints(seeds), checkpoint=ck,
                 chat=chat_option(chat), max_users=max_users, n_boot=n_boot,
                 test_fraction=test_fraction or 0.3,
                 policies=[p for p in policies.split(",") if p])  # fmt: skip


@eval_app.command("judge-agreement")
def judge_agreement(
    judge_spec: str = typer.Option(
        None,
        "--judge",
        help="local:smollm2 (offline), transformers:DIR[@FILE.gguf] or openai:M@URL.",
    ),
    data: Path = typer.Option(
        None, "--data", help="Dataset folder or file (default ebnerd-sample and agent4rec-ml1m)."
    ),
    fmt: str = FormatOpt,
    option: list[str] = LoaderOpt,
    n_pairs: int = typer.Option(40, help="Held-out sessions per dataset (a pair per policy)."),
    seed: int = typer.Option(0),
    max_users: int = typer.Option(300, help="Held-out users per dataset (subsample)."),
    policies: str = typer.Option("random,popularity,mf,choice,alignuser", help="Line-up."),
    alignuser_checkpoint: str = typer.Option(
        None, "--alignuser-checkpoint", help="As for likeness: DIR, NAME=DIR, DIR1+DIR2."
    ),
    out: Path = Out,
) -> None:
    """Judge agreement: does the judge pick the real of (real, simulated)? Scores vs AUC."""
    ck = checkpoints_option(alignuser_checkpoint)
    dk = {"data": data, "fmt": fmt, "options": data_keywords(None, fmt, option, None)["options"]}
    run_protocol("judge_agreement", out, dk, judge=judge_spec, n_pairs=n_pairs, seed=seed,
                 checkpoint=ck, max_users=max_users,
                 policies=[p for p in policies.split(",") if p],
                 cache_dir=out / "judge_cache")  # fmt: skip
