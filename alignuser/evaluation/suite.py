"""Each protocol as one call returning tidy tables (the runners behind ``alignuser eval``).

Every ``run_<protocol>`` returns a mapping of table name to :class:`pandas.DataFrame`
(``"summary"`` first); :func:`~alignuser.evaluation.common.write_tables` writes such a
mapping as ``<out>/<name>.json`` and ``<out>/<name>.md``. :data:`RUNNERS` maps protocol
names to their runner. Their default line-up is
:data:`~alignuser.evaluation.common.PROTOCOL_POLICIES` and their default data come from
the shared datasets folder (:func:`~alignuser.evaluation.common.shared_data`,
``$ALIGNUSER_SHARED_DATA``, default ``../shared/data``); the learned policy's row reads "not
run" without a checkpoint. With
``chat=`` (a spec ``"openai:<model>[@<base_url>]"``, a LangChain chat model or a policy) the
``chat`` baseline joins the line-up; its summary row's ``status`` says what it could not
provide (probabilities) and how many pages fell back to random decisions.

Example:
    >>> from alignuser.evaluation.common import write_tables
    >>> tables = run_selection(worlds=1, n_users=40, n_items=60)  # doctest: +SKIP
    >>> write_tables(Path("runs/eval"), "selection", tables, {})  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from alignuser.evaluation.common import (
    PROTOCOL_POLICIES,
    chat_status,
    data_table,
    shared_data,
    with_not_run,
)

__all__ = ["RUNNERS", "read_train_config", "run_fidelity", "run_judge", "run_judge_agreement",
           "run_likeness", "run_next_action", "run_off_policy", "run_rating", "run_replay",
           "run_selection", "run_taste"]  # fmt: skip


def _eval_data(protocol: str, data, fmt, options, scenario, split, default, **kw):
    """The checked data of one protocol run (:func:`~alignuser.evaluation.datasource.require`)."""
    from alignuser.evaluation.datasource import load_eval_data, require

    return require(protocol, load_eval_data(data, fmt, options, scenario, split, default, **kw))


def run_taste(data=None, users: int | None = None, ms=(1, 2, 3, 9), seeds=(0, 1, 2),
              checkpoint=None, policies=PROTOCOL_POLICIES, mode: str = "sample",
              chat=None, fmt=None, options=None, scenario=None, split=None) -> dict:  # fmt: skip
    """The taste protocol on ``data`` (default agent4rec-ml1m, split ``provided``).

    ``data``, ``fmt``, ``options``, ``scenario`` and ``split`` choose the dataset and split
    (:func:`~alignuser.evaluation.datasource.load_eval_data`; default split: the one the
    dataset ships, else temporal 80/20, else random).
    """
    import numpy as np

    from alignuser.evaluation.protocols import build_policies
    from alignuser.evaluation.taste import taste_discrimination, taste_table

    ed = _eval_data("taste", data, fmt, options, scenario, split,
                    shared_data() / "agent4rec-ml1m")  # fmt: skip
    ds, split = ed.dataset, ed.split
    chosen = None
    if users:
        pool = np.unique(split.train.df["user_id"].to_numpy())
        chosen = np.sort(np.random.default_rng(0).choice(pool, min(users, len(pool)), False))
    pols = build_policies(ds, split.train, policies, 0, checkpoint, chat=chat)
    raw = taste_discrimination(ds, split, pols, ms, seeds, users=chosen, mode=mode)
    if not len(raw) or not (raw["pairs"] > 0).any():
        from alignuser.errors import DatasetError

        raise DatasetError(f"taste: no held-out item of {ds.name!r} to show (split {split.name!r})")
    table = with_not_run(taste_table(raw), checkpoint, policies)
    table = chat_status(table, [pols.get("chat")], "taste")
    return {"summary": table, "raw": raw, "data": data_table(ed)}


def run_rating(folds=("u1", "u2", "u3", "u4", "u5"), max_ratings: int | None = None,
               checkpoint=None, policies=PROTOCOL_POLICIES, chat=None, data=None, fmt=None,
               options=None, scenario=None, split=None) -> dict:  # fmt: skip
    """RMSE / MAE on ml-100k folds and on ml-latest-small (temporal 80/20 split).

    With ``data`` or ``scenario`` (and optionally ``fmt``, ``options``, ``split``, see
    :func:`~alignuser.evaluation.datasource.load_eval_data`): on that dataset's split only.
    """
    import pandas as pd

    from alignuser.data.loaders import load_dataset
    from alignuser.data.splits import temporal_split
    from alignuser.evaluation.protocols import build_policies
    from alignuser.evaluation.rating import rating_prediction, rating_table

    raws, tables, chats = [], [], []
    if data is not None or scenario is not None:
        ed = _eval_data("rating", data, fmt, options, scenario, split, None)
        jobs = [(ed.dataset.name, ed.dataset, ed.split, ed.split_label)]
        used = data_table(ed)
    else:
        ml100k = load_dataset(shared_data() / "ml-100k")
        jobs = [("ml-100k", ml100k, ml100k.splits[f], f) for f in folds]
        mls = load_dataset(shared_data() / "ml-latest-small")
        jobs.append(("ml-latest-small", mls, temporal_split(mls.interactions, 0.2), "temporal"))
        used = None
    for name, ds, split, label in jobs:
        pols = build_policies(ds, split.train, policies, 0, checkpoint, chat=chat)
        if "chat" in pols and all(pols["chat"] is not c for c in chats):
            chats.append(pols["chat"])
        raw = rating_prediction(ds, split, pols, max_ratings, split_name=label)
        raws.append(raw.assign(dataset=name))
    raw = pd.concat(raws, ignore_index=True)
    for name, g in raw.groupby("dataset", sort=False):
        tables.append(with_not_run(rating_table(g).assign(dataset=name), checkpoint, policies,
                                   dataset=name))  # fmt: skip
    summary = chat_status(pd.concat(tables, ignore_index=True), chats, "rating")
    out = {"summary": summary, "raw": raw}
    if used is not None:
        out["data"] = used
    return out


def run_next_action(data=None, seeds=(0, 1, 2), checkpoint=None,
                    policies=PROTOCOL_POLICIES, chat=None, fmt=None, options=None, scenario=None,
                    test_fraction: float = 0.3) -> dict:  # fmt: skip
    """Next action on later impressions (default ebnerd-sample), cut at ``test_fraction``."""
    from alignuser.evaluation.next_action import next_action, next_action_table
    from alignuser.evaluation.protocols import build_policies

    ed = _eval_data("next_action", data, fmt, options, scenario, None,
                    shared_data() / "ebnerd-sample", impressions=True)  # fmt: skip
    built: dict = {}

    def fn(train_ds, train_inter):
        built.update(build_policies(train_ds, train_inter, policies, 0, checkpoint, chat=chat))
        return dict(built)

    raw = next_action(ed.dataset, fn, test_fraction=test_fraction, seeds=seeds)
    table = with_not_run(next_action_table(raw), checkpoint, policies)
    summary = chat_status(table, [built.get("chat")], "next_action")
    return {"summary": summary, "raw": raw, "data": data_table(ed)}


def read_train_config(path: str | Path):
    """The :class:`~alignuser.training.config.TrainConfig` of a YAML file.

    The file is a scenario (its ``train:`` section is used) or a bare mapping of train keys.

    Raises:
        ValueError: Naming the file and every invalid key (``train.<key>: <message>``).
    """
    import yaml
    from pydantic import ValidationError

    from alignuser.training.config import TrainConfig

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read train config: {exc}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a mapping, got {type(doc).__name__}")
    prefix = ""
    if "train" in doc:
        doc, prefix = doc["train"] or {}, "train."
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: train: expected a mapping, got {type(doc).__name__}")
    elif "dataset" in doc:
        raise ValueError(f"{path}: scenario has no train: section")
    try:
        return TrainConfig.model_validate(doc)
    except ValidationError as exc:
        keys = "; ".join(f"{prefix}{'.'.join(map(str, e['loc']))}: {e['msg']}"
                         for e in exc.errors())  # fmt: skip
        raise ValueError(f"{path}: {keys}") from None


def run_selection(worlds: int = 3, n_users: int = 300, n_items: int = 300, checkpoint=None,
                  policies=PROTOCOL_POLICIES, train_config=None, train_dir=None,
                  chat=None, data=None, fmt=None, options=None, scenario=None,
                  split=None, recommenders=None, logs=None, arm_column=None,
                  test_fraction: float | None = None, seed: int = 0) -> dict:  # fmt: skip
    """System selection over ``worlds`` synthetic world seeds, or on a dataset.

    With ``data`` or ``scenario`` (and ``fmt``, ``options``, ``split``): the recommenders
    (default :data:`~alignuser.evaluation.selection.on_data.DATA_RECOMMENDERS`) are ranked on
    that dataset's split by each policy's simulated click rate and by offline metrics
    (:func:`~alignuser.evaluation.selection.on_data.dataset_selection`; no online truth there).
    With ``logs`` (an impressions log) and ``arm_column``: your own A/B test, each arm's
    later pages replayed to policies fitted on the earlier pages of all arms, against the
    arms' real CTRs (:func:`~alignuser.evaluation.selection.ab.ab_selection`; the time cut
    at ``test_fraction``, default 0.3).

    ``train_config`` (a ``TrainConfig``, a mapping or a YAML path, see
    :func:`read_train_config`) trains the learned policy per world on its train logs
    (folders under ``train_dir``, default temporary); the ``alignuser_training`` table then
    holds each world's training wall time and validation metrics. ``chat`` adds the
    chat-model baseline (column ``sim_chat``, method ``sim_chat`` of the agreement).
    """
    from alignuser.evaluation.selection.synthetic import (
        selection_agreement,
        selection_table,
        system_selection,
    )

    if logs is not None or arm_column is not None:
        return _ab(logs, arm_column, fmt, options, checkpoint, policies, chat,
                   0.3 if test_fraction is None else test_fraction, seed)  # fmt: skip
    if data is not None or scenario is not None:
        return _data_selection(data, fmt, options, scenario, split, checkpoint, policies, chat,
                               recommenders, train_config)  # fmt: skip
    if isinstance(train_config, str | Path):
        train_config = read_train_config(train_config)
    raw = system_selection(tuple(range(worlds)), policies=policies, n_users=n_users,
                           n_items=n_items, alignuser_checkpoint=checkpoint,
                           alignuser_train=train_config, train_dir=train_dir,
                           chat=chat)  # fmt: skip
    agree = selection_agreement(raw)
    out = {"summary": selection_table(agree), "scores": raw, "agreement": agree}
    cols = [c for c in raw.columns if c.startswith("alignuser_")]
    if cols:
        out["alignuser_training"] = raw.groupby("world_seed", as_index=False)[cols].first()
    return out


def _ab(logs, arm_column, fmt, options, checkpoint, policies, chat, test_fraction,
        seed) -> dict:  # fmt: skip
    from alignuser.errors import DatasetError
    from alignuser.evaluation.protocols import build_policies
    from alignuser.evaluation.selection.ab import ab_selection, ab_summary

    if logs is None or not arm_column:
        raise DatasetError("your own A/B test needs both --logs FILE and --arm-column COLUMN")
    ed = _eval_data("replay", logs, fmt, options, None, None, None, impressions=True)
    built: dict = {}
    names = [p for p in policies if p not in ("popularity", "mf")]  # no CTR from scores

    def fn(train_ds, train_inter):
        built.update(build_policies(train_ds, train_inter, names, seed, checkpoint, chat=chat))
        return dict(built)

    raw = ab_selection(ed.dataset, arm_column, fn, test_fraction=test_fraction, seed=seed)
    summary = ab_summary(raw)
    summary["status"] = "ok"
    _alignuser_not_run(summary, policies, built, checkpoint)
    return {"summary": summary, "arms": raw, "data": data_table(ed)}


def _alignuser_not_run(summary, policies, built, checkpoint) -> None:
    """Add a ``sim_alignuser`` "not run" row (saying why) when it was asked but not built."""
    if "alignuser" in policies and "alignuser" not in built:
        why = "no --alignuser-checkpoint" if not checkpoint else "checkpoint failed to load"
        summary.loc[len(summary)] = {"method": "sim_alignuser", "status": f"not run: {why}"}


def _data_selection(data, fmt, options, scenario, split, checkpoint, policies, chat,
                    recommenders, train_config) -> dict:  # fmt: skip
    from alignuser.errors import DatasetError
    from alignuser.evaluation.protocols import build_policies
    from alignuser.evaluation.selection.on_data import (
        DATA_RECOMMENDERS,
        dataset_selection,
        offline_agreement,
    )

    if train_config is not None:
        raise DatasetError(
            "--alignuser-train trains one policy per synthetic world; on your data train it "
            "with alignuser train SCENARIO and pass --alignuser-checkpoint DIR"
        )
    ed = _eval_data("selection", data, fmt, options, scenario, split, None)
    names = [p for p in policies if p not in ("mf", "choice_default")]
    pols = build_policies(ed.dataset, ed.split.train, names, 0, checkpoint, chat=chat)
    raw = dataset_selection(ed.dataset, ed.split, tuple(recommenders or DATA_RECOMMENDERS), pols)
    summary = offline_agreement(raw)
    summary["status"] = "ok (no online truth on this data: agreement with offline NDCG@10)"
    _alignuser_not_run(summary, policies, pols, checkpoint)
    return {"summary": summary, "scores": raw, "data": data_table(ed)}


def run_judge(run_dir: Path, judge: str | None = None, n_sessions: int = 50, seed: int = 0) -> dict:
    """LLM-as-judge human-likeness (1..5) of a run's sessions and of the human logs."""
    from alignuser.evaluation.judge.scores import run_judge as judge_run

    return judge_run(run_dir, chat_model=judge, n_sessions=n_sessions, seed=seed)


def run_replay(data=None, seeds=(0, 1, 2), checkpoint=None, test_fraction: float = 0.3,
               chat=None, fmt=None, options=None, scenario=None) -> dict:  # fmt: skip
    """Predicted vs real CTR per position on the later pages of an impressions log."""
    from alignuser.evaluation.replay import run_replay as replay_run

    ed = _eval_data("replay", data, fmt, options, scenario, None,
                    shared_data() / "ebnerd-sample", impressions=True)  # fmt: skip
    out = replay_run(ed.dataset, seeds, checkpoint, test_fraction=test_fraction, chat=chat)
    return {**out, "data": data_table(ed)}


def run_fidelity(data=None, seeds=(0,), checkpoint=None, max_users: int = 200,
                 plots_dir=None, chat=None, fmt=None, options=None, scenario=None,
                 split=None) -> dict:  # fmt: skip
    """Macro fidelity: simulated vs human session statistics (Wasserstein, KS, plots).

    Default data: ebnerd-sample and ml-latest-small; with ``data`` or ``scenario`` that
    dataset alone (a rating log on the chosen ``split``; impressions cut in time).
    """
    from alignuser.evaluation.datasource import with_split
    from alignuser.evaluation.fidelity.protocol import run_fidelity as fidelity_run

    datas, extra = None, {}
    if data is not None or scenario is not None:
        from alignuser.evaluation.datasource import load_eval_data, require

        ed = require("fidelity", load_eval_data(data, fmt, options, scenario, split,
                                                impressions="auto"))  # fmt: skip
        datas, extra = [with_split(ed)], {"data": data_table(ed)}
    out = fidelity_run(datas, seeds, checkpoint, max_users=max_users, plots_dir=plots_dir,
                       chat=chat)  # fmt: skip
    return {**out, **extra}


def run_off_policy(data=None, campaigns=("all", "men", "women"), policies=("choice", "alignuser"),
                   checkpoint=None, train_config=None, train_dir=None, seed: int = 0,
                   n_boot: int = 500, chat=None) -> dict:  # fmt: skip
    """Off-policy system selection on the Open Bandit Dataset (default ``obd-small``).

    Per campaign and direction (fit on one logging policy's log, predict the other's CTR):
    the simulator (``sim_<policy>``), obp-style IPW / SNIPW / DM / DR and the naive
    estimate against the truth with a bootstrap interval; see
    :mod:`alignuser.evaluation.selection.offpolicy`. ``train_config`` (a ``TrainConfig``, mapping or
    YAML path) trains the learned policy on each training log, into ``train_dir``
    (default temporary).
    """
    import tempfile

    from alignuser.errors import DatasetError
    from alignuser.evaluation.selection.offpolicy import offpolicy_selection, offpolicy_summary

    if chat is not None:
        raise DatasetError("off-policy: the chat baseline is not wired into this protocol")
    root = Path(data) if data is not None else shared_data() / "obd-small"
    if not root.exists():
        raise DatasetError(f"off-policy: {root} does not exist; give --data OBD_FOLDER")
    if isinstance(train_config, str | Path):
        train_config = read_train_config(train_config)
    elif isinstance(train_config, dict):
        from alignuser.training.config import TrainConfig

        train_config = TrainConfig.model_validate(train_config)
    kw = {"campaigns": tuple(campaigns), "policies": tuple(policies), "seed": seed,
          "n_boot": n_boot, "checkpoint": checkpoint, "train_config": train_config}  # fmt: skip
    if train_config is not None and train_dir is None:
        with tempfile.TemporaryDirectory(prefix="alignuser-obd-") as tmp:
            raw = offpolicy_selection(root, train_dir=tmp, **kw)
    else:
        raw = offpolicy_selection(root, train_dir=train_dir, **kw)
    return {"summary": offpolicy_summary(raw), "estimates": raw}


def run_likeness(**kw) -> dict:
    """Discriminator human-likeness (:func:`alignuser.evaluation.likeness.run_likeness`)."""
    from alignuser.evaluation.likeness.discriminator import run_likeness as run

    return run(**kw)


def run_judge_agreement(**kw) -> dict:
    """Judge agreement (:func:`alignuser.evaluation.judge.agreement.run_judge_agreement`)."""
    from alignuser.evaluation.judge.agreement import run_judge_agreement as run

    return run(**kw)


RUNNERS = {
    "fidelity": run_fidelity,
    "likeness": run_likeness,
    "judge_agreement": run_judge_agreement,
    "judge": run_judge,
    "replay": run_replay,
    "taste": run_taste,
    "rating": run_rating,
    "next_action": run_next_action,
    "selection": run_selection,
    "off_policy": run_off_policy,
}
