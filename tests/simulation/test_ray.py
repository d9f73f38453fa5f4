"""The Ray engine gives the same outputs as the local engine for the same seed and shards."""

import json

import pandas as pd
import pytest

from alignuser.simulation.outputs import read_events, read_sessions
from alignuser.simulation.runner import run

from .conftest import small_scenario

ray = pytest.importorskip("ray", reason="the Ray engine needs the 'ray' extra")


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.mark.parametrize("ship", [True, False])
def test_ray_equals_local(tmp_path, ray_cluster, ship):
    changes = {"population.n_agents": 40, "memory.backend": "chroma"}
    local = run(
        small_scenario(tmp_path, engine={"kind": "local", "shards": 2}, **changes),
        tmp_path / "local",
    )
    remote = run(
        small_scenario(
            tmp_path, engine={"kind": "ray", "shards": 2, "ship_prepared": ship}, **changes
        ),
        tmp_path / "ray",
    )
    pd.testing.assert_frame_equal(read_events(local), read_events(remote))
    pd.testing.assert_frame_equal(read_sessions(local), read_sessions(remote))
    manifest = json.loads((remote / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["engine"]["kind"] == "ray"
    entry = manifest["recommenders"]["popular"]
    assert [s["agents"] for s in entry["shards"]] == [[0, 20], [20, 40]]
    # each shard kept its own memory store
    assert (remote / "memory" / "s0000").is_dir() and (remote / "memory" / "s0001").is_dir()
    assert (remote / "metrics.json").exists()
