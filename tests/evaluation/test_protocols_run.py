"""Alignment protocols end to end on a small synthetic world (and real data when present)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alignuser.data.splits import temporal_split
from alignuser.data.synthetic import SyntheticWorld
from alignuser.evaluation.cli import eval_app
from alignuser.evaluation.next_action import next_action, next_action_table
from alignuser.evaluation.protocols import build_policies
from alignuser.evaluation.rating import rating_prediction
from alignuser.evaluation.selection import selection_agreement, system_selection
from alignuser.evaluation.taste import sample_taste_items, taste_discrimination, taste_table


@pytest.fixture(scope="module")
def world_data():
    ds = SyntheticWorld(n_users=50, n_items=90, seed=1).dataset(n_sessions_per_user=3)
    split = temporal_split(ds.interactions, 0.25, 0.1)
    pols = build_policies(ds, split.train, ["random", "popularity", "mf", "choice"])
    return ds, split, pols


def test_taste_runs_and_informed_policies_beat_random(world_data):
    ds, split, pols = world_data
    raw = taste_discrimination(ds, split, pols, ms=(1, 3), seeds=(0, 1))
    assert len(raw) == 4 * 2 * 2
    again = taste_discrimination(ds, split, pols, ms=(1, 3), seeds=(0, 1))
    assert raw.equals(again)  # seeded
    table = taste_table(raw).set_index(["policy", "m"])
    assert table.loc[("random", 1), "auc"] == pytest.approx(0.5, abs=0.1)
    for name in ("popularity", "mf", "choice"):
        assert table.loc[(name, 1), "auc"] > 0.6
    # 1:3 has a quarter positives: pairs per user = 4 * n_pos
    assert (raw.loc[raw.m == 3, "pairs"] % 4 == 0).all()


def test_rating_prediction_informed_beats_random(world_data):
    ds, split, pols = world_data
    raw = rating_prediction(ds, split, pols, split_name="t").set_index("policy")
    assert (raw["ratings"] == len(split.test.df)).all()
    assert raw.loc["mf", "rmse"] < raw.loc["random", "rmse"]
    assert raw.loc["choice", "rmse"] < raw.loc["random", "rmse"]
    assert (raw["mae"] <= raw["rmse"] + 1e-12).all()


def test_next_action_on_impressions(world_data):
    ds, _, _ = world_data

    def fn(train_ds, train_inter):
        return build_policies(train_ds, train_inter, ["random", "choice"])

    raw = next_action(ds, fn, test_fraction=0.3, seeds=(0,))
    t = next_action_table(raw).set_index("policy")
    assert ((t["mrr"] >= t["top1"]) & (t["top1"] >= 0) & (t["mrr"] <= 1)).all()
    assert t.loc["choice", "mrr"] > t.loc["random", "mrr"]
    assert t.loc["random", "exit_accuracy"] == t.loc["random", "exit_majority"]


def test_selection_agreement_and_cli(tmp_path):
    from typer.testing import CliRunner

    raw = system_selection((0,), ("random", "popular", "ease"), ("random", "choice"), 40, 60)
    assert list(raw["recommender"]) == ["random", "popular", "ease"]
    agree = selection_agreement(raw).set_index("method")
    assert agree.loc["sim_random", "kendall_tau"] == 0.0  # same draws for every recommender
    assert np.all(np.abs(agree["kendall_tau"]) <= 1.0)
    truth = raw.set_index("recommender")["true_click_rate"]
    assert truth["random"] < truth.max()  # the world makes random recommendations worse
    res = CliRunner().invoke(
        eval_app,
        [
            "selection",
            "--worlds",
            "1",
            "--n-users",
            "30",
            "--n-items",
            "50",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "selection.json").read_text())
    assert {r["method"] for r in data["summary"]} >= {"NDCG@10", "sim_choice"}
    assert "kendall_tau" in (tmp_path / "selection.md").read_text()


def test_taste_sample_on_agent4rec(shared_data):
    from alignuser.data.loaders import load_dataset

    ds = load_dataset(shared_data / "agent4rec-ml1m")
    split = ds.splits["provided"]
    users = np.arange(20)
    s = sample_taste_items(split, ds.n_items, 1, seed=0, users=users)
    known = split.train.concat(split.valid).concat(split.test).df
    seen = set(zip(known["user_id"], known["item_id"]))
    neg = s[s.label == 0]
    assert not any((u, i) in seen for u, i in zip(neg["user_id"], neg["item_id"]))
    assert (s.groupby("user_id")["label"].sum() == 10).all()  # 20 // 2 positives each


def test_alignuser_without_checkpoint_is_not_run(world_data, caplog):
    ds, split, _ = world_data
    with caplog.at_level("INFO"):
        pols = build_policies(ds, split.train, ["alignuser", "choice_default"])
    assert list(pols) == ["choice_default"]
    assert "not run" in caplog.text
    bad = build_policies(ds, split.train, ["alignuser"], alignuser_checkpoint="/nonexistent")
    assert bad == {}


def test_alignuser_and_its_ablations_join_the_same_run(world_data, tmp_path):
    """A mapping of checkpoints puts the policy and its ablation variants side by side."""
    from alignuser.policy.alignuser_policy import AlignUserPolicy
    from alignuser.policy.checkpoint import save_policy_model
    from alignuser.policy.model import PolicyModel
    from alignuser.training.config import TinySpec

    ds, split, _ = world_data
    tiny = TinySpec(n_layers=1, d_model=16, n_heads=2, ffn_mult=2, min_frequency=1)
    for name, seed in (("full", 0), ("bc", 1)):
        pm = PolicyModel.create("tiny", corpus=["PAGE 1 max 5"], tiny=tiny, seed=seed)
        save_policy_model(pm, tmp_path / name)
    cks = {"alignuser": tmp_path / "full", "alignuser_bc": tmp_path / "bc", "alignuser_x": "/no"}
    pols = build_policies(ds, split.train, ["random", "alignuser"], alignuser_checkpoint=cks)
    assert list(pols) == ["random", "alignuser", "alignuser_bc"]  # a bad one is left out
    assert all(isinstance(pols[k], AlignUserPolicy) for k in ("alignuser", "alignuser_bc"))


def test_judge_and_replay_commands(tmp_path, shared_data):
    """``alignuser eval judge`` without a judge says "not run"; ``replay`` writes its tables."""
    from typer.testing import CliRunner

    from alignuser.scenario import Scenario
    from alignuser.simulation.runner import run

    s = Scenario.model_validate(
        {
            "name": "tiny",
            "dataset": {"source": "synthetic", "synthetic": {"n_users": 20, "n_items": 40}},
            "population": {"n_agents": 10},
            "memory": {"backend": "inmemory"},
            "policy": {"name": "random"},
            "recommenders": [{"name": "popular"}],
            "session": {"max_pages": 2},
            "output": {"dir": str(tmp_path), "report": False},
        }
    )
    run_dir = run(s, tmp_path / "run")
    res = CliRunner().invoke(eval_app, ["judge", str(run_dir), "--out", str(tmp_path / "e")])
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "e" / "judge.json").read_text())["summary"]
    assert rows and all(r["status"].startswith("not run") for r in rows)
    assert all(r["mean"] is None for r in rows)  # no judge, no number
    res = CliRunner().invoke(
        eval_app,
        ["replay", "--data", str(shared_data / "ebnerd-sample"), "--seeds", "0",
         "--out", str(tmp_path / "e")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "e" / "replay.json").read_text())
    assert {"summary", "raw", "positions"} <= set(data)
    real = {round(r["real_ctr"], 6) for r in data["summary"] if r.get("real_ctr") is not None}
    assert len(real) == 1  # every policy faces the same logged pages


def test_fidelity_command(tmp_path, shared_data):
    from typer.testing import CliRunner

    res = CliRunner().invoke(
        eval_app,
        ["fidelity", "--data", str(shared_data / "ebnerd-sample"), "--max-users", "12",
         "--out", str(tmp_path)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "fidelity.json").read_text())["summary"]
    stats = {r["statistic"] for r in rows if r["status"] == "ok"}
    assert {"pages_per_session", "click_position", "exit_page"} <= stats
    assert all(r["wasserstein"] >= 0 for r in rows if r["status"] == "ok")
    assert list((tmp_path / "fidelity_plots").glob("*.png"))


def test_fidelity_command_takes_one_checkpoint_per_dataset(tmp_path, shared_data):
    from typer.testing import CliRunner

    runner = CliRunner()
    args = ["fidelity", "--data", str(shared_data / "ebnerd-sample"), "--max-users", "8"]
    res = runner.invoke(
        eval_app,
        [*args, "--alignuser-checkpoint", "ml-latest-small=/nowhere", "--out", str(tmp_path)],
    )
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "fidelity.json").read_text())["summary"]
    mine = [r for r in rows if r["policy"] == "alignuser"]
    assert mine and all("no checkpoint for this dataset" in r["status"] for r in mine)
    bad = runner.invoke(
        eval_app, [*args, "--alignuser-checkpoint", "ebnerd=", "--out", str(tmp_path)]
    )
    assert bad.exit_code == 2 and "NAME=DIR" in bad.output
