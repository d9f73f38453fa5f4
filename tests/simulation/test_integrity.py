"""A run folder's Parquet parts are checked by `report` and `--resume` before they are read."""

import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from alignuser.errors import RunOutputError
from alignuser.simulation.integrity import count_outputs, verify_run
from alignuser.simulation.outputs import read_events
from alignuser.simulation.runner import run

from .conftest import small_scenario

cli = CliRunner()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runs")
    s = small_scenario(tmp, **{"population.n_agents": 20, "session.sessions_per_agent": 1})
    return run(s, tmp / "run")


@pytest.fixture
def copy(finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    return out


def report(run_dir):
    from alignuser.cli import app

    r = cli.invoke(app, ["report", str(run_dir)])
    assert "Traceback" not in r.output
    return r.exit_code, " ".join(r.output.split())


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_manifest_records_parts_and_rows(finished):
    entry = json.loads((finished / "manifest.json").read_text())["recommenders"]["popular"]
    events = read_events(finished)
    assert entry["outputs"]["events"]["rows"] == (events["recommender"] == "popular").sum()
    assert entry["outputs"]["events"]["parts"] == len(list((finished / "events/popular").iterdir()))
    assert entry["outputs"]["series"] == {"parts": 1, "rows": entry["steps"]}
    assert entry["outputs"] == count_outputs(finished, "popular")
    verify_run(finished)  # an intact run passes


def test_manifest_records_package_versions_and_commit(finished):
    from importlib.metadata import version

    manifest = json.loads((finished / "manifest.json").read_text())
    assert manifest["versions"]["mesa"] == version("mesa")
    assert manifest["versions"]["torch"] == version("torch")
    assert "git_commit" in manifest  # None outside a git checkout


def test_truncated_events_part_is_named_by_report(copy):
    part = sorted((copy / "events" / "random").glob("part-*.parquet"))[1]
    _truncate(part)
    code, text = report(copy)
    assert code == 2
    assert f"{part}: damaged, not a complete Parquet file" in text
    assert "run the scenario again into a new folder" in text and "ArrowInvalid" not in text


def test_truncated_series_no_longer_passes_silently(copy):
    _truncate(copy / "series" / "popular.parquet")
    code, text = report(copy)
    assert code == 2 and "series/popular.parquet: damaged" in text


def test_missing_and_extra_parts_are_counted(copy):
    parts = sorted((copy / "sessions" / "popular").glob("part-*.parquet"))
    parts[0].unlink()
    with pytest.raises(
        RunOutputError, match=r"sessions/popular: \d+ part\(s\) with \d+ rows, the manifest records"
    ):
        verify_run(copy)
    shutil.copy(parts[1], parts[1].with_name("part-999999.parquet"))
    parts[0].write_bytes(b"")  # now also an empty (damaged) file
    with pytest.raises(RunOutputError) as info:
        verify_run(copy)
    assert str(parts[0]) in str(info.value) and "damaged" in str(info.value)


def test_wrong_schema_is_named(copy):
    part = sorted((copy / "events" / "popular").glob("part-*.parquet"))[0]
    pd.DataFrame({"something": [1, 2]}).to_parquet(part)
    code, text = report(copy)
    assert code == 2 and "wrong schema: missing column(s) ['recommender'" in text


def test_resume_refuses_a_damaged_part(copy):
    from alignuser.cli import app

    _truncate(sorted((copy / "events" / "popular").glob("part-*.parquet"))[0])
    r = cli.invoke(app, ["run", "--resume", str(copy)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    text = " ".join(r.output.split())
    assert "events/popular/part-" in text and "cannot resume from damaged outputs" in text


def test_reading_a_damaged_part_names_it(copy):
    part = sorted((copy / "events" / "popular").glob("part-*.parquet"))[0]
    part.write_bytes(b"PAR1 not really parquet PAR1")
    with pytest.raises(RunOutputError, match="damaged, cannot be read"):
        read_events(copy)


def test_report_on_an_unfinished_run_says_so(copy):
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["status"] = "running"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    code, text = report(copy)
    assert code == 0 and "did not finish (status running)" in text
    assert f"alignuser run --resume {copy}" in text
