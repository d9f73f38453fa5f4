"""``alignuser demo``: the learned policy beside the choice baseline, rows labelled by policy."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from alignuser.cli import app
from alignuser.demo import demo_scenarios, rank_agreement
from alignuser.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SMALL = [
    "dataset.synthetic.n_users=24", "dataset.synthetic.n_items=30",
    "dataset.synthetic.sessions_per_user=2", "population.n_agents=10",
    "memory.backend=inmemory", "session.max_pages=2", "output.report=false",
    "train.tiny={n_layers: 1, d_model: 32, n_heads: 2, min_frequency: 1}",
    "train.max_steps_per_stage=3", "train.wm_eval_steps=2", "train.max_valid_steps=8",
    "train.max_pages_per_user=2", "train.k_alternatives=1",
]  # fmt: skip


def test_the_quickstart_uses_the_learned_policy():
    s = load_scenario(ROOT / "scenarios" / "quickstart.yaml")
    assert (s.policy.name, s.policy.checkpoint) == ("alignuser", "auto")
    both = demo_scenarios(s)
    assert list(both) == ["alignuser", "choice"]
    base = both["choice"]
    assert base.policy.name == "choice" and base.policy.checkpoint is None
    assert base.model_dump(exclude={"policy"}) == s.model_dump(exclude={"policy"})
    assert list(demo_scenarios(s, baseline=False)) == ["alignuser"]


def test_rank_agreement():
    def rows(policy, ranks):
        return [{"policy": policy, "recommender": r, "rank": k} for r, k in ranks.items()]

    a = rows("alignuser", {"ease": "1", "popular": "2", "random": "3"})
    assert rank_agreement(a + rows("choice", {"ease": "1", "popular": "2", "random": "3"})) == 1
    assert rank_agreement(a + rows("choice", {"ease": "3", "popular": "2", "random": "1"})) == -1
    tied = rows("choice", {"ease": "1=", "popular": "1=", "random": "3"})
    assert rank_agreement(a + tied) == 2 / 3
    assert rank_agreement(a) is None


def test_demo_runs_the_learned_policy_beside_the_baseline(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNUSER_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    args = ["demo", "--out", str(tmp_path / "demo")]
    for kv in SMALL:
        args += ["--set", kv]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    learned = json.loads((tmp_path / "demo" / "alignuser" / "manifest.json").read_text())
    baseline = json.loads((tmp_path / "demo" / "choice" / "manifest.json").read_text())
    assert learned["policy"] == "alignuser"
    assert learned["policy_checkpoint"].startswith(str(tmp_path / "cache"))
    assert baseline["policy"] == "choice"
    table = (tmp_path / "demo" / "comparison.md").read_text().splitlines()
    policies = {line.split("|")[1].strip() for line in table[2:] if line.startswith("| ")}
    assert policies == {"alignuser", "choice"}
    assert "Kendall" in (tmp_path / "demo" / "comparison.md").read_text()
    assert "alignuser" in r.output and "choice" in r.output
