"""Examples run on small finished runs (Mesa-style smoke tests with a fixed seed)."""

import importlib.util
import sys
from pathlib import Path

import pytest

from alignuser.scenario import load_scenario
from alignuser.simulation.runner import run

ROOT = Path(__file__).resolve().parents[1]


def _example(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


SMALL = ["population.n_agents=60", "dataset.synthetic.n_users=80", "output.report=false"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    # the choice policy: these check the examples, not the learned policy (tests/test_demo.py)
    choice = "policy={name: choice, params: {calibrate: true}}"
    s = load_scenario(
        ROOT / "scenarios" / "quickstart.yaml", [*SMALL, "memory.backend=inmemory", choice]
    )
    return run(s, tmp_path_factory.mktemp("q") / "run")


def test_compare_recommenders_example(quick_run, capsys):
    diffs = _example("compare_recommenders").main([str(quick_run)])
    out = capsys.readouterr().out
    assert "Ranking by watch_rate" in out
    assert len(diffs) == 2  # two recommenders compared against the best
    assert (diffs["difference"] <= 0).all()  # nobody beats the best on its own metric
    assert (quick_run / "compare_recommenders.png").stat().st_size > 1000


def test_social_influence_example(tmp_path, capsys):
    path = ROOT / "scenarios" / "social_influence.yaml"
    small = [*SMALL, "recommenders=[{name: popular}]", "session.sessions_per_agent=2"]
    off = run(load_scenario(path, [*small, "social.graph=none"]), tmp_path / "off")
    on = run(load_scenario(path, small), tmp_path / "on")
    table = _example("social_influence").main([str(off), str(on)])
    assert table.loc[("popular", "watch_rate"), "change"] > 0
    assert (on / "social_influence.png").exists()
