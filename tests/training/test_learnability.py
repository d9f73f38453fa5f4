"""The learner reads the state: a known rule written into the labels is recovered.

Sanity check of the whole path (state text -> tokenizer -> slots -> BC loss -> scores): the
real logs of the small synthetic world are relabelled so that an item is watched exactly when
its taste cue is positive (rating 4), then a micro model is trained for two short epochs.
Held-out pages must be ranked almost perfectly, by the LM alone (no cue head, which would
read the taste cue as a number). The stochastic true choice rule is the subject of the
recovery test in ``test_trainer.py``.
"""

from __future__ import annotations

import dataclasses

from alignuser.env.actions import ItemDecision, PageAction
from alignuser.training.config import TinySpec, TrainConfig
from alignuser.training.evaluate import auc
from alignuser.training.trainer import train_on_steps


def _cfg(**kw) -> TrainConfig:
    """Behaviour cloning only, a micro base, three short epochs."""
    base = dict(
        tiny=TinySpec(n_layers=2, d_model=48, n_heads=2, ffn_mult=2, min_frequency=1),
        align_epochs=3,
        batch_size=16,
        use_wm=False,
        use_cf=False,
        eval_every=1000,
        save_every=1000,
        max_valid_steps=60,
    )
    return TrainConfig(**{**base, **kw})


def _relabel(step):
    decisions = tuple(
        ItemDecision(d.item_id, (it.taste or 0) > 0, 4 if (it.taste or 0) > 0 else None)
        for it, d in zip(step.state.items, step.action.decisions)
    )
    return dataclasses.replace(step, action=PageAction(decisions, step.action.exit))


def test_micro_model_learns_a_rule_written_in_the_state(small_steps, tmp_path):
    train, valid = small_steps
    train = [_relabel(s) for s in train[:200]]
    valid = [_relabel(s) for s in valid[:60]]
    labels = [d.watch for s in valid for d in s.action.decisions]
    assert 0.1 < sum(labels) / len(labels) < 0.9  # both classes on held-out pages
    cfg = _cfg(cue_head=False)  # the LM itself must read the cue from the text
    m = train_on_steps(cfg, train, valid, tmp_path / "rule")
    assert m["valid_watch_auc"] > 0.95, m["valid_watch_auc"]
    # the rule is in the text, not in item identity: scores track the cue on held-out pages
    from alignuser.policy.checkpoint import load_policy_model

    pm = load_policy_model(tmp_path / "rule" / "policy")
    pw = [p for sc in pm.score([s.state for s in valid]) for p in sc.watch]
    cue = [it.taste or 0 for s in valid for it in s.state.items]
    assert auc(pw, [c > 0 for c in cue]) > 0.95


def _relabel_by_identity(step):
    """Watched exactly when the item id is even: visible to item identity only."""
    decisions = tuple(
        ItemDecision(d.item_id, d.item_id % 2 == 0, 4 if d.item_id % 2 == 0 else None)
        for d in step.action.decisions
    )
    return dataclasses.replace(step, action=PageAction(decisions, step.action.exit))


def test_the_lm_part_carries_item_identity_beside_the_cue_head(small_dataset, tmp_path):
    """With the cue head on, the LM's own part of the watch logit must still learn what only
    item identity tells (it fails if the LM part collapses to chance)."""
    from alignuser.policy.checkpoint import load_policy_model
    from alignuser.training.prepare import prepare_training

    cfg = _cfg()
    train, valid, space = prepare_training(cfg, small_dataset)
    train = [_relabel_by_identity(s) for s in train[:200]]
    valid = [_relabel_by_identity(s) for s in valid[:60]]
    train_on_steps(cfg, train, valid, tmp_path / "ids", items=space)
    pm = load_policy_model(tmp_path / "ids" / "policy")
    assert pm.item_tower is not None and pm.cue_head is not None
    parts = pm.watch_parts([s.state for s in valid])
    y = [d.watch for s in valid for d in s.action.decisions]
    assert auc(parts["lm"], y) > 0.8, auc(parts["lm"], y)
    assert auc(parts["cues"], y) < 0.7  # the cues cannot see parity: the LM carries it


def test_the_world_model_is_scored_on_the_final_checkpoint(small_dataset, tmp_path):
    """Next-state F1 and next consumed items (beside popularity) of the checkpoint a user
    gets, not only of the stage-1 snapshot."""
    from alignuser.training.prepare import prepare_training

    cfg = _cfg(use_wm=True, wm_epochs=1, align_epochs=1, max_steps_per_stage=2,
               wm_eval_steps=4, wm_max_new_tokens=16)  # fmt: skip
    train, valid, space = prepare_training(cfg, small_dataset)
    m = train_on_steps(cfg, train[:64], valid[:30], tmp_path / "wm", items=space)
    assert {"wm_memory_f1", "final_wm_memory_f1", "final_wm_end_majority"} <= set(m)
    assert m["final_next_item_n"] > 0
    for k in ("final_next_item_hit@10", "final_next_item_hit@10_popularity"):
        assert 0.0 <= m[k] <= 1.0
