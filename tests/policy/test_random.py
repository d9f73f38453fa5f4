import json

import numpy as np
import pytest

from alignuser.policy import POLICIES, RandomPolicy, make_policy
from alignuser.testing.policies import random_page_states


def test_probabilities_are_respected():
    states = random_page_states(np.random.default_rng(0), 500, items=(10, 10))
    actions = RandomPolicy(watch_prob=0.2, exit_prob=0.7).decide(states, np.random.default_rng(1))
    watch = np.mean([d.watch for a in actions for d in a.decisions])
    exits = np.mean([a.exit for a in actions])
    assert abs(watch - 0.2) < 0.03 and abs(exits - 0.7) < 0.06


def test_ratings_cover_the_scale():
    states = random_page_states(np.random.default_rng(0), 200, max_ratings=(10,))
    actions = RandomPolicy(watch_prob=1.0).decide(states, np.random.default_rng(2))
    ratings = {r for a in actions for r in a.ratings.values()}
    assert ratings == set(range(1, 11))


def test_invalid_probability_names_the_key():
    with pytest.raises(ValueError, match="exit_prob"):
        RandomPolicy(exit_prob=1.5)


def test_registry_and_state():
    assert {"random", "choice", "chat"} <= set(POLICIES.names())
    policy = make_policy("RANDOM", watch_prob=0.9)
    other = RandomPolicy()
    other.set_state(json.loads(json.dumps(policy.get_state())))
    assert other.watch_prob == 0.9
    with pytest.raises(KeyError, match="known: "):
        make_policy("nope")
    with pytest.raises(TypeError, match="'random'"):
        make_policy("random", bogus=1)


def test_lazy_builtin_is_imported_on_demand(tmp_path, monkeypatch):
    import sys

    (tmp_path / "lazy_policy_mod.py").write_text(
        "from alignuser.policy import RandomPolicy\n"
        "class Lazy(RandomPolicy):\n    name = 'lazytest'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(POLICIES._lazy, "lazytest", "lazy_policy_mod:Lazy")
    try:
        assert "lazytest" in POLICIES.names() and "lazy_policy_mod" not in sys.modules
        assert make_policy("lazytest", watch_prob=0.1).name == "lazytest"
        assert "lazy_policy_mod" in sys.modules  # imported on first use
    finally:
        POLICIES._items.pop("lazytest", None)
        sys.modules.pop("lazy_policy_mod", None)
