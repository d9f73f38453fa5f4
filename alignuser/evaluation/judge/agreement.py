"""Judge agreement: does the judge pick the real of two sessions, and rank policies right?

Shown a real and a simulated session of the same user, does the judge pick the real one?
And do its 1-5 scores rank the policies as the discriminator does?

Sessions come from :mod:`~alignuser.evaluation.likeness.sessions`: each held-out human
session and each policy's session **on the same pages** (so a pair differs only in what was
done). Both are rendered by :func:`~alignuser.evaluation.judge.transcripts.render_session`
(persona line from the page state, both ending "left the site after page N") and shown in a
random order (seeded) under :data:`PAIR_PROMPT`; the answer ``ANSWER A|B`` is parsed
strictly (one re-ask on an unusable answer, then counted missing). ``agreement`` is the
share of answered pairs where the judge picked the real session (0.5: chance), with a
Clopper-Pearson interval (:func:`scipy.stats.binomtest`); ``share_a`` shows position bias (a
judge that always answers A scores 0.5). The same sampled sessions are scored 1-5 by
:func:`~alignuser.evaluation.judge.judge_sessions`; the summary row ``ranking`` gives the
Spearman correlation of the policies' mean scores with the discriminator's AUC
(:func:`~alignuser.evaluation.likeness.two_sample_auc`): a judge that agrees with the
discriminator has a correlation near -1 (higher score, lower AUC).

Example:
    >>> parse_pair("ANSWER B")
    'B'
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["PAIR_PROMPT", "judge_pairs", "parse_pair", "run_judge_agreement",
           "session_transcript"]  # fmt: skip

PAIR_PROMPT = (
    "You review two logs of browsing sessions on a recommendation website. Both logs show the "
    "same person (when known) and the same pages of recommended items; they differ in what was "
    "watched, how it was rated and when the session ended. One log was made by the real person, "
    "the other by a computer simulation of them.\nWhich log was made by the real person?\n"
    "Answer with exactly two lines and nothing else:\nANSWER <A or B>\nREASON <one short sentence>"
)
_PAIR_RE = re.compile(r"(?mi)^\s*\**ANSWER\**\s*:?\s*\**\s*([AB])\b")
_AGAIN = "Answer with exactly two lines: 'ANSWER A' or 'ANSWER B', then 'REASON <one sentence>'."


def parse_pair(text: str) -> str:
    """``"A"`` or ``"B"`` from one ``ANSWER`` line.

    Raises:
        ValueError: Without exactly one ``ANSWER A`` / ``ANSWER B`` line.
    """
    got = _PAIR_RE.findall(text)
    if len(got) != 1:
        raise ValueError(f"expected exactly one line 'ANSWER A' or 'ANSWER B', found {len(got)}")
    return got[0].upper()


def session_transcript(session, labels, max_rating: int, max_items: int | None = 8) -> str:
    """A :class:`~alignuser.evaluation.likeness.sessions.Session` as a judge transcript.

    ``max_items``: a page shows its first ``max_items`` positions and every watched item
    (EB-NeRD pages list up to 81 articles in view: small judges need short logs); the real
    and the simulated session of a pair are cut the same way.
    """
    from alignuser.evaluation.judge.transcripts import render_session

    rows = []
    for page, (st, w, r) in enumerate(zip(session.states, session.watched, session.ratings)):
        for pos, (item, x, y) in enumerate(zip(st.item_ids, w, r)):
            if max_items is None or pos < max_items or x:
                rows.append((page, pos, int(item), bool(x), y))
    ev = pd.DataFrame(rows, columns=["page", "position", "item_id", "watched", "rating"])
    persona = session.states[0].persona if session.states else None
    return render_session(ev, labels, max_rating, persona, exited=True)


def _ask(convs: list, chat_model, cache: Path | None, mid: str, retries: int = 1) -> list:
    """Answers (``"A"``/``"B"`` or ``None``) of every pair conversation, cached by key."""
    from langchain_core.messages import AIMessage, HumanMessage

    from alignuser.evaluation.judge.prompt import cache_key, message_text

    out: list = [None] * len(convs)
    todo = list(range(len(convs)))
    for _ in range(retries + 1):
        answers: dict[int, Any] = {}
        for i in todo:
            f = cache / f"{cache_key(mid, convs[i])}.json" if cache is not None else None
            if f is not None and f.is_file():
                answers[i] = json.loads(f.read_text(encoding="utf-8"))["answer"]
        ask = [i for i in todo if i not in answers]
        got = chat_model.batch([convs[i] for i in ask], return_exceptions=True) if ask else []
        for i, a in zip(ask, got):
            answers[i] = a if isinstance(a, Exception) else message_text(a)
            if cache is not None and not isinstance(a, Exception):
                rec = {"model": mid, "answer": answers[i]}
                (cache / f"{cache_key(mid, convs[i])}.json").write_text(json.dumps(rec), "utf-8")
        failed = []
        for i in todo:
            if isinstance(answers[i], Exception):
                failed.append(i)
                continue
            try:
                out[i] = parse_pair(answers[i])
            except ValueError as exc:
                note = f"Your answer could not be used: {exc}. {_AGAIN}"
                convs[i] = [*convs[i], AIMessage(content=answers[i]), HumanMessage(content=note)]
                failed.append(i)
        todo = failed
        if not todo:
            break
    return out


def judge_pairs(real: list[str], sims: dict[str, list[str]], chat_model, seed: int = 0,
                cache_dir: str | Path | None = None) -> pd.DataFrame:  # fmt: skip
    """Ask the judge which of (real, simulated) is real, for every policy and session.

    Args:
        real: Transcripts of the human sessions.
        sims: Policy name -> transcripts of its sessions, aligned with ``real``.
        chat_model: A LangChain chat model.
        seed: Order seed (the real session is A or B at random, per pair).
        cache_dir: Answer cache folder (``None``: none).

    Returns:
        One row per pair: ``policy``, ``index``, ``real_is``, ``answer`` (``None``: missing),
        ``picked_real``.
    """
    from langchain_core.messages import HumanMessage, SystemMessage

    from alignuser.evaluation.judge.prompt import model_id

    cache = Path(cache_dir) if cache_dir is not None else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, convs = [], []
    for name, texts in sims.items():
        if len(texts) != len(real):
            raise ValueError(f"{name}: {len(texts)} simulated transcripts for {len(real)} real")
        for i, (r, s) in enumerate(zip(real, texts)):
            real_is = "A" if rng.random() < 0.5 else "B"
            a, b = (r, s) if real_is == "A" else (s, r)
            convs.append([SystemMessage(content=PAIR_PROMPT),
                          HumanMessage(content=f"LOG A:\n{a}\n\nLOG B:\n{b}")])  # fmt: skip
            rows.append((name, i, real_is))
    answers = _ask(convs, chat_model, cache, model_id(chat_model))
    df = pd.DataFrame(rows, columns=["policy", "index", "real_is"])
    df["answer"] = answers
    df["picked_real"] = [None if a is None else a == r for a, r in zip(answers, df["real_is"])]
    return df


def agreement_table(pairs: pd.DataFrame, scores: pd.DataFrame, aucs: dict[str, float]):
    """Per policy: agreement with its interval, position bias, mean 1-5 score and AUC.

    A last ``ranking`` row holds the Spearman correlation of mean score vs AUC.
    """
    from scipy.stats import binomtest, spearmanr

    rows = []
    human = scores.loc[scores["policy"] == "human", "score"].mean()
    for name, g in pairs.groupby("policy", sort=False):
        ok = g[g["answer"].notna()]
        k, n = int(ok["picked_real"].sum()), len(ok)
        ci = binomtest(k, n).proportion_ci() if n else None
        sc = scores.loc[scores["policy"] == name, "score"]
        rows.append({"policy": name, "n_pairs": n, "agreement": k / n if n else np.nan,
                     "ci_low": ci.low if ci else np.nan, "ci_high": ci.high if ci else np.nan,
                     "share_a": float((ok["answer"] == "A").mean()) if n else np.nan,
                     "n_missing": int(len(g) - n), "mean_score": sc.mean(),
                     "human_score": human, "auc": aucs.get(name, np.nan)})  # fmt: skip
    out = pd.DataFrame(rows)
    ok = out.dropna(subset=["mean_score", "auc"])
    rho = np.nan
    if len(ok) >= 3 and ok["mean_score"].nunique() > 1 and ok["auc"].nunique() > 1:
        rho = float(spearmanr(ok["mean_score"], ok["auc"]).statistic)
    ranking = {"policy": "ranking", "n_pairs": len(ok), "spearman_score_auc": rho}
    return pd.concat([out, pd.DataFrame([ranking])], ignore_index=True)


def _one_dataset(ds, split, chat, names, ckpts, n_pairs, seed, max_users, test_fraction,
                 cache_dir) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:  # fmt: skip
    from alignuser.evaluation.judge.scores import judge_sessions
    from alignuser.evaluation.judge.transcripts import item_labels
    from alignuser.evaluation.likeness.discriminator import two_sample_auc
    from alignuser.evaluation.likeness.sessions import (
        likeness_sessions,
        session_features,
        simulate,
    )
    from alignuser.evaluation.protocols import build_policies

    held = likeness_sessions(ds, split, test_fraction, max_users, 0)
    pols = build_policies(held.policy_data, held.train, names, 0, ckpts or None)
    feats = list(held.features)
    human_f = session_features(held.human, held.encoder, held.max_rating, feats)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(held.human), min(n_pairs, len(held.human)), replace=False))
    labels = item_labels(ds.catalog)
    real = [session_transcript(held.human[i], labels, held.max_rating) for i in pick]
    sims, aucs = {}, {}
    for k, (name, pol) in enumerate(pols.items()):
        sim = simulate(held, pol, seed * 1000 + k)
        f = session_features(sim, held.encoder, held.max_rating, feats)
        aucs[name] = two_sample_auc(human_f[feats], f[feats], human_f["user_id"], f["user_id"],
                                    feats, n_boot=0, seed=seed)["auc"]  # fmt: skip
        sims[name] = [session_transcript(sim[i], labels, held.max_rating) for i in pick]
    pairs = judge_pairs(real, sims, chat, seed, cache_dir)
    texts = pd.DataFrame([("human", t) for t in real] +
                         [(n, t) for n, ts in sims.items() for t in ts],
                         columns=["policy", "transcript"])  # fmt: skip
    scores = judge_sessions(texts, chat, cache_dir)
    table = agreement_table(pairs, scores, aucs).assign(dataset=ds.name)
    return table, pairs.assign(dataset=ds.name), scores.assign(dataset=ds.name)


def run_judge_agreement(judge=None, data=None, n_pairs: int = 40, seed: int = 0,
                        checkpoint=None, policies=None, max_users: int | None = 300,
                        test_fraction: float = 0.3, cache_dir=None, fmt=None, options=None,
                        scenario=None, split=None) -> dict:  # fmt: skip
    """Judge agreement and per-policy scores on ``data`` (default ebnerd-sample, agent4rec).

    Args:
        judge: A LangChain chat model or a spec for :func:`~alignuser.evaluation.judge.
            judge_model` (``local:smollm2``, ``transformers:DIR``, ``openai:MODEL@URL``).
        data: Dataset folder / file (``None``: the shared defaults).
        n_pairs: Held-out sessions sampled per dataset (one pair per policy each).
        seed: Sampling, order and simulation seed.
        checkpoint: AlignUSER checkpoint(s), as for
            :func:`~alignuser.evaluation.likeness.run_likeness`.
        policies: Line-up (default random, popularity, mf, choice, alignuser).
        max_users: Held-out users per dataset.
        test_fraction: Impressions: latest share held out.
        cache_dir: Answer cache (default ``runs/judge_cache``).
        fmt: Loader name.
        options: Loader options.
        scenario: Scenario YAML (dataset and split).
        split: Split choice of a rating log.

    Returns:
        ``{"summary", "pairs", "scores"}`` tables.

    Raises:
        DatasetError: Without a judge.
    """
    from alignuser.errors import DatasetError
    from alignuser.evaluation.common import shared_data
    from alignuser.evaluation.fidelity.checkpoints import checkpoint_variants
    from alignuser.evaluation.judge.scores import judge_model

    if judge is None:
        raise DatasetError("judge agreement needs a judge: --judge local:smollm2 (offline), "
                           "transformers:DIR or openai:MODEL@URL")  # fmt: skip
    chat = judge_model(judge) if isinstance(judge, str) else judge
    names = tuple(policies or ("random", "popularity", "mf", "choice", "alignuser"))
    if data is not None or scenario is not None:
        from alignuser.evaluation.datasource import load_eval_data, require

        ed = require("fidelity", load_eval_data(data, fmt, options, scenario, split,
                                                impressions="auto"))  # fmt: skip
        jobs = [(ed.dataset, ed.split, [ed.dataset.name, Path(str(data or "")).name])]
    else:
        from alignuser.data.loaders import load_dataset

        jobs = [(load_dataset(shared_data() / n), None, [n]) for n in
                ("ebnerd-sample", "agent4rec-ml1m")]  # fmt: skip
    parts, cache = [], cache_dir or Path("runs/judge_cache")
    for ds, sp, ds_names in jobs:
        ckpts, _ = checkpoint_variants(checkpoint, [ds.name, *ds_names])
        parts.append(_one_dataset(ds, sp, chat, names, ckpts, n_pairs, seed, max_users,
                                  test_fraction, cache))  # fmt: skip
    summary, pairs, scores = (pd.concat(x, ignore_index=True) for x in zip(*parts))
    cols = ["dataset", *[c for c in summary.columns if c != "dataset"]]
    scores = scores.drop(columns=["transcript"])
    return {"summary": summary[cols], "pairs": pairs, "scores": scores}
