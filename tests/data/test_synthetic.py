import re

import numpy as np
import pandas as pd
import pytest

from alignuser.data.synthetic import ChoiceModel, SyntheticWorld
from alignuser.data.tables import Catalog, Impressions
from alignuser.env.actions import PageAction


@pytest.fixture(scope="module")
def world():
    return SyntheticWorld(seed=0)


@pytest.fixture(scope="module")
def random_logs(world):
    return world.dataset(n_sessions_per_user=3, logging_policy="random")


def _slots(world, ds):
    """One row per shown slot: user, item, position, clicked, and the user's genre relation."""
    imp = ds.impressions.df
    rows = [
        (u, it, pos, it in set(clicked))
        for u, items, clicked in zip(imp["user_id"], imp["items"], imp["clicked"])
        for pos, it in enumerate(items)
    ]
    slots = pd.DataFrame(rows, columns=["user_id", "item_id", "position", "clicked"])
    return slots.assign(relation=_relation(world, slots["user_id"], slots["item_id"]))


def _relation(world, users, items):
    traits = world.users_frame()
    genres = world.catalog().df["genres"]
    out = []
    for u, i in zip(users, items):
        g = set(genres[i])
        liked, disliked = g & set(traits["liked"][u]), g & set(traits["disliked"][u])
        out.append(
            "liked" if liked and not disliked else "disliked" if disliked and not liked else ""
        )
    return np.array(out)


def test_same_seed_gives_identical_frames():
    a = SyntheticWorld(n_users=60, n_items=80, seed=3).dataset(n_sessions_per_user=2)
    b = SyntheticWorld(n_users=60, n_items=80, seed=3).dataset(n_sessions_per_user=2)
    for ta, tb in [
        (a.catalog, b.catalog),
        (a.interactions, b.interactions),
        (a.impressions, b.impressions),
        (a.users, b.users),
    ]:
        pd.testing.assert_frame_equal(ta.df, tb.df)
    pd.testing.assert_frame_equal(
        SyntheticWorld(n_users=60, n_items=80, seed=3).users_frame(),
        SyntheticWorld(n_users=60, n_items=80, seed=3).users_frame(),
    )


def test_different_seed_gives_different_world_and_logs():
    w3, w4 = (
        SyntheticWorld(n_users=60, n_items=80, seed=3),
        SyntheticWorld(n_users=60, n_items=80, seed=4),
    )
    assert w3.catalog().df["title"].tolist() != w4.catalog().df["title"].tolist()
    assert not np.allclose(w3.taste, w4.taste)
    logs0, logs1 = w3.dataset(seed=0), w3.dataset(seed=1)
    assert logs0.catalog.df["title"].tolist() == logs1.catalog.df["title"].tolist()
    assert not logs0.interactions.df.equals(logs1.interactions.df)


def test_schema_and_catalog(world, random_logs):
    ds = world.dataset()  # popularity logging, the default
    cat = ds.catalog
    assert isinstance(cat, Catalog) and cat.n_items == world.n_items
    assert cat.df["item_id"].tolist() == list(range(world.n_items))
    assert cat.df["title"].is_unique
    assert all(re.fullmatch(r"[A-Z][\w' -]+ \(\d{4}\)", t) for t in cat.df["title"])
    assert all(1 <= len(g) <= 3 and set(g) <= set(world.genres) for g in cat.df["genres"])
    assert "Action" in world.genres and len(world.genres) == 12
    assert all(t.endswith(".") and len(t) > 20 for t in cat.df["text"])
    inter, imp = ds.interactions.df, ds.impressions.df
    assert np.array_equal(cat.df["popularity"], np.bincount(inter["item_id"], minlength=400))
    assert inter["rating"].between(1, 5).all() and (inter["rating"] % 1 == 0).all()
    assert imp["impression_id"].tolist() == list(range(len(imp)))
    assert all(set(c) <= set(i) and len(i) == 4 for i, c in zip(imp["items"], imp["clicked"]))
    assert imp["clicked"].map(len).sum() == len(inter)
    assert len(ds.users) == world.n_users and set(ds.users.df["gender"]) <= {"F", "M"}
    assert ds.meta["seed"] == 0 and ds.meta["world"]["n_items"] == 400
    assert ds.meta["world"]["model"]["watch_affinity"] == ChoiceModel().watch_affinity
    assert ds.scale.max == 5 and ds.name == "synthetic"
    # no item is shown twice in one session, no item is watched twice by one user
    shown = imp[["session_id", "items"]].explode("items")
    assert not shown.duplicated().any()
    assert not inter.duplicated(["user_id", "item_id"]).any()
    # popularity logging shows popular items more than random logging does
    top = np.argsort(-world.popularity_prior)[:40]
    share = [
        np.isin(np.concatenate(d.impressions.df["items"]), top).mean() for d in (ds, random_logs)
    ]
    assert share[0] > 2 * share[1]


def test_watch_rate_follows_taste_and_position(world, random_logs):
    slots = _slots(world, random_logs)
    rate = slots.groupby("relation")["clicked"].mean()
    assert rate["liked"] > rate["disliked"] + 0.2
    by_pos = slots.groupby("position")["clicked"].mean()
    assert by_pos[0] > by_pos[3] + 0.04
    assert np.all(np.diff(world.watch_prob(0, 5, positions=np.arange(4))) < 0)
    # the logs follow the model: empirical click rate matches mean predicted probability
    pages = np.concatenate(
        [np.arange(1, len(g) + 1) for _, g in random_logs.impressions.df.groupby("session_id")]
    )
    page_of_slot = np.repeat(pages, random_logs.impressions.df["items"].map(len))
    p = world.watch_prob(slots["user_id"], slots["item_id"], slots["position"], page_of_slot)
    assert abs(p.mean() - slots["clicked"].mean()) < 0.02


def test_exit_probability_grows_with_page_and_falls_with_watches(world):
    users = np.arange(world.n_users)[:, None]
    by_page = world.exit_prob(users, np.arange(1, 6)[None, :], 0)
    assert np.all(np.diff(by_page, axis=1) > 0)
    by_watch = world.exit_prob(users, 2, np.arange(5)[None, :])
    assert np.all(np.diff(by_watch, axis=1) < 0)
    patience = world.users_frame()["patience"].to_numpy()
    assert np.corrcoef(patience, by_page[:, 0])[0, 1] < -0.9


def test_ratings_higher_for_liked_genres(world, random_logs):
    inter = random_logs.interactions.df
    rel = _relation(world, inter["user_id"], inter["item_id"])
    liked, disliked = inter["rating"][rel == "liked"], inter["rating"][rel == "disliked"]
    assert len(disliked) > 50
    assert liked.mean() > disliked.mean() + 0.5
    dist = world.rating_dist(np.arange(10), np.arange(10))
    assert dist.shape == (10, 5) and np.allclose(dist.sum(1), 1) and (dist >= 0).all()


def test_sample_action_matches_the_model(world):
    rng = np.random.default_rng(0)
    n = 20000
    users = np.full(n, 7)
    items = np.tile([11, 12, 13, 14], (n, 1))
    batch = world.sample_action(users, items, pages=2, rng=rng)
    p = world.watch_prob(7, [11, 12, 13, 14], np.arange(4), 2)
    assert np.allclose(batch.watched.mean(0), p, atol=0.02)
    dist = world.rating_dist(7, 11)
    expected = (dist * np.arange(1, 6)).sum()
    assert abs(batch.ratings[batch.watched[:, 0], 0].mean() - expected) < 0.05
    pe = world.exit_prob(users, 2, batch.watched.sum(1))
    assert abs(batch.exit.mean() - pe.mean()) < 0.02
    actions = batch.actions()
    assert all(isinstance(a, PageAction) for a in actions[:5])
    for a in actions[:50]:
        a.validate_for((11, 12, 13, 14), 5)


def test_simulate_online_ranks_oracle_above_popularity_above_random(world):
    kw = {"n_users": 300, "seed": 5}
    oracle = world.simulate_online(world.oracle_recommend, **kw)
    pop = world.simulate_online("popularity", **kw)
    rand = world.simulate_online("random", **kw)
    assert oracle["click_rate"] > pop["click_rate"] > rand["click_rate"]
    assert oracle["click_rate"] > rand["click_rate"] + 0.2
    assert oracle["likes_per_session"] > rand["likes_per_session"]
    assert oracle["pages_per_session"] > rand["pages_per_session"]
    assert world.simulate_online("random", **kw) == rand  # seeded
    assert oracle["n_sessions"] == 300 and 1 <= oracle["exit_page"] <= 5


def test_simulate_online_uses_common_random_numbers_and_exclusions(world):
    seen = []

    class FirstFree:
        name = "first-free"

        def recommend(self, user_ids, k, exclude=None):
            seen.append([len(e) for e in exclude])
            out = np.empty((len(user_ids), k), dtype=np.int64)
            for row, ex in enumerate(exclude):
                out[row] = np.setdiff1d(np.arange(world.n_items), ex)[:k]
            return out

    a = world.simulate_online(FirstFree(), n_users=40, sessions_per_user=2, seed=1)
    b = world.simulate_online(FirstFree().recommend, n_users=40, sessions_per_user=2, seed=1)
    assert a == b
    assert seen[0] == [0] * 40 and max(map(max, seen)) >= 8  # session pages are excluded
    ds = world.dataset(n_sessions_per_user=1, logging_policy=FirstFree())
    assert ds.meta["logging_policy"] == "first-free"
    assert ds.impressions.df["items"].iloc[0] == [0, 1, 2, 3]
    hist = world.simulate_online(FirstFree(), n_users=40, seed=1, history=ds.interactions)
    assert hist != world.simulate_online(FirstFree(), n_users=40, seed=1)


def test_bad_policies_raise_clear_errors(world):
    with pytest.raises(ValueError, match="unknown logging policy"):
        world.dataset(logging_policy="nope")
    with pytest.raises(ValueError, match="shape"):
        world.simulate_online(lambda u, k, ex: np.zeros((len(u), k - 1), dtype=int), n_users=5)
    with pytest.raises(ValueError, match="repeated"):
        world.simulate_online(lambda u, k, ex: np.zeros((len(u), k), dtype=int), n_users=5)
    with pytest.raises(ValueError, match="n_genres"):
        SyntheticWorld(n_genres=1)


def test_timestamps_allow_sessionization_by_gap(random_logs):
    imp = random_logs.impressions.df.sort_values(["user_id", "timestamp"])
    same_user = imp["user_id"].diff() == 0
    gap = imp["timestamp"].diff()
    same_session = imp["session_id"].diff() == 0
    assert (gap[same_user & same_session] < 1800).all() and (
        gap[same_user & same_session] > 0
    ).all()
    assert (gap[same_user & ~same_session] > 1800).all()
    assert (~same_session & same_user).sum() > 500
    # interactions: a 30-minute inactivity gap recovers the sessions of the impressions
    inter = random_logs.interactions.df
    merged = pd.merge_asof(
        inter.sort_values("timestamp"),
        imp.sort_values("timestamp")[["user_id", "timestamp", "session_id"]],
        on="timestamp",
        by="user_id",
    ).sort_values(["user_id", "timestamp"])
    new_gap = (merged["user_id"].diff() != 0) | (merged["timestamp"].diff() > 1800)
    new_true = merged["session_id"].diff() != 0
    assert (new_gap.to_numpy() == new_true.to_numpy()).all()
    assert inter.groupby("user_id")["timestamp"].apply(lambda t: t.is_monotonic_increasing).all()


def test_larger_rating_scale_and_small_world():
    w = SyntheticWorld(n_users=10, n_items=12, n_genres=20, max_rating=10, seed=2)
    assert w.genres[-1] == "Genre 20"
    ds = w.dataset(n_sessions_per_user=1, items_per_page=5, max_pages=4)
    assert ds.scale.max == 10 and ds.interactions.df["rating"].between(1, 10).all()
    assert isinstance(ds.impressions, Impressions)
    # a 12-item catalog runs out within a session: pages are padded, never repeated
    assert all(len(set(i)) == len(i) for i in ds.impressions.df["items"])
