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
``alignuser_train`` (a :class:`~alignuser.training.trainer.TrainConfig` or its mapping) is
given: :func:`world_logs` builds the training dataset (impressions before the cut, the train
interactions only, so nothing at or after the cut can reach training) and
:func:`train_world_policy` trains on it (seed = world seed) into ``train_dir/world_<seed>``
(resumable) or a temporary folder. The raw frame then records ``alignuser_train_s`` (wall
time) and ``alignuser_valid_<metric>`` (validation metrics of the best checkpoint, e.g.
``alignuser_valid_watch_auc``) per world. A single ``alignuser_checkpoint`` is only right for
one world; the per-world training replaces it.

Example:
    >>> raw = system_selection(world_seeds=(0,), n_users=40, n_items=60)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from alignuser.evaluation.protocols import StateBuilder, build_policies, rng_for

if TYPE_CHECKING:
    from alignuser.training.trainer import TrainConfig

__all__ = [
    "DEFAULT_RECOMMENDERS",
    "OracleRecommender",
    "WorldLogs",
    "selection_agreement",
    "selection_table",
    "simulate_click_rate",
    "system_selection",
    "train_world_policy",
    "world_logs",
]

log = logging.getLogger(__name__)

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


class WorldLogs(NamedTuple):
    """One synthetic world and its logs, split in time (see :func:`world_logs`)."""

    world: Any
    dataset: Any  # every log (the truth's side: catalog, held-out interactions)
    split: Any  # temporal 80/20 split of the interactions
    cut: int  # first held-out timestamp
    logs: Any  # impressions before ``cut``, all interactions (state building)
    train_data: Any  # impressions before ``cut``, train interactions only (policy training)


def world_logs(
    world_seed: int,
    n_users: int = 200,
    n_items: int = 200,
    n_sessions_per_user: float = 4,
    items_per_page: int = 4,
    max_pages: int = 5,
) -> WorldLogs:
    """The world of ``world_seed``, its popularity-logged sessions and their time split."""
    from alignuser.data.splits import temporal_split
    from alignuser.data.synthetic import SyntheticWorld
    from alignuser.data.tables import Impressions

    world = SyntheticWorld(n_users=n_users, n_items=n_items, seed=world_seed)
    ds = world.dataset(
        n_sessions_per_user, items_per_page, max_pages, "popularity", seed=world_seed
    )
    split = temporal_split(ds.interactions, 0.2)
    cut = int(split.test.df["timestamp"].min())
    imp = ds.impressions.df
    logs = dataclasses.replace(
        ds, impressions=Impressions(imp[imp["timestamp"] < cut].reset_index(drop=True))
    )
    train_data = dataclasses.replace(logs, interactions=split.train, splits={})
    return WorldLogs(world, ds, split, cut, logs, train_data)


def _train_config(config, seed: int):
    from alignuser.training.trainer import TrainConfig

    base = config.model_dump() if isinstance(config, TrainConfig) else dict(config)
    return TrainConfig.model_validate({**base, "seed": int(seed), "progress": False})


def train_world_policy(
    config: TrainConfig | Mapping[str, Any], wl: WorldLogs, out_dir: str | Path, seed: int = 0
) -> tuple[Any, dict[str, Any]]:
    """Train the AlignUSER policy on one world's train logs; returns it (greedy) and stats.

    Args:
        config: :class:`~alignuser.training.trainer.TrainConfig` or a mapping of its keys
            (``seed`` is replaced by ``seed``).
        wl: The world's logs (:func:`world_logs`); only ``wl.train_data`` (impressions
            before the cut, train interactions) and ``wl.split.train`` reach the trainer.
        out_dir: Training folder (``policy/`` is loaded).
        seed: Training seed (the world seed).

    Returns:
        The policy and ``{"alignuser_train_s": wall seconds, "alignuser_n_train_steps": ...,
        "alignuser_valid_<metric>": ...}``.
    """
    from alignuser.policy.registry import make_policy
    from alignuser.training.trainer import train

    cfg = _train_config(config, seed)
    start = time.perf_counter()
    metrics = train(cfg, wl.train_data, out_dir, interactions=wl.split.train)
    stats: dict[str, Any] = {"alignuser_train_s": round(time.perf_counter() - start, 2)}
    data = metrics.get("data", {})
    for k in ("n_train_steps", "n_valid_steps"):
        if k in data:
            stats[f"alignuser_{k}"] = int(data[k])
    for k, v in metrics.items():
        if k.startswith("valid_") and isinstance(v, int | float):
            stats[f"alignuser_{k}"] = float(v)
    pol = make_policy("alignuser", model=str(Path(out_dir) / "policy"), greedy=True)
    log.info("world %d: alignuser trained in %.1f s", seed, stats["alignuser_train_s"])
    return pol, stats


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
        alignuser_train: :class:`~alignuser.training.trainer.TrainConfig` (or mapping):
            train the ``"alignuser"`` policy per world on its train logs (seed = world
            seed); it replaces ``alignuser_checkpoint`` and joins the line-up even when
            ``policies`` does not name it.
        train_dir: Per-world training folders ``train_dir/world_<seed>`` (default: a
            temporary folder, removed afterwards).

    Returns:
        One row per (world_seed, recommender): ``true_click_rate``, ``NDCG@10``,
        ``Recall@10`` and ``sim_<policy>`` (simulated click rate); with ``alignuser_train``
        also ``alignuser_train_s`` and ``alignuser_valid_<metric>`` (same on every row of a
        world).
    """
    from alignuser.evaluation.offline import evaluate_offline
    from alignuser.recommenders.registry import make_recommender

    names = list(policies)
    if alignuser_train is not None:
        _train_config(alignuser_train, 0)  # fail before any world is built
        names = [p for p in names if p != "alignuser"]
    rows = []
    for ws in world_seeds:
        wl = world_logs(ws, n_users, n_items, n_sessions_per_user, items_per_page, max_pages)
        world, ds, split, logs = wl.world, wl.dataset, wl.split, wl.logs
        pols = build_policies(logs, split.train, names, ws, alignuser_checkpoint)
        extra: dict[str, Any] = {}
        if alignuser_train is not None:
            if train_dir is not None:
                pols["alignuser"], extra = train_world_policy(
                    alignuser_train, wl, Path(train_dir) / f"world_{ws}", ws
                )
            else:
                with tempfile.TemporaryDirectory(prefix="alignuser-sel-") as tmp:
                    pols["alignuser"], extra = train_world_policy(alignuser_train, wl, tmp, ws)
        builder = StateBuilder(logs, split.train)
        users = np.arange(n_users)
        for name in recommenders:
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
            rows.append({**row, **extra})
    return pd.DataFrame(rows)


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
