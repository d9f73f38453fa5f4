"""``policy.checkpoint: auto``: a policy trained on the scenario's data once, then reused."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from alignuser.errors import ScenarioError
from alignuser.scenario import Scenario
from alignuser.training import auto

TRAIN = {
    "tiny": {"n_layers": 1, "d_model": 32, "n_heads": 2, "min_frequency": 1},
    "wm_epochs": 1, "align_epochs": 1, "max_steps_per_stage": 3, "k_alternatives": 1,
    "wm_eval_steps": 2, "max_valid_steps": 8, "max_pages_per_user": 2, "eval_every": 100,
}  # fmt: skip


def scenario(tmp_path, **train) -> Scenario:
    return Scenario.model_validate(
        {
            "name": "auto",
            "seed": 1,
            "dataset": {"source": "synthetic",
                        "synthetic": {"n_users": 20, "n_items": 30, "sessions_per_user": 2}},
            "split": {"method": "random", "test_fraction": 0.2},
            "population": {"n_agents": 8},
            "memory": {"backend": "inmemory"},
            "policy": {"name": "alignuser", "checkpoint": "auto"},
            "recommenders": [{"name": "popular"}],
            "session": {"items_per_page": 4, "max_pages": 2},
            "train": {**TRAIN, **train},
            "output": {"dir": str(tmp_path), "report": False},
        }
    )  # fmt: skip


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNUSER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_run_trains_the_policy_once_and_reuses_it(tmp_path, cache, monkeypatch):
    from alignuser.simulation.outputs import read_events, read_manifest
    from alignuser.simulation.runner import run

    s = scenario(tmp_path)
    first = run(s, tmp_path / "r1")
    m = read_manifest(first)
    assert m["policy"] == "alignuser"
    ckpt = m["policy_checkpoint"]
    assert ckpt.startswith(str(cache)) and ckpt.endswith("policy")
    assert not list(cache.glob("policies/*.tmp-*")), "the temporary folder was renamed"

    import alignuser.training.trainer as trainer

    def refuse(*a, **k):
        raise AssertionError("trained again instead of reusing the cached policy")

    monkeypatch.setattr(trainer, "train", refuse)
    second = run(s, tmp_path / "r2")
    assert read_manifest(second)["policy_checkpoint"] == ckpt
    cols = ["agent_id", "step", "item_id", "watched", "rating"]
    pd.testing.assert_frame_equal(read_events(first)[cols], read_events(second)[cols])


def test_the_key_follows_what_the_weights_depend_on(tmp_path):
    base = auto.policy_key(scenario(tmp_path))
    assert auto.policy_key(scenario(tmp_path)) == base
    assert auto.policy_key(scenario(tmp_path, lr=1e-3)) != base
    other_seed = scenario(tmp_path)
    other_seed.seed = 2
    assert auto.policy_key(other_seed) != base
    other_split = scenario(tmp_path)
    other_split.split.test_fraction = 0.3
    assert auto.policy_key(other_split) != base


def test_an_interrupted_training_leaves_no_policy_behind(tmp_path, cache, monkeypatch):
    import alignuser.training.trainer as trainer

    def crash(config, data, out, interactions=None):
        (out / "policy").mkdir(parents=True)
        (out / "policy" / "policy.json").write_text("{}")  # half written
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "train", crash)
    s = scenario(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        auto.cached_policy(s)
    assert not any(cache.glob("policies/*")), "nothing is left to be taken for a policy"


def test_training_typos_are_named(tmp_path):
    # the scenario's own validation names them (train is a TrainConfig)
    with pytest.raises(ValidationError, match="train.use_wn"):
        scenario(tmp_path, use_wn=False)
    s = scenario(tmp_path)
    s.train.lr = -1.0  # past validation: the training run checks again
    with pytest.raises(ScenarioError, match="train.lr"):
        auto.train_config(s)


def test_preflight_checks_auto_and_the_train_section(tmp_path):
    from alignuser.preflight import check_scenario

    s = scenario(tmp_path)
    check_scenario(s)  # auto is a valid checkpoint for the learned policy
    s.policy.name = "choice"
    with pytest.raises(ScenarioError, match="policy.checkpoint: policy 'choice' takes no"):
        check_scenario(s)
    bad = scenario(tmp_path)
    bad.train.batch_size = 0  # past the scenario's validation: preflight checks again
    with pytest.raises(ScenarioError, match="train.batch_size"):
        check_scenario(bad)
