"""Replay on real logs: predicted vs real click-through rate on exactly the recorded pages.

A user model is only useful for A/B decisions if it clicks about as often as real users do,
and at the right positions. This protocol replays the **later** pages of an impressions log
(an A/B arm's logs, EB-NeRD, the synthetic world) to simulated users whose policies were
fitted on the **earlier** part only, and compares their clicks with the real ones.

* Split: :func:`~alignuser.evaluation.next_action.impression_time_split`: impressions before
  the ``1 - test_fraction`` time quantile (and interactions before it) are the training part;
  the policies, personas, item statistics and retrieval encoder see nothing else. The dataset
  handed to ``fit_policies`` has only training impressions, interactions and statistics.
* Test states: :func:`~alignuser.training.trajectories.from_impressions` on the later pages:
  each page as it was shown, with the user's real history strictly before it (the real past,
  not the simulated one: this checks one page at a time).
* Prediction: per seed, the **sampled watch decisions** of each policy on every test page
  (:func:`~alignuser.evaluation.baselines.decide_watch`, ``mode="sample"``): what the
  simulation would do. Sampled decisions rather than probabilities because the baselines
  expose scores, not probabilities; for the choice and AlignUSER policies the mean over seeds
  converges to their mean watch probability.
* CTR: clicks / items shown, per 1-based page position (``1..max_position``) and overall
  (every position, also those beyond ``max_position``).

Columns of :func:`replay_ctr` (one row per policy, seed and position; ``position`` is
``<NA>`` on the overall row): ``policy, seed, position, pages, n_items, real_ctr, pred_ctr,
abs_error`` and, on overall rows only, ``position_corr`` (Pearson correlation of predicted and
real CTR over the positions, NaN when either is constant) and ``position_mae`` (mean absolute
error over the positions).

Example:
    >>> import numpy as np
    >>> position_ctr([np.array([1, 0, 0]), np.array([0, 1])], max_position=2)
       position  n_items  clicks  ctr
    0         1        2     1.0  0.5
    1         2        2     1.0  0.5
    2      <NA>        5     2.0  0.4
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from alignuser.evaluation.protocols import rng_for, summarise

__all__ = [
    "impressions_dataset",
    "load_replay_data",
    "position_ctr",
    "replay_ctr",
    "replay_positions",
    "replay_table",
    "run_replay",
    "strict_train",
]

SUMMARY_METRICS = ["real_ctr", "pred_ctr", "abs_error", "position_corr", "position_mae"]


def position_ctr(pages: Sequence[np.ndarray], max_position: int = 10) -> pd.DataFrame:
    """CTR per 1-based position (``1..max_position``) and overall (``position`` ``<NA>``).

    Args:
        pages: Per page, one click flag (or click probability) per shown item, in page order.
        max_position: Last position reported on its own (the overall row counts them all).

    Returns:
        Columns ``position`` (Int64), ``n_items``, ``clicks``, ``ctr`` (NaN where no item).
    """
    n = np.zeros(max_position, dtype=np.int64)
    clicks = np.zeros(max_position)
    total_n, total_c = 0, 0.0
    for page in pages:
        v = np.asarray(page, dtype=float)
        m = min(len(v), max_position)
        n[:m] += 1
        clicks[:m] += v[:m]
        total_n += len(v)
        total_c += float(v.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        ctr = np.where(n > 0, clicks / np.maximum(n, 1), np.nan)
    df = pd.DataFrame(
        {
            "position": pd.array([*range(1, max_position + 1), pd.NA], dtype="Int64"),
            "n_items": [*n.tolist(), total_n],
            "clicks": [*clicks.tolist(), total_c],
            "ctr": [*ctr.tolist(), total_c / total_n if total_n else np.nan],
        }
    )
    return df


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def strict_train(dataset, train_ds, train_inter):
    """The training dataset with training-only interactions and item statistics."""
    return dataclasses.replace(
        train_ds,
        interactions=train_inter,
        catalog=dataset.catalog.with_statistics(train_inter),
        splits={},
    )


def replay_ctr(
    dataset,
    fit_policies: Callable,
    test_fraction: float = 0.3,
    seeds: Sequence[int] = (0, 1, 2),
    max_position: int = 10,
) -> pd.DataFrame:
    """Predicted vs real CTR per position and overall on the later recorded pages.

    Args:
        dataset: A dataset with impressions (see :func:`load_replay_data`).
        fit_policies: ``(train_dataset, train_interactions) -> {name: policy}``, called once
            on the earlier part (e.g. a partial of
            :func:`~alignuser.evaluation.protocols.build_policies`).
        test_fraction: Share of impressions (latest by time) replayed.
        seeds: Sampling seeds (one row set per seed).
        max_position: Positions reported one by one.

    Returns:
        The tidy table described in the module docstring.
    """
    from alignuser.evaluation.baselines import decide_watch, page_sizes
    from alignuser.evaluation.next_action import impression_time_split
    from alignuser.personas.derive import derive_personas
    from alignuser.state import StepContext
    from alignuser.training.trajectories import from_impressions

    train_ds, test_ds, train_inter, _ = impression_time_split(dataset, test_fraction)
    policies = fit_policies(strict_train(dataset, train_ds, train_inter), train_inter)
    ctx = StepContext(dataset, train_inter)
    steps = from_impressions(test_ds, history=train_inter, context=ctx)
    if not steps:
        raise ValueError(f"dataset {dataset.name!r}: no test pages after the time split")
    feats = {
        int(p.user_id): p.to_features()
        for p in derive_personas(train_inter, dataset.catalog, dataset.users, dataset.scale)
    }
    states = [dataclasses.replace(s.state, features=feats.get(int(s.user_id), {})) for s in steps]
    real = position_ctr(
        [np.array([d.watch for d in s.action.decisions], dtype=float) for s in steps],
        max_position,
    )
    bounds = np.r_[0, np.cumsum(page_sizes(states))]
    rows = []
    for seed in seeds:
        for k, (name, policy) in enumerate(policies.items()):
            w = decide_watch(policy, states, rng_for(seed, 606, k), mode="sample")
            pred = position_ctr(
                [w[bounds[i] : bounds[i + 1]] for i in range(len(states))], max_position
            )
            t = pd.DataFrame(
                {
                    "policy": name,
                    "seed": int(seed),
                    "position": real["position"],
                    "pages": np.where(
                        real["position"].isna(), len(states), real["n_items"].to_numpy()
                    ),
                    "n_items": real["n_items"],
                    "real_ctr": real["ctr"],
                    "pred_ctr": pred["ctr"],
                }
            )
            t["abs_error"] = (t["pred_ctr"] - t["real_ctr"]).abs()
            by_pos = t[t["position"].notna() & (t["n_items"] > 0)]
            overall = t["position"].isna()
            t["position_corr"] = np.where(
                overall, _corr(by_pos["pred_ctr"].to_numpy(), by_pos["real_ctr"].to_numpy()), np.nan
            )
            t["position_mae"] = np.where(overall, by_pos["abs_error"].mean(), np.nan)
            rows.append(t)
    return pd.concat(rows, ignore_index=True)


def replay_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Overall rows of :func:`replay_ctr`: mean and std over seeds per policy."""
    overall = raw[raw["position"].isna()]
    out = summarise(overall, ["policy"], SUMMARY_METRICS)
    pages = overall.groupby("policy", sort=False)["pages"].first().to_numpy()
    out.insert(1, "pages", pages)
    return out.drop(columns=["real_ctr_std"])


def replay_positions(raw: pd.DataFrame) -> pd.DataFrame:
    """Per policy and position: mean over seeds of the real and predicted CTR."""
    pos = raw[raw["position"].notna()]
    g = pos.groupby(["policy", "position"], sort=False)
    out = g[["n_items", "real_ctr", "pred_ctr", "abs_error"]].mean().reset_index()
    out["n_items"] = out["n_items"].astype("int64")
    return out


def impressions_dataset(impressions, name: str = "impressions"):
    """A :class:`~alignuser.data.dataset.Dataset` from an impressions log alone.

    User and item ids may be any integers: they are renumbered ``0..n-1`` (the originals are
    kept as the catalog's / users' ``external_id``). Interactions are the clicks (implicit,
    at the page's timestamp); items are bare ids (``"item <id>"`` titles).
    """
    from alignuser.data.dataset import Dataset
    from alignuser.data.tables import Catalog, Impressions, Interactions, Users

    df = impressions.df if isinstance(impressions, Impressions) else impressions
    users, uidx = np.unique(df["user_id"].to_numpy(np.int64), return_inverse=True)
    all_items = np.concatenate([np.asarray(x, dtype=np.int64) for x in df["items"]])
    items = np.unique(all_items)

    def renumber(lists):
        return [np.searchsorted(items, np.asarray(x, dtype=np.int64)).tolist() for x in lists]

    imp = Impressions.from_frame(
        df.assign(user_id=uidx, items=renumber(df["items"]), clicked=renumber(df["clicked"]))
    )
    n_clicks = imp.df["clicked"].map(len).to_numpy()
    inter = Interactions.from_frame(
        pd.DataFrame(
            {
                "user_id": np.repeat(imp.df["user_id"].to_numpy(), n_clicks),
                "item_id": np.array([i for c in imp.df["clicked"] for i in c], dtype=np.int64),
                "timestamp": np.repeat(imp.df["timestamp"].to_numpy(), n_clicks),
            }
        ).sort_values(["user_id", "timestamp"], kind="stable")
    )
    catalog = Catalog.from_frame(
        pd.DataFrame(
            {
                "item_id": np.arange(len(items)),
                "external_id": items.astype(str),
                "title": [f"item {i}" for i in items],
            }
        )
    ).with_statistics(inter)
    people = Users.from_frame(
        pd.DataFrame({"user_id": np.arange(len(users)), "external_id": users.astype(str)})
    )
    return Dataset(name, catalog, inter, people, imp, scale=None)


def load_replay_data(path: str | Path | None = None):
    """An impressions dataset: a dataset folder (any loader) or an Impressions Parquet file.

    ``None`` reads ``ebnerd-sample`` from the shared datasets folder; a loaded
    :class:`~alignuser.data.dataset.Dataset` is returned as is.
    """
    from alignuser.data.dataset import Dataset
    from alignuser.data.loaders import load_dataset
    from alignuser.data.tables import Impressions

    if isinstance(path, Dataset):
        return path

    if path is None:
        from alignuser.evaluation.common import shared_data

        path = shared_data() / "ebnerd-sample"
    path = Path(path)
    if path.is_file() and path.suffix == ".parquet":
        return impressions_dataset(Impressions.read_parquet(path), name=path.stem)
    return load_dataset(path)


def run_replay(
    data=None,
    seeds=(0, 1, 2),
    checkpoint=None,
    policies=("random", "popularity", "mf", "choice", "choice_default", "alignuser"),
    test_fraction: float = 0.3,
    chat=None,
) -> dict:
    """Replay protocol on ``data`` (default ebnerd-sample): ``{"summary", "raw", "positions"}``.

    Args:
        data: Dataset folder or Impressions Parquet file (see :func:`load_replay_data`).
        seeds: Sampling seeds.
        checkpoint: AlignUSER policy checkpoint (its row reads "not run" without one).
        policies: Policy line-up (:func:`~alignuser.evaluation.protocols.build_policies`).
        test_fraction: Share of impressions (latest by time) replayed.
        chat: Chat-model baseline (spec ``"openai:<model>[@<base_url>]"``, chat model or
            policy; see :func:`~alignuser.evaluation.chat_baseline.chat_policy`); ``None``: none.
    """
    from alignuser.evaluation.common import chat_status, with_not_run
    from alignuser.evaluation.protocols import build_policies

    ds = load_replay_data(data)
    built: dict = {}

    def fn(train_ds, train_inter):
        built.update(build_policies(train_ds, train_inter, policies, 0, checkpoint, chat=chat))
        return dict(built)

    raw = replay_ctr(ds, fn, test_fraction=test_fraction, seeds=seeds)
    summary = with_not_run(replay_table(raw), checkpoint, policies)
    summary = chat_status(summary, [built.get("chat")], "replay")
    summary["pages"] = summary["pages"].astype("Int64")
    return {
        "summary": summary,
        "raw": raw,
        "positions": replay_positions(raw),
    }
