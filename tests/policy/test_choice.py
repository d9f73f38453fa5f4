import json

import numpy as np
import pytest

from alignuser.env.actions import ItemDecision, PageAction
from alignuser.env.page import ItemView, PageState
from alignuser.policy import ChoiceModelPolicy, ChoiceParams, make_policy
from alignuser.policy.choice import read_features, summary_stats
from alignuser.testing.policies import random_page_states

TRUE = dict(
    b0=-0.5, b_aff=1.2, b_pop=2.0, b_mean=0.3, b_mem=2.5, b_pos=-1.0, b_act=2.0,
    e0=-1.0, e_page=0.2, e_pat=2.0, e_sat=2.0,
    r0=0.3, r_aff=1.2, r_mean=0.5, r_mem=0.8, r_bias=0.7, r_sigma=0.6,
)  # fmt: skip


@pytest.fixture(scope="module")
def logged():
    rng = np.random.default_rng(0)
    states = random_page_states(rng, 3000, max_ratings=(5, 10))
    actions = ChoiceModelPolicy(**TRUE).decide(states, rng)
    return states, actions


def test_fit_recovers_known_parameters(logged):
    states, actions = logged
    student = ChoiceModelPolicy()
    before = student.log_likelihood(states, actions)
    student.fit(states, actions)
    after = student.log_likelihood(states, actions)
    got = np.array([getattr(student.params, k) for k in TRUE])
    want = np.array(list(TRUE.values()))
    assert np.corrcoef(got, want)[0, 1] > 0.98
    assert np.all(np.sign(got) == np.sign(want))
    assert np.max(np.abs(got - want)) < 0.5, dict(zip(TRUE, got.round(2)))
    for part in ("watch", "exit", "rating"):
        assert after[part] > before[part] + 0.01, (part, before, after)
    # The fitted model is about as good as the truth on the data it came from.
    truth = ChoiceModelPolicy(**TRUE).log_likelihood(states, actions)
    assert sum(after.values()) >= sum(truth.values()) - 1e-3


def test_fit_rejects_illegal_or_mismatched_actions(logged):
    states, actions = logged
    with pytest.raises(ValueError, match="3000 states but 2 actions"):
        ChoiceModelPolicy().fit(states, actions[:2])
    bad = [PageAction((ItemDecision(-5, False),), exit=True), *actions[1:]]
    with pytest.raises(ValueError, match="action 0"):
        ChoiceModelPolicy().fit(states, bad)


def _page(genres, similar=(), features=None, mean=3.0):
    items = tuple(ItemView(i, f"M{i}", genres, None, mean, 0.5, similar) for i in range(200))
    return PageState(0, "p", 1, items, features=features or {})


def test_taste_memory_and_bias_move_decisions():
    policy, rng = ChoiceModelPolicy(), np.random.default_rng(1)
    feats = {"liked_genres": ("Drama",), "disliked_genres": ("Horror",), "rating_bias": 0.0}

    def watch_rate(state):
        return len(policy.decide([state], rng)[0].watched) / len(state.items)

    assert (
        watch_rate(_page(("Drama",), features=feats))
        > watch_rate(_page(("Horror",), features=feats)) + 0.3
    )
    liked = ("I liked X based on my review score of 5",)
    disliked = ("I disliked X based on my review score of 1",)
    assert watch_rate(_page((), liked)) > watch_rate(_page((), disliked)) + 0.3
    hi = policy.decide([_page(("Drama",), features={**feats, "rating_bias": 1.5})], rng)[0]
    lo = policy.decide([_page(("Drama",), features={**feats, "rating_bias": -1.5})], rng)[0]
    assert np.mean(list(hi.ratings.values())) > np.mean(list(lo.ratings.values())) + 1.5


def test_patience_lowers_exit_rate():
    policy, rng = ChoiceModelPolicy(), np.random.default_rng(2)
    base = random_page_states(np.random.default_rng(3), 400)

    def exit_rate(patience):
        states = [
            PageState(s.agent_id, s.persona, s.page, s.items, features={"patience": patience})
            for s in base
        ]
        return np.mean([a.exit for a in policy.decide(states, rng)])

    assert exit_rate(0.0) > exit_rate(1.0) + 0.1


def test_state_round_trips_through_json():
    policy = ChoiceModelPolicy(b_pop=2.5)
    state = json.loads(json.dumps(policy.get_state()))
    other = ChoiceModelPolicy()
    other.set_state(state)
    assert other.params == policy.params
    states = random_page_states(np.random.default_rng(4), 20)
    assert other.decide(states, np.random.default_rng(5)) == policy.decide(
        states, np.random.default_rng(5)
    )


def test_params_are_typed():
    with pytest.raises(ValueError):
        ChoiceParams(b_unknown=1.0)
    with pytest.raises(ValueError):
        ChoiceModelPolicy(b0="not a number")
    assert ChoiceModelPolicy({"b0": 0.5}).params.b0 == 0.5
    assert make_policy("choice", b_pos=-2.0).params.b_pos == -2.0


def test_neutral_features_when_absent():
    f = read_features(PageState(0, "", 1, ()))
    assert f["patience"] == 0.5 and f["taste"] == {} and f["liked_genres"] == ()


def test_satisfaction_rises_with_good_sessions():
    policy, rng = ChoiceModelPolicy(), np.random.default_rng(6)
    good = [{"shown": 20, "watched": 15, "ratings": [5] * 15, "max_rating": 5}] * 200
    bad = [{"shown": 20, "watched": 1, "ratings": [1], "max_rating": 5}] * 200
    assert np.mean(policy.satisfaction(good, rng)) > np.mean(policy.satisfaction(bad, rng)) + 3
    assert summary_stats({"n_shown": 10, "n_watched": 5, "mean_rating": 8, "max_rating": 10}) == (
        pytest.approx(5 / 9),
        0.5,
    )
