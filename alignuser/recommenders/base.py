"""``ScoringRecommender``: the shared base of the built-in recommenders.

A subclass implements two things: :meth:`ScoringRecommender._fit` (learn from the training
matrix) and :meth:`ScoringRecommender.score` (a dense ``(n_users, n_items)`` float32 score
matrix for a batch of users). The base turns scores into pages: it masks exclusions and the
items each user already interacted with in training, takes the top ``k`` with
``argpartition``, breaks ties deterministically (higher score first, then lower item id),
and pads rows with ``-1`` when fewer than ``k`` items remain.

Users with no training interactions (ids beyond the training data, or rows left empty) are
*cold*: their scores fall back to training popularity unless the subclass opts out with
``cold_fallback = False``.

Example:
    >>> import numpy as np
    >>> from alignuser.recommenders import make_recommender
    >>> rec = make_recommender("popular")  # doctest: +SKIP
    >>> rec.fit(interactions, catalog).recommend(np.array([0, 1]), k=10)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    import scipy.sparse as sp

    from alignuser.data.tables import Catalog, Interactions
    from alignuser.interfaces import Feedback

logger = logging.getLogger(__name__)

#: Score given to items that must never be recommended (exclusions, seen items).
_MASKED = -np.inf
#: Score NaNs are mapped to, so they rank last but are still recommendable.
_LOWEST = np.float32(np.finfo(np.float32).min)


_BASE_KWARGS = {"params", "seed", "name", "exclude_seen", "score_batch_size"}


class NoParams(BaseModel):
    """Parameters of a recommender that has none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Top-``k`` item ids per row, ``-inf`` entries never chosen, rows padded with ``-1``.

    Ties are broken by the lower item id, so the result does not depend on batch layout.

    Args:
        scores: ``(n, n_items)`` float array; ``-inf`` marks forbidden items.
        k: Page size (``>= 0``).

    Returns:
        ``(n, k)`` int64 array of item ids, best first.
    """
    n, n_items = scores.shape
    out = np.full((n, k), -1, dtype=np.int64)
    kk = min(k, n_items)
    if n == 0 or kk == 0:
        return out
    scores = np.where(np.isnan(scores), _LOWEST, scores)
    # The kk-th largest value of each row; everything strictly above it is in, then the
    # lowest ids among the items equal to it fill the remaining places.
    kth = -np.partition(-scores, kk - 1, axis=1)[:, kk - 1 : kk]
    above = scores > kth
    equal = scores == kth
    need = kk - above.sum(axis=1, keepdims=True)
    chosen = above | (equal & (np.cumsum(equal, axis=1) <= need))
    cols = np.nonzero(chosen)[1].reshape(n, kk)
    vals = np.take_along_axis(scores, cols, axis=1)
    order = np.lexsort((cols, -vals), axis=1)
    cols = np.take_along_axis(cols, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    cols[np.isneginf(vals)] = -1
    out[:, :kk] = cols
    return out


class ScoringRecommender:
    """Base of recommenders that score every item for every user of a batch.

    Subclasses set ``name`` (the registry name), a pydantic ``Params`` model, and implement
    :meth:`_fit` and :meth:`score`.

    Args:
        params: A ``Params`` instance; keyword overrides are validated into one.
        seed: Seed of every random choice in fitting and scoring.
        name: Display name (defaults to the registry name).
        exclude_seen: Never recommend items the user interacted with in training.
        score_batch_size: Users scored at once (bounds memory at
            ``score_batch_size * n_items`` floats).
        **overrides: Fields of ``Params`` (``EASE(l2=500.0)`` is ``EASE(EASE.Params(l2=500.0))``).

    Example:
        >>> class Constant(ScoringRecommender):
        ...     name = "constant"
        ...     def _fit(self, matrix, interactions, catalog): pass
        ...     def score(self, user_ids):
        ...         return np.zeros((len(user_ids), self.n_items), np.float32)
    """

    name: str = "scoring"
    Params: ClassVar[type[BaseModel]] = NoParams
    #: Whether cold users get training popularity instead of the model's scores.
    cold_fallback: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        clash = set(cls.Params.model_fields) & _BASE_KWARGS
        if clash:
            raise TypeError(
                f"{cls.__name__}.Params fields {sorted(clash)} clash with base keywords"
            )

    def __init__(
        self,
        params: BaseModel | None = None,
        *,
        seed: int = 0,
        name: str | None = None,
        exclude_seen: bool = True,
        score_batch_size: int = 1024,
        **overrides: Any,
    ):
        if params is None:
            params = self.Params(**overrides)
        elif overrides:
            params = self.Params(**{**params.model_dump(), **overrides})
        if not isinstance(params, self.Params):
            raise TypeError(
                f"{type(self).__name__} expects {self.Params.__qualname__}, "
                f"got {type(params).__name__}"
            )
        self.params = params
        self.seed = int(seed)
        self.name = name or type(self).name
        self.exclude_seen = exclude_seen
        self.score_batch_size = int(score_batch_size)
        self.n_items = 0
        self._seen: sp.csr_matrix | None = None
        self._popularity: np.ndarray | None = None

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.params.model_dump().items())
        return f"{type(self).__name__}({fields}, seed={self.seed})"

    # ------------------------------------------------------------------ fitting

    def fit(self, interactions: Interactions, catalog: Catalog) -> ScoringRecommender:
        """Learn from ``interactions`` over the items of ``catalog``; returns ``self``."""
        self.n_items = catalog.n_items
        if len(interactions):
            catalog.check_ids(interactions.df["item_id"].to_numpy())
        matrix = interactions.to_csr(max(interactions.n_users, 1), self.n_items)
        self._seen = matrix
        self._popularity = np.asarray(matrix.sum(axis=0), dtype=np.float32).ravel()
        self._fit(matrix, interactions, catalog)
        return self

    def _fit(self, matrix: sp.csr_matrix, interactions: Interactions, catalog: Catalog) -> None:
        """Learn the model from the binary ``users x items`` training ``matrix``."""
        raise NotImplementedError

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """Return ``(len(user_ids), n_items)`` float32 scores (higher is better)."""
        raise NotImplementedError

    def update(self, feedback: Feedback) -> None:
        """Ignore feedback (static model)."""

    # ------------------------------------------------------------------ helpers

    def _check_fitted(self) -> None:
        if self._seen is None:
            raise RuntimeError(f"{self.name}: call fit() before recommend()/score()")

    def _history(self, user_ids: np.ndarray) -> sp.csr_matrix:
        """Training rows of ``user_ids`` (empty rows for users beyond the training data)."""
        import scipy.sparse as sp

        self._check_fitted()
        known = user_ids < self._seen.shape[0]
        if known.all():
            return self._seen[user_ids]
        hist = self._seen[np.where(known, user_ids, 0)]
        hist = (sp.diags(known.astype(np.float32)) @ hist).tocsr()
        hist.eliminate_zeros()
        return hist

    def is_cold(self, user_ids: np.ndarray) -> np.ndarray:
        """True for users with no training interactions."""
        self._check_fitted()
        user_ids = np.asarray(user_ids, dtype=np.int64)
        counts = np.zeros(len(user_ids), dtype=np.int64)
        known = user_ids < self._seen.shape[0]
        counts[known] = np.diff(self._seen.indptr)[user_ids[known]]
        return counts == 0

    # ------------------------------------------------------------------ recommending

    def recommend(
        self,
        user_ids: np.ndarray,
        k: int,
        exclude: Sequence[np.ndarray] | None = None,
    ) -> np.ndarray:
        """Return ``(len(user_ids), k)`` int64 item ids, best first, ``-1``-padded.

        Args:
            user_ids: Users of the batch (any non-negative ids; unknown ones are cold).
            k: Page size.
            exclude: Per user, item ids that must not appear (e.g. already shown).

        Raises:
            ValueError: On negative user ids, ``k < 0``, a wrong number of exclusion lists
                or excluded ids outside the catalog.
        """
        self._check_fitted()
        user_ids = np.asarray(user_ids, dtype=np.int64).ravel()
        if k < 0:
            raise ValueError(f"{self.name}: k must be >= 0, got {k}")
        if user_ids.size and user_ids.min() < 0:
            raise ValueError(f"{self.name}: negative user id {int(user_ids.min())}")
        if exclude is not None and len(exclude) != len(user_ids):
            raise ValueError(
                f"{self.name}: {len(exclude)} exclusion lists for {len(user_ids)} users"
            )
        out = np.full((len(user_ids), k), -1, dtype=np.int64)
        for start in range(0, len(user_ids), self.score_batch_size):
            stop = min(start + self.score_batch_size, len(user_ids))
            users = user_ids[start:stop]
            scores = self._scores_with_fallback(users)
            self._mask(scores, users, None if exclude is None else exclude[start:stop])
            out[start:stop] = top_k(scores, k)
        return out

    def _scores_with_fallback(self, users: np.ndarray) -> np.ndarray:
        scores = np.array(self.score(users), dtype=np.float32)  # a private, writable copy
        if scores.shape != (len(users), self.n_items):
            raise RuntimeError(
                f"{self.name}.score returned shape {scores.shape}, "
                f"expected {(len(users), self.n_items)}"
            )
        if self.cold_fallback:
            cold = self.is_cold(users)
            if cold.any():
                scores[cold] = self._popularity
        return scores

    def _mask(
        self, scores: np.ndarray, users: np.ndarray, exclude: Sequence[np.ndarray] | None
    ) -> None:
        if self.exclude_seen:
            hist = self._history(users).tocoo()
            scores[hist.row, hist.col] = _MASKED
        if exclude is None:
            return
        lists = [np.asarray(e, dtype=np.int64).ravel() for e in exclude]
        lengths = np.fromiter((len(e) for e in lists), dtype=np.int64, count=len(lists))
        if lengths.sum() == 0:
            return
        rows = np.repeat(np.arange(len(lists)), lengths)
        cols = np.concatenate(lists)
        keep = cols >= 0  # -1 is page padding
        if (cols[keep] >= self.n_items).any():
            bad = cols[cols >= self.n_items][:5].tolist()
            raise ValueError(f"{self.name}: excluded item id(s) outside the catalog: {bad}")
        scores[rows[keep], cols[keep]] = _MASKED
