"""The slot format, one-pass scoring, and checkpoints of PolicyModel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alignuser.env.text import parse_action
from alignuser.policy.model import filled_action_text, taken_text


def test_slot_positions_hold_slot_tokens_and_decode_to_action(micro_model, small_steps):
    pm = micro_model
    train, _ = small_steps
    steps = train[:5]
    batch = pm.encode([s.state for s in steps], [s.action for s in steps])
    for k, s in enumerate(steps):
        n = len(s.state.items)
        ids = batch.input_ids[k]
        assert batch.n_items[k] == n
        assert (ids[batch.watch_pos[k, :n]] == pm.slot_id).all()
        assert (ids[batch.rating_pos[k, :n]] == pm.slot_id).all()
        assert ids[batch.exit_pos[k]] == pm.slot_id
        assert int((ids == pm.slot_id).sum()) == 2 * n + 1
        # fill the slots with the target labels: the text parses back to the human action
        words = []
        for i in range(n):
            w = int(batch.targets["watch"][k, i])
            r = int(batch.targets["rating"][k, i])
            words.append(f"{i + 1}. WATCH {r + 1}" if w else f"{i + 1}. SKIP")
        words.append("EXIT" if int(batch.targets["exit"][k]) else "NEXT")
        text = "\n".join(words)
        assert text == filled_action_text(s.action)
        assert parse_action(text, s.state.item_ids, s.state.max_rating) == s.action


def test_taken_text_has_no_ratings(small_steps):
    s = next(s for s in small_steps[0] if s.action.watched)
    text = taken_text(s.action)
    assert "WATCH" in text and not any(ch.isdigit() for ln in text.split("\n") for ch in ln[2:])


def test_world_model_segment_is_after_slots_and_supervised(micro_model, small_steps):
    pm = micro_model
    s = small_steps[0][0]
    plain = pm.encode([s.state], [s.action])
    full = pm.encode([s.state], [s.action], results=[s.result])
    n = plain.input_ids.shape[1]
    assert torch.equal(full.input_ids[0, :n], plain.input_ids[0])
    assert (plain.lm_labels == -100).all()
    assert (full.lm_labels[0, :n] == -100).all() and (full.lm_labels[0, n:] != -100).any()


def test_scores_are_valid_distributions(micro_model, small_steps):
    states = [s.state for s in small_steps[1][:20]]
    for st, sc in zip(states, micro_model.score(states)):
        n = len(st.items)
        assert sc.watch.shape == (n,) and ((sc.watch > 0) & (sc.watch < 1)).all()
        assert sc.rating.shape == (n, st.max_rating)
        np.testing.assert_allclose(sc.rating.sum(1), 1.0, atol=1e-5)
        assert 0 < sc.exit < 1


def test_batched_scores_equal_one_by_one(micro_model, small_steps):
    states = [s.state for s in small_steps[1][:12]]
    batched = micro_model.score(states, batch_size=12)
    for st, b in zip(states, batched):
        one = micro_model.score([st], batch_size=1)[0]
        np.testing.assert_allclose(b.watch, one.watch, atol=1e-5)
        np.testing.assert_allclose(b.rating, one.rating, atol=1e-5)
        assert abs(b.exit - one.exit) < 1e-5


def test_checkpoint_round_trip_gives_identical_scores(micro_model, small_steps, tmp_path):
    from alignuser.policy.checkpoint import load_policy_model, save_policy_model

    states = [s.state for s in small_steps[1][:8]]
    save_policy_model(micro_model, tmp_path / "ck", meta={"metrics": {"x": 1}})
    assert not list((tmp_path / "ck").rglob("*.bin")) and not list((tmp_path / "ck").rglob("*.pt"))
    assert (tmp_path / "ck" / "model" / "model.safetensors").is_file()
    back = load_policy_model(tmp_path / "ck")
    assert back.info == micro_model.info
    for a, b in zip(micro_model.score(states), back.score(states)):
        np.testing.assert_array_equal(a.watch, b.watch)
        np.testing.assert_array_equal(a.rating, b.rating)


def test_unknown_base_is_rejected():
    from alignuser.policy.model import PolicyModel

    with pytest.raises(ValueError, match="unknown base"):
        PolicyModel.create("nope")
