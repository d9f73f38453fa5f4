"""Training data: train / validation steps from a dataset, without leaking the future.

:func:`prepare_training` builds the steps (:mod:`alignuser.training.trajectories`) from a
dataset's impression log, or from its rating log with each user's target ratings held out of
the statistics and personas (:func:`hold_out_targets`), and the
:class:`~alignuser.policy.items.ItemSpace` of their retrieval encoder;
:func:`prepare_steps` returns the steps only.

Example:
    >>> from alignuser.data.synthetic import SyntheticWorld
    >>> from alignuser.training.config import TrainConfig
    >>> from alignuser.training.prepare import prepare_steps
    >>> ds = SyntheticWorld(n_users=20, n_items=40, seed=0).dataset(n_sessions_per_user=2)
    >>> train, valid = prepare_steps(TrainConfig(), ds)
    >>> len(train) > len(valid) > 0
    True
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from alignuser.training.config import TrainConfig

__all__ = ["hold_out_targets", "prepare_steps", "prepare_training"]

log = logging.getLogger(__name__)


def prepare_steps(
    config: TrainConfig, dataset, encoder=None, interactions=None
) -> tuple[list, list]:
    """Build train / validation steps from a dataset without leaking the future.

    Same arguments as :func:`prepare_training`, which also returns the item space.
    """
    train_steps, valid_steps, _ = prepare_training(config, dataset, encoder, interactions)
    return train_steps, valid_steps


def prepare_training(
    config: TrainConfig, dataset, encoder=None, interactions=None
) -> tuple[list, list, Any]:
    """Train / validation steps, and the item space of their retrieval encoder.

    The :class:`~alignuser.policy.items.ItemSpace` holds the encoder's vectors the states
    were built with: the item tower's content vectors.

    Args:
        config: Data settings (source, page size, memories...).
        dataset: The dataset.
        encoder: Retrieval :class:`~alignuser.interfaces.ItemEncoder` for similar-item
            memories (default: :func:`alignuser.memory.encoders.default_encoder` fitted on the
            training part); pass the one the simulation uses.
        interactions: Only these interactions may be used (e.g. the training part of a
            scenario's split, so that an evaluation's test part never reaches training);
            validation is then carved from them per user in time; impression pages after
            the last of them are dropped too. Default: all, with the dataset's ``provided``
            split (train / valid) when it has one.
    """
    source = config.source
    if source == "auto":
        source = "impressions" if dataset.impressions is not None else "ratings"
    inter = dataset.interactions if interactions is None else interactions
    if source == "impressions":
        return _impression_steps(config, dataset, encoder, interactions, inter)
    return _rating_steps(config, dataset, interactions, inter)


def _impression_steps(config: TrainConfig, dataset, encoder, interactions, inter):
    """Steps of the impression log, validation the last pages per user in time."""
    import dataclasses

    from alignuser.data.tables import Impressions
    from alignuser.state import StepContext
    from alignuser.training import trajectories as tj

    imp = dataset.impressions.df
    if interactions is not None and len(inter):
        # pages after the last usable interaction belong to the held-out part
        last = int(inter.df["timestamp"].max())
        if (imp["timestamp"] > last).any():
            log.info("training on impressions up to %d (the given interactions' end)", last)
            imp = imp[imp["timestamp"] <= last].reset_index(drop=True)
            dataset = dataclasses.replace(dataset, impressions=Impressions(imp))
    cut = imp.groupby("user_id")["timestamp"].quantile(1 - config.valid_fraction)
    t_cut = inter.df["user_id"].map(cut).fillna(np.inf)
    history = inter.subset((inter.df["timestamp"] < t_cut).to_numpy())
    ctx = StepContext(
        dataset,
        history,
        encoder,
        n_memories=config.n_memories,
        n_similar=config.n_similar,
        n_history=config.n_history,
    )
    steps = tj.from_impressions(dataset, context=ctx)
    return (*tj.split_by_time(steps, config.valid_fraction), _space(ctx))


def _rating_split(config: TrainConfig, dataset, interactions, inter):
    """``(train, valid)`` ratings: the dataset's own split, else each user's last ones."""
    from alignuser.data.tables import Interactions

    split = None
    if interactions is None:
        split = dataset.splits.get("provided") or next(iter(dataset.splits.values()), None)
    if split is not None and split.valid is not None:
        return split.train, split.valid
    # each user's last ratings (random ones with ``targets="random"``) validate
    df = inter.df.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
    size = df.groupby("user_id")["user_id"].transform("size").to_numpy()
    rank = _user_rank(df, config.targets, config.seed + 7) / size
    train_i = Interactions(df[rank < 1 - config.valid_fraction].reset_index(drop=True))
    valid_i = Interactions(df[rank >= 1 - config.valid_fraction].reset_index(drop=True))
    return train_i, valid_i


def _rating_steps(config: TrainConfig, dataset, interactions, inter):
    """UserMirrorer-style steps of the rating log around held-out targets."""
    from alignuser.state import StepContext
    from alignuser.training import trajectories as tj

    kw = dict(
        page_size=config.page_size,
        max_positives=config.max_positives,
        max_pages_per_user=config.max_pages_per_user,
        popularity_alpha=config.popularity_alpha,
        seed=config.seed,
    )
    train_i, valid_i = _rating_split(config, dataset, interactions, inter)
    known_i, target_i = hold_out_targets(
        train_i, config.max_pages_per_user, config.max_positives, config.targets, config.seed
    )
    ctx = StepContext(
        dataset,
        known_i,
        n_memories=config.n_memories,
        n_similar=config.n_similar,
        n_history=config.n_history,
    )
    train = tj.from_ratings(
        dataset, target_i, known_i if target_i is not train_i else None, ctx, **kw
    )
    valid = tj.from_ratings(
        dataset, valid_i, train_i, ctx, **{**kw, "seed": config.seed + 1, "max_pages_per_user": 2}
    )
    return train, valid, _space(ctx)


def _user_rank(df, how: str, seed: int) -> np.ndarray:
    """0-based rank of each row within its user (``df`` sorted by user, then time).

    In time, or with ``how="random"`` in a seeded random order.
    """
    if how != "random":
        return df.groupby("user_id").cumcount().to_numpy()
    import pandas as pd

    key = pd.Series(np.random.default_rng(seed).random(len(df)))
    return key.groupby(df["user_id"].to_numpy()).rank(method="first").to_numpy() - 1


def hold_out_targets(
    inter, max_pages: int | None, max_positives: int, how: str = "last", seed: int = 0
):
    """``(known, targets)``: each user's last ratings apart from the earlier ones.

    Training pages are built around the targets; statistics and personas come from the
    known ones. A test page's item means, counts and the persona's loved genres never hold
    the rating to predict; built on every rating, a training page's do (a rarely rated
    item's mean is the user's own rating; a persona's "dislikes Horror" comes from this
    very rating), and the policy learns to trust them more than a held-out page allows. Up to
    ``max_pages * max_positives`` ratings per user, at most half of them, become targets
    (every page the kept ones can make); without ``max_pages`` every rating is a target
    and the statistics count them (``from_ratings`` then leaves each positive's own
    rating out of its item's view). ``how="random"``: the targets are drawn at random
    among each user's ratings and the rest, later ones included, are the known history:
    the condition of a random split's test ratings (ml-100k ``u1``-``u5``).
    """
    if not max_pages:
        return inter, inter
    from alignuser.data.tables import Interactions

    df = inter.df.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
    from_end = len(df) and df.groupby("user_id")["user_id"].transform("size").to_numpy()
    from_end = from_end - 1 - _user_rank(df, how, seed)
    size = df.groupby("user_id")["user_id"].transform("size").to_numpy()
    target = from_end < np.minimum(max_pages * max_positives, np.ceil(size / 2))
    return Interactions(df[~target].reset_index(drop=True)), Interactions(
        df[target].reset_index(drop=True)
    )


def _space(ctx):
    """The item space of the encoder the states of ``ctx`` were built with."""
    from alignuser.policy.items import ItemSpace

    return ItemSpace.from_encoder(ctx.encoder, ctx.catalog.n_items)
