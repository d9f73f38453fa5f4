"""Real and simulated sessions on the same pages, and the features a discriminator reads.

The human-likeness test (:mod:`alignuser.evaluation.likeness`) compares held-out human
sessions with the sessions a policy produces **on the very pages the humans saw**:

* **Impression logs** (EB-NeRD, the synthetic world): the held-out sessions of
  :func:`~alignuser.evaluation.fidelity.heldout.held_out` (sessions starting after the time
  cut); each page as it was shown, with the user's real history strictly before it.
* **Rating logs** (MovieLens, Agent4Rec): the protocol's pages, built by
  :func:`~alignuser.training.trajectories.from_ratings` on the test part (each page holds
  1..2 items the user really rated next and unrated items drawn uniformly, as in
  ``scenarios/train_agent4rec.yaml``), history from the training part; the human "watches"
  exactly the items they rated, with their real rating.

A simulated session walks the same pages in order with the policy (one seeded sampled action
per page, one batch per page depth) until the policy exits or the pages run out; a human
session covers all its pages. Each session becomes one row of :func:`session_features`
(:data:`FEATURES`). Rating features are left out on implicit logs, where the human "rating"
would be a constant the simulation cannot know.

Example:
    >>> sessions = likeness_sessions(dataset, max_users=50)  # doctest: +SKIP
    >>> sim = simulate(sessions, make_policy("random"), seed=0)  # doctest: +SKIP
    >>> session_features(sim, sessions.encoder).columns[:3].tolist()  # doctest: +SKIP
    ['pages', 'watches', 'watches_per_page']
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FEATURES", "RATING_FEATURES", "LikenessSessions", "Session", "likeness_sessions",
           "session_features", "simulate"]  # fmt: skip

FEATURES = (
    "pages", "watches", "watches_per_page", "watches_per_page_std", "pages_with_watch",
    "first_click_position", "click_position", "click_position_rel", "watched_popularity",
    "watched_popularity_rel", "watched_taste_rel", "history_similarity",
    "history_similarity_rel", "rating_mean", "rating_std", "rating_max_share",
)  # fmt: skip
RATING_FEATURES = ("rating_mean", "rating_std", "rating_max_share")


@dataclass(eq=False)
class Session:
    """One session: its pages (states) and, per page, watch flags and ratings (NaN: none)."""

    user_id: int
    session: int
    states: list
    watched: list[np.ndarray]
    ratings: list[np.ndarray]


@dataclass(eq=False)
class LikenessSessions:
    """Held-out human sessions and what the policies may be fitted on.

    Attributes:
        kind: ``"impressions"`` or ``"ratings"``.
        dataset: The whole dataset.
        policy_data: Dataset the policies may be fitted on (training part only).
        train: Training interactions.
        human: The held-out human sessions.
        encoder: Item encoder (``encode_items``) fitted on the training part.
        explicit: Whether the log has ratings (else rating features are left out).
    """

    kind: str
    dataset: Any
    policy_data: Any
    train: Any
    human: list[Session]
    encoder: Any
    explicit: bool
    max_rating: int = 5
    features: tuple[str, ...] = field(default=FEATURES)


def _from_impressions(dataset, test_fraction, max_users, seed) -> LikenessSessions:
    from alignuser.evaluation.fidelity.heldout import held_out
    from alignuser.memory.encoders import default_encoder

    held = held_out(dataset, test_fraction=test_fraction, max_users=max_users, seed=seed)
    if held.pages is None or not len(held.pages):
        raise ValueError(f"dataset {dataset.name!r}: no held-out session after the time cut")
    inter = dataset.interactions.df
    explicit = bool(dataset.interactions.is_explicit)
    rating_of = {}
    if explicit:  # clicks' ratings on the agents' 1..max scale (as in training)
        r = np.clip(np.rint(inter["rating"].to_numpy(dtype=float)), 1, held.max_rating)
        rating_of = dict(zip(zip(inter["user_id"].astype(int), inter["item_id"].astype(int)), r))
    human = []
    for s, idx in held.pages.groupby("session", sort=True).indices.items():
        rows = held.pages.iloc[idx]
        states = [held.states[i] for i in idx]
        watched = [np.isin(np.asarray(st.item_ids), np.asarray(c, dtype=np.int64))
                   for st, c in zip(states, rows["clicked"])]  # fmt: skip
        ratings = [np.array([rating_of.get((st.agent_id, i), np.nan) if x else np.nan
                             for i, x in zip(st.item_ids, w)])
                   for st, w in zip(states, watched)]  # fmt: skip
        human.append(Session(int(rows["user_id"].iloc[0]), int(s), states, watched, ratings))
    catalog = dataset.catalog.with_statistics(held.train)
    return LikenessSessions("impressions", dataset, held.policy_data, held.train, human,
                            default_encoder(catalog, held.train, seed=0), explicit,
                            held.max_rating)  # fmt: skip


def _from_ratings(dataset, split, max_users, seed, max_pages) -> LikenessSessions:
    from alignuser.data.tables import Interactions
    from alignuser.evaluation.protocols import StateBuilder
    from alignuser.training.trajectories import from_ratings

    test, train = split.test.df, split.train.df
    users = np.intersect1d(test["user_id"].unique(), train["user_id"].unique())
    if not len(users):
        raise ValueError(f"dataset {dataset.name!r}: no test user has a training history")
    if max_users is not None and len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    sb = StateBuilder(dataset, split.train)
    steps = from_ratings(dataset, Interactions(test[test["user_id"].isin(users)]),
                         history=split.train, context=sb.ctx, popularity_alpha=0.0,
                         max_pages_per_user=max_pages, seed=seed)  # fmt: skip
    by: dict[tuple[int, int], list] = {}
    for st in steps:
        by.setdefault((int(st.user_id), int(st.session)), []).append(st)
    human = []
    for (u, s), g in sorted(by.items()):
        states = [dataclasses.replace(x.state, features=sb.features.get(u, {})) for x in g]
        watched = [np.array([d.watch for d in x.action.decisions]) for x in g]
        ratings = [np.array([np.nan if d.rating is None else float(d.rating)
                             for d in x.action.decisions]) for x in g]  # fmt: skip
        human.append(Session(u, s, states, watched, ratings))
    policy_data = dataclasses.replace(dataset, interactions=split.train, impressions=None)
    max_rating = dataset.scale.max if dataset.scale is not None else 5
    return LikenessSessions("ratings", dataset, policy_data, split.train, human,
                            sb.ctx.encoder, bool(split.train.is_explicit), max_rating)  # fmt: skip


def likeness_sessions(dataset, split=None, test_fraction: float = 0.3,
                      max_users: int | None = 300, seed: int = 0,
                      max_pages: int | None = 5) -> LikenessSessions:  # fmt: skip
    """The held-out human sessions of ``dataset`` (see the module docstring).

    Args:
        dataset: An impressions dataset, or a rating log with ``split``.
        split: Rating logs: the split whose test part is held out (default: the dataset's
            ``provided`` split, else a temporal split at ``test_fraction``).
        test_fraction: Impressions: latest share of the log held out (time cut).
        max_users: Subsample this many held-out users (seeded by ``seed``).
        seed: User subsample and page construction seed.
        max_pages: Rating logs: each user's last ``max_pages`` pages (``None``: all).
    """
    if dataset.impressions is not None and len(dataset.impressions):
        out = _from_impressions(dataset, test_fraction, max_users, seed)
    else:
        if split is None:
            from alignuser.data.splits import temporal_split

            split = dataset.splits.get("provided") or temporal_split(
                dataset.interactions, test_fraction
            )
        out = _from_ratings(dataset, split, max_users, seed, max_pages)
    if not out.explicit:
        out.features = tuple(f for f in FEATURES if f not in RATING_FEATURES)
    return out


def simulate(sessions: LikenessSessions, policy, seed: int = 0) -> list[Session]:
    """Each held-out session's pages walked by ``policy`` until it exits or they run out."""
    rng = np.random.default_rng(seed)
    human = sessions.human
    out = [Session(h.user_id, h.session, [], [], []) for h in human]
    alive, depth = list(range(len(human))), 0
    while alive:
        states = [human[j].states[depth] for j in alive]
        actions = policy.decide(states, rng)
        nxt = []
        for j, st, a in zip(alive, states, actions):
            a.validate_for(st.item_ids, sessions.max_rating)
            out[j].states.append(st)
            out[j].watched.append(np.array([d.watch for d in a.decisions], dtype=bool))
            out[j].ratings.append(np.array([np.nan if d.rating is None else float(d.rating)
                                            for d in a.decisions]))  # fmt: skip
            if not a.exit and depth + 1 < len(human[j].states):
                nxt.append(j)
        alive, depth = nxt, depth + 1
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > 0, n, 1.0)


def _page_rows(st, w, encoder) -> dict[str, np.ndarray]:
    """Per-item popularity, taste and similarity to the user's history on one page."""
    pop = np.array([v.popularity for v in st.items], dtype=float)
    taste = np.array([np.nan if v.taste is None else v.taste for v in st.items], dtype=float)
    sim = np.full(len(st.items), np.nan)
    if len(st.history):
        hist = _unit(np.asarray(encoder.encode_items(list(st.history)), dtype=float)).mean(0)
        sim = _unit(np.asarray(encoder.encode_items(list(st.item_ids)), dtype=float)) @ hist
    return {"pop": pop, "taste": taste, "sim": sim, "w": np.asarray(w, dtype=bool)}


def _nanmean(x) -> float:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else np.nan


def _one(s: Session, encoder, max_rating: int) -> dict[str, float]:
    per_page = np.array([int(w.sum()) for w in s.watched], dtype=float)
    pos, first, rel = [], [], []
    wk: dict[str, list] = {"pop": [], "sim": [], "pop_rel": [], "sim_rel": [], "taste_rel": []}
    for st, w in zip(s.states, s.watched):
        idx = np.flatnonzero(w)
        if not len(idx):
            continue
        pos += (idx + 1).tolist()
        first.append(idx[0] + 1)
        rel += (idx / max(len(w) - 1, 1)).tolist()
        r = _page_rows(st, w, encoder)
        for k in ("pop", "sim"):
            wk[k] += r[k][idx].tolist()
            wk[f"{k}_rel"].append(_nanmean(r[k][idx]) - _nanmean(r[k]))
        wk["taste_rel"].append(_nanmean(r["taste"][idx]) - _nanmean(r["taste"]))
    rat = np.concatenate([r[np.isfinite(r)] for r in s.ratings]) if s.ratings else np.zeros(0)
    return {
        "pages": float(len(s.states)), "watches": float(per_page.sum()),
        "watches_per_page": float(per_page.mean()) if len(per_page) else np.nan,
        "watches_per_page_std": float(per_page.std()) if len(per_page) > 1 else np.nan,
        "pages_with_watch": float((per_page > 0).mean()) if len(per_page) else np.nan,
        "first_click_position": _nanmean(first), "click_position": _nanmean(pos),
        "click_position_rel": _nanmean(rel), "watched_popularity": _nanmean(wk["pop"]),
        "watched_popularity_rel": _nanmean(wk["pop_rel"]),
        "watched_taste_rel": _nanmean(wk["taste_rel"]),
        "history_similarity": _nanmean(wk["sim"]),
        "history_similarity_rel": _nanmean(wk["sim_rel"]),
        "rating_mean": _nanmean(rat), "rating_std": float(rat.std()) if len(rat) > 1 else np.nan,
        "rating_max_share": float((rat >= max_rating).mean()) if len(rat) else np.nan,
    }  # fmt: skip


def session_features(sessions: list[Session], encoder, max_rating: int = 5,
                     features=FEATURES) -> pd.DataFrame:  # fmt: skip
    """One row per session: ``user_id``, ``session`` and the ``features`` (NaN: undefined).

    Positions are 1-based; ``*_rel`` features are the watched items' mean minus the page's
    mean (popularity percentile, genre taste, cosine similarity to the mean history vector).
    """
    rows = [{"user_id": s.user_id, "session": s.session, **_one(s, encoder, max_rating)}
            for s in sessions]  # fmt: skip
    return pd.DataFrame(rows, columns=["user_id", "session", *FEATURES])[
        ["user_id", "session", *features]
    ]
