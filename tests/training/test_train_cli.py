"""`alignuser train` trains from a scenario, and the checkpoint drives `alignuser run`."""

from pathlib import Path

import yaml
from typer.testing import CliRunner

from alignuser.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_train_then_run_with_the_learned_policy(tmp_path):
    scen = yaml.safe_load((ROOT / "scenarios" / "train_synthetic.yaml").read_text())
    scen["dataset"]["synthetic"].update(n_users=25, n_items=40, sessions_per_user=2)
    scen["population"]["n_agents"] = 10
    scen["recommenders"] = [{"name": "popular"}]
    scen["train"].update(
        tiny={"n_layers": 1, "d_model": 32, "n_heads": 2}, wm_epochs=1, align_epochs=1,
        max_steps_per_stage=4, k_alternatives=1, wm_eval_steps=4, max_valid_steps=8,
        max_pages_per_user=2,
    )  # fmt: skip
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scen))
    out = tmp_path / "pol"
    r = runner.invoke(app, ["train", str(path), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "policy" / "policy.json").exists()
    run_dir = tmp_path / "run"
    r = runner.invoke(
        app,
        ["run", str(path), "--out", str(run_dir), "--set", "policy.name=alignuser",
         "--set", f"policy.checkpoint={out / 'policy'}", "--set", "policy.params={}",
         "--set", "output.report=false"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert (run_dir / "metrics.json").exists()


def test_train_config_errors_name_the_key(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("train: {use_wn: false}\n")
    r = runner.invoke(app, ["train", str(path), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "train.use_wn" in r.output
