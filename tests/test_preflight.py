"""Validation before a run starts: registry names, plug-in params, overrides, files, output."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from alignuser.cli import app
from alignuser.errors import ScenarioError, UnknownNameError
from alignuser.preflight import check_output_dir, check_scenario, plugin_params
from alignuser.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]
QUICK = str(ROOT / "scenarios" / "quickstart.yaml")
CHOICE = "policy={name: choice, params: {calibrate: true}}"  # quickstart's is the learned one
runner = CliRunner()


def validate(*sets: str, scenario: str = QUICK):
    args = ["validate", scenario]
    for s in sets:
        args += ["--set", s]
    return runner.invoke(app, args)


def one_line_error(r, *needles: str) -> str:
    """The command failed with status 2, without a traceback, and said all ``needles``."""
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    text = " ".join(r.output.split())  # rich wraps long lines
    for n in needles:
        assert n in text, (n, r.output)
    return text


def test_unknown_recommender_is_caught_by_validate_and_run(tmp_path):
    r = validate("recommenders=[{name: eaze}]")
    one_line_error(
        r, "quickstart.yaml", "recommenders.0.name", "unknown recommender 'eaze'",
        "did you mean 'ease'?", "known: bpr, ease",
    )  # fmt: skip
    out = tmp_path / "run"
    r = runner.invoke(
        app, ["run", QUICK, "--out", str(out), "--set", "recommenders=[{name: eaze}]"]
    )
    one_line_error(r, "recommenders.0.name")
    assert not out.exists()  # refused before anything was written


def test_unknown_policy_name_says_policy_and_lists_lazy_builtins():
    text = one_line_error(validate("policy.name=alignusr"), "policy.name")
    assert "unknown policy 'alignusr' (did you mean 'alignuser'?)" in text
    assert "policie" not in text and "openai_server" in text


def test_registry_get_raises_a_key_error_naming_the_kind():
    from alignuser.policy import POLICIES

    with pytest.raises(KeyError) as info:
        POLICIES.get("randon")
    assert isinstance(info.value, UnknownNameError)
    assert str(info.value).startswith("unknown policy 'randon' (did you mean 'random'?)")


def test_unknown_and_mistyped_plugin_params():
    one_line_error(
        validate("recommenders.2.params.bogus=1"),
        "recommenders.2.params.bogus: unknown parameter", "accepted:", "l2",
    )  # fmt: skip
    one_line_error(
        validate("recommenders.2.params.l2=abc"),
        "recommenders.2.params.l2: Input should be a valid number", "(got 'abc')",
    )  # fmt: skip
    one_line_error(validate("policy.params.foo=1"), "policy.params.foo: unknown parameter")
    one_line_error(
        validate(CHOICE, "policy.params.b_af=1"), "did you mean 'b_aff'?"
    )  # the choice policy's ChoiceParams
    one_line_error(
        validate("recommenders.0.params.seed=3"), "recommenders.0.params.seed: set by the runner"
    )
    # every problem at once, one line each
    r = validate("recommenders.2.params.bogus=1", "policy.params.foo=1")
    assert r.exit_code == 2 and "bogus" in r.output and "foo" in r.output


def test_required_plugin_params():
    one_line_error(
        validate("recommenders=[{name: http}]"), "recommenders.0.params.url", "Field required"
    )
    one_line_error(
        validate("policy.checkpoint=null"), "policy.checkpoint", "alignuser train"
    )  # the learned policy without a checkpoint


def test_validate_shows_plugin_defaults():
    r = validate(CHOICE)
    assert r.exit_code == 0, r.output
    assert "float64_below: 4096" in r.output  # EASE's default, not in the scenario file
    assert "b_aff: 2.0" in r.output  # the choice policy's default
    assert "l2: 200.0" in r.output  # the scenario's own value kept


def test_plugin_params_reads_signatures():
    def factory(alpha: float = 0.5, beta: int = 2):
        return None

    resolved, problems = plugin_params(factory, {"alpha": 1.0}, "policy")
    assert resolved == {"alpha": 1.0, "beta": 2} and problems == []
    _, problems = plugin_params(factory, {"beta": "x", "gama": 1}, "policy")
    assert [k for k, _ in problems] == ["gama", "beta"]

    def open_factory(**kwargs):
        return None

    assert plugin_params(open_factory, {"anything": 1}, "policy")[1] == []


def test_loader_name_and_options(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("user,item\n1,2\n")
    one_line_error(
        validate(f"dataset={{source: path, path: {data}, format: ml100k}}"),
        "dataset.format: unknown loader 'ml100k' (did you mean 'ml-100k'?)",
    )
    one_line_error(
        validate(
            f"dataset={{source: path, path: {data}, format: generic, options: {{colums: 1}}}}"
        ),
        "dataset.options.colums: unknown parameter (did you mean 'columns'?)",
    )
    one_line_error(
        validate(f"dataset={{source: path, path: {tmp_path / 'nope'}}}"),
        "dataset.path", "does not exist",
    )  # fmt: skip


def test_memory_backend_and_unknown_keys_suggest_the_fix():
    one_line_error(
        validate("memory.backend=chrome"), "memory.backend", "(got 'chrome')",
        "did you mean 'chroma'?",
    )  # fmt: skip
    one_line_error(
        validate("session.max_page=3"),
        "session.max_page: unknown key (did you mean 'max_pages'?)",
    )


def test_override_index_out_of_range_is_one_line():
    text = one_line_error(
        validate("recommenders.5.name=ease"), "recommenders.5.name=ease",
        "recommenders has 3 entries (indexes 0..2)", "or 3 to add one",
    )  # fmt: skip
    assert "IndexError" not in text
    one_line_error(validate("recommenders.x.name=ease"), "address its entries by index")
    one_line_error(validate("seed.x=1"), "seed is a value")


def test_override_one_past_the_end_appends(tmp_path):
    s = load_scenario(QUICK, ["recommenders.3.name=itemknn", "recommenders.3.params.neighbors=5"])
    assert [r.name for r in s.recommenders] == ["random", "popular", "ease", "itemknn"]
    assert s.recommenders[3].params == {"neighbors": 5}


def test_not_utf8_scenario(tmp_path):
    p = tmp_path / "latin1.yaml"
    p.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    one_line_error(
        validate(scenario=str(p)), "latin1.yaml: not UTF-8 text", "save the file as UTF-8"
    )


def test_output_dir_not_creatable(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    one_line_error(
        validate(f"output.dir={blocker / 'runs'}"),
        "output.dir:", "is not a folder", "choose a folder you can write",
    )  # fmt: skip
    assert check_output_dir(tmp_path / "a" / "b") is None
    assert not (tmp_path / "a").exists()  # the probe leaves nothing behind
    assert list(tmp_path.iterdir()) == [blocker]
    r = runner.invoke(app, ["run", QUICK, "--out", str(blocker / "run")])
    one_line_error(r, "--out", "is not a folder")


def test_python_api_run_checks_before_it_writes(tmp_path):
    from alignuser.simulation.runner import run

    s = Scenario.model_validate({"recommenders": [{"name": "nosuch"}]})
    with pytest.raises(ScenarioError, match="recommenders.0.name"):
        run(s, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_agents_beyond_users_warned():
    r = validate("population.n_agents=1000")
    assert r.exit_code == 0
    assert "1000 agents on 300 users" in " ".join(r.output.split())
    s = Scenario.model_validate({"population": {"n_agents": 10}})
    assert check_scenario(s, check_output=False).warnings == []


def test_version_and_debug(monkeypatch):
    import alignuser

    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and f"alignuser {alignuser.__version__}" in r.output

    def boom(*a, **k):
        raise RuntimeError("something unexpected\nsecond line")

    monkeypatch.setattr("alignuser.scenario.load_scenario", boom)
    r = runner.invoke(app, ["validate", QUICK])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "error: RuntimeError: something unexpected" in r.output
    assert "second line" not in r.output and "--debug" in r.output
    r = runner.invoke(app, ["--debug", "validate", QUICK])
    assert isinstance(r.exception, RuntimeError)  # raised through: the traceback shows


def test_log_level_option():
    import logging

    r = runner.invoke(app, ["--log-level", "loud", "validate", QUICK])
    assert r.exit_code == 2 and "--log-level" in r.output
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        for _ in range(2):  # a second invocation replaces the handler, never adds one
            assert runner.invoke(app, ["--log-level", "info", "validate", QUICK]).exit_code == 0
        assert len(root.handlers) == len(handlers) + 1 and root.level == logging.INFO
        logging.getLogger("alignuser.test").info("after the invocation")  # its stream is gone
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_shipped_scenarios_pass_preflight():
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        s = load_scenario(path)
        try:
            check_scenario(s, check_output=False)
        except ScenarioError as exc:  # only files a scenario points to may be absent here
            for line in str(exc).splitlines():
                assert "does not exist" in line or "not found" in line, line
