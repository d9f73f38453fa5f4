"""System selection with the learned policy trained per world on that world's train logs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

MICRO = {
    "base": "tiny",
    "tiny": {"n_layers": 1, "d_model": 32, "n_heads": 2},
    "wm_epochs": 0,
    "align_epochs": 1,
    "use_wm": False,
    "k_alternatives": 1,
    "max_steps_per_stage": 4,
    "eval_every": 10_000,
    "max_valid_steps": 64,
    "batch_size": 16,
}
WORLD = {"n_users": 40, "n_items": 60}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from alignuser.evaluation.suite import run_selection

    tmp = tmp_path_factory.mktemp("selection-train")
    cfg = tmp / "scenario.yaml"
    cfg.write_text(yaml.safe_dump({"name": "micro", "seed": 7, "train": MICRO}))
    out = run_selection(
        worlds=1,
        policies=("random",),
        train_config=str(cfg),
        train_dir=tmp / "runs",
        **WORLD,
    )
    return out, tmp / "runs" / "world_0"


def test_every_recommender_gets_a_simulated_alignuser_score(trained):
    from alignuser.evaluation.selection import DEFAULT_RECOMMENDERS

    out, _ = trained
    raw = out["scores"]
    assert list(raw["recommender"]) == list(DEFAULT_RECOMMENDERS)
    assert len(DEFAULT_RECOMMENDERS) >= 5
    sim = raw["sim_alignuser"].to_numpy(dtype=float)
    assert np.isfinite(sim).all() and ((sim >= 0) & (sim <= 1)).all()
    assert "sim_alignuser" in set(out["agreement"]["method"])
    side = out["alignuser_training"]
    assert list(side["world_seed"]) == [0]
    assert float(side["alignuser_train_s"].iloc[0]) > 0
    auc = float(side["alignuser_valid_watch_auc"].iloc[0])
    assert 0.0 <= auc <= 1.0


def test_training_sees_only_pre_cut_logs(trained):
    from alignuser.evaluation.selection.worlds import world_logs, world_train_config
    from alignuser.training.prepare import prepare_steps

    out, run_dir = trained
    wl = world_logs(0, **WORLD)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    data = metrics["data"]
    imp = wl.dataset.impressions.df
    n_pre = int((imp["timestamp"] < wl.cut).sum())
    # one step per logged page: training saw pre-cut pages only, never the later ones
    n_seen = data["n_train_steps"] + data["n_valid_steps"]
    assert 0 < n_seen <= n_pre < len(imp)
    assert data["n_train_steps"] == int(out["scores"]["alignuser_n_train_steps"].iloc[0])
    assert int(wl.train_data.impressions.df["timestamp"].max()) < wl.cut
    assert int(wl.train_data.interactions.df["timestamp"].max()) <= wl.cut
    assert wl.split.test.df["timestamp"].min() == wl.cut
    train, valid = prepare_steps(
        world_train_config(MICRO, 0), wl.train_data, interactions=wl.split.train
    )
    assert len(train) == data["n_train_steps"] and len(valid) == data["n_valid_steps"]
    assert max(s.timestamp for s in [*train, *valid]) < wl.cut


def test_config_seed_is_the_world_seed(trained):
    _, run_dir = trained
    meta = json.loads((run_dir / "policy" / "policy.json").read_text())
    assert meta["config"]["seed"] == 0


def test_cli_bad_train_key_exits_2_naming_file_and_key(tmp_path):
    from typer.testing import CliRunner

    from alignuser.evaluation.cli import eval_app

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "x", "train": {**MICRO, "align_epoch": 2}}))
    res = CliRunner().invoke(
        eval_app,
        ["selection", "--worlds", "1", "--alignuser-train", str(bad), "--out", str(tmp_path)],
    )
    text = res.output + (getattr(res, "stderr", "") or "")
    assert res.exit_code == 2
    assert "train.align_epoch" in text and "bad.yaml" in text
    assert not (tmp_path / "selection.json").exists()


def test_bare_mapping_and_nested_key_errors(tmp_path):
    from alignuser.evaluation.suite import read_train_config

    bare = tmp_path / "bare.yaml"
    bare.write_text(yaml.safe_dump(MICRO))
    assert read_train_config(bare).tiny.d_model == 32
    nested = tmp_path / "nested.yaml"
    nested.write_text(yaml.safe_dump({"train": {"tiny": {"n_layrs": 1}}}))
    with pytest.raises(ValueError, match=r"nested\.yaml.*train\.tiny\.n_layrs"):
        read_train_config(nested)
    no_section = tmp_path / "scenario.yaml"
    no_section.write_text(yaml.safe_dump({"name": "x", "dataset": {"source": "synthetic"}}))
    with pytest.raises(ValueError, match="no train: section"):
        read_train_config(no_section)
