"""The lean inference forward scores exactly what the ``transformers`` forward scores."""

from __future__ import annotations

import numpy as np
import pytest

from alignuser.env.page import ItemView, PageState
from alignuser.policy.items import ItemSpace
from alignuser.training.config import TinySpec

SPEC = TinySpec(n_layers=3, d_model=32, n_heads=4, ffn_mult=2, min_frequency=1)


def _states(n=40, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        m = int(rng.integers(1, 5))  # pages of 1..4 items: lengths differ, padding differs
        items = tuple(
            ItemView(int(i), f"t{i}", ("Drama",) if i % 2 else ("Comedy", "War"),
                     mean_rating=float(rng.uniform(1, 5)), popularity=float(rng.uniform()))
            for i in rng.choice(20, m, replace=False)
        )  # fmt: skip
        h = int(rng.integers(0, 8))
        out.append(PageState(k, "A viewer. Loves Drama." + " Really." * int(rng.integers(3)),
                             int(rng.integers(1, 4)), items, max_rating=5,
                             history=tuple(int(x) for x in rng.choice(20, h, replace=False)),
                             history_ratings=tuple(float(x) for x in rng.integers(1, 6, h))))  # fmt: skip
    return out


@pytest.fixture(scope="module")
def model():
    import torch

    from alignuser.env.text import render_state_compact
    from alignuser.policy.model import PolicyModel

    corpus = [render_state_compact(s) for s in _states(10)]
    corpus.append("HISTORY: WATCH SKIP NEXT EXIT END 1 2 3 4 5")
    space = ItemSpace(np.random.default_rng(1).normal(size=(20, 6)))
    pm = PolicyModel.create("tiny", corpus=corpus, tiny=SPEC, items=space, history=5, seed=0)
    with torch.no_grad():  # untrained weights with some spread, so that differences show
        for p in pm.lm.parameters():
            p.add_(torch.randn_like(p) * 0.2)
        pm.item_tower.ids.weight.normal_(0.0, 1.0)
    return pm


def _scores(pm, states, lean, batch_size=16):
    pm.lean = lean
    try:
        return pm.score(states, batch_size=batch_size)
    finally:
        pm.lean = True


def test_lean_and_transformers_forward_give_the_same_scores(model):
    states = _states()
    ref = _scores(model, states, lean=False)
    got = _scores(model, states, lean=True)
    assert model._lean is not None  # the lean path did run
    for a, b in zip(ref, got):
        np.testing.assert_allclose(a.watch, b.watch, atol=1e-5)
        np.testing.assert_allclose(a.rating, b.rating, atol=1e-5)
        assert abs(a.exit - b.exit) < 1e-5
    assert np.std([s.watch[0] for s in got]) > 1e-3  # not a constant model


def test_the_policys_actions_are_unchanged_by_the_lean_forward(model):
    from alignuser.policy.alignuser_policy import AlignUserPolicy

    states = _states(60, seed=2)
    pol = AlignUserPolicy(model, batch_size=8)
    model.lean = False
    slow = pol.decide(states, np.random.default_rng(5))
    model.lean = True
    fast = pol.decide(states, np.random.default_rng(5))
    assert slow == fast
    assert any(a.watched for a in fast) and not all(len(a.watched) == len(s.items)
                                                    for a, s in zip(fast, states))  # fmt: skip


def test_the_lean_forward_follows_weight_updates(model):
    import torch

    states = _states(8)
    before = _scores(model, states, lean=True)
    w = model.lm.model.layers[-1].mlp.down_proj.weight
    with torch.no_grad():
        w.mul_(1.5)  # in place, as an optimizer step
    try:
        after = _scores(model, states, lean=True)
        ref = _scores(model, states, lean=False)
    finally:
        with torch.no_grad():
            w.div_(1.5)
    assert not np.allclose(before[0].watch, after[0].watch)
    np.testing.assert_allclose(after[0].watch, ref[0].watch, atol=1e-5)


def test_lora_models_keep_the_transformers_forward(model):
    from alignuser.policy.bases import wrap_lora
    from alignuser.policy.fastlm import lean_body

    assert lean_body(model.lm) is not None
    import copy

    wrapped = wrap_lora(copy.deepcopy(model.lm), {"r": 2, "target_modules": ["q_proj"]}, seed=0)
    assert lean_body(wrapped) is None


def test_the_token_cache_gives_the_same_scores_when_it_fills_up(model, monkeypatch):
    import alignuser.policy.encoding as encoding

    states = _states(50, seed=4)
    model._text_cache.clear()
    ref = _scores(model, states, lean=True)
    monkeypatch.setattr(encoding, "_TEXT_CACHE_SIZE", 7)  # fills up within every batch
    model._text_cache.clear()
    for _ in range(2):  # the second pass starts from a full cache
        got = _scores(model, states, lean=True, batch_size=4)
        for a, b in zip(ref, got):
            np.testing.assert_allclose(a.watch, b.watch, atol=1e-6)
    assert len(model._text_cache) <= 4 * 5  # cleared, never grown past a batch's texts
