"""The ``openai_server`` policy against a fake OpenAI-compatible server on 127.0.0.1."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from alignuser.env.text import extract_action, render_state
from alignuser.policy import make_policy
from alignuser.testing.fakes import rule_answer, write_chat_completion
from alignuser.testing.policies import random_page_states

pytest.importorskip("langchain_openai", reason="langchain-openai not installed (extra 'openai')")


class _Handler(BaseHTTPRequestHandler):
    """Chat completions answering with the page rule; ``fail`` first requests get a 500."""

    lock = threading.Lock()
    times: list = []
    in_flight = 0
    max_in_flight = 0
    fail = 0
    delay = 0.0

    def do_POST(self):
        cls = type(self)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with cls.lock:
            cls.times.append(time.monotonic())
            cls.in_flight += 1
            cls.max_in_flight = max(cls.max_in_flight, cls.in_flight)
            failing = cls.fail > 0
            cls.fail -= failing
        try:
            time.sleep(cls.delay)
            if failing:
                self.send_error(500, "overloaded")
                return
            users = [m["content"] for m in body["messages"] if m["role"] == "user"]
            write_chat_completion(self, body["model"], rule_answer(users[0]))
        finally:
            with cls.lock:
                cls.in_flight -= 1

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.times, _Handler.in_flight, _Handler.max_in_flight = [], 0, 0
    _Handler.fail, _Handler.delay = 0, 0.0
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def _states(n, seed=0):
    return random_page_states(np.random.default_rng(seed), n, max_ratings=(5,))


def _expected(states):
    return [extract_action(rule_answer(render_state(s)), s.item_ids, s.max_rating) for s in states]


def test_batch_bounded_concurrency(server):
    _Handler.delay = 0.1
    policy = make_policy("openai_server", base_url=server, model="m", max_concurrency=3)
    states = _states(9)
    assert policy.decide(states, np.random.default_rng(0)) == _expected(states)
    assert len(_Handler.times) == 9 and policy.stats["batches"] == 1
    assert 2 <= _Handler.max_in_flight <= 3  # parallel, but never more than max_concurrency


def test_500_then_success_is_retried(server):
    _Handler.fail = 1
    policy = make_policy("openai_server", base_url=server, model="m", max_retries=2)
    states = _states(1)
    assert policy.decide(states, np.random.default_rng(0)) == _expected(states)
    assert len(_Handler.times) == 2 and policy.stats["errors"] == 0


def test_rate_limit_is_honoured(server):
    rps = 20.0
    policy = make_policy(
        "openai_server", base_url=server, model="m", max_concurrency=8, requests_per_second=rps
    )
    states = _states(16)
    assert policy.decide(states, np.random.default_rng(0)) == _expected(states)
    t = sorted(_Handler.times)
    rate = (len(t) - 1) / (t[-1] - t[0])
    assert rate <= rps * 1.25, rate
    assert rate >= rps * 0.4, rate  # and it did run concurrently up to the limit


def _closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_server_down_raises_by_default():
    from alignuser.policy.server import PolicyUnavailable

    policy = make_policy(
        "openai_server", base_url=_closed_port_url(), model="m", max_retries=0, parse_retries=0
    )
    with pytest.raises(PolicyUnavailable, match="no usable answer"):
        policy.decide(_states(2), np.random.default_rng(0))
    fb = make_policy(
        "openai_server", base_url=_closed_port_url(), model="m", max_retries=0,
        parse_retries=0, fallback="skip_all_exit",
    )  # fmt: skip
    assert all(a.exit for a in fb.decide(_states(2), np.random.default_rng(0)))


def test_run_goes_on_when_server_is_down(tmp_path):
    from alignuser.scenario import Scenario
    from alignuser.simulation.outputs import read_sessions
    from alignuser.simulation.runner import run

    s = Scenario.model_validate(
        {
            "seed": 3,
            "dataset": {"synthetic": {"n_users": 40, "n_items": 60}},
            "population": {"n_agents": 6},
            "memory": {"backend": "inmemory"},
            "recommenders": [{"name": "popular"}],
            "resilience": {"retries": 1, "backoff": 0.0},
            "policy": {
                "name": "openai_server",
                "params": {"base_url": _closed_port_url(), "model": "m", "max_retries": 0,
                           "parse_retries": 0, "timeout": 5},
            },
            "output": {"dir": str(tmp_path), "report": False},
        }
    )  # fmt: skip
    out = run(s, tmp_path / "down")
    manifest = json.loads((out / "manifest.json").read_text())
    # the run goes on to the end, then says every session failed (issue 17)
    assert manifest["status"] == "failed"
    assert manifest["recommenders"]["popular"]["failed_share"] == 1.0
    assert manifest["recommenders"]["popular"]["faults"] == 6  # one per agent's session
    se = read_sessions(out)
    assert len(se) == 6 and (se["pages"] == 1).all() and (se["watches"] == 0).all()
    assert manifest["policy_stats"]["errors"] > 0
