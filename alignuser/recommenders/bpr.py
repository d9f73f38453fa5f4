"""``BPR``: matrix factorisation trained with Bayesian Personalised Ranking (``implicit``)."""

from __future__ import annotations

import logging

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from alignuser.recommenders.base import ScoringRecommender

logger = logging.getLogger(__name__)


class BPRParams(BaseModel):
    """Parameters of :class:`BPR`.

    Attributes:
        factors: Latent dimensions (``implicit`` adds one for the item bias).
        learning_rate: SGD step.
        regularization: L2 penalty.
        iterations: Passes over the training data.
        threads: Worker threads. Only ``1`` is reproducible: with more, the Hogwild updates
            race and the factors differ from run to run (measured with implicit 0.7.3).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    factors: int = Field(64, ge=1)
    learning_rate: float = Field(0.01, gt=0.0)
    regularization: float = Field(0.01, ge=0.0)
    iterations: int = Field(50, ge=1)
    threads: int = Field(1, ge=1)


class BPR(ScoringRecommender):
    """BPR-MF through :class:`implicit.cpu.bpr.BayesianPersonalizedRanking`, seeded.

    Scores are ``user_factors @ item_factorsᵀ``; cold users fall back to popularity.

    Example:
        >>> rec = BPR(factors=32, iterations=50, seed=7)
        >>> rec.fit(interactions, catalog).recommend(np.array([0]), k=10)  # doctest: +SKIP
    """

    name = "bpr"
    Params = BPRParams

    def _fit(self, matrix, interactions, catalog) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        p = self.params
        if p.threads > 1:
            logger.warning(
                "BPR with threads=%d is not reproducible; use threads=1 for fixed results",
                p.threads,
            )
        model = BayesianPersonalizedRanking(
            factors=p.factors,
            learning_rate=p.learning_rate,
            regularization=p.regularization,
            iterations=p.iterations,
            num_threads=p.threads,
            random_state=self.seed,
        )
        model.fit(matrix.astype(np.float32), show_progress=False)
        self._user_factors = np.asarray(model.user_factors, dtype=np.float32)
        self._item_factors = np.asarray(model.item_factors, dtype=np.float32)

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """Dot products of user and item factors (zeros for users beyond training)."""
        user_ids = np.asarray(user_ids, dtype=np.int64)
        vecs = np.zeros((len(user_ids), self._user_factors.shape[1]), dtype=np.float32)
        known = user_ids < len(self._user_factors)
        vecs[known] = self._user_factors[user_ids[known]]
        return vecs @ self._item_factors.T
