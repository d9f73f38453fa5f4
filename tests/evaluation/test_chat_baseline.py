"""The ``chat`` baseline (a ChatModelPolicy) in the alignment protocols, offline."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from typer.testing import CliRunner

from alignuser.data.splits import temporal_split
from alignuser.data.synthetic import SyntheticWorld
from alignuser.evaluation.chat_baseline import parse_chat_spec
from alignuser.evaluation.cli import eval_app
from alignuser.evaluation.common import chat_status
from alignuser.evaluation.next_action import next_action, next_action_table
from alignuser.evaluation.protocols import build_policies
from alignuser.evaluation.rating import rating_prediction, rating_table
from alignuser.evaluation.suite import run_selection
from alignuser.evaluation.taste import sample_taste_items, taste_discrimination, taste_table
from alignuser.policy.chat import ChatModelPolicy
from alignuser.testing.fakes import PageRuleChatModel, rule_answer, write_chat_completion


@pytest.fixture(scope="module")
def world():
    ds = SyntheticWorld(n_users=16, n_items=50, seed=3).dataset(n_sessions_per_user=2)
    return ds, temporal_split(ds.interactions, 0.25, 0.1)


def test_no_chat_no_row_and_chat_object_is_wrapped(world):
    ds, split = world
    assert "chat" not in build_policies(ds, split.train, ["random", "chat"])
    model = PageRuleChatModel()
    pols = build_policies(ds, split.train, ["random"], chat=model)
    assert list(pols) == ["random", "chat"]
    assert isinstance(pols["chat"], ChatModelPolicy) and pols["chat"].chat_model is model
    ready = ChatModelPolicy(model)
    assert build_policies(ds, split.train, [], chat=ready)["chat"] is ready


def test_taste_rating_next_action_have_finite_chat_rows(world):
    ds, split = world
    model = PageRuleChatModel()
    pols = build_policies(ds, split.train, ["random", "popularity"], chat=model)
    raw = taste_discrimination(ds, split, pols, ms=(1,), seeds=(0,))
    chat = raw.set_index("policy").loc["chat"]
    sizes = sample_taste_items(split, ds.n_items, 1, 0).groupby("user_id").size()
    assert model.calls == int(np.ceil(sizes / 4).sum())  # one answer per page, no Monte-Carlo
    assert np.isfinite(chat[["accuracy", "precision", "recall", "f1", "auc"]].astype(float)).all()
    assert set(taste_table(raw)["policy"]) == {"random", "popularity", "chat"}
    assert pols["chat"].stats["fallbacks"] == 0

    r = rating_prediction(ds, split, pols, max_ratings=60, split_name="t").set_index("policy")
    assert np.isfinite(r.loc["chat", ["rmse", "mae"]].astype(float)).all()
    assert 0.0 <= r.loc["chat", "rated_share"] <= 1.0
    assert "chat" in set(rating_table(r.reset_index())["policy"])

    def fn(train_ds, train_inter):
        return build_policies(train_ds, train_inter, ["random"], chat=PageRuleChatModel())

    na = next_action_table(next_action(ds, fn, test_fraction=0.3, seeds=(0,)))
    row = na.set_index("policy").loc["chat"]
    assert np.isfinite(row[["top1", "mrr", "exit_accuracy"]].astype(float)).all()
    assert 0 <= row["top1"] <= row["mrr"] <= 1


def test_chat_status_says_what_is_missing(world):
    ds, split = world
    pols = build_policies(ds, split.train, ["random"], chat=PageRuleChatModel(always_bad=True))
    table = taste_table(taste_discrimination(ds, split, pols, ms=(1,), seeds=(0,)))
    out = chat_status(table.assign(status="ok"), [pols["chat"]], "taste").set_index("policy")
    assert out.loc["random", "status"] == "ok"
    assert "no probabilities" in out.loc["chat", "status"]
    n = pols["chat"].stats["fallbacks"]
    assert n > 0 and f"{n} page(s) fell back" in out.loc["chat", "status"]


def test_selection_gets_a_sim_chat_column():
    out = run_selection(worlds=1, n_users=12, n_items=30, policies=("random",),
                        chat=PageRuleChatModel())  # fmt: skip
    assert np.isfinite(out["scores"]["sim_chat"]).all()
    assert "sim_chat" in set(out["agreement"]["method"])


class _Handler(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat-completions server answering with the page rule."""

    requests = 0

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests += 1
        users = [m["content"] for m in body["messages"] if m["role"] == "user"]
        write_chat_completion(self, body["model"], rule_answer(users[0]))

    def log_message(self, *args):
        pass


def test_spec_against_a_fake_openai_server(world):
    pytest.importorskip("langchain_openai", reason="langchain-openai not installed")
    ds, split = world
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/v1"
        pols = build_policies(ds, split.train, ["random"], chat=f"openai:fake-model@{url}")
        raw = taste_discrimination(ds, split, pols, ms=(3,), seeds=(1,), users=[0, 1, 2])
    finally:
        srv.shutdown()
        srv.server_close()
    assert _Handler.requests > 0 and pols["chat"].stats["fallbacks"] == 0
    assert np.isfinite(raw.set_index("policy").loc["chat", ["accuracy", "auc"]].astype(float)).all()


@pytest.mark.parametrize("spec", ["gpt-4o", "openai:", "openai:m@", "openai:m@not-a-url", "vllm:m"])
def test_malformed_spec(spec):
    with pytest.raises(ValueError, match="openai:<model>"):
        parse_chat_spec(spec)


@pytest.mark.parametrize("command", ["taste", "rating", "next-action", "all", "selection"])
def test_cli_bad_chat_exits_2(command, tmp_path):
    res = CliRunner().invoke(eval_app, [command, "--chat", "gpt-4o", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "--chat" in res.output and "openai:<model>" in res.output
    assert not list(tmp_path.iterdir())  # nothing ran
