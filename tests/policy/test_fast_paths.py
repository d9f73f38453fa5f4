"""The population-speed paths decide exactly as the per-page paths they replace (issue 18).

* :func:`~alignuser.policy.cues.batch_cues` (one numpy pass per batch) gives the same
  float32 cues, bit for bit, as :func:`~alignuser.policy.cues.page_cues` and
  :func:`~alignuser.policy.cues.exit_cues` page by page, on pages with histories of every
  length, unrated and half-star history ratings, another rating scale and empty pages.
* :func:`~alignuser.policy.alignuser_policy.scores_to_action` (inverse-CDF rating draws)
  gives the same actions from the same seed as the ``Generator.choice`` draws it replaced.
* The lean state text (items as tower vectors, numbers as cue inputs): a third of the tokens,
  the cues really reach the LM, and a checkpoint round trip scores the same.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from alignuser.env.page import ItemView, PageState
from alignuser.policy.alignuser_policy import _tempered_action, scores_to_action
from alignuser.policy.cue_batch import batch_cues
from alignuser.policy.cues import exit_cues, page_cues
from alignuser.policy.items import ItemSpace
from alignuser.policy.scoring import PageScores
from alignuser.training.config import TinySpec

MICRO = TinySpec(n_layers=2, d_model=32, n_heads=2, ffn_mult=2, min_frequency=1)
PERSONAS = (
    "A 25-34 year old writer. Loves Drama and Comedy; dislikes Horror. A picky rater who "
    "rates below the crowd.",
    "A viewer. Loves Action.",
)


def _states(n=120, n_items=40, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        top = 10 if k % 7 == 0 else 5
        n_page = 0 if k % 23 == 5 else int(rng.integers(1, 6))
        n_hist = int(rng.choice([0, 1, 2, 3, 9, 25]))
        hist = tuple(int(i) for i in rng.integers(0, n_items + 3, n_hist))  # some outside
        ratings = tuple(
            float("nan") if rng.random() < 0.2 else float(rng.integers(1, 2 * top + 1)) / 2
            for _ in hist
        )
        if k % 11 == 3:
            ratings = ratings[:-1]  # a length mismatch reads as "unrated"
        page = rng.choice(n_items, n_page, replace=False) if n_page else []
        if n_page and hist and hist[0] % n_items not in page:
            page[0] = hist[0] % n_items  # an item seen before: it is no evidence of itself
        views = tuple(
            ItemView(
                int(i), f"t{i}", ("Drama", "Horror")[: 1 + int(i) % 2],
                mean_rating=None if i % 5 == 0 else float(rng.uniform(1, top)),
                popularity=float(rng.random()),
                taste=None if i % 3 == 0 else float(rng.uniform(-1, 1)),
                damped_mean=None if i % 4 == 0 else float(rng.uniform(1, top)),
                count=int(rng.integers(0, 500)),
            )
            for i in page
        )  # fmt: skip
        out.append(
            PageState(
                k, PERSONAS[k % 2], 1 + k % 6, views, max_rating=top,
                rater=None if k % 3 == 0 else float(rng.normal()),
                rater_all=None if k % 4 == 0 else float(rng.normal()),
                history=hist, history_ratings=ratings,
            )
        )  # fmt: skip
    return out


@pytest.mark.parametrize("with_space", [False, True])
def test_batch_cues_equal_the_per_page_cues_bit_for_bit(with_space):
    space = ItemSpace(np.random.default_rng(1).normal(size=(40, 8))) if with_space else None
    states = _states()
    assert any(len(s.history) > 8 for s in states)  # numpy's pairwise sums are in play
    for start in range(0, len(states), 32):
        batch = states[start : start + 32]
        n_max = max(len(s.items) for s in batch)
        items, exits = batch_cues(batch, n_max, space)
        items, exits = items.numpy(), exits.numpy()
        for k, s in enumerate(batch):
            ref = page_cues(s, space)
            np.testing.assert_array_equal(items[k, : len(ref)], ref)
            assert not items[k, len(ref) :].any()  # padding stays zero
            np.testing.assert_array_equal(exits[k], exit_cues(ref))


def test_inverse_cdf_draws_give_the_actions_of_generator_choice():
    states = [s for s in _states(300) if s.items]
    rng = np.random.default_rng(4)
    scores = []
    for s in states:
        r = rng.dirichlet(np.ones(10), len(s.items)).astype(np.float32)
        scores.append(PageScores(rng.random(len(s.items)).astype(np.float32), r, rng.random()))
    fast = np.random.default_rng(9)
    ref = np.random.default_rng(9)
    a = [scores_to_action(s, sc, fast) for s, sc in zip(states, scores)]
    b = [_tempered_action(s, sc, ref, 1.0, False) for s, sc in zip(states, scores)]
    assert a == b
    assert sum(len(x.watched) for x in a) > 100  # ratings were drawn
    assert {r for x in a for r in x.ratings.values()} >= {1, 5, 10}  # the whole scale
    assert fast.random() == ref.random()  # the same number of draws


def _lean_model(space, state_text="lean", seed=0):
    from alignuser.env.text import render_state_compact
    from alignuser.policy.model import PolicyModel

    corpus = [render_state_compact(s) for s in _states(20)] + ["HISTORY: WATCH SKIP NEXT EXIT"]
    return PolicyModel.create(
        "tiny", corpus=corpus * 2, tiny=MICRO, items=space, history=5, seed=seed,
        state_text=state_text,
    )  # fmt: skip


def test_lean_state_text_reads_cues_as_inputs_in_fewer_tokens(tmp_path):
    import torch

    from alignuser.policy.checkpoint import load_policy_model, save_policy_model

    space = ItemSpace(np.random.default_rng(1).normal(size=(40, 8)))
    lean, compact = _lean_model(space), _lean_model(space, "compact")
    states = [s for s in _states(40) if s.items and s.max_rating == 5]
    n_lean = lean.encode(states).attention_mask.sum(1).float().mean()
    n_compact = compact.encode(states).attention_mask.sum(1).float().mean()
    assert n_lean < 0.5 * n_compact
    assert lean.cue_head.has_inputs and not compact.cue_head.has_inputs
    base = lean.score(states)
    # the cue head's own (wide) part is zero in a fresh model: what moves the scores when
    # an item's numbers change is the LM reading them through the cue inputs
    moved = [
        dataclasses.replace(s, items=tuple(dataclasses.replace(v, popularity=1 - v.popularity)
                                           for v in s.items))
        for s in states
    ]  # fmt: skip
    assert not np.allclose(np.concatenate([b.watch for b in base]),
                           np.concatenate([m.watch for m in lean.score(moved)]))  # fmt: skip
    with torch.no_grad():
        lean.cue_head.inputs.weight.zero_()
        lean.cue_head.exit_inputs.weight.zero_()
    blind = lean.score(states), lean.score(moved)
    for a, b in zip(*blind):
        np.testing.assert_allclose(a.watch, b.watch, atol=1e-6)
    save_policy_model(lean, tmp_path / "ck")
    back = load_policy_model(tmp_path / "ck")
    assert back.info["render"] == "lean" and back.cue_head.has_inputs
    for a, b in zip(blind[0], back.score(states)):
        np.testing.assert_array_equal(a.watch, b.watch)


def test_lean_state_text_needs_the_tower_and_the_cue_head():
    from alignuser.policy.model import PolicyModel

    with pytest.raises(ValueError, match="item tower and the cue head"):
        PolicyModel.create("tiny", corpus=["PAGE 1"], tiny=MICRO, state_text="lean")
    with pytest.raises(ValueError, match="'compact' or 'lean'"):
        PolicyModel.create("tiny", corpus=["PAGE 1"], tiny=MICRO, state_text="short")


def test_auto_state_text_is_lean_only_where_it_applies():
    from pydantic import ValidationError

    from alignuser.training.config import TrainConfig
    from alignuser.training.run import state_text

    assert state_text(TrainConfig()) == "lean"  # the default tiny base: tower + cue head
    assert state_text(TrainConfig(item_tower=False)) == "compact"
    assert state_text(TrainConfig(cue_head=False)) == "compact"
    assert state_text(TrainConfig(base="smollm2")) == "compact"
    assert state_text(TrainConfig(), has_items=False) == "compact"
    assert state_text(TrainConfig(state_text="compact")) == "compact"
    with pytest.raises(ValidationError, match="state_text"):
        TrainConfig(state_text="short")
