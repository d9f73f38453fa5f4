"""Held-out human sessions for macro fidelity: which sessions, pages and users are measured.

:func:`held_out` picks the sessions a policy never trained on and everything the simulation
needs to replay them (see :mod:`alignuser.evaluation.fidelity` for the protocol). Impression
logs are cut in time and sessions starting after the cut are held out; rating logs use the
test part of a split, for the test users with training history.

Example:
    >>> import pandas as pd
    >>> from alignuser.evaluation.fidelity.heldout import session_pages
    >>> log = pd.DataFrame({"impression_id": [1, 2, 3], "user_id": [0, 0, 1],
    ...                     "timestamp": [0, 60, 0], "session_id": [-1, -1, -1]})
    >>> session_pages(log)[["session", "page", "last"]].values.tolist()
    [[0, 1, False], [0, 2, True], [1, 1, True]]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from alignuser.data.tables import Impressions, Interactions

__all__ = [
    "COLUMNS",
    "NO_PAGES",
    "NO_RATINGS",
    "NO_TIME",
    "PAGE_STATISTICS",
    "STATISTICS",
    "HeldOut",
    "held_out",
    "session_pages",
    "to_scale",
]

STATISTICS = (
    "pages_per_session", "watches_per_page", "click_position", "exit_page",
    "watches_per_session", "rating",
)  # fmt: skip
PAGE_STATISTICS = STATISTICS[:4]
NO_PAGES = "rating logs have no pages (no page counts, click positions or exits)"
NO_RATINGS = "implicit clicks: the log has no ratings"
NO_TIME = "no timestamps: sessions cannot be cut"
COLUMNS = ["source", "statistic", "value", "user_id", "session"]


@dataclass(eq=False)
class HeldOut:
    """Held-out human sessions and what the simulation needs to replay them.

    Attributes:
        kind: ``"impressions"`` or ``"ratings"``.
        dataset: The whole dataset (catalog, users, scale).
        policy_data: The dataset policies may be fitted on: training interactions only
            (and, for impressions, only the pages before the cut).
        train: Interactions policies, personas and recommenders may use.
        users: Held-out users (sorted).
        pages: Impressions: one row per held-out page (see :func:`session_pages`).
        states: Impressions: the page state of each row of ``pages``.
        log: Ratings: the held-out users' test interactions.
        unavailable: Statistic -> why it cannot be measured on this log.
        session_gap: Inactivity (seconds) that cuts sessions.

    Example:
        >>> held = held_out(dataset, max_users=50)  # doctest: +SKIP
        >>> held.kind, len(held.users), held.unavailable  # doctest: +SKIP
        ('impressions', 50, {'rating': 'implicit clicks: the log has no ratings'})
    """

    kind: str
    dataset: Any
    policy_data: Any
    train: Interactions
    users: np.ndarray
    pages: pd.DataFrame | None = None
    states: list | None = None
    log: Interactions | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
    session_gap: float = 1800
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def max_rating(self) -> int:
        """Top of the agents' rating scale."""
        return self.dataset.scale.max if self.dataset.scale is not None else 5


def to_scale(ratings: np.ndarray, max_rating: int) -> np.ndarray:
    """Finite ratings rounded (half to even) and clipped onto the agents' ``1..max_rating``."""
    r = np.asarray(ratings, dtype=float)
    return np.clip(np.rint(r[np.isfinite(r)]), 1, max_rating)


def _pick_users(users: np.ndarray, max_users: int | None, seed: int) -> np.ndarray:
    users = np.unique(users)
    if max_users is not None and len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    return users


def session_pages(impressions: Impressions | pd.DataFrame, session_gap: float = 1800):
    """One row per page, sorted by user, time and impression id, with its session.

    A session is a run of a user's impressions with the same ``session_id`` (when every row
    has one) or without a gap longer than ``session_gap`` seconds. Adds ``session`` (int,
    numbered from 0 in that order), ``page`` (1-based) and ``last`` (the session's last page).
    """
    df = impressions.df if isinstance(impressions, Impressions) else impressions
    df = df.sort_values(["user_id", "timestamp", "impression_id"]).reset_index(drop=True)
    user, t, sid = (df[c].to_numpy() for c in ("user_id", "timestamp", "session_id"))
    new = np.ones(len(df), dtype=bool)
    if len(df) > 1:
        cut = sid[1:] != sid[:-1] if (sid >= 0).all() else np.diff(t) > session_gap
        new[1:] = (user[1:] != user[:-1]) | cut
    session = np.cumsum(new) - 1
    df["session"] = session.astype(np.int64)
    df["page"] = (np.arange(len(df)) - np.flatnonzero(new)[session] + 1).astype(np.int64)
    df["last"] = np.r_[new[1:], True] if len(df) else np.zeros(0, dtype=bool)
    return df


def _impressions(dataset, test_fraction, session_gap, max_users, seed) -> HeldOut:
    from alignuser.evaluation.next_action import impression_time_split
    from alignuser.evaluation.protocols import StateBuilder
    from alignuser.training.trajectories import from_impressions

    train_ds, _, train_inter, cut = impression_time_split(dataset, test_fraction)
    train_ds = dataclasses.replace(train_ds, interactions=train_inter)
    pages = session_pages(dataset.impressions, session_gap)
    start = pages.groupby("session")["timestamp"].transform("min")
    pages = pages[start >= cut]
    users = _pick_users(pages["user_id"].to_numpy(), max_users, seed)
    pages = pages[pages["user_id"].isin(users)].reset_index(drop=True)
    test = Impressions(pages[list(Impressions.SCHEMA)].assign(session_id=pages["session"]))
    sb = StateBuilder(dataset, train_inter)
    steps = from_impressions(
        dataclasses.replace(dataset, impressions=test), context=sb.ctx, session_gap=int(session_gap)
    )
    if [(s.user_id, s.timestamp) for s in steps] != list(zip(pages.user_id, pages.timestamp)):
        raise RuntimeError("from_impressions returned pages in another order")  # pragma: no cover
    states = [dataclasses.replace(s.state, features=sb.features.get(s.user_id, {})) for s in steps]
    explicit = dataset.interactions.is_explicit
    return HeldOut(
        "impressions",
        dataset,
        train_ds,
        train_inter,
        users,
        pages,
        states,
        unavailable={} if explicit else {"rating": NO_RATINGS},
        session_gap=session_gap,
    )


def _ratings(dataset, split, session_gap, max_users, seed) -> HeldOut:
    test = split.test.df
    users = np.intersect1d(test["user_id"].unique(), split.train.df["user_id"].unique())
    users = _pick_users(users, max_users, seed)
    held = Interactions(test[test["user_id"].isin(users)].reset_index(drop=True))
    unavailable = dict.fromkeys(PAGE_STATISTICS, NO_PAGES)
    if not held.has_time:
        unavailable["watches_per_session"] = NO_TIME
    if not held.is_explicit:
        unavailable["rating"] = NO_RATINGS
    policy_data = dataclasses.replace(dataset, interactions=split.train, impressions=None)
    return HeldOut(
        "ratings",
        dataset,
        policy_data,
        split.train,
        users,
        log=held,
        unavailable=unavailable,
        session_gap=session_gap,
    )


def held_out(
    dataset,
    split=None,
    test_fraction: float = 0.3,
    session_gap: float = 1800,
    max_users: int | None = None,
    seed: int = 0,
) -> HeldOut:
    """The held-out sessions of ``dataset``.

    Args:
        dataset: The dataset.
        split: A :class:`~alignuser.data.dataset.Split` for a rating log; ``None``: the
            impressions cut in time (``test_fraction`` latest), or, without impressions, a
            temporal split of the interactions (``test_fraction`` latest).
        test_fraction: Share held out when ``split`` is ``None``.
        session_gap: Inactivity (seconds) that ends a session when ids are unknown.
        max_users: Subsample this many held-out users (seeded by ``seed``).
        seed: Subsampling seed (fixed across simulation seeds).
    """
    if split is None and dataset.impressions is not None and len(dataset.impressions):
        return _impressions(dataset, test_fraction, session_gap, max_users, seed)
    if split is None:
        from alignuser.data.splits import temporal_split

        split = temporal_split(dataset.interactions, test_fraction)
    return _ratings(dataset, split, session_gap, max_users, seed)
