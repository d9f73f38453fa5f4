"""The README's "Evaluate on your data" walk-through, run exactly as written (CLI only).

The section's ``yaml`` block (first line ``# my_data.yaml``) is written to that file and
every command of its ``bash`` blocks is run in order in a fresh folder: the example script
that writes the generic CSVs, ``alignuser train`` and each ``alignuser eval``. Each must
succeed and write its tables; the numbers must be the protocol's (not placeholders).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Evaluate on your data")
    end = text.index("\n## ", start + 3)
    return text[start:end]


def _blocks(section: str, lang: str) -> list[str]:
    pat = re.compile(rf"^([ ]*)```{lang}\n(.*?)^\1```", re.S | re.M)
    out = []
    for indent, body in pat.findall(section):
        out.append("\n".join(line[len(indent) :] for line in body.splitlines()))
    return out


def _commands(section: str) -> list[str]:
    cmds = []
    for block in _blocks(section, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#"):
                cmds.append(line)
    return cmds


def test_walkthrough_commands_are_found():
    section = _section()
    cmds = _commands(section)
    assert cmds[0].startswith("python examples/own_data.py")
    assert any(c.startswith("alignuser train my_data.yaml") for c in cmds)
    evals = {c.split()[2] for c in cmds if c.startswith("alignuser eval")}
    assert evals == {"taste", "rating", "fidelity", "selection"}
    (yaml_block,) = [b for b in _blocks(section, "yaml") if b.startswith("# my_data.yaml")]
    assert "format: generic" in yaml_block


def test_readme_walkthrough_runs_through_the_cli(tmp_path, monkeypatch):
    import importlib.util

    from alignuser.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    section = _section()
    (yaml_block,) = [b for b in _blocks(section, "yaml") if b.startswith("# my_data.yaml")]
    Path("my_data.yaml").write_text(yaml_block)
    spec = importlib.util.spec_from_file_location("own_data", ROOT / "examples" / "own_data.py")
    own = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(own)
    runner = CliRunner()
    for cmd in _commands(section):
        argv = shlex.split(cmd)
        if argv[:2] == ["python", "examples/own_data.py"]:
            own.main(argv[2:])
            continue
        assert argv[0] == "alignuser", cmd
        res = runner.invoke(app, argv[1:])
        assert res.exit_code == 0, f"{cmd}\n{res.output}\n{res.exception!r}"
    assert (tmp_path / "runs/my-policy/policy/policy.json").is_file()
    ev = tmp_path / "runs" / "my-eval"
    out = {p: json.loads((ev / f"{p}.json").read_text()) for p in
           ("taste", "rating", "fidelity", "selection")}  # fmt: skip
    for p, tables in out.items():
        (data,) = tables["data"]
        assert data["dataset"] == "ratings" and data["split"] == "temporal", p
        assert (ev / f"{p}.md").is_file()
    taste = pd.DataFrame(out["taste"]["summary"]).set_index(["policy", "m"])
    # the learned policy ran (its row is not "not run"), and the calibrated baseline is informed
    assert taste.loc[("alignuser", 1), "status"] == "ok"
    assert taste.loc[("choice", 1), "auc"] > taste.loc[("random", 1), "auc"] + 0.1
    rating = pd.DataFrame(out["rating"]["summary"]).set_index("policy")
    assert rating.loc["alignuser", "status"] == "ok" and 0 < rating.loc["alignuser", "rmse"] < 4
    sel = pd.DataFrame(out["selection"]["summary"]).set_index("method")
    assert set(sel["picked"].dropna()) <= {"popular", "ease", "random", "itemknn"}
    assert sel.loc["sim_alignuser", "status"].startswith("ok")
    # the error examples of the section print what it shows ("..." stands for the rest)
    examples = [b for b in _blocks(section, "text") if b.startswith("$ alignuser")]
    assert examples
    lines = [ln for b in examples for ln in b.splitlines()]
    for cmd, shown in zip(lines[::2], lines[1::2]):
        res = runner.invoke(app, shlex.split(cmd[2:])[1:])
        assert res.exit_code == 2, (cmd, res.output)
        got = res.output.strip()
        pattern = ".*".join(re.escape(part) for part in shown.split("..."))
        assert re.fullmatch(pattern, got), (cmd, shown, got)
