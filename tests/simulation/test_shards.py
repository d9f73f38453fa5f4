"""Shards: the population split into independent blocks, merged outputs, resume per shard."""

import json

import pandas as pd
import pytest

from alignuser.scenario import Scenario
from alignuser.simulation import checkpoint as ckpt_mod
from alignuser.simulation.engines import shard_bounds
from alignuser.simulation.outputs import read_events, read_sessions
from alignuser.simulation.runner import resume, run

from .conftest import small_scenario


def test_engine_string_and_mapping_forms():
    assert Scenario.model_validate({"engine": "local"}).engine.shards == 1
    s = Scenario.model_validate({"engine": {"kind": "ray", "shards": 4, "address": "auto"}})
    assert (s.engine.kind, s.engine.shards, s.engine.address) == ("ray", 4, "auto")
    # the resolved YAML round-trips
    again = Scenario.model_validate(__import__("yaml").safe_load(s.to_yaml()))
    assert again.engine == s.engine


def test_social_graph_refused_with_shards():
    with pytest.raises(ValueError, match="shards > 1 needs social.graph"):
        Scenario.model_validate({"engine": {"shards": 2}, "social": {"graph": "random"}})


def test_shard_bounds_contiguous():
    b = shard_bounds(10, 3)
    assert b == [(0, 4), (4, 7), (7, 10)]
    with pytest.raises(ValueError, match="exceeds"):
        shard_bounds(2, 3)


def test_sharded_run_merges_and_is_deterministic(tmp_path):
    changes = {"engine": {"kind": "local", "shards": 3}}
    a = run(small_scenario(tmp_path, **changes), tmp_path / "a")
    b = run(small_scenario(tmp_path, **changes), tmp_path / "b")
    ev, se = read_events(a), read_sessions(a)
    pd.testing.assert_frame_equal(ev, read_events(b))
    pd.testing.assert_frame_equal(se, read_sessions(b))
    # every agent (global ids 0..59) finished both sessions under both recommenders
    assert sorted(se["agent_id"].unique()) == list(range(60))
    assert (se.groupby(["recommender", "agent_id"]).size() == 2).all()
    # parts are named by shard and step; rows come by shard, then step
    names = sorted(p.name for p in (a / "events" / "popular").iterdir())
    assert names[0].startswith("part-s0000-") and names[-1].startswith("part-s0002-")
    pop = ev[ev.recommender == "popular"]
    shard = pop["agent_id"] // 20
    assert shard.is_monotonic_increasing
    assert all(g["step"].is_monotonic_increasing for _, g in pop.groupby(shard))
    manifest = json.loads((a / "manifest.json").read_text())
    entry = manifest["recommenders"]["popular"]
    assert [s["agents"] for s in entry["shards"]] == [[0, 20], [20, 40], [40, 60]]
    assert entry["agent_pages"] == pop.groupby(["agent_id", "session", "page"]).ngroups
    for k in range(3):
        assert (a / "series" / f"popular.s{k:04d}.parquet").exists()
        assert (a / "checkpoints" / f"popular.s{k:04d}.json").exists()
    # seeds derive from (seed, shard): shards are not copies of one another
    one = run(small_scenario(tmp_path), tmp_path / "one")
    assert not read_events(one).equals(ev)


@pytest.mark.parametrize("backend", ["inmemory", "chroma"])
def test_sharded_resume_after_crash(tmp_path, monkeypatch, backend):
    changes = {"engine": {"shards": 2}, "memory.backend": backend, "population.n_agents": 30}
    ref = run(small_scenario(tmp_path, **changes), tmp_path / "ref")
    real = ckpt_mod.save_checkpoint

    def crashing(run_dir, key, model, memory):
        if key == "random.s0001" and model.steps == 3:
            raise KeyboardInterrupt("simulated kill")
        real(run_dir, key, model, memory)

    monkeypatch.setattr(ckpt_mod, "save_checkpoint", crashing)
    out = tmp_path / "crashed"
    with pytest.raises(KeyboardInterrupt):
        run(small_scenario(tmp_path, **changes), out)
    monkeypatch.setattr(ckpt_mod, "save_checkpoint", real)
    resume(out)
    pd.testing.assert_frame_equal(read_events(ref), read_events(out))
    pd.testing.assert_frame_equal(read_sessions(ref), read_sessions(out))
    entry = json.loads((out / "manifest.json").read_text())["recommenders"]["random"]
    assert entry["status"] == "complete" and entry["resumed_from_step"] is not None
