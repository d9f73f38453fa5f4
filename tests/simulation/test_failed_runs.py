"""A recommender whose sessions (mostly) fail: non-zero exit, manifest status, not ranked."""

import json

import pytest
import yaml
from typer.testing import CliRunner

from alignuser.cli import app
from alignuser.simulation.runner import judge_entry, run, run_status
from alignuser.testing.services import FakeRecommenderService

from .conftest import small_scenario


@pytest.fixture(params=["500", "badjson", "unknown"])
def broken(request):
    with FakeRecommenderService(script=request.param) as svc:  # always that garbage
        yield svc


def _scenario(tmp_path, url, **changes):
    http = {"name": "http", "label": "svc", "params": {"url": url, "timeout": 2, "retries": 0}}
    return small_scenario(
        tmp_path,
        **{
            "recommenders": [{"name": "popular"}, http],
            "resilience": {"retries": 0, "backoff": 0.0},
            "session.sessions_per_agent": 1,
            "population.n_agents": 30,
            **changes,
        },
    )


def test_always_failing_service_fails_the_run_and_is_not_ranked(tmp_path, broken):
    s = _scenario(tmp_path, broken.url)
    (tmp_path / "s.yaml").write_text(s.to_yaml())
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["run", str(tmp_path / "s.yaml"), "--out", str(out)])
    assert r.exit_code == 1, r.output
    text = " ".join(r.output.split())
    assert "svc: failed: 30 of 30 sessions failed (100%), left out of the ranking" in text
    assert "first error: step " in text and "Traceback" not in text
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["recommenders"]["svc"]
    assert entry["status"] == "failed" and entry["failed_share"] == 1.0
    assert manifest["recommenders"]["popular"]["status"] == "complete"
    assert manifest["status"] == "partial"  # popular still ran and is ranked
    metrics = json.loads((out / "metrics.json").read_text())
    assert [row["recommender"] for row in metrics["ranking"]] == ["popular"]
    assert metrics["left_out"][0]["recommender"] == "svc"
    assert "Left out of the ranking: svc" in (out / "metrics.md").read_text()
    # report recomputes the same and exits non-zero too
    r = CliRunner().invoke(app, ["report", str(out)])
    assert r.exit_code == 1 and "svc: failed" in r.output


def test_only_failing_recommender_gives_a_failed_run(tmp_path):
    svc = FakeRecommenderService(script="500")
    try:
        s = _scenario(tmp_path, svc.url)
        s.recommenders = s.recommenders[1:]
        out = run(s, tmp_path / "run")  # the Python API returns; the manifest says it
    finally:
        svc.close()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert json.loads((out / "metrics.json").read_text())["ranking"] == []


def test_a_few_failed_sessions_give_a_partial_status():
    entry = judge_entry({"sessions": 100, "failed_sessions": 3}, 0.5)
    assert entry["status"] == "partial" and entry["failed_share"] == 0.03
    assert judge_entry({"sessions": 100, "failed_sessions": 51}, 0.5)["status"] == "failed"
    assert judge_entry({"sessions": 100, "failed_sessions": 0}, 0.5)["status"] == "complete"
    assert judge_entry({"sessions": 0, "failed_sessions": 0}, 0.5)["status"] == "failed"
    assert run_status({"a": {"status": "complete"}, "b": {"status": "partial"}}) == "partial"
    assert run_status({"a": {"status": "failed"}}) == "failed"
    assert run_status({"a": {"status": "complete"}}) == "complete"


def test_resume_of_a_finished_failed_run_does_not_rerun_it(tmp_path):
    svc = FakeRecommenderService(script="500")
    try:
        s = _scenario(tmp_path, svc.url)
        out = run(s, tmp_path / "run")
        calls = svc.calls
        r = CliRunner().invoke(app, ["run", "--resume", str(out)])
    finally:
        svc.close()
    assert r.exit_code == 1 and svc.calls == calls
    assert yaml.safe_load((out / "scenario.yaml").read_text())["name"] == "small"


def test_a_run_that_stops_midway_says_how_to_resume(tmp_path, monkeypatch):
    """An error no retry absorbs (here: the memory store gone at step 2) stops the run with
    one line and the resume command; after the cause is fixed, --resume finishes it."""
    from alignuser.simulation import checkpoint as ck

    real = ck.save_checkpoint

    def gone(run_dir, label, model, memory):
        if model.steps == 2:
            raise ConnectionError("memory server went away")
        real(run_dir, label, model, memory)

    s = small_scenario(
        tmp_path, **{"population.n_agents": 20, "recommenders": [{"name": "popular"}]}
    )
    (tmp_path / "s.yaml").write_text(s.to_yaml())
    out = tmp_path / "run"
    monkeypatch.setattr(ck, "save_checkpoint", gone)
    r = CliRunner().invoke(app, ["run", str(tmp_path / "s.yaml"), "--out", str(out)])
    assert r.exit_code == 1 and "Traceback" not in r.output
    text = " ".join(r.output.split())
    assert "error: ConnectionError: memory server went away" in text
    assert f"continue it with: alignuser run --resume {out}" in text
    monkeypatch.setattr(ck, "save_checkpoint", real)
    r = CliRunner().invoke(app, ["run", "--resume", str(out)])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
    monkeypatch.setattr(ck, "save_checkpoint", gone)
    r = CliRunner().invoke(
        app, ["--debug", "run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "r2")]
    )
    assert isinstance(r.exception, ConnectionError)  # --debug lets the traceback through
