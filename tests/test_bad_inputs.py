"""Every case of the bad-input corpus ends with a clear error: no traceback, no silence.

The same corpus gives the table of ``benchmarks/reliability.py``.
"""

import pytest

from alignuser.testing.bad_inputs import CASES, Workspace, try_case


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    w = Workspace(tmp_path_factory.mktemp("bad-inputs"))
    yield w
    w.close()


def test_corpus_is_large_and_covers_every_category():
    assert len(CASES) >= 40
    names = [(c.category, c.name) for c in CASES]
    assert len(set(names)) == len(names)
    assert {c.category for c in CASES} >= {
        "scenario", "file", "override", "registry", "params", "output", "data", "run folder",
        "service",
    }  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[f"{c.category}: {c.name}" for c in CASES])
def test_bad_input_gives_a_clear_error(case, ws):
    res = try_case(case, ws)
    assert res.outcome == "clear", (res.outcome, res.missing, res.output[-3000:])


def test_the_classifier_can_tell_silence_and_tracebacks(ws, monkeypatch):
    from alignuser.testing.bad_inputs import Case

    fine = Case("x", "a valid scenario", lambda w: ["validate", w.scenario()], ())
    assert try_case(fine, ws).outcome == "silent"

    def boom(*a, **k):
        raise RuntimeError("unexpected")

    monkeypatch.setenv("ALIGNUSER_DEBUG", "1")  # let the exception through, as --debug does
    monkeypatch.setattr("alignuser.scenario.load_scenario", boom)
    assert try_case(fine, ws).outcome == "traceback"
    vague = Case("x", "expects words that are not said", lambda w: ["run"], ("no such words",))
    assert try_case(vague, ws).outcome == "unclear"
