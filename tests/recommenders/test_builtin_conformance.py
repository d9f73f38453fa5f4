"""Every built-in recommender passes the conformance kit (one line each)."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest

from alignuser.recommenders import (
    BPR,
    EASE,
    RECOMMENDERS,
    ItemKNN,
    LightGCN,
    MultVAE,
    PopularRecommender,
    RandomRecommender,
    make_recommender,
    top_k,
)
from alignuser.testing.recommenders import RecommenderConformance, conformance_data

# "replay" runs the kit in tests/recommenders/test_replay_recommender.py (log-specific cases)
TESTED = {"random", "popular", "itemknn", "bpr", "ease", "multvae", "lightgcn", "http", "replay"}


def test_every_builtin_is_covered():
    # "http" runs the kit in tests/recommenders/test_http.py against a local server.
    assert set(RECOMMENDERS.names()) >= TESTED
    assert {
        n for n in RECOMMENDERS.names() if RECOMMENDERS.get(n).__module__.startswith("alignuser")
    } <= TESTED


class TestRandom(RecommenderConformance):
    def make_recommender(self):
        return RandomRecommender(seed=0)


class TestPopular(RecommenderConformance):
    def make_recommender(self):
        return PopularRecommender()


class TestItemKNN(RecommenderConformance):
    def make_recommender(self):
        return ItemKNN(neighbors=10)


class TestBPR(RecommenderConformance):
    def make_recommender(self):
        return BPR(factors=8, iterations=20, seed=0)


class TestEASE(RecommenderConformance):
    def make_recommender(self):
        return EASE(l2=10.0)


class TestMultVAE(RecommenderConformance):
    def make_recommender(self):
        return MultVAE(hidden=32, latent=8, epochs=5, seed=0)


class TestLightGCN(RecommenderConformance):
    def make_recommender(self):
        return LightGCN(factors=8, layers=2, epochs=5, batch_size=64, seed=0)


# ----------------------------------------------------------------------- base behaviour


def test_top_k_breaks_ties_by_item_id_and_pads():
    scores = np.array(
        [
            [1.0, 3.0, 3.0, 2.0, 3.0],  # three-way tie at 3 -> ids 1, 2 (then 4 cut off)
            [-np.inf, -np.inf, 0.5, -np.inf, np.nan],  # only 2 and the NaN item remain
        ],
        dtype=np.float32,
    )
    assert top_k(scores, 2).tolist() == [[1, 2], [2, 4]]
    assert top_k(scores, 4).tolist() == [[1, 2, 4, 3], [2, 4, -1, -1]]
    assert top_k(scores, 7)[0].tolist() == [1, 2, 4, 3, 0, -1, -1]


def test_params_are_typed_and_validated():
    rec = make_recommender("ease", l2=250, seed=3, name="ease-250")
    assert (rec.params.l2, rec.seed, rec.name) == (250.0, 3, "ease-250")
    assert EASE(EASE.Params(l2=5.0), l2=7.0).params.l2 == 7.0
    with pytest.raises(pydantic.ValidationError, match="lamda"):
        make_recommender("ease", lamda=1.0)
    with pytest.raises(pydantic.ValidationError):
        make_recommender("itemknn", neighbors=0)
    with pytest.raises(KeyError, match="known: bpr"):
        make_recommender("nope")


def test_seeds_change_random_and_bpr():
    inter, cat = conformance_data()
    users = np.arange(20)
    for cls in (RandomRecommender, BPR, LightGCN):
        a = cls(seed=0).fit(inter, cat).recommend(users, 10)
        b = cls(seed=1).fit(inter, cat).recommend(users, 10)
        assert (a != b).any(), cls.name


def test_exclude_seen_false_allows_seen_items():
    inter, cat = conformance_data()
    rec = PopularRecommender(exclude_seen=False).fit(inter, cat)
    assert rec.recommend(np.array([0]), 3)[0].tolist() == [0, 1, 2]  # most popular overall
    with pytest.raises(ValueError, match="outside the catalog"):
        rec.recommend(np.array([0]), 3, [np.array([40])])


class _LeaksSeen(PopularRecommender):
    def __init__(self, **kw):
        super().__init__(exclude_seen=False, **kw)


class _Conformance(RecommenderConformance):
    def make_recommender(self):
        return _LeaksSeen()


def test_kit_catches_a_recommender_that_returns_seen_items():
    kit = _Conformance()
    data = conformance_data()
    with pytest.raises(AssertionError, match="user"):
        kit.test_seen_items_excluded(kit.make_recommender().fit(*data), data)


@pytest.mark.parametrize("n_users", [55, 20])  # 55 > 40 items: Cholesky; 20 < 40: Woodbury
def test_ease_matches_the_textbook_formula(n_users):
    inter, cat = conformance_data()
    inter = inter.subset(inter.df["user_id"] < n_users)
    x = inter.to_csr(n_users, cat.n_items).toarray().astype(np.float64)
    p = np.linalg.inv(x.T @ x + 10.0 * np.eye(cat.n_items))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    users = np.arange(n_users)
    for cutoff in (4096, 0):  # float64 Cholesky, then float32
        rec = EASE(l2=10.0, float64_below=cutoff).fit(inter, cat)
        np.testing.assert_allclose(rec.score(users), x @ b, rtol=1e-3, atol=1e-4)


def test_params_may_not_shadow_base_keywords():
    class Clashing(pydantic.BaseModel):
        seed: int = 0  # would be swallowed by the base constructor's own ``seed``

    with pytest.raises(TypeError, match=r"\['seed'\] clash"):
        type("Bad", (PopularRecommender,), {"Params": Clashing})
