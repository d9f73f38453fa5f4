"""Per-part timings in the manifest, and the run leaves the garbage collector as it was."""

import gc
import json

from alignuser.simulation.runner import run


def test_part_seconds_split_mesa_from_our_step(make_scenario, tmp_path):
    before = gc.get_threshold()
    out = run(make_scenario(recommenders=[{"name": "popular"}]), tmp_path / "run")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    entry = json.loads((out / "manifest.json").read_text())["recommenders"]["popular"]
    parts = entry["part_seconds"]
    assert {
        "recommender",
        "memory",
        "policy",
        "mesa",
        "step_code",
        "mesa_setup",
        "checkpoint",
    } <= set(parts)
    assert all(v >= 0 for v in parts.values())
    ours = parts["recommender"] + parts["memory"] + parts["policy"] + parts["step_code"]
    assert ours <= parts["total"] + 1e-3
    # Mesa's own time (collect + step wrapper) is a small part of the step here (under a
    # millisecond in all for this run's steps, so it may round to 0)
    assert 0 <= parts["mesa"] < parts["total"]
    assert parts["total"] + parts["checkpoint"] <= entry["simulate_seconds"] + 0.05
