"""System selection with a known truth: does the simulator pick the right recommender?

In the synthetic world (:class:`~alignuser.data.synthetic.SyntheticWorld`, a known choice
model) interactions are logged under a popularity logging recommender and split in time. The
user policies are calibrated on the **train logs only** (earlier impressions); the
recommenders are fitted on the train interactions. Each recommender is then ranked

* by **simulated** click rate: a light direct loop, one session per user, ``max_pages`` pages
  of ``items_per_page`` recommended items (already watched / shown items excluded), the policy
  deciding every page from the user's train history (its memory is not updated within the
  session), sessions ending on the policy's exit;
* **offline**, by NDCG@10 and Recall@10 on the held-out logs
  (:func:`~alignuser.evaluation.offline.evaluate_offline`);
* by the **true** online click rate (:meth:`SyntheticWorld.simulate_online`, train items
  excluded).

``"oracle"`` among the recommenders is the world's own ranking by true watch probability
(:class:`OracleRecommender`): a known-best system the selection should pick. Each ranking is
compared with the true one per world seed: Kendall's tau and whether the
true winner is ranked first (ties: the first listed recommender; a constant ranking, e.g.
the random policy's, gets tau 0).

The learned policy is trained **per world** on that world's train logs when
``alignuser_train`` (a :class:`~alignuser.training.config.TrainConfig` or its mapping) is
given, into ``train_dir/world_<seed>`` (resumable) or a temporary folder; the world's logs
and that training live in :mod:`alignuser.evaluation.selection.worlds` (:func:`world_logs`,
:func:`train_world_policy`, re-exported by the package). The raw frame then records
``alignuser_train_s`` (wall time) and ``alignuser_valid_<metric>`` (validation metrics of
the best checkpoint, e.g. ``alignuser_valid_watch_auc``) per world. A single
``alignuser_checkpoint`` is only right for one world; the per-world training replaces it.

This module holds the ranking side: the oracle, the simulated click rate, the scores per
world (:func:`system_selection`) and their agreement with the truth.

Example:
    >>> raw = system_selection(world_seeds=(0,), n_users=40, n_items=60)  # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from alignuser.evaluation.protocols import StateBuilder, build_policies, rng_for
from alignuser.evaluation.selection.worlds import (
    WorldLogs,
    train_world_policy,
    world_logs,
    world_train_config,
)

if TYPE_CHECKING:
    from alignuser.training.config import TrainConfig

__all__ = [
    "DEFAULT_RECOMMENDERS",
    "OracleRecommender",
    "selection_agreement",
    "selection_table",
    "simulate_click_rate",
    "system_selection",
]


DEFAULT_RECOMMENDERS = ("random", "popular", "itemknn", "bpr", "ease", "oracle")


class OracleRecommender:
    """The world's own ranking by true watch probability (a known-best system; no fitting)."""

    name = "oracle"

    def __init__(self, world):
        self.world = world

    def fit(self, interactions, catalog) -> OracleRecommender:
        """Nothing to learn."""
        return self

    def recommend(self, user_ids, k: int, exclude=None):
        """Top ``k`` items by true watch logit, exclusions removed."""
        return self.world.oracle_recommend(np.asarray(user_ids), k, exclude)

    def update(self, feedback) -> None:
        """Static."""


def simulate_click_rate(
    policy,
    recommender,
    builder: StateBuilder,
    users: np.ndarray,
    rng: np.random.Generator,
    items_per_page: int = 4,
    max_pages: int = 5,
) -> dict[str, float]:
    """One simulated session per user: ``click_rate`` (watched / shown) and ``pages``."""
    seen = {int(u): list(builder.history.get(int(u), ([], []))[0]) for u in users}
    active = [int(u) for u in users]
    shown = watched = pages = 0
    for page in range(1, max_pages + 1):
        if not active:
            break
        excl = [np.asarray(seen[u], dtype=np.int64) for u in active]
        recs = recommender.recommend(np.asarray(active), items_per_page, excl)
        keep = [(u, row[row >= 0]) for u, row in zip(active, recs) if (row >= 0).any()]
        states = [builder.state(u, row.tolist(), page) for u, row in keep]
        actions = policy.decide(states, rng)
        nxt = []
        for (u, row), a in zip(keep, actions):
            seen[u].extend(int(i) for i in row)
            shown += len(row)
            watched += len(a.watched)
            pages += 1
            if not a.exit:
                nxt.append(u)
        active = nxt
    return {"click_rate": watched / shown if shown else 0.0, "pages": pages / max(len(users), 1)}


def system_selection(
    world_seeds: Sequence[int] = (0, 1, 2),
    recommenders: Sequence[str] = DEFAULT_RECOMMENDERS,
    policies: Sequence[str] = ("random", "popularity", "mf", "choice"),
    n_users: int = 200,
    n_items: int = 200,
    n_sessions_per_user: float = 4,
    items_per_page: int = 4,
    max_pages: int = 5,
    alignuser_checkpoint: str | None = None,
    alignuser_train: TrainConfig | Mapping[str, Any] | None = None,
    train_dir: str | Path | None = None,
    chat: Any = None,
) -> pd.DataFrame:
    """Scores of every recommender per world seed: true, offline and simulated by each policy.

    Args:
        world_seeds: Synthetic worlds (one :func:`world_logs` each).
        recommenders: Systems to rank (``"oracle"``: the world's own ranking).
        policies: User policies (:func:`~alignuser.evaluation.protocols.build_policies`).
        n_users: Users of each world (all are simulated).
        n_items: Items of each world.
        n_sessions_per_user: Mean logged sessions per user.
        items_per_page: Items per page (logs and simulation).
        max_pages: Pages per session at most (logs and simulation).
        alignuser_checkpoint: One learned policy for every world (only right for one).
        alignuser_train: :class:`~alignuser.training.config.TrainConfig` (or mapping):
            train the ``"alignuser"`` policy per world on its train logs (seed = world
            seed); it replaces ``alignuser_checkpoint`` and joins the line-up even when
            ``policies`` does not name it.
        train_dir: Per-world training folders ``train_dir/world_<seed>`` (default: a
            temporary folder, removed afterwards).
        chat: Chat-model baseline (spec ``"openai:<model>[@<base_url>]"``, chat model or
            policy; see :func:`~alignuser.evaluation.chat_baseline.chat_policy`): adds
            ``sim_chat``; ``None``: none.

    Returns:
        One row per (world_seed, recommender): ``true_click_rate``, ``NDCG@10``,
        ``Recall@10`` and ``sim_<policy>`` (simulated click rate); with ``alignuser_train``
        also ``alignuser_train_s`` and ``alignuser_valid_<metric>`` (same on every row of a
        world).
    """
    names = list(policies)
    if alignuser_train is not None:
        world_train_config(alignuser_train, 0)  # fail before any world is built
        names = [p for p in names if p != "alignuser"]
    rows = []
    for ws in world_seeds:
        wl = world_logs(ws, n_users, n_items, n_sessions_per_user, items_per_page, max_pages)
        pols, extra = _world_policies(wl, ws, names, alignuser_checkpoint, alignuser_train,
                                      train_dir, chat)  # fmt: skip
        builder = StateBuilder(wl.logs, wl.split.train)
        users = np.arange(n_users)
        for name in recommenders:
            row = _recommender_scores(name, wl, ws, pols, builder, users, items_per_page,
                                      max_pages)  # fmt: skip
            rows.append({**row, **extra})
    return pd.DataFrame(rows)


def _world_policies(wl: WorldLogs, ws: int, names, alignuser_checkpoint, alignuser_train,
                    train_dir, chat) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    """The line-up of one world, calibrated on its train logs, and the training stats.

    With ``alignuser_train`` the learned policy is trained on the world's logs (into
    ``train_dir/world_<seed>`` or a temporary folder); the stats are then its wall time and
    validation metrics, else empty.
    """
    pols = build_policies(wl.logs, wl.split.train, names, ws, alignuser_checkpoint, chat=chat)
    extra: dict[str, Any] = {}
    if alignuser_train is not None:
        if train_dir is not None:
            pols["alignuser"], extra = train_world_policy(
                alignuser_train, wl, Path(train_dir) / f"world_{ws}", ws
            )
        else:
            with tempfile.TemporaryDirectory(prefix="alignuser-sel-") as tmp:
                pols["alignuser"], extra = train_world_policy(alignuser_train, wl, tmp, ws)
    return pols, extra


def _recommender_scores(name: str, wl: WorldLogs, ws: int, pols: Mapping[str, Any],
                        builder: StateBuilder, users: np.ndarray, items_per_page: int,
                        max_pages: int) -> dict[str, Any]:  # fmt: skip
    """One recommender in one world: true and offline scores, each policy's click rate."""
    from alignuser.evaluation.offline import evaluate_offline
    from alignuser.recommenders.registry import make_recommender

    world, ds, split = wl.world, wl.dataset, wl.split
    if name == "oracle":
        rec = OracleRecommender(world)
    else:
        rec = make_recommender(name, seed=ws).fit(split.train, ds.catalog)
    true = world.simulate_online(
        rec, None, 1, items_per_page, max_pages, seed=ws, history=split.train
    )
    off = evaluate_offline(rec, split, (10,), catalog=ds.catalog).iloc[0]
    row = {
        "world_seed": ws,
        "recommender": name,
        "true_click_rate": float(true["click_rate"]),
        "NDCG@10": float(off["NDCG@10"]),
        "Recall@10": float(off["Recall@10"]),
    }
    for j, (pname, pol) in enumerate(pols.items()):
        sim = simulate_click_rate(
            pol, rec, builder, users, rng_for(ws, 606, j), items_per_page, max_pages
        )
        row[f"sim_{pname}"] = sim["click_rate"]
    return row


def selection_agreement(raw: pd.DataFrame) -> pd.DataFrame:
    """Kendall tau and winner agreement with the true ranking, per method and world seed.

    Returns:
        One row per (method, world_seed): ``kendall_tau``, ``winner_right`` and the
        ``true_winner`` / ``picked`` recommender names.
    """
    from scipy.stats import kendalltau

    methods = ["NDCG@10", "Recall@10", *[c for c in raw.columns if c.startswith("sim_")]]
    rows = []
    for ws, g in raw.groupby("world_seed", sort=True):
        truth = g["true_click_rate"].to_numpy()
        winner = g["recommender"].iloc[int(np.argmax(truth))]
        for m in methods:
            est = g[m].to_numpy()
            tau = kendalltau(truth, est).statistic
            tau = 0.0 if np.isnan(tau) else tau  # a constant ranking carries no information
            picked = g["recommender"].iloc[int(np.argmax(est))]
            rows.append({
                "method": m, "world_seed": ws, "kendall_tau": float(tau),
                "winner_right": bool(picked == winner), "true_winner": winner, "picked": picked,
            })  # fmt: skip
    return pd.DataFrame(rows)


def selection_table(agreement: pd.DataFrame) -> pd.DataFrame:
    """Mean Kendall tau (and std) and share of world seeds with the right winner per method."""
    g = agreement.groupby("method", sort=False)
    return pd.DataFrame({
        "kendall_tau": g["kendall_tau"].mean(), "kendall_tau_std": g["kendall_tau"].std(ddof=0),
        "winner_right": g["winner_right"].mean(), "n_worlds": g.size(),
    }).reset_index()  # fmt: skip
