"""Counterfactual alternatives, reflectors, losses and world-model parsing."""

from __future__ import annotations

import numpy as np
import torch

from alignuser.env.actions import ItemDecision, PageAction
from alignuser.policy.counterfactual import alternatives
from alignuser.training.reflectors import ChatModelReflector, TemplateReflector
from alignuser.training.worldmodel import f1, parse_result


def test_alternatives_are_legal_distinct_and_never_human(small_steps):
    rng = np.random.default_rng(0)
    kinds = set()
    for s in small_steps[0][:100]:
        alts = alternatives(s.action, 3, s.state.max_rating, rng)
        assert s.action not in alts and len(set(alts)) == len(alts) == 3
        for a in alts:
            a.validate_for(s.state.item_ids, s.state.max_rating)
            if a.exit != s.action.exit:
                kinds.add("exit")
            elif a.watched != s.action.watched:
                kinds.add("watch_set")
            else:
                kinds.add("rating")
    assert kinds == {"exit", "watch_set", "rating"}


def _item(step):
    alts = alternatives(step.action, 2, 5, np.random.default_rng(1))
    return {
        "state": step.state,
        "human": step.action,
        "alternatives": alts,
        "predicted": ['CHANGES: - "I disliked X based on my review score of 1" END'] * 2,
    }


def test_template_reflection_has_four_parts_and_is_deterministic(small_steps):
    step = next(s for s in small_steps[0] if s.action.watched)
    a = TemplateReflector().reflect([_item(step)])[0]
    assert a == TemplateReflector().reflect([_item(step)])[0]
    for part in ("CONTEXT:", "PERSONA:", "FUTURE:", "LESSON:"):
        assert part in a
    assert "1 disliked; session ends" in a
    assert step.state.items[[d.watch for d in step.action.decisions].index(True)].title in a


def test_compact_reflection_names_only_what_the_compact_state_shows(small_steps):
    """Positions and verdicts, never titles; and its thought reads back as the action."""
    from alignuser.policy.thoughts import said_watched

    for step in [s for s in small_steps[0] if s.action.watched][:20]:
        text = TemplateReflector(compact=True).reflect([_item(step)])[0]
        assert not any(v.title in text for v in step.state.items)
        assert said_watched(text, step.state) == [d.watch for d in step.action.decisions]
        if any(v.similar for v in step.state.items):
            assert "similar " in text


def test_chat_reflector_uses_the_model_once_then_the_cache(small_steps, tmp_path):
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    items = [_item(s) for s in small_steps[0][:3]]
    model = FakeListChatModel(responses=["LESSON: a", "LESSON: b", "LESSON: c"])
    r = ChatModelReflector(model, tmp_path / "cache")
    first = r.reflect(items)
    assert sorted(first) == ["LESSON: a", "LESSON: b", "LESSON: c"] and r.calls == 3
    r2 = ChatModelReflector(FakeListChatModel(responses=["never used"]), tmp_path / "cache")
    assert r2.reflect(items) == first and r2.calls == 0


def test_pairwise_loss_prefers_the_human_action():
    from alignuser.training.losses import action_logp, pairwise_loss

    class B:
        item_mask = torch.tensor([[True, True]])
        targets = {
            "watch": torch.tensor([[1, 0]]),
            "rating": torch.tensor([[4, -1]]),
            "exit": torch.tensor([0]),
        }

    alt = PageAction((ItemDecision(1, False), ItemDecision(2, True, 1)), exit=True)
    good = {
        "watch": torch.tensor([[[-2.0, 2.0], [2.0, -2.0]]]),
        "rating": torch.tensor([[[0, 0, 0, 0, 3.0]] * 2]),
        "exit": torch.tensor([[2.0, -2.0]]),
    }
    bad = {k: -v for k, v in good.items()}
    lg = action_logp(
        good,
        B.item_mask,
        B.targets["watch"][:, None],
        B.targets["rating"][:, None],
        B.targets["exit"][:, None],
    )
    manual = (
        torch.log_softmax(good["watch"][0, 0], -1)[1]
        + torch.log_softmax(good["rating"][0, 0], -1)[4]
        + torch.log_softmax(good["watch"][0, 1], -1)[0]
        + torch.log_softmax(good["exit"][0], -1)[0]
    )
    assert torch.allclose(lg[0, 0], manual)
    assert pairwise_loss(good, B, [[alt]], 5) < 0.01 < pairwise_loss(bad, B, [[alt]], 5)


def test_world_model_result_parsing_and_f1():
    gold = (
        'CHANGES:\n- "I liked Heat (1995) based on my review score of 5"\nPAGE 2: "A (1990)" ; "B"'
    )
    pred = 'CHANGES : - " I liked Heat ( 1995 ) based on my review score of 5 " PAGE 2 : " A ( 1990 ) "'
    gm, gt, ge = parse_result(gold)
    pm, pt, pe = parse_result(pred)
    assert gm == pm and not ge and not pe
    assert f1(pt, gt) == 2 * 1 * 0.5 / 1.5
    assert parse_result("CHANGES: END")[2] and f1(set(), set()) == 1.0


def test_compact_world_model_target_is_what_the_compact_model_is_scored_on(small_steps):
    """Compact-state models learn and are scored on position-based changes (no titles)."""
    from alignuser.training.reflectors import outcome_summary
    from alignuser.training.worldmodel import evaluate_world_model

    train, _ = small_steps
    step = next(s for s in train if any(d.watch for d in s.action.decisions))
    mems, _, ends = parse_result(step.result_compact)
    watched = [i + 1 for i, d in enumerate(step.action.decisions) if d.watch]
    assert sorted(int(m.split()[0]) for m in mems) == watched
    assert ends == step.action.exit
    # decoded word by word (spaces around punctuation) it parses the same
    spaced = " ".join(step.result_compact.replace(":", " : ").replace(";", " ; ").split())
    assert parse_result(spaced) == parse_result(step.result_compact)
    assert outcome_summary("CHANGES: 1 liked 5 ; 2 disliked 1\nPAGE 2: Drama liked 3") == (
        "1 liked, 1 disliked"
    )

    class Perfect:  # a world model that predicts the gold text of its own format
        compact = True

        def result_of(self, s):
            return s.result_compact

        def generate_results(self, states, actions, max_new_tokens=64):
            return [s.result_compact for s in train[: len(states)]]

    m = evaluate_world_model(Perfect(), train[:20])
    assert m["wm_memory_f1"] == m["wm_page_f1"] == m["wm_end_accuracy"] == 1.0


def test_tiny_vocabulary_covers_compact_reflections(small_steps):
    """Every word a compact reflection uses is in a trained tiny base's vocabulary."""
    from alignuser.policy.model import PolicyModel
    from alignuser.training.config import TinySpec
    from alignuser.training.run import TEMPLATE_WORDS, corpus_texts

    train = small_steps[0]
    corpus = [t for s in train for t in corpus_texts(s)] + [TEMPLATE_WORDS] * 2
    pm = PolicyModel.create("tiny", corpus=corpus, tiny=TinySpec(n_layers=1, d_model=32))
    unk = pm.tokenizer.unk_token_id
    for step in [s for s in train if s.action.watched][:20]:
        text = TemplateReflector(compact=True).reflect([_item(step)])[0]
        ids = pm.tokenizer.encode(text, add_special_tokens=False)
        assert unk not in ids, pm.tokenizer.decode(ids)
