"""One synthetic world's logs and the learned policy trained on them (system selection).

:func:`world_logs` builds a world (:class:`~alignuser.data.synthetic.SyntheticWorld`), its
popularity-logged sessions and their temporal 80/20 split, and the training dataset
(impressions before the cut, the train interactions only, so nothing at or after the cut can
reach training). :func:`train_world_policy` trains the AlignUSER policy on it (seed = world
seed) and returns the policy (sampling, as in a simulation) with its wall time and
validation metrics (``alignuser_train_s``, ``alignuser_valid_<metric>``), as recorded per world by
:func:`~alignuser.evaluation.selection.synthetic.system_selection`.

Example:
    >>> wl = world_logs(0, n_users=40, n_items=60)  # doctest: +SKIP
    >>> cfg = {"align_epochs": 1}
    >>> pol, stats = train_world_policy(cfg, wl, "runs/world_0", seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from alignuser.training.config import TrainConfig

__all__ = ["WorldLogs", "train_world_policy", "world_logs", "world_train_config"]

log = logging.getLogger(__name__)


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


def world_train_config(config, seed: int):
    """``config`` (a TrainConfig or mapping) validated, with ``seed`` and no progress bar."""
    from alignuser.training.config import TrainConfig

    base = config.model_dump() if isinstance(config, TrainConfig) else dict(config)
    return TrainConfig.model_validate({**base, "seed": int(seed), "progress": False})


def train_world_policy(
    config: TrainConfig | Mapping[str, Any], wl: WorldLogs, out_dir: str | Path, seed: int = 0
) -> tuple[Any, dict[str, Any]]:
    """Train the AlignUSER policy on one world's train logs; returns it (sampling) and stats.

    Args:
        config: :class:`~alignuser.training.config.TrainConfig` or a mapping of its keys
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

    cfg = world_train_config(config, seed)
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
    pol = make_policy("alignuser", model=str(Path(out_dir) / "policy"))
    log.info("world %d: alignuser trained in %.1f s", seed, stats["alignuser_train_s"])
    return pol, stats
