"""Every built-in policy passes the Policy conformance kit."""

from alignuser.policy import ChatModelPolicy, ChoiceModelPolicy, RandomPolicy
from alignuser.testing.fakes import PageRuleChatModel
from alignuser.testing.policies import PolicyConformance


class TestRandomPolicy(PolicyConformance):
    def make_policy(self):
        return RandomPolicy(watch_prob=0.5, exit_prob=0.3)


class TestChoiceModelPolicy(PolicyConformance):
    def make_policy(self):
        return ChoiceModelPolicy()


class TestChatModelPolicy(PolicyConformance):
    def make_policy(self):
        return ChatModelPolicy(PageRuleChatModel(), max_concurrency=4)


class TestChatModelPolicyFallingBack(PolicyConformance):
    """Even a model that never answers usably yields legal actions (through the fallback)."""

    batch_size = 8

    def make_policy(self):
        return ChatModelPolicy(PageRuleChatModel(always_bad=True), max_retries=1)


class _Reversed:
    """A broken policy: answers for the batch in reverse order."""

    name = "reversed"

    def decide(self, states, rng):
        return RandomPolicy().decide(states, rng)[::-1]


class _Unseeded:
    """A broken policy: ignores the rng it is given."""

    name = "unseeded"

    def decide(self, states, rng):
        import numpy as np

        return RandomPolicy(0.5).decide(states, np.random.default_rng())


def test_kit_catches_broken_policies():
    import pytest

    class KitReversed(PolicyConformance):
        def make_policy(self):
            return _Reversed()

    class KitUnseeded(PolicyConformance):
        def make_policy(self):
            return _Unseeded()

    with pytest.raises((AssertionError, ValueError)):
        KitReversed().test_actions_are_legal()
    with pytest.raises(AssertionError):
        KitReversed().test_batch_order_preserved()
    with pytest.raises(AssertionError):
        KitUnseeded().test_same_seed_same_actions()
