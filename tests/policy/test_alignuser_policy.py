"""The learned AlignUSER policy behind the Policy protocol (untrained micro model: mechanics)."""

from __future__ import annotations

import numpy as np
import pytest

from alignuser.policy.alignuser_policy import AlignUserPolicy
from alignuser.testing.policies import PolicyConformance, random_page_states
from alignuser.training.config import TinySpec

_MODEL = None


def _model():
    global _MODEL
    if _MODEL is None:
        from alignuser.env.text import render_state
        from alignuser.policy.model import PolicyModel

        states = random_page_states(np.random.default_rng(0), 40)
        _MODEL = PolicyModel.create(
            "tiny",
            corpus=[render_state(s) for s in states],
            tiny=TinySpec(n_layers=1, d_model=32, n_heads=2, ffn_mult=2, min_frequency=1),
        )
    return _MODEL


class TestAlignUserPolicy(PolicyConformance):
    def make_policy(self):
        return AlignUserPolicy(_model())


class TestAlignUserPolicyGreedy(PolicyConformance):
    def make_policy(self):
        return AlignUserPolicy(_model(), greedy=True, temperature=0.5)


def test_greedy_follows_the_probabilities():
    states = random_page_states(np.random.default_rng(1), 16)
    policy = AlignUserPolicy(_model(), greedy=True)
    scores = policy.scores(states)
    for s, sc, a in zip(states, scores, policy.decide(states, np.random.default_rng(0))):
        assert [d.watch for d in a.decisions] == list(sc.watch >= 0.5)
        for i, d in enumerate(a.decisions):
            if d.watch:
                assert d.rating == int(np.argmax(sc.rating[i][: s.max_rating])) + 1
        assert a.exit == (sc.exit >= 0.5 or not s.items)


def test_temperature_sharpens_sampling():
    from alignuser.policy.alignuser_policy import scores_to_action

    states = random_page_states(np.random.default_rng(2), 24)
    scores = AlignUserPolicy(_model()).scores(states)
    likely = np.concatenate([sc.watch for sc in scores]) >= 0.5

    def agreement(t):
        w = [
            [
                d.watch
                for s, sc in zip(states, scores)
                for d in scores_to_action(s, sc, np.random.default_rng(k), temperature=t).decisions
            ]
            for k in range(20)
        ]
        return (np.array(w) == likely).mean()

    assert agreement(0.05) > agreement(1.0) + 0.05
    with pytest.raises(ValueError):
        AlignUserPolicy(_model(), temperature=0)


def test_satisfaction_heuristic_orders_sessions():
    pol = AlignUserPolicy(_model())
    rng = np.random.default_rng(0)
    good, bad, none = pol.satisfaction(
        [
            {"ratings": [5, 5], "n_watched": 2, "n_shown": 4},
            {"ratings": [1, 2], "n_watched": 2, "n_shown": 8},
            {"ratings": [], "n_watched": 0, "n_shown": 8},
        ],
        rng,
    )
    assert 1 <= none < bad < good <= 10
    # the simulation's session summaries carry mean_rating (and NaN with nothing watched)
    sim = pol.satisfaction(
        [
            {"mean_rating": 5.0, "n_watched": 2, "n_shown": 4},
            {"mean_rating": 1.5, "n_watched": 2, "n_shown": 8},
            {"mean_rating": float("nan"), "n_watched": 0, "n_shown": 8},
        ],
        rng,
    )
    assert sim == [good, bad, none]


def test_registered_and_loadable_from_a_checkpoint(tmp_path):
    from alignuser.policy.checkpoint import save_policy_model
    from alignuser.policy.registry import make_policy

    save_policy_model(_model(), tmp_path / "ck")
    policy = make_policy("alignuser", model=str(tmp_path / "ck"), greedy=True)
    states = random_page_states(np.random.default_rng(3), 6)
    ref = AlignUserPolicy(_model(), greedy=True).decide(states, np.random.default_rng(0))
    assert policy.decide(states, np.random.default_rng(0)) == ref
