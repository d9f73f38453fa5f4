"""report.html's human-likeness panel: a hint without held-out humans, the AUC table and
chart once ``alignuser eval likeness --out RUN_DIR`` has written ``likeness.json``."""

from __future__ import annotations

import json

import pytest

from alignuser.evaluation.likeness.panel import HINT, likeness_panel


def _doc(path, rows):
    path.write_text(json.dumps({"meta": {"command": "alignuser eval likeness"}, "summary": rows}))


def test_panel_hint_table_and_bad_file(tmp_path):
    assert HINT in likeness_panel(tmp_path, tmp_path / "figures")
    _doc(tmp_path / "likeness.json", [
        {"dataset": "ebnerd", "policy": "choice", "auc": 0.91, "ci_low": 0.88, "ci_high": 0.94,
         "n_real": 40, "n_sim": 40, "gives_away": "watches_per_page (+0.2)", "status": "ok"},
        {"dataset": "ebnerd", "policy": "alignuser", "auc": None, "ci_low": None,
         "ci_high": None, "gives_away": None, "status": "not run: no --alignuser-checkpoint"},
    ])  # fmt: skip
    html = likeness_panel(tmp_path, tmp_path / "figures")
    assert "0.910" in html and "watches_per_page" in html and "not run" in html
    assert '<img alt="likeness"' in html and (tmp_path / "figures" / "likeness.png").is_file()
    _doc(tmp_path / "likeness.json", [{"policy": "x"}])
    with pytest.raises(ValueError, match="not a likeness table"):
        likeness_panel(tmp_path, tmp_path / "figures")


def test_report_of_a_run_shows_the_panel(tmp_path):
    from typer.testing import CliRunner

    from alignuser.cli import app
    from alignuser.evaluation.cli import eval_app
    from alignuser.scenario import Scenario
    from alignuser.simulation.runner import run

    s = Scenario.model_validate({
        "name": "panel", "seed": 3,
        "dataset": {"source": "synthetic", "synthetic": {"n_users": 60, "n_items": 80, "seed": 1}},
        "population": {"n_agents": 6},
        "memory": {"backend": "inmemory", "top_k": 2, "recent_k": 2},
        "policy": {"name": "random"},
        "recommenders": [{"name": "popular"}],
        "session": {"items_per_page": 4, "max_pages": 3, "sessions_per_agent": 1},
        "output": {"dir": str(tmp_path), "report": True},
    })  # fmt: skip
    out = run(s, tmp_path / "run")
    assert "No held-out humans" in (out / "report.html").read_text()
    from alignuser.data.synthetic import SyntheticWorld

    world = SyntheticWorld(n_users=30, n_items=60, seed=1).dataset(n_sessions_per_user=2)
    world.impressions.to_parquet(tmp_path / "log.parquet")
    r = CliRunner().invoke(eval_app, ["likeness", "--data", str(tmp_path / "log.parquet"),
                                      "--policies", "random", "--max-users", "20",
                                      "--n-boot", "20", "--out", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["report", str(out)])
    assert r.exit_code == 0, r.output
    html = (out / "report.html").read_text()
    assert "Human-likeness" in html and '<img alt="likeness"' in html and "random" in html
