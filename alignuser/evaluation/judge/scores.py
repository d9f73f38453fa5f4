"""Human-likeness judge: an LLM rates each browsing session 1..5 (optional protocol 6).

The AlignUSER paper reports a human-likeness score on a 5-point scale (AlignUSER 4.58,
SimUSER 4.41) given by an LLM judge. Its prompt, anchors and inputs are not in our references,
so the rubric below is ours: the judge reads one session as a compact transcript (persona
summary when known, each page's items with genres, what was watched and how it was rated, how
the session ended) and answers ``SCORE n`` and ``REASON ...``. Simulated and human sessions are
rendered the same way and the judge is never told the source.

Answers are parsed strictly; an unparseable answer (or a model error) is re-asked once with
the problem stated, then recorded as missing and counted. Every answer is cached on disk as
JSON keyed by SHA-256 of (model id, conversation), so a rerun costs no model call. Without a
judge, :func:`run_judge` reports "not run: no judge configured" and no number.

Gaps we filled (not in the references): the wording and anchors of the rubric, what a
transcript shows, one score per session (not per agent), temperature 0, and the retry rule.
Limits: rating-only human logs (no impressions) only show watched items; with a ``mix``
population the agents are cold users, so human sessions come from other users and carry no
persona line; model errors are not cached (a rerun asks again). The cache is not shared with
:class:`~alignuser.training.reflectors.ChatModelReflector`, whose key is the prompt alone.

Transcripts are built in :mod:`~alignuser.evaluation.judge.transcripts`, the rubric, answer
parsing and cache key live in :mod:`~alignuser.evaluation.judge.prompt`; this module asks the
judge and summarises (the package :mod:`alignuser.evaluation.judge` re-exports the public
names of all three).

Example:
    >>> from alignuser.evaluation.judge import run_judge  # doctest: +SKIP
    >>> out = run_judge("runs/small-2026", "openai:Qwen2.5-7B@http://gpu:8000/v1")  # doctest: +SKIP
    >>> out["summary"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alignuser.evaluation.judge.prompt import (
    ASK_AGAIN,
    JUDGE_PROMPT,
    cache_key,
    message_text,
    model_id,
    parse_judgement,
)
from alignuser.evaluation.judge.transcripts import (
    GROUP_KEYS,
    TRANSCRIPT_COLUMNS,
    human_transcripts,
    item_labels,
    simulated_transcripts,
)

log = logging.getLogger(__name__)

__all__ = ["NOT_RUN", "judge_model", "judge_sessions", "judge_table", "run_judge"]

NOT_RUN = "not run: no judge configured"


def judge_model(spec: str, max_tokens: int = 128, temperature: float = 0.0, **kwargs: Any):
    """A LangChain chat model from a short spec: ``"openai:<model>[@<base_url>]"``.

    ``local:smollm2`` and ``transformers:DIR[@FILE.gguf]`` give an offline local model
    (:func:`~alignuser.evaluation.judge.local.local_judge_model`; no server, no key).
    Otherwise built by :func:`alignuser.policy.server.openai_server_policy` (``langchain-openai``
    ``ChatOpenAI``, API key from ``$OPENAI_API_KEY`` or ``"EMPTY"``, HTTP retries); extra
    keyword arguments go to it (``timeout``, ``requests_per_second``, ``model_kwargs``...).

    Raises:
        ValueError: For any other spec form.
    """
    from alignuser.evaluation.judge.local import is_local_spec, local_judge_model

    if is_local_spec(spec):
        return local_judge_model(spec)
    from alignuser.evaluation.chat_baseline import parse_chat_spec
    from alignuser.policy.server import openai_server_policy

    model, base_url = parse_chat_spec(spec, "judge model")
    policy = openai_server_policy(base_url, model, max_tokens=max_tokens,
                                  temperature=temperature, **kwargs)  # fmt: skip
    return policy.chat_model


def judge_sessions(transcripts: pd.DataFrame | Sequence[str], chat_model: Any,
                   cache_dir: str | Path | None = None, model: str | None = None,
                   retries: int = 1, max_concurrency: int = 8) -> pd.DataFrame:  # fmt: skip
    """Ask the judge about every transcript (one batch per attempt), parse, retry, cache.

    Args:
        transcripts: A frame with a ``transcript`` column (other columns are kept) or texts.
        chat_model: A LangChain chat model (its ``batch`` is used).
        cache_dir: Folder of ``<sha256>.json`` answers (``None``: no cache).
        model: Model id for the cache key (default :func:`model_id`).
        retries: Re-asks after an unparseable answer or a model error.
        max_concurrency: Requests in flight.

    Returns:
        The input plus ``score`` (float, NaN when missing), ``reason``, ``status`` ("ok",
        "missing": never parseable, "error": the model failed), ``attempts`` and ``calls``
        (model calls made now; 0 when answered from the cache).
    """
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    frame = transcripts if isinstance(transcripts, pd.DataFrame) else pd.DataFrame(
        {"transcript": list(transcripts)})  # fmt: skip
    frame = frame.reset_index(drop=True)
    mid = model or model_id(chat_model)
    cache = Path(cache_dir) if cache_dir is not None else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    n = len(frame)
    convs = [[SystemMessage(content=JUDGE_PROMPT), HumanMessage(content=f"SESSION LOG:\n{t}")]
             for t in frame["transcript"]]  # fmt: skip
    score, reason = [np.nan] * n, [""] * n
    status, attempts, calls = ["missing"] * n, [0] * n, [0] * n
    todo = list(range(n))
    for _ in range(retries + 1):
        if not todo:
            break
        answers: dict[int, Any] = {}
        keys = {i: cache_key(mid, convs[i]) for i in todo}
        for i in todo:
            f = cache / f"{keys[i]}.json" if cache is not None else None
            if f is not None and f.is_file():
                answers[i] = json.loads(f.read_text(encoding="utf-8"))["answer"]
        ask = [i for i in todo if i not in answers]
        if ask:
            got = chat_model.batch([convs[i] for i in ask], return_exceptions=True,
                                   config={"max_concurrency": max_concurrency})  # fmt: skip
            for i, a in zip(ask, got):
                calls[i] += 1
                answers[i] = a if isinstance(a, Exception) else message_text(a)
                if cache is not None and not isinstance(a, Exception):
                    record = {"model": mid, "key": keys[i], "answer": answers[i]}
                    (cache / f"{keys[i]}.json").write_text(json.dumps(record), encoding="utf-8")
        failed = []
        for i in todo:
            attempts[i] += 1
            a = answers[i]
            if isinstance(a, Exception):
                status[i] = "error"
                log.warning("judge: model error on transcript %d: %s", i, a)
                failed.append(i)
                continue
            try:
                score[i], reason[i] = parse_judgement(a)
                status[i] = "ok"
            except ValueError as exc:
                status[i] = "missing"
                notice = f"Your answer could not be used: {exc}. {ASK_AGAIN}"
                convs[i] = [*convs[i], AIMessage(content=a), HumanMessage(content=notice)]
                failed.append(i)
        todo = failed
    return frame.assign(score=np.array(score, dtype=float), reason=reason, status=status,
                        attempts=attempts, calls=calls)  # fmt: skip


def judge_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Mean, std, n (scored) and n_missing per source / policy / recommender."""
    keys = [k for k in GROUP_KEYS if k in raw.columns]
    rows = []
    for key, g in raw.groupby(keys, sort=False) if keys else [((), raw)]:
        ok = g["score"].dropna()
        rows.append({**dict(zip(keys, key if isinstance(key, tuple) else (key,))),
                     "mean": ok.mean() if len(ok) else np.nan,
                     "std": ok.std(ddof=1) if len(ok) > 1 else np.nan,
                     "n": len(ok), "n_missing": int(len(g) - len(ok)),
                     "status": "ok" if len(ok) else "no usable answer"})  # fmt: skip
    return pd.DataFrame(rows, columns=[*keys, "mean", "std", "n", "n_missing", "status"])


def run_judge(run_dir: str | Path, chat_model: Any = None, n_sessions: int | None = 50,
              seed: int = 0, human: bool = True, cache_dir: str | Path | None = None,
              max_concurrency: int = 8) -> dict:  # fmt: skip
    """Judge sampled sessions of a run folder and, for comparison, of its human logs.

    Args:
        run_dir: A finished run folder (``scenario.yaml``, events, sessions).
        chat_model: A LangChain chat model, a spec for :func:`judge_model`, or ``None`` (the
            summary then says "not run: no judge configured").
        n_sessions: Sessions sampled per recommender and from the human logs.
        seed: Sampling seed.
        human: Also judge the dataset's human sessions (same users where possible).
        cache_dir: Answer cache (default ``<run_dir>/judge_cache``).
        max_concurrency: Requests in flight.

    Returns:
        ``{"summary": judge_table(...), "raw": one row per judged session}``.
    """
    import yaml

    from alignuser.simulation.outputs import read_events, read_manifest, read_sessions

    run_dir = Path(run_dir)
    sessions = read_sessions(run_dir)
    conf = yaml.safe_load((run_dir / "scenario.yaml").read_text(encoding="utf-8")) or {}
    policy = str((conf.get("policy") or {}).get("name", ""))
    if chat_model is None:
        rows = [("simulated", policy, r) for r in sorted(sessions["recommender"].unique())]
        rows += [("human", "human", "logs")] if human else []
        summary = pd.DataFrame(rows, columns=GROUP_KEYS).assign(
            mean=np.nan, std=np.nan, n=0, n_missing=0, status=NOT_RUN
        )
        return {"summary": summary, "raw": pd.DataFrame(columns=TRANSCRIPT_COLUMNS)}
    if isinstance(chat_model, str):
        chat_model = judge_model(chat_model)
    from alignuser.personas.text import render_persona
    from alignuser.scenario import load_scenario
    from alignuser.simulation.runner import prepare

    prep = prepare(load_scenario(run_dir / "scenario.yaml"))
    labels = item_labels(prep.catalog)
    texts = [render_persona(p) for p in prep.personas]
    max_rating = int(read_manifest(run_dir).get("max_rating", prep.scale.max))
    parts = [simulated_transcripts(read_events(run_dir), sessions, labels, max_rating, policy,
                                   texts, n_sessions, seed)]  # fmt: skip
    if human:
        by_user = {int(u): t for u, t in zip(prep.agent_users, texts)}
        page = conf.get("session") or {}
        parts.append(human_transcripts(prep.dataset, labels, n_sessions, seed,
                                       users=list(by_user), personas=by_user,
                                       items_per_page=int(page.get("items_per_page", 4)),
                                       max_pages=page.get("max_pages")))  # fmt: skip
    raw = judge_sessions(pd.concat(parts, ignore_index=True), chat_model,
                         cache_dir or run_dir / "judge_cache",
                         max_concurrency=max_concurrency)  # fmt: skip
    return {"summary": judge_table(raw), "raw": raw}
