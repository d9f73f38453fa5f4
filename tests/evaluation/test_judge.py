"""The human-likeness judge with fake chat models: rendering, parsing, retries, cache, tables."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pandas as pd
import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from alignuser.evaluation.judge import (
    NOT_RUN,
    human_transcripts,
    judge_model,
    judge_sessions,
    judge_table,
    parse_judgement,
    render_session,
    run_judge,
)
from alignuser.simulation.outputs import read_sessions


def rule_score(prompt: str) -> int:
    """The fake judge's rule: 1 + (watched items mod 5)."""
    return 1 + prompt.count(": watched") % 5


class RuleJudge(BaseChatModel):
    """Deterministic judge; transcripts containing a tag answer badly first / always / fail."""

    bad_first: tuple[str, ...] = ()
    always_bad: tuple[str, ...] = ()
    fail: tuple[str, ...] = ()
    bad_answer: str = "SCORE 7\nREASON out of range"
    _calls: int = PrivateAttr(default=0)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def calls(self) -> int:
        return self._calls

    @property
    def _llm_type(self) -> str:
        return "rule-judge"

    def _generate(self, messages: list[BaseMessage], stop=None, run_manager=None, **kw: Any):
        with self._lock:
            self._calls += 1
        prompt = str(next(m for m in messages if isinstance(m, HumanMessage)).content)
        prior = sum(isinstance(m, AIMessage) for m in messages)
        if any(t in prompt for t in self.fail):
            raise RuntimeError("scripted failure")
        bad = any(t in prompt for t in self.always_bad) or (
            prior == 0 and any(t in prompt for t in self.bad_first)
        )
        text = self.bad_answer if bad else f"SCORE {rule_score(prompt)}\nREASON consistent taste"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def _events(pages):
    rows = []
    for p, items in enumerate(pages):
        for k, (item, watched, rating) in enumerate(items):
            rows.append({"page": p, "position": k, "item_id": item, "watched": watched,
                         "rating": rating})  # fmt: skip
    return pd.DataFrame(rows)


LABELS = {1: "Alpha (Drama)", 2: "Beta (Horror)", 3: "Gamma (Comedy/Drama)"}


def test_render_session_shows_persona_pages_ratings_and_exit():
    ev = _events([[(2, False, np.nan), (1, True, 4.0)], [(3, True, 2.0), (9, True, np.nan)]])
    text = render_session(ev.iloc[::-1], LABELS, 5, persona="Loves Drama.", exited=True)
    assert text.splitlines() == [
        "PERSONA: Loves Drama.",
        "PAGE 1: Beta (Horror): skipped; Alpha (Drama): watched, rated 4/5",
        "PAGE 2: Gamma (Comedy/Drama): watched, rated 2/5; item 9: watched",
        "END: left the site after page 2.",
    ]
    capped = render_session(ev, LABELS, 10, exited=False)
    assert "PERSONA" not in capped and "rated 4/10" in capped
    assert capped.endswith("END: reached the last page offered after page 2.")


@pytest.mark.parametrize(
    "text, expected",
    [("SCORE 4\nREASON plausible", (4, "plausible")), ("Sure.\nScore: 5/5\nReason: ok", (5, "ok")),
     ("**SCORE**: 1", (1, "")), ("  score 3  \n", (3, ""))],
)  # fmt: skip
def test_parse_judgement_valid(text, expected):
    assert parse_judgement(text) == expected


@pytest.mark.parametrize(
    "text", ["SCORE 7", "SCORE 0", "I would say 4 out of 5.", "SCORE 4\nSCORE 5", "SCORE four", ""]
)
def test_parse_judgement_rejects(text):
    with pytest.raises(ValueError):
        parse_judgement(text)


def test_judge_sessions_retries_once_then_counts_missing(tmp_path):
    texts = ["PAGE 1: a: watched", "PAGE 1: b: skipped #late", "PAGE 1: c: watched #never",
             "PAGE 1: d: skipped #fail"]  # fmt: skip
    fake = RuleJudge(bad_first=("#late",), always_bad=("#never",), fail=("#fail",))
    raw = judge_sessions(texts, fake, cache_dir=None, retries=1)
    assert list(raw["status"]) == ["ok", "ok", "missing", "error"]
    assert raw["score"].iloc[0] == 2 and raw["score"].iloc[1] == 1
    assert raw["score"].iloc[2:].isna().all()
    assert list(raw["attempts"]) == [1, 2, 2, 2] and fake.calls == 7
    garbage = RuleJudge(always_bad=("PAGE",), bad_answer="no idea")
    raw0 = judge_sessions(texts[:1], garbage, retries=0)
    assert raw0["status"].iloc[0] == "missing" and garbage.calls == 1
    table = judge_table(raw)
    assert table.loc[0, "n"] == 2 and table.loc[0, "n_missing"] == 2


def test_cache_makes_reruns_free(tmp_path):
    texts = [f"PAGE 1: x{i}: watched" + " #late" * (i == 2) for i in range(4)]
    first = RuleJudge(bad_first=("#late",))
    a = judge_sessions(texts, first, cache_dir=tmp_path / "c")
    assert first.calls == 5 and a["calls"].sum() == 5
    files = list((tmp_path / "c").glob("*.json"))
    assert len(files) == 5 and "answer" in json.loads(files[0].read_text())
    second = RuleJudge(bad_first=("#late",))
    b = judge_sessions(texts, second, cache_dir=tmp_path / "c")
    assert second.calls == 0 and b["calls"].sum() == 0
    pd.testing.assert_frame_equal(a.drop(columns="calls"), b.drop(columns="calls"))
    other = RuleJudge(bad_first=("#late",))
    judge_sessions(texts, other, cache_dir=tmp_path / "c", model="another-judge")
    assert other.calls == 5


def test_judge_table_hand_computed():
    raw = pd.DataFrame({
        "source": ["simulated"] * 4 + ["human"] * 2,
        "policy": ["choice"] * 4 + ["human"] * 2,
        "recommender": ["pop", "pop", "pop", "rand", "logs", "logs"],
        "score": [1.0, 2.0, np.nan, 5.0, np.nan, np.nan],
    })  # fmt: skip
    t = judge_table(raw).set_index("recommender")
    assert t.loc["pop", "mean"] == 1.5 and t.loc["pop", "std"] == pytest.approx(np.sqrt(0.5))
    assert (t.loc["pop", "n"], t.loc["pop", "n_missing"]) == (2, 1)
    assert t.loc["rand", "mean"] == 5 and np.isnan(t.loc["rand", "std"])
    assert np.isnan(t.loc["logs", "mean"]) and t.loc["logs", "n_missing"] == 2
    assert t.loc["logs", "status"] == "no usable answer" and t.loc["pop", "status"] == "ok"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from alignuser.scenario import Scenario
    from alignuser.simulation.runner import run

    tmp = tmp_path_factory.mktemp("judge")
    s = Scenario.model_validate({
        "name": "judge", "seed": 3,
        "dataset": {"source": "synthetic", "synthetic": {"n_users": 80, "n_items": 120, "seed": 1}},
        "population": {"n_agents": 8},
        "memory": {"backend": "inmemory", "top_k": 2, "recent_k": 2},
        "policy": {"name": "choice"},
        "recommenders": [{"name": "popular"}, {"name": "random"}],
        "session": {"items_per_page": 4, "max_pages": 4, "sessions_per_agent": 1},
        "output": {"dir": str(tmp), "report": False},
    })  # fmt: skip
    return run(s, tmp / "run")


def test_not_run_without_judge(run_dir):
    out = run_judge(run_dir)
    s = out["summary"]
    assert set(s["status"]) == {NOT_RUN} and s["mean"].isna().all() and len(out["raw"]) == 0
    assert set(s["recommender"]) == {"popular", "random", "logs"}


def test_run_judge_end_to_end_and_cached(run_dir, tmp_path):
    fake = RuleJudge()
    out = run_judge(run_dir, fake, n_sessions=3, seed=0, cache_dir=tmp_path / "c")
    raw, summary = out["raw"], out["summary"].set_index("recommender")
    assert set(raw.groupby("recommender").size()) == {3} and fake.calls == 9
    assert (summary["n"] == 3).all() and (summary["status"] == "ok").all()
    assert list(summary["policy"]) == ["choice", "choice", "human"]
    sessions = read_sessions(run_dir).set_index(["recommender", "user_id", "session"])
    for row in raw[raw.source == "simulated"].itertuples():
        t = row.transcript
        assert t.startswith("PERSONA: ") and t.count("\nPAGE ") == sessions.loc[
            (row.recommender, row.user_id, row.session), "pages"]  # fmt: skip
        assert row.score == rule_score(t)
    expected = raw.groupby("recommender", sort=False)["score"].mean()
    assert np.allclose(summary.loc[expected.index, "mean"], expected)
    again = RuleJudge()
    out2 = run_judge(run_dir, again, n_sessions=3, seed=0, cache_dir=tmp_path / "c")
    assert again.calls == 0
    pd.testing.assert_frame_equal(out["summary"], out2["summary"])


def test_human_transcripts_from_impressions():
    from alignuser.data.synthetic import SyntheticWorld

    ds = SyntheticWorld(n_users=10, n_items=30, seed=2).dataset(n_sessions_per_user=1, seed=2)
    labels = {i: f"T{i}" for i in range(ds.n_items)}
    raw = human_transcripts(ds, labels, n_sessions=None, users=[0, 1])
    assert set(raw["user_id"]) == {0, 1} and (raw["source"] == "human").all()
    imp = ds.impressions.df
    for row in raw.itertuples():
        pages = imp[imp.session_id == row.session]
        assert row.transcript.count("PAGE ") == len(pages)
        assert row.transcript.count(": watched, rated") == sum(len(c) for c in pages.clicked)
    # rating-only logs: sessions cut by time, pages of watched items only
    from alignuser.data.sessions import sessionize

    cut = sessionize(ds.interactions)
    plain = human_transcripts(replace(ds, impressions=None), labels, None, items_per_page=2)
    assert len(plain) == cut["session_id"].nunique()
    sizes = cut.groupby("session_id").size()
    for row in plain.itertuples():
        n = sizes[row.session]
        assert row.transcript.count(": watched, rated") == n and "skipped" not in row.transcript
        assert row.transcript.count("PAGE ") == -(-n // 2)
    short = human_transcripts(
        replace(ds, impressions=None), labels, None, items_per_page=2, max_pages=1
    )
    for row in short.itertuples():
        n = sizes[row.session]
        assert row.transcript.count("PAGE ") == 1
        assert row.transcript.endswith("reached the last page offered after page 1." if n > 2
                                       else "left the site after page 1.")  # fmt: skip


class _Server(BaseHTTPRequestHandler):
    def do_POST(self):
        from alignuser.testing.fakes import write_chat_completion

        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        write_chat_completion(self, body["model"], f"SCORE {rule_score(user)}\nREASON fine")

    def log_message(self, *args):
        pass


def test_judge_model_spec_through_openai_server(tmp_path):
    pytest.importorskip("langchain_openai")
    with pytest.raises(ValueError, match="openai:<model>"):
        judge_model("ollama:llama3")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/v1"
        chat = judge_model(f"openai:judge-m@{url}")
        assert chat.model_name == "judge-m" and chat.openai_api_base == url
        raw = judge_sessions(["PAGE 1: a: watched", "PAGE 1: b: skipped"], chat, tmp_path / "c")
        assert list(raw["score"]) == [2.0, 1.0] and list(raw["reason"]) == ["fine", "fine"]
    finally:
        srv.shutdown()
        srv.server_close()
