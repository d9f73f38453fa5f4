"""Trajectories ``(state, action, next state)`` from impression logs and from rating logs.

Every :class:`Step` carries the :class:`~alignuser.env.page.PageState` the simulation would
build: persona text, the user's most recent memory lines, and per item the memory lines of the
user's past rated items most similar to it (:func:`~alignuser.state.similar_memories`, the
same ranking as the simulation's memory index), built by
:class:`~alignuser.state.StepContext`. Its ``result`` is the world-model target: what
changed in memory and the next page (or ``END``)::

    CHANGES:
    - "I liked Heat (1995) based on my review score of 5"
    PAGE 3: "Fargo (1996)" ; "Alien (1979)"

**From impressions** (:func:`from_impressions`): real pages. The action watches the clicked
items with the user's logged rating (``default_rating``, the like threshold, when the click
has no rating); the session (``session_id``, else an inactivity gap) ends with ``EXIT`` on its
last page; the next state is the next impression of the session.

**From ratings** (:func:`from_ratings`, UserMirrorer-style, for logs without exposure):
per user, in chronological order, each page mixes the next ``1..max_positives`` items the
user really rated (watched, with the real rating) with items they never interacted with
(skipped), sampled by ``popularity ** popularity_alpha`` and, when a recommender is given, a
``rec_fraction`` of them from its top-``rec_top_k``. Sessions split at an inactivity gap
(``session_gap`` seconds; fixed ``pages_per_session`` when there is no time) and end with
``EXIT``. Biases of this construction, by design: the watch rate per page is set by
``max_positives`` rather than observed; "not consumed" is taken as "shown and skipped"
(negatives include items the user never saw); positions are shuffled so no position effect
can be learned; exits are artificial (gap or page cap).

**No leakage of the future**: memories, similar items, personas, item statistics and the
retrieval encoder use only interactions strictly before the page (``history`` plus the
already consumed targets); validation steps come later per user (:func:`split_by_time`) or
from the dataset's own split.

Example:
    >>> from alignuser.data.synthetic import SyntheticWorld
    >>> from alignuser.training.trajectories import from_impressions
    >>> ds = SyntheticWorld(n_users=20, n_items=40, seed=0).dataset(n_sessions_per_user=2)
    >>> steps = from_impressions(ds)
    >>> steps[0].state.page
    1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alignuser.data.dataset import Dataset
from alignuser.data.tables import Interactions
from alignuser.env.actions import ItemDecision, PageAction, scale_rating
from alignuser.env.page import PageState
from alignuser.state import StepContext, similar_memories
from alignuser.training.targets import compact_result_text, result_text

__all__ = [
    "Step",
    "StepContext",
    "compact_result_text",
    "from_impressions",
    "from_ratings",
    "result_text",
    "similar_memories",
    "split_by_time",
]


@dataclass(frozen=True)
class Step:
    """One decision of one user: state, the human action, the world-model target.

    ``result`` is the target in the full text (:func:`result_text`), ``result_compact`` in
    the compact one (:func:`compact_result_text`) for models that read compact states.
    """

    state: PageState
    action: PageAction
    result: str
    user_id: int
    session: int
    timestamp: int
    result_compact: str = ""


def _rating(r: float, max_rating: int, default: int) -> int:
    if r is None or np.isnan(r):
        return default
    return scale_rating(r, max_rating)


def from_impressions(
    dataset: Dataset,
    history: Interactions | None = None,
    context: StepContext | None = None,
    session_gap: int = 1800,
    default_rating: int | None = None,
) -> list[Step]:
    """Steps from the dataset's impression logs (see the module docstring).

    Args:
        dataset: Needs ``impressions``; ratings come from ``dataset.interactions``.
        history: Evidence for personas/encoder/statistics (default: all interactions).
        context: Prebuilt :class:`StepContext` (overrides ``history``).
        session_gap: Seconds of inactivity that end a session when ``session_id`` is unknown.
        default_rating: Rating of a click without one (default: the like threshold).
    """
    if dataset.impressions is None:
        raise ValueError(f"dataset {dataset.name!r} has no impressions; use from_ratings")
    history = history if history is not None else dataset.interactions
    ctx = context or StepContext(dataset, history)
    top = ctx.max_rating
    default = default_rating or round(0.8 * top)
    inter = dataset.interactions.df
    rating_of = {
        (int(u), int(i)): float(r)
        for u, i, r in zip(inter["user_id"], inter["item_id"], inter["rating"])
    }
    imp = dataset.impressions.df.sort_values(["user_id", "timestamp", "impression_id"])
    steps: list[Step] = []
    for u, g in imp.groupby("user_id", sort=True):
        u = int(u)
        past = inter[inter["user_id"] == u].sort_values("timestamp")
        rows = list(g.itertuples(index=False))
        sess = _sessions([r.session_id for r in rows], [r.timestamp for r in rows], session_gap)
        pages, states = [], []
        for k, r in enumerate(rows):
            page = 1 if k == 0 or sess[k] != sess[k - 1] else pages[-1] + 1
            pages.append(page)
            before = past[past["timestamp"] < r.timestamp]
            clicked = [int(i) for i in r.clicked]
            ratings = [rating_of.get((u, i), np.nan) for i in clicked]
            states.append(
                ctx.state(
                    u,
                    page,
                    [int(i) for i in r.items],
                    before["item_id"].tolist(),
                    before["rating"].tolist(),
                    int(sess[k]),
                    own=_own(ctx, u, clicked, ratings),
                )
            )
        for k, r in enumerate(rows):
            last = k + 1 == len(rows) or sess[k + 1] != sess[k]
            clicked = set(int(i) for i in r.clicked)
            action = PageAction(
                tuple(
                    ItemDecision(
                        int(i), True, _rating(rating_of.get((u, int(i)), np.nan), top, default)
                    )
                    if int(i) in clicked
                    else ItemDecision(int(i), False)
                    for i in r.items
                ),
                exit=last,
            )
            nxt = None if last else states[k + 1]
            steps.append(
                Step(
                    states[k],
                    action,
                    result_text(action, ctx.titles, nxt),
                    u,
                    int(sess[k]),
                    int(r.timestamp),
                    compact_result_text(action, nxt, ctx.max_rating),
                )
            )
    return steps


def _own(ctx: StepContext, user: int, items, ratings) -> dict[int, float] | None:
    """The positives ``items`` whose ``ratings`` the statistics of ``ctx`` count."""
    hit = ctx.counted(user, items)
    return {int(i): float(r) for i, r, h in zip(items, ratings, hit) if h} or None


def _sessions(session_ids: Sequence[int], times: Sequence[int], gap: int) -> np.ndarray:
    sid = np.asarray(session_ids)
    if (sid >= 0).all():
        return sid
    t = np.asarray(times)
    return np.concatenate([[0], np.cumsum(np.diff(t) > gap)]) if len(t) else t


def from_ratings(
    dataset: Dataset,
    targets: Interactions | None = None,
    history: Interactions | None = None,
    context: StepContext | None = None,
    page_size: int = 4,
    max_positives: int = 2,
    popularity_alpha: float = 1.0,
    recommender=None,
    rec_fraction: float = 0.5,
    rec_top_k: int = 50,
    session_gap: int = 3600,
    pages_per_session: int = 5,
    max_pages_per_user: int | None = 8,
    seed: int = 0,
) -> list[Step]:
    """UserMirrorer-style steps from rating logs (see the module docstring).

    Args:
        dataset: Catalog, users and scale.
        targets: Interactions that become positives on pages (default: all interactions).
        history: Interactions known before every target (e.g. the train part when targets
            are the validation part); ``None`` for none.
        context: Prebuilt :class:`StepContext` (default: built on ``history`` + ``targets``).
        page_size: Items per page.
        max_positives: Up to this many really-consumed items per page (uniform 1..max).
        popularity_alpha: Negatives sampled with probability ``popularity ** alpha``.
        recommender: Optional fitted :class:`~alignuser.interfaces.Recommender` supplying
            ``rec_fraction`` of the negatives from its top ``rec_top_k``.
        rec_fraction: Share of negatives from the recommender (when one is given).
        rec_top_k: Depth of the recommender's list negatives are drawn from.
        session_gap: Inactivity (seconds) that starts a new session.
        pages_per_session: Pages after which a session ends (also the rule without time).
        max_pages_per_user: Keep only each user's last pages (states still see all the past).
        seed: Sampling seed.

    A positive whose rating the context's statistics count (the targets are part of its
    history) is shown without it (:meth:`StepContext.state`'s ``own``): else a rarely rated
    item's mean holds the very rating to predict, which a held-out page never does.
    """
    rng = np.random.default_rng(seed)
    targets = targets if targets is not None else dataset.interactions
    hist_df = history.df if history is not None else targets.df.iloc[:0]
    ctx = context or StepContext(dataset, Interactions(pd.concat([hist_df, targets.df])))
    weights = np.maximum(ctx.popularity, 0.5) ** popularity_alpha
    weights = weights / weights.sum()
    known = pd.concat([hist_df, targets.df]).groupby("user_id")["item_id"].agg(set).to_dict()
    tg = targets.df.sort_values(["user_id", "timestamp"], kind="stable")
    hg = {int(u): g.sort_values("timestamp", kind="stable") for u, g in hist_df.groupby("user_id")}
    recs = _rec_lists(recommender, tg["user_id"].unique(), known, rec_top_k)
    steps: list[Step] = []
    for u, g in tg.groupby("user_id", sort=True):
        u = int(u)
        items, ratings, times = (
            g["item_id"].to_numpy(),
            g["rating"].to_numpy(dtype=float),
            g["timestamp"].to_numpy(),
        )
        cuts = _page_cuts(rng, len(items), max_positives)
        sess, page_no = _page_sessions(cuts, times, pages_per_session, session_gap)
        keep = (
            range(len(cuts))
            if max_pages_per_user is None
            else range(max(0, len(cuts) - max_pages_per_user), len(cuts))
        )
        h = hg.get(u)
        past = (h["item_id"].tolist(), h["rating"].tolist()) if h is not None else ([], [])
        exclude = known.get(u, set())
        sampler = _Negatives(rng, weights, exclude, recs.get(u), rec_fraction, ctx.catalog.n_items)
        pages: dict[int, tuple[PageState, PageAction]] = {}
        for k in keep:
            a, b = cuts[k]
            last = k + 1 == len(cuts) or sess[k + 1] != sess[k]
            page = (page_no[k], sess[k], last)
            pages[k] = _rating_page(ctx, u, page, items, ratings, (a, b), past, page_size, sampler)
        starts = [int(times[cuts[k][0]]) for k in keep]
        steps += _page_steps(ctx, u, pages, list(keep), [sess[k] for k in keep], starts)
    return steps


def _page_steps(ctx, u: int, pages: dict, keep: list, sess: list, times: list) -> list[Step]:
    """One user's kept pages as steps, each next state the next kept page of its session."""
    out = []
    for k, s, t in zip(keep, sess, times):
        state, action = pages[k]
        nxt = None if action.exit or (k + 1) not in pages else pages[k + 1][0]
        out.append(
            Step(
                state,
                action,
                result_text(action, ctx.titles, nxt),
                u,
                s,
                t,
                compact_result_text(action, nxt, ctx.max_rating),
            )
        )
    return out


def _rec_lists(recommender, users, known: dict, top_k: int) -> dict[int, np.ndarray]:
    """Each user's top ``top_k`` of ``recommender`` (known items excluded); ``{}`` without."""
    if recommender is None or not len(users):
        return {}
    excl = [np.fromiter(known.get(int(u), set()), dtype=np.int64) for u in users]
    top = recommender.recommend(np.asarray(users), top_k, excl)
    return {int(u): row[row >= 0] for u, row in zip(users, top)}


def _page_cuts(rng, n: int, max_positives: int) -> list[tuple[int, int]]:
    """``(start, end)`` of each page's positives: ``1..max_positives`` of the next ratings."""
    cuts, pos = [], 0
    while pos < n:
        k = int(rng.integers(1, max_positives + 1))
        cuts.append((pos, min(pos + k, n)))
        pos += k
    return cuts


def _page_sessions(cuts, times, pages_per_session: int, session_gap: int):
    """``(session, page number)`` of each page: a gap or the page cap starts a session."""
    sess, page_no, s, p = [], [], 0, 0
    for k, (a, _) in enumerate(cuts):
        new = k > 0 and (
            p >= pages_per_session
            or (times[a] >= 0 and times[a - 1] >= 0 and times[a] - times[a - 1] > session_gap)
        )
        if new:
            s, p = s + 1, 0
        p += 1
        sess.append(s)
        page_no.append(p)
    return sess, page_no


class _Negatives:
    """One user's negative sampler (see :func:`_negatives`)."""

    def __init__(self, rng, weights, exclude, rec_items, rec_fraction, n_items):
        self.rng, self.weights, self.exclude = rng, weights, exclude
        self.rec_items, self.rec_fraction, self.n_items = rec_items, rec_fraction, n_items

    def draw(self, n: int) -> list[int]:
        """``n`` items the user never interacted with."""
        rec, frac = self.rec_items, self.rec_fraction
        return _negatives(self.rng, n, self.weights, self.exclude, rec, frac, self.n_items)


def _rating_page(ctx, u, page, items, ratings, span, past, page_size, sampler):
    """The state and human action of one rating-log page.

    ``page``: ``(page number, session, last of its session)``; ``span``: the positives'
    ``(start, end)`` in ``items``; ``past``: ``(items, ratings)`` before the targets.
    """
    (a, b), top = span, ctx.max_rating
    shown = [*items[a:b].tolist(), *sampler.draw(page_size - (b - a))]
    sampler.rng.shuffle(shown)
    pos_r = {int(i): _rating(r, top, top) for i, r in zip(items[a:b], ratings[a:b])}
    state = ctx.state(
        u,
        page[0],
        shown,
        past[0] + items[:a].tolist(),
        past[1] + ratings[:a].tolist(),
        page[1],
        own=_own(ctx, u, items[a:b], ratings[a:b]),
    )
    action = PageAction(
        tuple(
            ItemDecision(int(i), True, pos_r[int(i)])
            if int(i) in pos_r
            else ItemDecision(int(i), False)
            for i in shown
        ),
        exit=page[2],
    )
    return state, action


def _negatives(rng, n, weights, exclude, rec_items, rec_fraction, n_items) -> list[int]:
    out: list[int] = []
    n_rec = round(n * rec_fraction) if rec_items is not None and len(rec_items) else 0
    if n_rec:
        cand = [int(i) for i in rec_items if int(i) not in exclude]
        if cand:
            out += [int(i) for i in rng.choice(cand, min(n_rec, len(cand)), replace=False)]
    tries = 0
    while len(out) < n and tries < 50:
        for i in rng.choice(n_items, size=2 * n, p=weights):
            i = int(i)
            if len(out) < n and i not in exclude and i not in out:
                out.append(i)
        tries += 1
    return out


def split_by_time(
    steps: Sequence[Step], valid_fraction: float = 0.2
) -> tuple[list[Step], list[Step]]:
    """Per user, the last ``valid_fraction`` of steps (by time) go to validation."""
    by_user: dict[int, list[Step]] = {}
    for s in steps:
        by_user.setdefault(s.user_id, []).append(s)
    train, valid = [], []
    for u in sorted(by_user):
        ss = sorted(by_user[u], key=lambda s: (s.timestamp, s.state.session, s.state.page))
        n_valid = round(len(ss) * valid_fraction)
        cut = len(ss) - n_valid
        train += ss[:cut]
        valid += ss[cut:]
    return train, valid
