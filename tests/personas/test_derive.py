"""derive_personas on hand-made data: taste, pickiness, the three Agent4Rec traits."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from alignuser.data import Catalog, Dataset, Interactions, RatingScale, Users
from alignuser.personas import TraitCuts, derive_personas


@pytest.fixture
def tiny():
    catalog = Catalog.from_frame(
        pd.DataFrame(
            {
                "item_id": range(6),
                "genres": [
                    ["Drama"],
                    ["Drama", "Romance"],
                    ["Horror"],
                    ["Comedy"],
                    ["Horror", "Thriller"],
                    ["Comedy", "Drama"],
                ],
                "mean_rating": [4.0, 3.0, 3.0, 3.0, 2.0, 3.0],
            }
        )
    )
    rows = [
        (0, 0, 5.0), (0, 1, 4.0), (0, 2, 1.0), (0, 3, 3.0),
        (1, 2, 5.0), (1, 4, 5.0),
        (2, 0, np.nan), (2, 1, np.nan), (2, 5, np.nan),
        (3, 0, 2.0), (3, 3, 2.0), (3, 5, 1.0),
    ]  # fmt: skip
    inter = Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "rating"]))
    users = Users.from_frame(
        pd.DataFrame({"user_id": [0], "gender": ["F"], "age": ["25-34"], "occupation": ["writer"]})
    )
    return catalog, inter, users


def test_taste_from_ratings(tiny):
    catalog, inter, users = tiny
    p = derive_personas(inter, catalog, users)
    assert [x.user_id for x in p] == [0, 1, 2, 3]
    assert p[0].liked_genres == ("Drama", "Romance")
    assert p[0].disliked_genres == ("Horror",)
    # (n_like - n_dislike) / (n_rated + 1)
    assert p[0].taste == pytest.approx(
        {"Drama": 2 / 3, "Romance": 1 / 2, "Horror": -1 / 2, "Comedy": 0.0}, abs=1e-4
    )
    assert p[1].liked_genres == ("Horror", "Thriller") and p[1].disliked_genres == ()
    assert p[3].liked_genres == () and set(p[3].disliked_genres) == {"Drama", "Comedy"}
    assert (p[0].gender, p[0].age, p[0].occupation) == ("F", "25-34", "writer")
    assert p[1].gender == ""


def test_pickiness_and_conformity(tiny):
    catalog, inter, _ = tiny
    p = derive_personas(inter, catalog)
    assert p[0].rating_bias == pytest.approx(0.0)  # +1 +1 -2 0
    assert p[1].rating_bias == pytest.approx(2.5) and p[1].pickiness_level == 1
    assert p[3].rating_bias == pytest.approx(-5 / 3) and p[3].pickiness_level == 3
    assert p[0].pickiness_level == 2
    assert [x.deviation for x in p] == [
        pytest.approx(1.5),
        pytest.approx(6.5),
        None,
        pytest.approx(3.0),
    ]
    # cuts at the 25th / 80th percentiles of [1.5, 3, 6.5] = 2.25 / 5.1; level 1 = lowest deviation
    assert [x.conformity_level for x in p] == [1, 3, 2, 2]
    assert p[0].conformity == pytest.approx(5 / 6) and p[1].conformity == pytest.approx(1 / 6)
    assert p[2].conformity == 0.5  # no ratings: neutral


def test_activity_and_diversity(tiny):
    catalog, inter, _ = tiny
    p = derive_personas(inter, catalog)
    assert [x.activity_num for x in p] == [4, 2, 3, 3]
    # 60th / 90th percentiles of [2, 3, 3, 4] = 3 / 3.7
    assert [x.activity_level for x in p] == [3, 1, 2, 2]
    assert [x.patience for x in p] == [0.9, 0.3, 0.6, 0.6]
    # user 0: Drama 2, then three genres at 1 of 5: cumulative 0.4, 0.6, 0.8 (kept), 1.0
    # user 1: Horror 2 of 3 (0.67 kept), Thriller (1.0)
    assert [x.diversity_num for x in p][:2] == [3, 1]
    fixed = derive_personas(inter, catalog, cuts=TraitCuts(activity=(3, 4), diversity=(2, 3)))
    assert [x.activity_level for x in fixed] == [3, 1, 2, 2]
    assert fixed[0].diversity_level == 3 and fixed[1].diversity_level == 1


def test_implicit_taste_relative_to_catalog():
    catalog = Catalog.from_frame(
        pd.DataFrame({"item_id": range(20), "genres": [["Comedy"]] * 10 + [["Horror"]] * 10})
    )
    inter = Interactions.from_frame(pd.DataFrame({"user_id": [0] * 10, "item_id": range(10)}))
    (p,) = derive_personas(inter, catalog)
    # lift = (n + 5 * share) / (N + 5) / share: Comedy 12.5/15/0.5, Horror 2.5/15/0.5
    assert p.taste["Comedy"] == pytest.approx(0.25, abs=1e-4)
    assert p.taste["Horror"] == pytest.approx(-0.5, abs=1e-4)
    assert p.liked_genres == ("Comedy",) and p.disliked_genres == ("Horror",)
    assert p.rating_bias == 0.0 and p.deviation is None


def test_dataset_input_and_scale(tiny):
    catalog, inter, users = tiny
    ds = Dataset("tiny", catalog, inter, users=users, scale=RatingScale(10))
    p = derive_personas(ds)
    # on a 10 scale a 5 is not "liked" (>= 8) and a 4 is disliked (<= 4)
    assert "Drama" not in p[0].liked_genres
    assert p[0].gender == "F"


def test_speed_1000_users():
    rng = np.random.default_rng(0)
    genres = [f"g{i}" for i in range(18)]
    catalog = Catalog.from_frame(
        pd.DataFrame(
            {
                "item_id": range(2000),
                "genres": [list(rng.choice(genres, 2, replace=False)) for _ in range(2000)],
            }
        )
    )
    n = 100_000
    inter = Interactions.from_frame(
        pd.DataFrame(
            {
                "user_id": rng.integers(0, 1000, n),
                "item_id": rng.integers(0, 2000, n),
                "rating": rng.integers(1, 6, n).astype(float),
            }
        )
    )
    t = time.perf_counter()
    people = derive_personas(inter, catalog)
    assert len(people) == 1000
    assert time.perf_counter() - t < 3.0


def test_extra_ratings_take_precedence(tiny):
    catalog, inter, _ = tiny
    extra = Interactions.from_frame(
        pd.DataFrame(
            {"user_id": [2, 2, 0, 9], "item_id": [0, 1, 2, 0], "rating": [5.0, 5.0, 5.0, 1.0]}
        )
    )
    p = derive_personas(inter, catalog, ratings=extra)
    assert len(p) == 4  # user 9 has no interactions: no persona
    assert p[2].liked_genres == ("Drama", "Romance") and p[2].deviation == pytest.approx(
        (1 + 4) / 2
    )
    assert "Horror" not in p[0].disliked_genres  # user 0's 1 on item 2 overridden by a 5
    assert p[2].activity_num == 3 and p[0].activity_num == 4  # activity from interactions only


def test_catalog_without_genres_is_neutral():
    catalog = Catalog.from_frame(pd.DataFrame({"item_id": range(4)}))
    inter = Interactions.from_frame(
        pd.DataFrame({"user_id": [0, 0, 1, 2, 2, 2], "item_id": [0, 1, 2, 0, 1, 3]})
    )
    p = derive_personas(inter, catalog)
    assert all(x.diversity_num is None and x.diversity_level == 2 and x.diversity == 0.5 for x in p)
    assert all(x.taste == {} and x.liked_genres == () for x in p)
    assert [x.activity_num for x in p] == [2, 1, 3]
    assert derive_personas(inter.subset(np.zeros(len(inter), bool)), catalog) == []
