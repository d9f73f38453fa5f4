"""``PopularRecommender``: most-interacted items in training first."""

from __future__ import annotations

import numpy as np

from alignuser.recommenders.base import ScoringRecommender


class PopularRecommender(ScoringRecommender):
    """Ranks items by the number of training users who interacted with them.

    Ties go to the lower item id. Seen items are still excluded per user.

    Example:
        >>> rec = PopularRecommender()
        >>> rec.fit(interactions, catalog).recommend(np.array([0, 1]), k=10)  # doctest: +SKIP
    """

    name = "popular"

    def _fit(self, matrix, interactions, catalog) -> None:
        pass  # the base already counted popularity

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """The popularity vector, repeated per user."""
        return np.broadcast_to(self._popularity, (len(user_ids), self.n_items))
