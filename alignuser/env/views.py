"""``CatalogView``: turns catalog rows into :class:`~alignuser.env.page.ItemView` objects fast.

Built once per run from a :class:`~alignuser.data.tables.Catalog` (statistics from the
training interactions); the simulation and the trajectory builder both use it, so a policy
sees the same item lines in training and at run time.

Example:
    >>> import pandas as pd
    >>> from alignuser.data.tables import Catalog
    >>> from alignuser.env.views import CatalogView
    >>> cat = Catalog.from_frame(pd.DataFrame({"item_id": [0, 1], "title": ["A", "B"],
    ...     "genres": [["Drama"], []], "popularity": [10, 1], "mean_rating": [4.0, None]}))
    >>> CatalogView(cat).view(0).popularity
    1.0
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from alignuser.data.tables import Catalog
from alignuser.env.page import ItemView

RATING_DAMPING = 5.0
"""Pseudo-ratings at the catalog mean added to each item's mean (``ItemView.damped_mean``)."""


class CatalogView:
    """Precomputed per-item display fields.

    Args:
        catalog: The catalog (its ``popularity``/``mean_rating`` should come from training data).
    """

    def __init__(self, catalog: Catalog):
        df = catalog.df
        self.n_items = len(df)
        self.titles: list[str] = df["title"].tolist()
        self.genres: list[tuple[str, ...]] = [tuple(g) for g in df["genres"]]
        years = df["year"]
        self.years: list[int | None] = [None if pd.isna(y) else int(y) for y in years]
        mr = df["mean_rating"].to_numpy(dtype=float)
        self.mean_ratings: list[float | None] = [
            None if np.isnan(x) else round(float(x), 2) for x in mr
        ]
        pop = df["popularity"].to_numpy(dtype=float)
        self.counts: list[int] = [int(x) for x in pop]
        known = ~np.isnan(mr) & (pop > 0)
        centre = float(np.average(mr[known], weights=pop[known])) if known.any() else np.nan
        # an item nobody rated yet sits at the centre, as in the damped-bias model
        damped = np.where(
            known,
            (pop * np.nan_to_num(mr) + RATING_DAMPING * centre) / (pop + RATING_DAMPING),
            centre,
        )
        self.damped_means: list[float | None] = [
            None if np.isnan(x) else round(float(x), 3) for x in damped
        ]
        self._centre, self._mr, self._sorted_pop = centre, mr, np.sort(pop)
        # percentile rank in 0..1 (ties share the average rank)
        ranks = pd.Series(pop).rank(method="average").to_numpy()
        self.popularity = np.round((ranks - 1) / max(len(pop) - 1, 1), 2)

    def view(
        self,
        item_id: int,
        similar: Sequence[str] = (),
        taste: float | None = None,
        minus: float | None = None,
    ) -> ItemView:
        """The :class:`ItemView` of one item, with optional memory lines and taste cue.

        ``minus``: a rating the statistics count that this view must not (the user's own
        rating of a training page's positive; NaN: an unrated interaction): mean, count,
        damped mean and popularity percentile without it, as a held-out item is seen.

        Example:
            >>> import pandas as pd
            >>> from alignuser.data.tables import Catalog
            >>> cat = Catalog.from_frame(pd.DataFrame({"item_id": [0, 1], "title": ["A", "B"],
            ...     "genres": [[], []], "popularity": [2, 1], "mean_rating": [4.5, 2.0]}))
            >>> v = CatalogView(cat).view(0, minus=5.0)
            >>> v.mean_rating, v.count, v.popularity  # ties with item 1 now: shared rank
            (4.0, 1, 0.5)
            >>> CatalogView(cat).view(1, minus=2.0).mean_rating is None
            True
        """
        i = int(item_id)
        if minus is not None and self.counts[i] > 0:  # NaN: an unrated interaction
            mean, pop, count, damped = self._stats_without(i, float(minus))
        else:
            mean, pop = self.mean_ratings[i], float(self.popularity[i])
            count, damped = self.counts[i], self.damped_means[i]
        return ItemView(
            item_id=i,
            title=self.titles[i],
            genres=self.genres[i],
            year=self.years[i],
            mean_rating=mean,
            popularity=pop,
            similar=tuple(similar),
            taste=taste,
            count=count,
            damped_mean=damped,
        )

    def _stats_without(self, i: int, r: float) -> tuple:
        """``(mean_rating, popularity, count, damped_mean)`` of item ``i`` less rating ``r``."""
        n = self.counts[i] - 1
        mean = (self._mr[i] * (n + 1) - r) / n if n > 0 else np.nan
        if np.isnan(r):  # an unrated interaction: one fewer, the mean is the raters'
            mean = self._mr[i] if n > 0 else np.nan
        known = n > 0 and not np.isnan(mean)
        damped = (n * mean + RATING_DAMPING * self._centre) / (n + RATING_DAMPING)
        damped = damped if known else self._centre
        # percentile of count n among the other items (ties share the average rank)
        lo, hi = np.searchsorted(self._sorted_pop, [n, n + 0.5])
        rank = lo + (hi - lo + 2) / 2
        pct = round(float((rank - 1) / max(self.n_items - 1, 1)), 2)
        return (
            round(float(mean), 2) if known else None,
            pct,
            n,
            None if np.isnan(damped) else round(float(damped), 3),
        )

    def views(
        self,
        item_ids: Sequence[int],
        similar: Sequence[Sequence[str]] | None = None,
        taste: Sequence[float | None] | None = None,
        minus: Sequence[float | None] | None = None,
    ) -> tuple[ItemView, ...]:
        """Views of several items (a page), with optional memory lines and taste per item.

        ``minus``: per item, a rating to leave out of its statistics (see :meth:`view`).
        """
        n = len(item_ids)
        sims = similar if similar is not None else [()] * n
        tastes = taste if taste is not None else [None] * n
        minus = minus if minus is not None else [None] * n
        return tuple(self.view(i, s, t, m) for i, s, t, m in zip(item_ids, sims, tastes, minus))

    def taste_model(self, max_rating: int, n_users: int = 0):
        """A :class:`~alignuser.env.taste.GenreTaste` over this catalog's genres and means.

        The rater bias is measured against the damped means (:attr:`damped_means`), the
        damped-bias model's item term, not the raw ones: a user's 5 for an item rated once
        is not 0 points above its "mean" (``benchmarks/rating_gap.py`` reports item term
        plus this bias, with no learning, beside ``mf``).
        """
        from alignuser.env.taste import GenreTaste

        return GenreTaste(self.genres, max_rating, n_users, self.damped_means)

    def rater_offsets(self, n_users: int = 0):
        """A :class:`~alignuser.env.taste.RaterOffsets` against the damped means.

        Damped by :data:`RATING_DAMPING` pseudo-ratings, as the item term is.
        """
        from alignuser.env.taste import RaterOffsets

        return RaterOffsets(self.damped_means, n_users, RATING_DAMPING)
