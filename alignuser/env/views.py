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
        # percentile rank in 0..1 (ties share the average rank)
        ranks = pd.Series(pop).rank(method="average").to_numpy()
        self.popularity = np.round((ranks - 1) / max(len(pop) - 1, 1), 2)

    def view(
        self, item_id: int, similar: Sequence[str] = (), taste: float | None = None
    ) -> ItemView:
        """The :class:`ItemView` of one item, with optional memory lines and taste cue."""
        i = int(item_id)
        return ItemView(
            item_id=i,
            title=self.titles[i],
            genres=self.genres[i],
            year=self.years[i],
            mean_rating=self.mean_ratings[i],
            popularity=float(self.popularity[i]),
            similar=tuple(similar),
            taste=taste,
            count=self.counts[i],
            damped_mean=self.damped_means[i],
        )

    def views(
        self,
        item_ids: Sequence[int],
        similar: Sequence[Sequence[str]] | None = None,
        taste: Sequence[float | None] | None = None,
    ) -> tuple[ItemView, ...]:
        """Views of several items (a page), with optional memory lines and taste per item."""
        n = len(item_ids)
        sims = similar if similar is not None else [()] * n
        tastes = taste if taste is not None else [None] * n
        return tuple(self.view(i, s, t) for i, s, t in zip(item_ids, sims, tastes))

    def taste_model(self, max_rating: int, n_users: int = 0):
        """A :class:`~alignuser.env.taste.GenreTaste` over this catalog's genres and means.

        The rater bias is measured against the damped means (:attr:`damped_means`), the
        damped-bias model's item term, not the raw ones: a user's 5 for an item rated once
        is not 0 points above its "mean" (``benchmarks/rating_gap.py`` reports item term
        plus this bias, with no learning, beside ``mf``).
        """
        from alignuser.env.taste import GenreTaste

        return GenreTaste(self.genres, max_rating, n_users, self.damped_means)
