import json
from pathlib import Path

from typer.testing import CliRunner

from alignuser.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_validate_ok_and_error(tmp_path):
    r = runner.invoke(
        app,
        ["validate", str(ROOT / "scenarios" / "quickstart.yaml"), "--set", "session.max_pages=2"],
    )
    assert r.exit_code == 0, r.output
    assert "max_pages: 2" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("sesion: {}\n")
    r = runner.invoke(app, ["validate", str(bad)])
    assert r.exit_code == 2
    assert "sesion: unknown key" in r.output


def test_demo_run_and_report(tmp_path):
    r = runner.invoke(
        app,
        [
            "demo", "--out", str(tmp_path), "--no-baseline",
            "--set", "population.n_agents=30",
            "--set", "memory.backend=inmemory",
            "--set", "recommenders=[{name: popular}, {name: random}]",
            "--set", "policy={name: choice, params: {calibrate: true}}",
        ],
    )  # fmt: skip  (the learned policy's demo: tests/test_demo.py)
    assert r.exit_code == 0, r.output
    assert "Macro outcomes" in r.output and "popular" in r.output
    out = tmp_path / "choice"
    metrics = json.loads((out / "metrics.json").read_text())
    assert {row["recommender"] for row in metrics["ranking"]} == {"popular", "random"}
    html = (out / "report.html").read_text()
    assert "<img" in html and "Ranking" in html
    (out / "report.html").unlink()
    r = runner.invoke(app, ["report", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "report.html").exists()


def test_report_on_non_run_folder(tmp_path):
    r = runner.invoke(app, ["report", str(tmp_path)])
    assert r.exit_code == 2
    assert "not a run folder" in r.output
