"""Alignment protocols: sampling rules, metrics against hand-computed cases, scoring hooks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignuser.data.dataset import Split
from alignuser.data.tables import Interactions
from alignuser.env.page import ItemView, PageState
from alignuser.evaluation.baselines import (
    PopularityPolicy,
    decide_watch,
    expected_ratings,
    watch_probabilities,
)
from alignuser.evaluation.next_action import page_ranks
from alignuser.evaluation.rating import rating_errors
from alignuser.evaluation.taste import binary_metrics, sample_taste_items
from alignuser.policy.choice import ChoiceModelPolicy
from alignuser.testing.policies import random_page_states


def _inter(rows):
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]))


@pytest.fixture
def tiny_split():
    # user 0: 3 train, 12 held out; user 1: 2 train, 1 held out; user 2: train only
    train = _inter([(0, 0), (0, 1), (0, 2), (1, 3), (1, 4), (2, 5)])
    valid = _inter([(0, i) for i in range(10, 16)] + [(1, 20)])
    test = _inter([(0, i) for i in range(16, 22)])
    return Split(train, valid, test, name="tiny")


@pytest.mark.parametrize("m", [1, 2, 3, 9])
def test_taste_sample_follows_protocol(tiny_split, m):
    n_items = 200
    s = sample_taste_items(tiny_split, n_items, m, seed=3)
    held = {0: set(range(10, 22)), 1: {20}}
    known = {0: {0, 1, 2} | held[0], 1: {3, 4, 20}}
    assert set(s["user_id"]) == {0, 1}  # user 2 has no held-out item
    for u, g in s.groupby("user_id"):
        n_pos = min(len(held[u]), 20 // (m + 1))
        pos = set(g.loc[g.label == 1, "item_id"])
        neg = set(g.loc[g.label == 0, "item_id"])
        assert len(pos) == n_pos and len(neg) == m * n_pos
        assert pos <= held[u]
        assert not pos & neg
        assert not neg & known[u]
        assert all(0 <= i < n_items for i in neg)
    # deterministic, and the order is shuffled (not all positives first)
    assert s.equals(sample_taste_items(tiny_split, n_items, m, seed=3))
    labels = s[s.user_id == 0]["label"].tolist()
    assert labels != sorted(labels, reverse=True) or m == 9


def test_taste_sample_rejects_bad_m(tiny_split):
    with pytest.raises(ValueError, match="m must be"):
        sample_taste_items(tiny_split, 50, 0)


def test_binary_metrics_hand_computed():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    p = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    out = binary_metrics(y, p)  # tp 2, fp 1, fn 1, tn 4
    assert out["accuracy"] == pytest.approx(6 / 8)
    assert out["precision"] == pytest.approx(2 / 3)
    assert out["recall"] == pytest.approx(2 / 3)
    assert out["f1"] == pytest.approx(2 / 3)
    none = binary_metrics(y, np.zeros(8))
    assert none["precision"] == 0.0 and none["f1"] == 0.0 and none["accuracy"] == 5 / 8


def test_rating_errors_and_page_ranks_hand_computed():
    out = rating_errors(np.array([3.0, 5.0, 1.0]), np.array([4.0, 5.0, 3.0]))
    assert out["rmse"] == pytest.approx(np.sqrt(5 / 3))
    assert out["mae"] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    assert page_ranks(np.array([0.2, 0.9, 0.5]), [False, False, True], rng) == 2
    assert page_ranks(np.array([0.2, 0.9, 0.5]), [True, True, False], rng) == 1
    assert page_ranks(np.array([0.2, 0.9]), [False, False], rng) == 0


def test_choice_scoring_hooks_match_sampling():
    rng = np.random.default_rng(0)
    states = random_page_states(rng, 60)
    pol = ChoiceModelPolicy(b_aff=2.5, r_sigma=0.6)
    p = watch_probabilities(pol, states, rng)
    r = expected_ratings(pol, states, rng)
    draws = [pol.decide(states, np.random.default_rng(s)) for s in range(300)]
    flat = np.array([[d.watch for a in acts for d in a.decisions] for acts in draws])
    assert np.abs(flat.mean(0) - p).max() < 0.12
    assert np.corrcoef(flat.mean(0), p)[0, 1] > 0.95
    # expected rating given watch vs mean of sampled ratings of watched draws
    rat = np.array([[d.rating or 0 for a in acts for d in a.decisions] for acts in draws], float)
    seen = flat.sum(0) >= 30
    emp = rat.sum(0)[seen] / flat.sum(0)[seen]
    assert np.abs(emp - r[seen]).max() < 0.35
    greedy = decide_watch(pol, states, rng, "greedy")
    assert np.array_equal(greedy, p >= 0.5)


def test_popularity_policy_watches_most_popular_half():
    items = tuple(ItemView(i, str(i), popularity=p, mean_rating=3.6) for i, p in
                  enumerate([0.1, 0.9, 0.5, 0.7]))  # fmt: skip
    state = PageState(0, "", 1, items)
    [a] = PopularityPolicy().decide([state], np.random.default_rng(0))
    assert a.watched == (1, 3)
    assert set(a.ratings.values()) == {4}
    with pytest.raises(ValueError, match="mode"):
        decide_watch(PopularityPolicy(), [state], np.random.default_rng(0), "best")


def test_paired_rmse_gap_interval_covers_the_truth_and_zero_only_when_it_should():
    from alignuser.evaluation.rating import paired_rmse_gap

    rng = np.random.default_rng(0)
    true = rng.integers(1, 6, 3000).astype(float)
    noise = rng.normal(0, 1, 3000)
    better, worse = true + 0.9 * noise, true + noise + rng.normal(0, 0.3, 3000)
    gap = paired_rmse_gap(better, worse, true, n_boot=500)
    assert gap["low"] <= gap["gap"] <= gap["high"] < 0 and gap["n"] == 3000
    same = paired_rmse_gap(true + noise, true - noise[::-1], true, n_boot=500)
    assert same["low"] < 0 < same["high"]  # two equally good predictors: no winner
    assert paired_rmse_gap(worse, better, true, n_boot=500)["low"] > 0
