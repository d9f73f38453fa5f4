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

Example:
    >>> from alignuser.evaluation.judge import run_judge  # doctest: +SKIP
    >>> out = run_judge("runs/small-2026", "openai:Qwen2.5-7B@http://gpu:8000/v1")  # doctest: +SKIP
    >>> out["summary"]  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

__all__ = ["JUDGE_PROMPT", "NOT_RUN", "human_transcripts", "item_labels", "judge_model",
           "judge_sessions", "judge_table", "model_id", "parse_judgement", "render_session",
           "run_judge", "simulated_transcripts"]  # fmt: skip

NOT_RUN = "not run: no judge configured"
JUDGE_PROMPT = (
    "You review logs of people browsing a recommendation website. Each log shows who the "
    "person is (when known), every page of recommended items they were shown, which items they "
    "watched and the rating they gave (out of the stated maximum), and how the session ended.\n"
    "Rate how human-like the behaviour is, from 1 to 5:\n"
    "5 = indistinguishable from a real person: choices follow a consistent taste that fits the "
    "persona, ratings vary plausibly, the browsing length and the exit feel natural.\n"
    "4 = mostly human-like, with minor oddities.\n"
    "3 = mixed: partly plausible, partly mechanical or inconsistent.\n"
    "2 = mostly unnatural: repetitive or arbitrary choices, ratings at odds with the taste, "
    "odd exits.\n"
    "1 = clearly machine-generated or random.\n"
    "Answer with exactly two lines and nothing else:\nSCORE <1-5>\nREASON <one short sentence>"
)
_SCORE_RE = re.compile(r"(?mi)^\s*\**SCORE\**\s*:?\s*(\d+)\s*(?:/\s*5)?\s*$")
_REASON_RE = re.compile(r"(?mi)^\s*\**REASON\**\s*:?\s*(.+?)\s*$")
_AGAIN = "Answer with exactly two lines: 'SCORE n' (1 to 5) and 'REASON <one sentence>'."
_KEYS = ["source", "policy", "recommender"]
_RAW = [*_KEYS, "user_id", "session", "transcript"]


def parse_judgement(text: str) -> tuple[int, str]:
    """Read ``SCORE n`` (one line, n in 1..5) and the optional ``REASON ...`` line.

    Raises:
        ValueError: When there is not exactly one score line or the score is out of range.
    """
    scores = _SCORE_RE.findall(text)
    if len(scores) != 1:
        raise ValueError(f"expected exactly one line 'SCORE n', found {len(scores)}")
    if not 1 <= int(scores[0]) <= 5:
        raise ValueError(f"the score must be an integer from 1 to 5, not {scores[0]}")
    m = _REASON_RE.search(text)
    return int(scores[0]), (m.group(1) if m else "")


def item_labels(catalog) -> dict[int, str]:
    """``item_id -> "Title (Genre/Genre)"`` for a :class:`~alignuser.data.tables.Catalog`."""
    df = catalog.df
    return {
        int(i): f"{t} ({'/'.join(g)})" if len(g) else str(t)
        for i, t, g in zip(df["item_id"], df["title"], df["genres"])
    }


def render_session(events: pd.DataFrame, labels: Mapping[int, str], max_rating: int,
                   persona: str | None = None, exited: bool = True) -> str:  # fmt: skip
    """One session as a compact transcript.

    Args:
        events: Rows of one session with ``page``, ``position``, ``item_id``, ``watched``,
            ``rating`` (as in the run folder's events).
        labels: Item id to display text (see :func:`item_labels`).
        max_rating: Top of the rating scale.
        persona: Persona summary, left out when ``None``.
        exited: Whether the person chose to leave (else the page limit ended the session).
    """
    lines = [f"PERSONA: {persona}"] if persona else []
    ev = events.sort_values(["page", "position"], kind="stable")
    pages = list(ev.groupby("page", sort=True))
    for n, (_, g) in enumerate(pages, start=1):
        parts = []
        for item, w, r in zip(g["item_id"], g["watched"], g["rating"]):
            label = labels.get(int(item), f"item {int(item)}")
            if not w:
                parts.append(f"{label}: skipped")
            elif pd.isna(r):
                parts.append(f"{label}: watched")
            else:
                parts.append(f"{label}: watched, rated {int(r)}/{max_rating}")
        lines.append(f"PAGE {n}: " + "; ".join(parts))
    how = "left the site" if exited else "reached the last page offered"
    lines.append(f"END: {how} after page {len(pages)}.")
    return "\n".join(lines)


def _sample(keys: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    if n is None or len(keys) <= n:
        return keys
    idx = np.sort(np.random.default_rng(seed).choice(len(keys), n, replace=False))
    return keys.iloc[idx]


def _pick(frame: pd.DataFrame, users, n: int | None, seed: int) -> pd.DataFrame:
    """Sample ``(user_id, session)`` keys, from ``users`` when any of them has a session."""
    keys = (
        frame[["user_id", "session"]]
        .drop_duplicates()
        .sort_values(["user_id", "session"], kind="stable")
    )
    if users is not None and keys["user_id"].isin(list(users)).any():
        keys = keys[keys["user_id"].isin(list(users))]
    return _sample(keys, n, seed)


def simulated_transcripts(events: pd.DataFrame, sessions: pd.DataFrame,
                          labels: Mapping[int, str], max_rating: int, policy: str = "",
                          personas: Sequence[str] | None = None, n_sessions: int | None = 50,
                          seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """Transcripts of up to ``n_sessions`` finished sessions per recommender of a run.

    Args:
        events: A run folder's events (:mod:`alignuser.simulation.outputs`).
        sessions: Its finished sessions.
        labels: Item display texts.
        max_rating: Top of the rating scale.
        policy: The run's policy name (recorded in the ``policy`` column).
        personas: Persona summary per ``agent_id`` (or ``None``).
        n_sessions: Sessions sampled per recommender (``None``: all).
        seed: Sampling seed.

    Returns:
        Columns ``source`` ("simulated"), ``policy``, ``recommender``, ``user_id``,
        ``session``, ``transcript``.
    """
    key = ["recommender", "agent_id", "session"]
    groups = {k: g for k, g in events.groupby(key, sort=False)}
    rows = []
    for rec, se in sessions.groupby("recommender", sort=True):
        picked = _sample(se.sort_values(key[1:], kind="stable"), n_sessions, seed)
        for agent, sess, user, exited in zip(picked["agent_id"], picked["session"],
                                             picked["user_id"], picked["exited"]):  # fmt: skip
            ev = groups.get((rec, agent, sess))
            if ev is None or not len(ev):
                continue
            persona = personas[int(agent)] if personas is not None else None
            text = render_session(ev, labels, max_rating, persona, bool(exited))
            rows.append(("simulated", policy, rec, int(user), int(sess), text))
    return pd.DataFrame(rows, columns=_RAW)


def human_transcripts(dataset, labels: Mapping[int, str], n_sessions: int | None = 50,
                      seed: int = 0, users: Sequence[int] | None = None,
                      personas: Mapping[int, str] | None = None,
                      items_per_page: int = 4,
                      max_pages: int | None = None) -> pd.DataFrame:  # fmt: skip
    """Transcripts of up to ``n_sessions`` sessions of the human logs.

    With page-level impressions (``session_id`` known), each impression is a page, clicks
    are the watched items and ratings come from the interactions. Otherwise interactions are
    cut into sessions (30-minute gap) and shown ``items_per_page`` at a time; such pages only
    hold watched items, which a judge may notice.

    Args:
        dataset: A :class:`~alignuser.data.dataset.Dataset`.
        labels: Item display texts.
        n_sessions: Sessions sampled (``None``: all).
        seed: Sampling seed.
        users: Keep sessions of these users when any of them has one.
        personas: Persona summary per ``user_id``.
        items_per_page: Page size for logs without impressions.
        max_pages: Longer sessions keep their first ``max_pages`` pages and end as a simulated
            session does at the page limit ("reached the last page offered").

    Returns:
        The columns of :func:`simulated_transcripts`, with ``source`` "human".
    """
    from alignuser.data.sessions import sessionize

    max_rating = dataset.scale.max if dataset.scale else 5
    inter = dataset.interactions.df
    imp = dataset.impressions.df if dataset.impressions is not None else None
    if imp is not None and (imp["session_id"] >= 0).any():
        imp = imp[imp["session_id"] >= 0].rename(columns={"session_id": "session"})
        picked = _pick(imp, users, n_sessions, seed)
        imp = imp.merge(picked, on=["user_id", "session"]).sort_values(
            ["user_id", "session", "timestamp"], kind="stable"
        )
        mine = inter[inter["user_id"].isin(picked["user_id"])]
        rating = dict(zip(zip(mine["user_id"], mine["item_id"]), mine["rating"]))
        ev = imp.assign(page=imp.groupby(["user_id", "session"]).cumcount())
        ev = ev.assign(clicked=[set(c) for c in ev["clicked"]]).reset_index(drop=True)
        ev = ev.explode("items").dropna(subset=["items"])
        ev = ev.assign(
            item_id=ev["items"].astype(np.int64), position=ev.groupby(level=0).cumcount()
        )
        ev["watched"] = [i in c for i, c in zip(ev["item_id"], ev["clicked"])]
        uiw = zip(ev["user_id"], ev["item_id"], ev["watched"])
        ev["rating"] = [rating.get((u, i), np.nan) if w else np.nan for u, i, w in uiw]
    else:
        ev = sessionize(inter).rename(columns={"session_id": "session"})
        ev = ev.assign(page=ev["position"] // items_per_page, watched=True)
        picked = _pick(ev, users, n_sessions, seed)
    groups = dict(iter(ev.groupby(["user_id", "session"])))
    rows = []
    for user, sess in zip(picked["user_id"], picked["session"]):
        persona = (personas or {}).get(int(user))
        g = groups[(user, sess)]
        pages = np.unique(g["page"])
        cut = max_pages is not None and len(pages) > max_pages
        if cut:
            g = g[g["page"].isin(pages[:max_pages])]
        text = render_session(g, labels, max_rating, persona, exited=not cut)
        rows.append(("human", "human", "logs", int(user), int(sess), text))
    return pd.DataFrame(rows, columns=_RAW)


def judge_model(spec: str, max_tokens: int = 128, temperature: float = 0.0, **kwargs: Any):
    """A LangChain chat model from a short spec: ``"openai:<model>[@<base_url>]"``.

    Built by :func:`alignuser.policy.server.openai_server_policy` (``langchain-openai``
    ``ChatOpenAI``, API key from ``$OPENAI_API_KEY`` or ``"EMPTY"``, HTTP retries); extra
    keyword arguments go to it (``timeout``, ``requests_per_second``, ``model_kwargs``...).

    Raises:
        ValueError: For any other spec form.
    """
    from alignuser.policy.server import openai_server_policy

    kind, _, rest = spec.partition(":")
    model, _, base_url = rest.partition("@")
    if kind != "openai" or not model:
        raise ValueError(f"judge model spec {spec!r}: expected 'openai:<model>[@<base_url>]'")
    policy = openai_server_policy(base_url or None, model, max_tokens=max_tokens,
                                  temperature=temperature, **kwargs)  # fmt: skip
    return policy.chat_model


def model_id(chat_model: Any) -> str:
    """A stable id of a chat model and its settings (part of the cache key).

    It is ``_llm_type`` plus ``_identifying_params`` (and the server URL when the model has
    one). Models that report no parameters share an id per type: pass ``model=`` to
    :func:`judge_sessions` to tell them apart.
    """
    params = dict(getattr(chat_model, "_identifying_params", {}) or {})
    for attr in ("openai_api_base", "base_url"):  # the server, when the model has one
        if getattr(chat_model, attr, None):
            params[attr] = str(getattr(chat_model, attr))
    kind = getattr(chat_model, "_llm_type", type(chat_model).__name__)
    return f"{kind}:{json.dumps(params, sort_keys=True, default=str)}"


def _text(message: Any) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    return "".join(p if isinstance(p, str) else p.get("text", "") for p in content)


def _key(mid: str, conversation: list) -> str:
    turns = [[type(m).__name__, _text(m)] for m in conversation]
    return hashlib.sha256(json.dumps([mid, turns]).encode()).hexdigest()


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
        keys = {i: _key(mid, convs[i]) for i in todo}
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
                answers[i] = a if isinstance(a, Exception) else _text(a)
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
                notice = f"Your answer could not be used: {exc}. {_AGAIN}"
                convs[i] = [*convs[i], AIMessage(content=a), HumanMessage(content=notice)]
                failed.append(i)
        todo = failed
    return frame.assign(score=np.array(score, dtype=float), reason=reason, status=status,
                        attempts=attempts, calls=calls)  # fmt: skip


def judge_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Mean, std, n (scored) and n_missing per source / policy / recommender."""
    keys = [k for k in _KEYS if k in raw.columns]
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
        summary = pd.DataFrame(rows, columns=_KEYS).assign(
            mean=np.nan, std=np.nan, n=0, n_missing=0, status=NOT_RUN
        )
        return {"summary": summary, "raw": pd.DataFrame(columns=_RAW)}
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
