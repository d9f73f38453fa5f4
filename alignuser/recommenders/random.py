"""``RandomRecommender``: uniformly random pages, reproducible per (seed, user, item)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from alignuser.recommenders.base import ScoringRecommender

_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, vectorised (uint64 arithmetic wraps)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


class RandomRecommender(ScoringRecommender):
    """Random scores that depend only on ``(seed, user_id, item_id)``.

    The same user gets the same ranking in every call and in any batch, so results are
    reproducible; different users (or seeds) get independent rankings. Cold users are
    random too.

    Example:
        >>> rec = RandomRecommender(seed=3)
        >>> rec.fit(interactions, catalog).recommend(np.array([0]), k=5)  # doctest: +SKIP
    """

    name = "random"
    cold_fallback: ClassVar[bool] = False

    def _fit(self, matrix, interactions, catalog) -> None:
        self._salt = _splitmix64(np.array([self.seed], dtype=np.uint64))[0]

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """Pseudo-random scores in ``[0, 1)``."""
        users = _splitmix64(np.asarray(user_ids, dtype=np.uint64) ^ self._salt)
        items = np.arange(self.n_items, dtype=np.uint64)
        with np.errstate(over="ignore"):
            bits = _splitmix64(users[:, None] ^ _splitmix64(items)[None, :])
        return (bits >> np.uint64(40)).astype(np.float32) / np.float32(1 << 24)
