"""Grounded thoughts (issue 15): the thought is decoded in the reflection grammar, item by item.

* every page item is named once, with its own evidence, and nothing else is named; the
  persona is quoted; the future cites the world model's predictions; the lesson says leave
  or stay;
* each verdict is the likelier of the two words the grammar allows
  (:meth:`reflection_logp`, checked against the LM's own logits);
* a model with an item tower writes the thought seeing the page (view slots in the block
  layout), and a checkpoint saved before them still reads the old layout.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from alignuser.policy.reflection import TemplateReflector
from alignuser.policy.thinking import _action, grounded_thoughts
from alignuser.policy.thoughts import said_exit, said_watched
from alignuser.testing.policies import random_page_states
from alignuser.training.config import TinySpec


@pytest.fixture(scope="module")
def model():
    from alignuser.env.text import render_state_compact
    from alignuser.policy.model import PolicyModel

    states = random_page_states(np.random.default_rng(0), 40)
    refl = TemplateReflector(compact=True)
    corpus = [render_state_compact(s) for s in states]
    corpus += [refl.reflect([{"state": s, "human": _action(s, [0], True)}])[0] for s in states]
    corpus += ["REFLECTION: CONTEXT: watched skipped LESSON: Keep browsing. ACTION: -> liked"]
    return PolicyModel.create(
        "tiny",
        corpus=corpus,
        tiny=TinySpec(n_layers=1, d_model=32, n_heads=2, ffn_mult=2, min_frequency=1),
        seed=3,
    )


def test_a_grounded_thought_names_each_item_once_with_its_evidence(model):
    states = [s for s in random_page_states(np.random.default_rng(4), 8) if s.items]
    thoughts = grounded_thoughts(model, states, max_new_tokens=8)
    assert thoughts == grounded_thoughts(model, states, max_new_tokens=8)  # deterministic
    taste = TemplateReflector(compact=True)
    for st, th in zip(states, thoughts):
        said = said_watched(th, st)
        assert None not in said  # coverage 1: every item has a verdict
        ctx, _, rest = th.partition(". PERSONA: ")
        parts = ctx.removeprefix("CONTEXT: ").split("; ")
        assert [p.split(" (")[0] for p in parts] == [
            f"item {j + 1} {'watched' if w else 'skipped'}" for j, w in enumerate(said)
        ]  # page order, each item once, nothing else
        want = taste.reflect([{"state": st, "human": _action(st, [], False)}])[0]
        assert [p.split(" (", 1)[1] for p in parts] == [
            p.split(" (", 1)[1] for p in want.split(". PERSONA:")[0].split("; ")
        ]  # the items' own evidence
        assert rest.split(". FUTURE: ")[0] == want.split("PERSONA: ")[1].split(". FUTURE")[0]
        assert " -> " in rest and said_exit(th) is not None


def test_each_verdict_is_the_likelier_word(model):
    st = next(s for s in random_page_states(np.random.default_rng(7), 8) if len(s.items) >= 2)
    th = grounded_thoughts(model, [st], max_new_tokens=8)[0]
    first = said_watched(th, st)[0]
    head = dataclasses.replace(st, items=st.items[:1])
    refl = TemplateReflector(compact=True)
    w, s = (
        refl.reflect([{"state": head, "human": _action(head, ws, False)}])[0].split(". PERSONA")[0]
        for ws in ([0], [])
    )
    lw, ls = model.reflection_logp([st, st], [w, s])
    assert first == (lw > ls)
    rng_thoughts = {grounded_thoughts(model, [st], 8, rng=np.random.default_rng(k))[0]
                    for k in range(12)}  # fmt: skip
    assert len(rng_thoughts) > 1  # sampled thoughts vary with the seed


def test_greedy_thoughts_draw_no_choice_at_random(model, monkeypatch):
    import alignuser.policy.thinking as thinking

    seen = []
    pick = thinking._pick
    monkeypatch.setattr(thinking, "_pick", lambda m, r: seen.append(r) or pick(m, r))
    states = [s for s in random_page_states(np.random.default_rng(3), 4) if s.items]
    grounded_thoughts(model, states, max_new_tokens=4)
    assert seen and all(r is None for r in seen)  # verdicts and leave / stay alike
    seen.clear()
    rng = np.random.default_rng(0)
    grounded_thoughts(model, states, max_new_tokens=4, rng=rng)
    assert seen and all(r is rng for r in seen)


def test_reflection_logp_is_the_lm_log_likelihood_of_the_text(model):
    import torch

    st = random_page_states(np.random.default_rng(9), 1)[0]
    text = "CONTEXT: item 1 watched (similar liked)"
    lp = model.reflection_logp([st], [text])[0]
    batch = model.encode([st], reflections=[text])
    with torch.inference_mode():
        logits = model.lm(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    lab = batch.lm_labels[0, 1:]
    keep = (lab != -100).nonzero()[:, 0]
    n_nl = len(model._piece("\n"))
    keep = keep[: len(keep) - n_nl] if n_nl else keep
    want = torch.log_softmax(logits[0, :-1][keep], -1).gather(1, lab[keep][:, None]).sum()
    assert lp == pytest.approx(float(want), abs=1e-4)
    assert model.reflection_logp([st], [text + "; item 2 skipped (x)"])[0] < lp


def test_tower_models_write_thoughts_seeing_the_page_and_old_ones_keep_their_layout():
    from alignuser.env.text import render_state_compact
    from alignuser.policy.items import ItemSpace
    from alignuser.policy.model import PolicyModel

    states = [s for s in random_page_states(np.random.default_rng(2), 12) if s.items]
    space = ItemSpace(np.random.default_rng(1).normal(size=(500, 8)))
    corpus = [render_state_compact(s) for s in states] * 2 + ["HISTORY: WATCH SKIP NEXT EXIT"]
    pm = PolicyModel.create("tiny", corpus=corpus, tiny=TinySpec(n_layers=1, d_model=32,
                            n_heads=2, min_frequency=1), items=space, history=3, cues=True,
                            state_text="lean")  # fmt: skip
    assert pm.block_view and pm.info["block_view"]
    st = states[0]
    other = dataclasses.replace(st, items=tuple(
        dataclasses.replace(v, item_id=(v.item_id + 7) % 500) for v in st.items))  # fmt: skip
    text = ["CONTEXT: item 1 watched (no similar memory)"] * 2
    a, b = pm.reflection_logp([st, other], text)
    assert a != pytest.approx(b)  # the thought reads the page's items
    batch = pm.encode([st], reflections=text[:1])
    n = len(st.items)
    view = batch.view_pos[0, :n]
    assert (batch.input_ids[0, view.reshape(-1)] == pm.slot_id).all()
    marked = {int(p) for p in batch.item_marks[:, 1]}
    assert set(view.reshape(-1).tolist()) <= marked
    pm.block_view = False  # a checkpoint saved before the view slots
    old = pm.encode([st], reflections=text[:1])
    assert old.view_pos is None and old.input_ids.shape[1] < batch.input_ids.shape[1]
    assert pm.encode([st]).view_pos is None  # the inline layout has none
