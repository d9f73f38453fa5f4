import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from alignuser.env.actions import PageAction
from alignuser.env.text import extract_action, render_state
from alignuser.policy import ChatModelPolicy, RandomPolicy, make_policy
from alignuser.policy.chat import SYSTEM_PROMPT, parse_satisfaction
from alignuser.testing.fakes import PageRuleChatModel, rule_answer, write_chat_completion
from alignuser.testing.policies import random_page_states, random_summaries


def _states(n=12, seed=0):
    return random_page_states(np.random.default_rng(seed), n, max_ratings=(5, 10))


def _expected(states):
    """What the rule model means for each state (parsed independently of the policy)."""
    return [extract_action(rule_answer(render_state(s)), s.item_ids, s.max_rating) for s in states]


class SpyModel(PageRuleChatModel):
    """Records every batch call (its size and config) and every conversation."""

    def batch(self, inputs, config=None, **kwargs):
        self.__dict__.setdefault("seen", []).append((len(inputs), config, list(inputs)))
        return super().batch(inputs, config=config, **kwargs)


def test_good_model_one_batch_no_retries():
    model = SpyModel()
    policy = ChatModelPolicy(model, max_concurrency=3)
    states = _states()
    assert policy.decide(states, np.random.default_rng(0)) == _expected(states)
    [(size, config, convs)] = model.seen
    assert size == len(states) and config == {"max_concurrency": 3}
    assert convs[0][0].content == SYSTEM_PROMPT
    assert convs[0][1].content.startswith(render_state(states[0]))
    assert policy.stats | {} == {
        "decide_calls": 1, "batches": 1, "calls": 12, "errors": 0,
        "parse_failures": 0, "retries": 0, "fallbacks": 0,
    }  # fmt: skip


def test_bad_then_good_is_retried_with_the_error():
    model = SpyModel(bad_answers=1)
    policy = ChatModelPolicy(model)
    states = _states()
    assert policy.decide(states, np.random.default_rng(0)) == _expected(states)
    assert [size for size, _, _ in model.seen] == [12, 12]
    retry = model.seen[1][2][0]
    assert retry[2].content == model.bad_answer
    assert "could not be used: no valid action block" in retry[3].content
    assert policy.stats["retries"] == 12 and policy.stats["parse_failures"] == 12
    assert policy.stats["fallbacks"] == 0


def test_only_failed_answers_are_re_asked():
    # Agents 3 and 7 raise errors; the rest answer well at once.
    model = SpyModel(fail_agents=('"Agent 3:', '"Agent 7:'))
    policy = ChatModelPolicy(model, max_retries=2, fallback="skip_all_exit")
    states = _states()
    actions = policy.decide(states, np.random.default_rng(0))
    assert [size for size, _, _ in model.seen] == [12, 2, 2]
    assert policy.stats["errors"] == 6 and policy.stats["fallbacks"] == 2
    for i, (a, want) in enumerate(zip(actions, _expected(states))):
        if i in (3, 7):
            assert a.exit and not a.watched
        else:
            assert a == want


def test_always_bad_falls_back_and_counts():
    states = _states()
    policy = ChatModelPolicy(PageRuleChatModel(always_bad=True), max_retries=1)
    actions = policy.decide(states, np.random.default_rng(4))
    assert actions == RandomPolicy().decide(states, np.random.default_rng(4))
    assert policy.stats["fallbacks"] == 12 and policy.stats["calls"] == 24
    skip = ChatModelPolicy(FakeListChatModel(responses=["no idea"]), fallback="skip_all_exit")
    for a in skip.decide(states, np.random.default_rng(0)):
        assert a.exit and a.watched == ()
    assert skip.stats["fallbacks"] == 12 and skip.stats["retries"] == 24


def test_empty_pages_do_not_call_the_model():
    model = SpyModel()
    states = random_page_states(np.random.default_rng(0), 3, items=(0, 0))
    actions = ChatModelPolicy(model).decide(states, np.random.default_rng(0))
    assert actions == [PageAction((), exit=True)] * 3
    assert model.calls == 0


def test_satisfaction_interview():
    summaries = random_summaries(np.random.default_rng(0), 10)
    policy = ChatModelPolicy(PageRuleChatModel())
    scores = policy.satisfaction(summaries, np.random.default_rng(0))
    want = [1 + round(9 * s["watched"] / s["shown"]) if s["shown"] else 1 for s in summaries]
    assert scores == want
    bad = ChatModelPolicy(PageRuleChatModel(always_bad=True), fallback="skip_all_exit")
    assert bad.satisfaction(summaries, np.random.default_rng(0)) == [5] * 10
    assert bad.stats["fallbacks"] == 10
    assert parse_satisfaction("Well.\nSATISFACTION: 7\n") == 7
    with pytest.raises(ValueError):
        parse_satisfaction("SATISFACTION 11")


def test_make_policy_and_state():
    policy = make_policy("chat", chat_model=PageRuleChatModel(), max_retries=0)
    policy.decide(_states(2), np.random.default_rng(0))
    other = ChatModelPolicy(PageRuleChatModel())
    other.set_state(json.loads(json.dumps(policy.get_state())))
    assert other.max_retries == 0 and other.stats["calls"] == 2
    with pytest.raises(ValueError, match="unknown fallback"):
        ChatModelPolicy(PageRuleChatModel(), fallback="panic")


class _Handler(BaseHTTPRequestHandler):
    """A tiny OpenAI-compatible /v1/chat/completions answering with the page rule."""

    requests: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        if self.path != "/v1/chat/completions":
            self.send_error(404)
            return
        users = [m["content"] for m in body["messages"] if m["role"] == "user"]
        bad = (
            sum(m["role"] == "assistant" for m in body["messages"]) == 0 and "Agent 1:" in users[0]
        )
        text = "hmm, not sure" if bad else rule_answer(users[0])
        write_chat_completion(self, body["model"], text)

    def log_message(self, *args):
        pass


@pytest.fixture
def openai_server(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    _Handler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_chat_openai_over_loopback(openai_server):
    langchain_openai = pytest.importorskip(
        "langchain_openai", reason="langchain-openai not installed (extra 'openai')"
    )
    model = langchain_openai.ChatOpenAI(
        base_url=openai_server, api_key="x", model="fake", max_retries=0, timeout=10
    )
    policy = ChatModelPolicy(model, max_concurrency=4)
    states = _states(6)
    assert policy.decide(states, np.random.default_rng(0)) == _expected(states)
    assert policy.stats["retries"] == 1 and policy.stats["fallbacks"] == 0
    assert len(_Handler.requests) == 7
    assert _Handler.requests[0]["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
