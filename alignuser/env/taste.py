"""``GenreTaste``: the per-item "taste" cue of a page, from the user's own rated items.

For a user with rated items ``(i, r)``, ratings are mapped to ``x = (r - mid) / (max - mid)``
in ``[-1, 1]`` (``mid`` is the middle of the scale) and centred on the user's own mean ``m``
(so a picky rater's low ratings are not read as dislike of everything). For a page item with
genres ``G``::

    taste(item) = mean over g in G of  sum_{rated i with genre g} (x_i - m) / (n_g + 1)

i.e. how much more than usual the user liked items sharing each genre, shrunk towards 0 when
there is little evidence (``n_g`` rated items of genre ``g``), clipped to ``[-1, 1]``. Items
without genres have no taste (``None``, not shown).

The same statistics give the user's **rater bias** (:meth:`GenreTaste.bias`), in rating
points: how far their ratings sit above the items' mean ratings (``mu_i``, when the catalog
has them; :meth:`CatalogView.taste_model` passes the damped means),
``half * sum_i (x_i - (mu_i - mid) / half) / (n + 1)``, shrunk towards 0 by the ``+ 1``,
rounded to 0.1; ``None`` before the first rating. It is what a bias model adds to an item's
mean; the persona's rater level is the same quantity in three coarse steps.

Why: retrieved memory lines ("similar items you rated") carry this evidence only through
the retrieval encoder and in words a small policy must learn to read; this one number is the
same evidence summarised. It is computed from the state's own history only: in training
from the interactions before the step (:func:`GenreTaste.for_history`), in the simulation
from the agent's memories (:meth:`GenreTaste.add` as they are written, rebuilt from the
memory store on resume); both go through the same accumulation and scoring code.

The rater bias reads the state's window (the last ``n_history`` ratings in training, the
memories in a simulation): on a temporal split the recent offset is the better guess.
:class:`RaterOffsets` gives the **long-run offset** over every rating the user gave,
``sum_i (r_i - mu_i) / (n + damping)`` in rating points (the damped-bias model's user term):
on a random split such as ml-100k's ``u1`` it is the better one (no-learning RMSE 0.959
against the window's 0.984, ``benchmarks/rating_gap.py``). The state carries both
(``PageState.rater`` and ``PageState.rater_all``) and the policy learns how to weigh them.

Example:
    >>> t = GenreTaste([("Drama",), ("Comedy",), ("Drama", "Comedy")], max_rating=5)
    >>> t.for_history([0, 1], [5, 1], [2, 0, 1])
    [0.0, 0.5, -0.5]
    >>> t = GenreTaste([("Drama",), ("Comedy",)], max_rating=5, item_means=[3.0, 4.0])
    >>> t.bias_for_history([0, 1], [5, 5])  # 2 and 1 points above the means, shrunk by 2/3
    1.0
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

__all__ = ["GenreTaste", "RaterOffsets"]

log = logging.getLogger(__name__)

MAX_GENRES = 512


class GenreTaste:
    """Genre-taste statistics for many users, updated as they rate items.

    Args:
        genres: Genres of every catalog item (index = item id).
        max_rating: Top of the rating scale (ratings are ``1..max_rating``).
        n_users: Rows to allocate for :meth:`add` / :meth:`scores` (users ``0..n_users-1``).
        item_means: Mean rating of every item (NaN / missing: unknown), for :meth:`bias`.
    """

    def __init__(
        self,
        genres: Sequence[Sequence[str]],
        max_rating: int,
        n_users: int = 0,
        item_means: Sequence[float | None] | None = None,
    ):
        names = sorted({g for gs in genres for g in gs})
        col = {g: j for j, g in enumerate(names)}
        self.n_genres = len(names)
        self.enabled = 0 < self.n_genres <= MAX_GENRES
        if self.n_genres > MAX_GENRES:
            log.info("taste cue off: %d genres/tags (> %d)", self.n_genres, MAX_GENRES)
        self.item_genres = [np.array([col[g] for g in gs], dtype=np.int64) for gs in genres]
        self.mid = (1 + max_rating) / 2
        self.half = max(max_rating - self.mid, 1e-9)
        width = self.n_genres if self.enabled else 0
        # item -> genre weights (1/|G| each); last row: padding / unknown items
        self._weights = np.zeros((len(self.item_genres) + 1, width))
        for i, g in enumerate(self.item_genres):
            if len(g) and width:
                self._weights[i, g] = 1.0 / len(g)
        self._has_genres = np.array([len(g) > 0 for g in self.item_genres] + [False])
        self.sum = np.zeros((n_users, width))
        self.cnt = np.zeros((n_users, width))
        self.total = np.zeros(n_users)
        self.n = np.zeros(n_users)
        self.base = np.zeros(n_users)  # sum of the rated items' normalised mean ratings
        means = np.full(len(self.item_genres), np.nan)
        if item_means is not None:
            means[: len(item_means)] = [np.nan if m is None else m for m in item_means]
        self._means = (means - self.mid) / self.half

    def _norm(self, ratings) -> np.ndarray:
        r = np.asarray([np.nan if x is None else x for x in ratings], dtype=float)
        return (r - self.mid) / self.half

    def _accumulate(self, rows, item_ids, ratings, s, c, tot, n, base) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        items = np.asarray(item_ids, dtype=np.int64)
        x = self._norm(ratings)
        ok = (items >= 0) & (items < len(self.item_genres)) & ~np.isnan(x)
        ok &= (rows >= 0) & (rows < len(n))
        rows, items, x = rows[ok], items[ok], x[ok]
        np.add.at(tot, rows, x)
        np.add.at(n, rows, 1)
        mu = self._means[items]
        np.add.at(base, rows, np.where(np.isnan(mu), x, mu))  # unknown mean: no evidence
        if not self.enabled:
            return
        sizes = np.array([len(self.item_genres[i]) for i in items], dtype=np.int64)
        if sizes.sum():
            g = np.concatenate([self.item_genres[i] for i in items])
            r = np.repeat(rows, sizes)
            np.add.at(s, (r, g), np.repeat(x, sizes))
            np.add.at(c, (r, g), 1)

    def _score(self, s, c, tot, n, pages: np.ndarray) -> list[list[float | None]]:
        """``pages`` ``(B, k)`` item ids (``-1`` padding) for the B rows of the statistics."""
        m = np.divide(tot, n, out=np.zeros_like(tot), where=n > 0)
        table = (s - c * m[:, None]) / (c + 1)  # (B, G) per-genre taste
        pages = np.where((pages >= 0) & (pages < len(self.item_genres)), pages, -1)
        t = np.einsum("bg,bkg->bk", table, self._weights[pages])
        t = np.round(np.clip(t, -1.0, 1.0), 1) + 0.0
        has = self._has_genres[pages]
        return [[float(v) if h else None for v, h in zip(tr, hr)] for tr, hr in zip(t, has)]

    def _bias(self, tot: np.ndarray, n: np.ndarray, base: np.ndarray) -> list[float | None]:
        b = np.round(self.half * (tot - base) / (n + 1), 1) + 0.0
        return [float(v) if k > 0 else None for v, k in zip(b, n)]

    def _history(self, hist_items, hist_ratings):
        width = self.n_genres if self.enabled else 0
        stats = (np.zeros((1, width)), np.zeros((1, width)), np.zeros(1), np.zeros(1), np.zeros(1))
        rows = np.zeros(len(hist_items), np.int64)
        self._accumulate(rows, hist_items, hist_ratings, *stats)
        return stats

    def for_history(
        self, hist_items: Sequence[int], hist_ratings: Sequence[float], item_ids: Sequence[int]
    ) -> list[float | None] | None:
        """Taste of ``item_ids`` for a user who rated ``hist_items`` (``None``: cue off)."""
        if not self.enabled:
            return None
        s, c, tot, n, _ = self._history(hist_items, hist_ratings)
        return self._score(s, c, tot, n, np.asarray([list(item_ids)], dtype=np.int64))[0]

    def bias_for_history(
        self, hist_items: Sequence[int], hist_ratings: Sequence[float]
    ) -> float | None:
        """Rater bias of a user who rated ``hist_items`` (``None``: no rating yet)."""
        _, _, tot, n, base = self._history(hist_items, hist_ratings)
        return self._bias(tot, n, base)[0]

    def add(self, rows: Sequence[int], item_ids: Sequence[int], ratings: Sequence[float]) -> None:
        """Record ratings of users ``rows`` (``None``/NaN ratings, unknown rows are ignored)."""
        if len(rows):
            self._accumulate(
                rows, item_ids, ratings, self.sum, self.cnt, self.total, self.n, self.base
            )

    def bias(self, rows: Sequence[int]) -> list[float | None]:
        """Rater bias of the users ``rows`` (``None`` for users without ratings)."""
        r = np.asarray(rows, dtype=np.int64)
        return self._bias(self.total[r], self.n[r], self.base[r])

    def scores(
        self, rows: Sequence[int], pages: Sequence[Sequence[int]], chunk: int = 2048
    ) -> list[list[float | None]] | None:
        """Taste of each page's items for the user of the same row (``None``: cue off)."""
        if not self.enabled:
            return None
        rows = np.asarray(rows, dtype=np.int64)
        k = max((len(p) for p in pages), default=0)
        grid = np.full((len(pages), k), -1, dtype=np.int64)
        for j, p in enumerate(pages):
            grid[j, : len(p)] = p
        out: list[list[float | None]] = []
        for a in range(0, len(rows), chunk):
            r = rows[a : a + chunk]
            out += self._score(
                self.sum[r], self.cnt[r], self.total[r], self.n[r], grid[a : a + chunk]
            )
        return [o[: len(p)] for o, p in zip(out, pages)]


class RaterOffsets:
    """Long-run rating offset of many users: every rating they gave, against the item means.

    Args:
        item_means: Mean rating of every item (``None`` / NaN: unknown; such ratings are
            skipped), in rating points (usually :attr:`CatalogView.damped_means`).
        n_users: Rows to allocate for :meth:`add` / :meth:`offsets`.
        damping: Pseudo-ratings at offset 0 added to each user's count.

    Example:
        >>> ro = RaterOffsets([3.0, 4.0], n_users=2, damping=2.0)
        >>> ro.add([0, 0, 1], [0, 1, 1], [5.0, 5.0, 3.0])
        >>> ro.offsets([0, 1])  # (2 + 1) / (2 + 2) and -1 / (1 + 2)
        [0.75, -0.33]
        >>> ro.for_history([0], [4.0]), ro.for_history([], [])
        (0.33, None)
    """

    def __init__(self, item_means: Sequence[float | None], n_users: int = 0, damping: float = 5.0):
        self._means = np.array([np.nan if m is None else m for m in item_means], dtype=float)
        self.damping = float(damping)
        self.total = np.zeros(n_users)
        self.n = np.zeros(n_users)

    def _diffs(self, rows, item_ids, ratings, n_rows: int):
        rows = np.asarray(rows, dtype=np.int64)
        items = np.asarray(item_ids, dtype=np.int64)
        r = np.asarray([np.nan if x is None else x for x in ratings], dtype=float)
        ok = (items >= 0) & (items < len(self._means)) & (rows >= 0) & (rows < n_rows)
        d = r[ok] - self._means[items[ok]]
        keep = ~np.isnan(d)
        return rows[ok][keep], d[keep]

    def add(self, rows: Sequence[int], item_ids: Sequence[int], ratings: Sequence[float]) -> None:
        """Record ratings of users ``rows`` (unrated, unknown items or rows are ignored)."""
        if len(rows):
            rows, d = self._diffs(rows, item_ids, ratings, len(self.n))
            np.add.at(self.total, rows, d)
            np.add.at(self.n, rows, 1)

    def _offset(self, total, n) -> list[float | None]:
        b = np.round(total / (n + self.damping), 2) + 0.0
        return [float(v) if k > 0 else None for v, k in zip(b, n)]

    def offsets(self, rows: Sequence[int]) -> list[float | None]:
        """Offset of the users ``rows`` in rating points (``None``: no rating yet)."""
        r = np.asarray(rows, dtype=np.int64)
        return self._offset(self.total[r], self.n[r])

    def for_history(self, item_ids: Sequence[int], ratings: Sequence[float]) -> float | None:
        """Offset of a user who rated ``item_ids`` (``None``: no rating yet)."""
        _, d = self._diffs(np.zeros(len(item_ids)), item_ids, ratings, 1)
        return self._offset(np.array([d.sum()]), np.array([float(len(d))]))[0]
