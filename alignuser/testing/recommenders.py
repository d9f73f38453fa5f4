"""``RecommenderConformance``: a pytest class every recommender should pass.

Subclass it in a test file and override :meth:`RecommenderConformance.make_recommender`
(return a fresh, unfitted recommender with a fixed seed)::

    from alignuser.testing.recommenders import RecommenderConformance

    class TestMyRecommender(RecommenderConformance):
        def make_recommender(self):
            return MyRecommender(seed=0)

The data is small and seeded (60 users, 40 items; users 55..59 have no training data) so a
whole class runs in seconds. Class attributes tune what is checked: ``excludes_seen``
(items seen in training never come back) and ``deterministic`` (two fits with the same
seed give the same pages).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignuser.data.tables import Catalog, Interactions
from alignuser.interfaces import Feedback, Recommender

N_USERS, N_ITEMS, N_WARM = 60, 40, 55


def conformance_data(seed: int = 0) -> tuple[Interactions, Catalog]:
    """Seeded toy interactions (popularity-skewed, 3..10 items per warm user) and catalog."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, N_ITEMS + 1)
    weights /= weights.sum()
    users, items = [], []
    for u in range(N_WARM):
        chosen = rng.choice(N_ITEMS, size=int(rng.integers(3, 11)), replace=False, p=weights)
        users += [u] * len(chosen)
        items += chosen.tolist()
    inter = Interactions.from_frame(
        pd.DataFrame(
            {
                "user_id": users,
                "item_id": items,
                "rating": rng.integers(1, 6, size=len(users)).astype(float),
                "timestamp": np.arange(len(users)),
            }
        )
    )
    catalog = Catalog.from_frame(
        pd.DataFrame(
            {"item_id": np.arange(N_ITEMS), "title": [f"item {i}" for i in range(N_ITEMS)]}
        )
    )
    return inter, catalog.with_statistics(inter)


def _check_rows(recs: np.ndarray, k: int) -> None:
    assert recs.dtype == np.int64
    assert recs.shape[1] == k
    for row in recs:
        real = row[row >= 0]
        assert (row[len(real) :] == -1).all(), f"padding must come last: {row}"
        assert len(np.unique(real)) == len(real), f"duplicates in {row}"
        assert ((real >= 0) & (real < N_ITEMS)).all(), f"ids outside the catalog: {row}"


class RecommenderConformance:
    """Behaviour every :class:`~alignuser.interfaces.Recommender` must have."""

    excludes_seen: bool = True
    deterministic: bool = True
    k: int = 10

    def make_recommender(self) -> Recommender:
        """Return a fresh, unfitted recommender with a fixed seed (override this)."""
        raise NotImplementedError("override make_recommender() in the subclass")

    @pytest.fixture(scope="class")
    def data(self) -> tuple[Interactions, Catalog]:
        """Seeded toy interactions and catalog (shared by the class)."""
        return conformance_data()

    @pytest.fixture(scope="class")
    def fitted(self, data) -> Recommender:
        """One recommender fitted on :meth:`data` (shared; tests must not refit it)."""
        return self.make_recommender().fit(*data)

    @pytest.fixture(scope="class")
    def users(self) -> np.ndarray:
        """A batch mixing warm users (0..54), cold in-range users and an unseen id."""
        return np.array([0, 3, 7, 12, 21, 30, 44, 54, 56, 59, 75])

    def test_fit_returns_self_and_has_name(self, data):
        """``fit`` returns the recommender, which has a name and meets the Protocol."""
        rec = self.make_recommender()
        assert rec.fit(*data) is rec
        assert isinstance(rec, Recommender)
        assert isinstance(rec.name, str) and rec.name

    def test_shape_dtype_and_valid_rows(self, fitted, users):
        """Rows are ``k`` distinct int64 catalog ids, unpadded when items remain."""
        recs = fitted.recommend(users, self.k)
        assert recs.shape == (len(users), self.k)
        _check_rows(recs, self.k)
        assert (recs >= 0).all(), "plenty of items remain: no row should be padded"

    def test_empty_batch(self, fitted):
        """An empty batch gives a ``(0, k)`` array."""
        recs = fitted.recommend(np.array([], dtype=np.int64), self.k)
        assert recs.shape == (0, self.k)

    def test_exclusions_honoured(self, fitted, users):
        """No excluded item is ever returned."""
        rng = np.random.default_rng(1)
        exclude = [rng.choice(N_ITEMS, size=int(rng.integers(0, 15)), replace=False) for _ in users]
        recs = fitted.recommend(users, self.k, exclude)
        _check_rows(recs, self.k)
        for row, ex in zip(recs, exclude):
            assert not set(row[row >= 0]) & set(ex.tolist())

    def test_excluding_the_first_page_gives_a_new_page(self, fitted, users):
        """Excluding page 1 yields a disjoint page 2."""
        first = fitted.recommend(users, self.k)
        second = fitted.recommend(users, self.k, list(first))
        for a, b in zip(first, second):
            assert not set(a[a >= 0]) & set(b[b >= 0])

    def test_seen_items_excluded(self, fitted, data):
        """Items a user interacted with in training are not recommended again."""
        if not self.excludes_seen:
            pytest.skip("this recommender may return items seen in training")
        inter, _ = data
        seen = inter.items_by_user()
        warm = np.arange(N_WARM)
        recs = fitted.recommend(warm, self.k)
        for u, row in zip(warm, recs):
            assert not set(row.tolist()) & set(seen[int(u)].tolist()), f"user {u}"

    def test_deterministic_for_fixed_seed(self, data, users):
        """Two fits with the same seed give identical pages."""
        if not self.deterministic:
            pytest.skip("declared non-deterministic")
        a = self.make_recommender().fit(*data).recommend(users, self.k)
        b = self.make_recommender().fit(*data).recommend(users, self.k)
        np.testing.assert_array_equal(a, b)

    def test_padding_when_catalog_nearly_exhausted(self, fitted):
        """Rows are padded with ``-1`` when fewer than ``k`` items remain."""
        keep = np.array([5, 17, 33])
        exclude = [np.setdiff1d(np.arange(N_ITEMS), keep)] * 2
        recs = fitted.recommend(np.array([56, 58]), self.k, exclude)  # cold users: nothing seen
        assert recs.shape == (2, self.k)
        for row in recs:
            assert sorted(row[:3].tolist()) == keep.tolist()
            assert (row[3:] == -1).all()
        wide = fitted.recommend(np.array([57]), N_ITEMS + 5)
        assert wide.shape == (1, N_ITEMS + 5)
        assert sorted(wide[0, :N_ITEMS].tolist()) == list(range(N_ITEMS))
        assert (wide[0, N_ITEMS:] == -1).all()

    def test_batch_equals_one_by_one(self, fitted, users):
        """A user's page does not depend on the batch around it or its order."""
        batch = fitted.recommend(users, self.k)
        single = np.vstack([fitted.recommend(users[i : i + 1], self.k) for i in range(len(users))])
        np.testing.assert_array_equal(batch, single)
        order = np.arange(len(users))[::-1]
        np.testing.assert_array_equal(fitted.recommend(users[order], self.k), batch[order])

    def test_cold_users_get_full_pages(self, fitted):
        """Users without training data (in range or beyond) get full pages."""
        cold = np.array([55, 57, 59, 60, 500])
        recs = fitted.recommend(cold, self.k)
        _check_rows(recs, self.k)
        assert (recs >= 0).all()

    def test_update_accepts_feedback(self, fitted, users):
        """``update`` accepts feedback and recommending still works after it."""
        page = fitted.recommend(users[:2], self.k)
        fb = Feedback(
            user_ids=np.repeat(users[:2], self.k),
            item_ids=page.ravel(),
            clicked=np.tile(np.arange(self.k) % 2 == 0, 2),
            ratings=np.where(np.tile(np.arange(self.k) % 2 == 0, 2), 4.0, np.nan),
        )
        fitted.update(fb)
        _check_rows(fitted.recommend(users, self.k), self.k)
