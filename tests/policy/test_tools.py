import json

import numpy as np
import pytest

from alignuser.interfaces import EpisodicMemory, MemoryRecord
from alignuser.policy import ChoiceModelPolicy
from alignuser.policy.tools import (
    StateBatch,
    action_from_dict,
    action_to_dict,
    make_memory_tool,
    make_policy_tool,
    state_from_dict,
    state_to_dict,
)
from alignuser.testing.policies import random_page_states


class FakeMemory:
    """In-test EpisodicMemory: memories about item i are 'similar' to item i only."""

    def __init__(self):
        self.records = []
        self.calls = []

    def add(self, records):
        self.records.extend(records)

    def retrieve(self, agent_ids, query_item_ids, k):
        self.calls.append(("retrieve", len(agent_ids)))
        return [
            [r for r in self.records if r.agent_id == a and r.item_id == q][:k]
            for a, q in zip(agent_ids, query_item_ids)
        ]

    def recent(self, agent_ids, k):
        self.calls.append(("recent", len(agent_ids)))
        return [[r for r in reversed(self.records) if r.agent_id == a][:k] for a in agent_ids]

    def count(self, agent_id=None):
        return sum(agent_id is None or r.agent_id == agent_id for r in self.records)

    def save(self, path):
        pass


def test_policy_tool_matches_decide_in_one_call():
    states = random_page_states(np.random.default_rng(0), 50)
    policy = ChoiceModelPolicy()
    tool = make_policy_tool(policy, np.random.default_rng(3))
    got = tool.invoke({"batch": StateBatch(states)})
    assert got == policy.decide(states, np.random.default_rng(3))


def test_policy_tool_json_callers_get_dicts():
    states = random_page_states(np.random.default_rng(1), 5)
    dicts = json.loads(json.dumps([state_to_dict(s) for s in states]))
    assert [state_from_dict(d) for d in dicts] == states
    tool = make_policy_tool(ChoiceModelPolicy(), np.random.default_rng(3))
    out = tool.invoke({"states": dicts, "return_dicts": True})
    json.dumps(out)
    actions = [action_from_dict(d) for d in out]
    assert actions == ChoiceModelPolicy().decide(states, np.random.default_rng(3))
    assert [action_to_dict(a) for a in actions] == out
    # The schema a language model sees has no opaque handle.
    assert set(tool.args) == {"states", "return_dicts"}


def test_policy_tool_needs_exactly_one_input():
    tool = make_policy_tool(ChoiceModelPolicy(), np.random.default_rng(0))
    with pytest.raises(ValueError, match="exactly one"):
        tool.invoke({})
    with pytest.raises(ValueError, match="exactly one"):
        tool.invoke({"batch": StateBatch([]), "states": []})


def test_state_batch_is_a_cheap_sequence():
    states = random_page_states(np.random.default_rng(0), 3)
    batch = StateBatch(states)
    assert len(batch) == 3 and batch[1] is states[1] and list(batch) == states
    assert repr(batch) == "StateBatch(<3 states>)"


def test_memory_tool_batches_many_pairs():
    memory = FakeMemory()
    assert isinstance(memory, EpisodicMemory)
    memory.add(
        [MemoryRecord(a, i, f"agent {a} item {i}", rating=4.0) for a in range(3) for i in range(4)]
    )
    tool = make_memory_tool(memory)
    found = tool.invoke({"agent_ids": [0, 1, 2, 2], "item_ids": [3, 1, 0, 2], "k": 2})
    assert [[r.text for r in rs] for rs in found] == [
        ["agent 0 item 3"], ["agent 1 item 1"], ["agent 2 item 0"], ["agent 2 item 2"]
    ]  # fmt: skip
    assert memory.calls == [("retrieve", 4)]
    recent = tool.invoke({"agent_ids": [1], "k": 2, "return_dicts": True})
    assert [r["item_id"] for r in recent[0]] == [3, 2]
    json.dumps(recent)
    with pytest.raises(ValueError, match="2 agent_ids but 1 item_ids"):
        tool.invoke({"agent_ids": [0, 1], "item_ids": [0]})
    with pytest.raises(ValueError):
        tool.invoke({"agent_ids": [0], "k": 0})
