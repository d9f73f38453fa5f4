"""Page-by-page sessions of the synthetic world: the runner behind its logs and online truth.

:func:`run_sessions` shows pages from a recommender to users of a
:class:`~alignuser.data.synthetic.SyntheticWorld`, lets the true model decide, and records a
:class:`SessionLog`. All uniforms are drawn before the first page (common random numbers).

Timing (Unix seconds): a user's first session starts at a random time in the first half of
2020; sessions are at least 2 h apart (2 h + exponential, mean 30 h); a page lasts
``30 + 15·k + U(0, 120)`` s and its clicks fall inside it, in page order; so consecutive
events of one session are at most ``150 + 15·k`` s apart and sessionization by an
inactivity gap of 30 min recovers the sessions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from alignuser.env.actions import ItemDecision, PageAction

if TYPE_CHECKING:
    from alignuser.data.synthetic import SyntheticWorld
    from alignuser.data.tables import Interactions

T0 = 1_577_836_800  # 2020-01-01 00:00 UTC
MaskPolicy = Callable[[np.ndarray, int, np.ndarray], np.ndarray]
"""``(user_ids, k, excluded (m, n_items) bool) -> (m, k)`` item ids, ``-1`` padded."""


@dataclass(frozen=True)
class PageBatch:
    """Decisions on a batch of pages.

    Attributes:
        items: ``(n, k)`` items shown, ``-1`` for an empty slot.
        watched: ``(n, k)`` bool.
        ratings: ``(n, k)`` int, ``1..max`` where watched, 0 elsewhere.
        exit: ``(n,)`` bool, the user leaves after the page.
    """

    items: np.ndarray
    watched: np.ndarray
    ratings: np.ndarray
    exit: np.ndarray

    def actions(self) -> list[PageAction]:
        """The decisions as :class:`~alignuser.env.actions.PageAction` (empty slots dropped)."""
        out = []
        for items, watched, ratings, leave in zip(
            self.items, self.watched, self.ratings, self.exit
        ):
            decisions = tuple(
                ItemDecision(int(i), bool(w), int(r) if w else None)
                for i, w, r in zip(items, watched, ratings)
                if i >= 0
            )
            out.append(PageAction(decisions, exit=bool(leave)))
        return out


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best scores per row, best first; ``-1`` where only ``-inf`` is left."""
    k_eff = min(k, scores.shape[1])
    idx = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
    order = np.argsort(-np.take_along_axis(scores, idx, 1), axis=1, kind="stable")
    idx = np.take_along_axis(idx, order, 1)
    idx = np.where(np.isneginf(np.take_along_axis(scores, idx, 1)), -1, idx)
    pad = np.full((scores.shape[0], k - k_eff), -1, dtype=np.int64)
    return np.concatenate([idx.astype(np.int64), pad], axis=1)


def resolve_policy(world: SyntheticWorld, policy, rng: np.random.Generator):
    """Return ``(MaskPolicy, name)`` for a built-in name, a callable or a Recommender."""
    if isinstance(policy, str):
        if policy == "popularity":
            logp = np.log(world.popularity_prior)

            def scores(u, shape):
                return logp + rng.gumbel(size=shape)  # sampling by prior, no replacement
        elif policy == "random":

            def scores(u, shape):
                return rng.random(shape)
        elif policy == "oracle":

            def scores(u, shape):
                return world.score_matrix(u)
        else:
            raise ValueError(
                f"unknown logging policy {policy!r}; use 'popularity', 'random', 'oracle' "
                "or a callable (user_ids, k, exclude) -> (n, k) item ids"
            )

        def builtin(u, k, mask):
            return top_k(np.where(mask, -np.inf, scores(u, mask.shape)), k)

        return builtin, policy
    recommend = getattr(policy, "recommend", policy)
    if not callable(recommend):
        raise TypeError(f"policy must be a name, a callable or a Recommender, got {policy!r}")
    name = getattr(policy, "name", getattr(recommend, "__name__", "callable"))

    def wrapped(u, k, mask):
        out = np.asarray(recommend(u, k, [np.flatnonzero(r) for r in mask]), dtype=np.int64)
        if out.shape != (len(u), k):
            raise ValueError(f"recommender {name!r} returned shape {out.shape}, want {(len(u), k)}")
        if ((out < -1) | (out >= world.n_items)).any():
            raise ValueError(f"recommender {name!r} returned item ids outside -1..n_items-1")
        srt = np.sort(out, axis=1)
        if ((srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)).any():
            raise ValueError(f"recommender {name!r} returned a page with a repeated item")
        return out

    return wrapped, str(name)


@dataclass(frozen=True)
class SessionLog:
    """Every page shown by :func:`run_sessions`, one row per page (arrays of equal length)."""

    user: np.ndarray
    session: np.ndarray
    page: np.ndarray
    items: np.ndarray
    watched: np.ndarray
    ratings: np.ndarray
    exit: np.ndarray
    timestamp: np.ndarray
    click_time: np.ndarray
    dwell: np.ndarray
    n_sessions: int

    def impressions_frame(self) -> pd.DataFrame:
        """Rows for :class:`~alignuser.data.tables.Impressions`, by user then time."""
        order = np.lexsort((self.timestamp, self.user))
        items, watched = self.items[order], self.watched[order]
        _, session_id = np.unique(self.session[order], return_inverse=True)
        return pd.DataFrame(
            {
                "impression_id": np.arange(len(order)),
                "user_id": self.user[order],
                "timestamp": self.timestamp[order],
                "items": [r[r >= 0].tolist() for r in items],
                "clicked": [r[w].tolist() for r, w in zip(items, watched)],
                "dwell": self.dwell[order],
                "session_id": session_id,
            }
        )

    def interactions_frame(self) -> pd.DataFrame:
        """One row per watch (rating from the true model), by user then time."""
        row, col = np.nonzero(self.watched)
        frame = pd.DataFrame(
            {
                "user_id": self.user[row],
                "item_id": self.items[row, col],
                "rating": self.ratings[row, col].astype(float),
                "timestamp": self.click_time[row, col],
            }
        )
        return frame.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)

    def outcomes(self, max_rating: int, max_pages: int) -> dict[str, float]:
        """Aggregate session outcomes (see ``SyntheticWorld.simulate_online``)."""
        n = max(self.n_sessions, 1)
        shown = int((self.items >= 0).sum())
        n_watch = int(self.watched.sum())
        rated = self.ratings[self.watched]
        return {
            "click_rate": n_watch / shown if shown else float("nan"),
            "pages_per_session": len(self.page) / n,
            "watches_per_session": n_watch / n,
            "mean_rating": float(rated.mean()) if rated.size else float("nan"),
            "likes_per_session": float((rated >= 0.8 * max_rating).sum()) / n,
            "exit_page": float(self.page[self.exit].mean()) if self.exit.any() else float("nan"),
            "early_exit_rate": float((self.exit & (self.page < max_pages)).sum()) / n,
            "n_sessions": float(self.n_sessions),
        }


def run_sessions(
    world: SyntheticWorld,
    policy: MaskPolicy,
    users: np.ndarray,
    n_sessions: np.ndarray,
    k: int,
    max_pages: int,
    rng: np.random.Generator,
    history: Interactions | None = None,
) -> SessionLog:
    """Run ``n_sessions[r]`` sessions of ``users[r]`` against ``policy``; see the module doc."""
    if k < 1 or max_pages < 1:
        raise ValueError(f"items_per_page and max_pages must be >= 1, got {k}, {max_pages}")
    n, s_max = len(users), int(n_sessions.max()) if len(users) else 0
    u_watch, u_rate = rng.random((n, s_max, max_pages, k)), rng.random((n, s_max, max_pages, k))
    u_exit = rng.random((n, s_max, max_pages))
    gaps = 3600.0 * (2.0 + rng.exponential(30.0, (n, s_max)))
    dwell = 30.0 + 15.0 * k + 120.0 * rng.random((n, s_max, max_pages))
    offsets = 10.0 + 15.0 * np.arange(k) + 10.0 * rng.random((n, s_max, max_pages, k))
    clock = T0 + rng.uniform(0, 182 * 86400.0, n)
    seen = np.zeros((n, world.n_items), dtype=bool)  # watched before: never shown again
    if history is not None and len(history):
        hu, hi = history.df["user_id"].to_numpy(), history.df["item_id"].to_numpy()
        pos = np.searchsorted(users, hu)
        ok = (pos < n) & (users[np.minimum(pos, n - 1)] == hu) & (hi < world.n_items)
        seen[pos[ok], hi[ok]] = True
    rec: dict[str, list[np.ndarray]] = {key: [] for key in SessionLog.__dataclass_fields__}
    for s in range(s_max):
        alive = n_sessions > s
        if s:
            clock[alive] += gaps[alive, s]
        shown = np.zeros_like(seen)
        for p in range(1, max_pages + 1):
            rows = np.flatnonzero(alive)
            if rows.size:
                items = policy(users[rows], k, seen[rows] | shown[rows])
                empty = (items < 0).all(1)
                alive[rows[empty]] = False
                rows, items = rows[~empty], items[~empty]
            if not rows.size:
                break
            batch = world.decide(
                users[rows], items, p, u_watch[rows, s, p - 1], u_rate[rows, s, p - 1],
                u_exit[rows, s, p - 1],
            )  # fmt: skip
            r_rep, flat = np.repeat(rows, k), items.ravel()
            shown[r_rep[flat >= 0], flat[flat >= 0]] = True
            seen[r_rep[batch.watched.ravel()], flat[batch.watched.ravel()]] = True
            t0, step = clock[rows], (rows, s, p - 1)
            rec["user"].append(users[rows])
            rec["session"].append(rows * s_max + s)
            rec["page"].append(np.full(rows.size, p))
            rec["items"].append(items)
            rec["watched"].append(batch.watched)
            rec["ratings"].append(batch.ratings)
            rec["exit"].append(batch.exit)
            rec["timestamp"].append(np.floor(t0).astype(np.int64))
            rec["click_time"].append(np.floor(t0[:, None] + offsets[step]).astype(np.int64))
            rec["dwell"].append(dwell[step])
            clock[rows] += dwell[step]
            alive[rows[batch.exit]] = False
    if not rec["user"]:
        raise ValueError("no page was shown: the recommender returned only empty pages")
    arrays = {key: np.concatenate(vals) for key, vals in rec.items() if key != "n_sessions"}
    return SessionLog(**arrays, n_sessions=int(n_sessions.sum()))
