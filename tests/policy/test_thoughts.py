"""Free-text rationales ("thoughts") of the learned policy and the consistency check."""

from __future__ import annotations

import numpy as np
import pytest

from alignuser.env.actions import ItemDecision, PageAction
from alignuser.env.page import ItemView, PageState
from alignuser.policy.alignuser_policy import AlignUserPolicy
from alignuser.policy.thoughts import said_exit, said_watched, thought_action_consistency
from alignuser.testing.policies import random_page_states

PAGE = PageState(
    0,
    "A viewer.",
    1,
    (ItemView(1, "Heat (1995)"), ItemView(2, "Up (2009)"), ItemView(3, "Fargo (1996)")),
)


def _action(watch, exit_=False):
    ds = tuple(ItemDecision(it.item_id, w, 4 if w else None) for it, w in zip(PAGE.items, watch))
    return PageAction(ds, exit=exit_)


def test_reads_the_template_reflection_format():
    """The format the template reflector writes (and a word-level decoder's spacing)."""
    t = (
        "CONTEXT: watched Heat (1995) (liked Ronin (1998)), skipped Up (2009) (no similar "
        "memory). PERSONA: Loves Crime. FUTURE: x -> 1 liked. LESSON: Watch what resembles "
        "films I liked. Leave when pages stop fitting."
    )
    assert said_watched(t, PAGE) == [True, False, None]  # Fargo is not named
    assert said_exit(t) is True
    spaced = "CONTEXT : watched Heat ( 1995 ) , Fargo ( 1996 ) . LESSON : Keep browsing ."
    assert said_watched(spaced, PAGE) == [True, None, True] and said_exit(spaced) is False
    assert said_watched("I like films.", PAGE) == [None, None, None]
    assert said_exit("no lesson here") is None


def test_consistency_counts_agreement_among_named_items():
    t = "CONTEXT: watched Heat (1995), skipped Up (2009) and Fargo (1996). LESSON: Keep browsing."
    same = thought_action_consistency([PAGE], [t], [_action([True, False, False])])
    assert same == {"coverage": 1.0, "agreement": 1.0, "exit_agreement": 1.0, "n_pages": 1.0}
    flipped = thought_action_consistency([PAGE], [t], [_action([False, True, False], True)])
    assert flipped["agreement"] == pytest.approx(1 / 3) and flipped["exit_agreement"] == 0.0
    vague = thought_action_consistency([PAGE], ["Nice page."], [_action([True, True, True])])
    assert vague["coverage"] == 0.0 and np.isnan(vague["agreement"])
    with pytest.raises(ValueError, match="thoughts"):
        thought_action_consistency([PAGE], [], [])


@pytest.fixture(scope="module")
def model():
    from alignuser.env.text import render_state, render_state_compact
    from alignuser.policy.model import PolicyModel
    from alignuser.training.config import TinySpec

    states = random_page_states(np.random.default_rng(0), 40)
    corpus = [render_state(s) for s in states] + [render_state_compact(s) for s in states]
    corpus += ["REFLECTION: CONTEXT: watched skipped LESSON: Keep browsing. ACTION:"] * 3
    return PolicyModel.create(
        "tiny",
        corpus=corpus,
        tiny=TinySpec(n_layers=1, d_model=32, n_heads=2, ffn_mult=2, min_frequency=1),
    )


def test_thoughts_come_before_the_decisions_they_condition(model):
    import torch

    states = random_page_states(np.random.default_rng(5), 6)
    thoughts = model.generate_thoughts(states, max_new_tokens=12)
    assert len(thoughts) == 6 and thoughts == model.generate_thoughts(states, max_new_tokens=12)
    assert all("\n" not in t and "ACTION" not in t for t in thoughts)
    after = model.score(states, thoughts=thoughts)
    with torch.inference_mode():  # the same pages read in the block layout, by hand
        out = model.forward(model.encode(states, reflections=thoughts), lm_loss=False)
    for k, (s, sc) in enumerate(zip(states, after)):
        n = len(s.items)
        np.testing.assert_allclose(
            sc.watch, torch.softmax(out["watch"][k, :n], -1)[:, 1].numpy(), atol=1e-6
        )
    inline = model.score(states)
    assert any(not np.allclose(a.watch, b.watch) for a, b in zip(after, inline) if len(a.watch))


def test_policy_with_thoughts_attaches_them_and_keeps_them_through_the_tool(model):
    from alignuser.policy.tools import action_from_dict, action_to_dict

    states = random_page_states(np.random.default_rng(6), 5)
    plain = AlignUserPolicy(model, greedy=True).decide(states, np.random.default_rng(0))
    assert all(a.rationale is None for a in plain)
    policy = AlignUserPolicy(model, greedy=True, thoughts="free", thought_tokens=12)
    acts = policy.decide(states, np.random.default_rng(0))
    assert [a.rationale for a in acts] == model.generate_thoughts(states, max_new_tokens=12)
    from alignuser.policy.thinking import grounded_thoughts

    grounded = AlignUserPolicy(model, greedy=True, thoughts=True, thought_tokens=8)
    got = grounded.decide(states, np.random.default_rng(0))
    assert [a.rationale for a in got] == grounded_thoughts(model, states, max_new_tokens=8)
    with pytest.raises(ValueError, match="thoughts"):
        AlignUserPolicy(model, thoughts="loud")
    for s, a in zip(states, acts):
        a.validate_for(s.item_ids, s.max_rating)
        assert action_from_dict(action_to_dict(a)) == a
    assert "rationale" not in action_to_dict(plain[0])


def test_reads_items_named_by_position():
    """Reflections for compact-state models name items by page position."""
    t = "CONTEXT : watched item 3 ( similar liked ) , skipped item 1 ( x ) ; item 2 ( y ) ."
    assert said_watched(t, PAGE) == [False, False, True]
    assert said_watched("CONTEXT: watched item 12 (x).", PAGE) == [None, None, None]
