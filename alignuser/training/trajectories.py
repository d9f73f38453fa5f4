"""Trajectories ``(state, action, next state)`` from impression logs and from rating logs.

Every :class:`Step` carries the :class:`~alignuser.env.page.PageState` the simulation would
build: persona text, the user's most recent memory lines, and per item the memory lines of the
user's past rated items most similar to it (:func:`similar_memories`, the same function the
simulation should call). Its ``result`` is the world-model target: what changed in memory and
the next page (or ``END``)::

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

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alignuser.data.dataset import Dataset
from alignuser.data.tables import Catalog, Interactions
from alignuser.env.actions import ItemDecision, PageAction, scale_rating
from alignuser.env.page import PageState
from alignuser.env.text import memory_line, verdict
from alignuser.env.views import CatalogView

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


def similar_memories(
    encoder,
    history_items: Sequence[int],
    history_ratings: Sequence[float],
    query_items: Sequence[int],
    titles: Sequence[str],
    k: int = 2,
    max_rating: int = 5,
) -> list[tuple[str, ...]]:
    """Memory lines of the ``k`` past items most similar to each query item.

    Args:
        encoder: Any :class:`~alignuser.interfaces.ItemEncoder` (normalised vectors).
        history_items: Items the user rated before (oldest first).
        history_ratings: Their ratings (NaN for unrated: "I watched X").
        query_items: Items on the page.
        titles: Title per catalog item id.
        k: Lines per query item.
        max_rating: Top of the scale (liked / disliked thresholds).

    Returns:
        One tuple of memory lines per query item, most similar first; the query item itself
        is never its own neighbour.
    """
    if not len(history_items) or k <= 0:
        return [() for _ in query_items]
    hist = np.asarray(history_items, dtype=np.int64)
    sims = (
        encoder.encode_items(np.asarray(query_items, dtype=np.int64)) @ encoder.encode_items(hist).T
    )
    same = np.asarray(query_items)[:, None] == hist[None, :]
    # the simulation's memory index ranks the same way: similarity rounded to 5 decimals,
    # ties to the most recent memory (alignuser.memory.index)
    from alignuser.memory.index import sim_key

    key = sim_key(sims)
    recency = np.arange(len(hist))
    out = []
    for row, excl in zip(key, same):
        order = np.lexsort((-recency, -row))
        top = [j for j in order if not excl[j]][:k]
        out.append(tuple(_line(titles[hist[j]], history_ratings[j], max_rating) for j in top))
    return out


def _line(title: str, rating: float, max_rating: int) -> str:
    if rating is None or np.isnan(rating):
        return f"I watched {title}"
    return memory_line(title, round(float(rating)), max_rating)


def result_text(action: PageAction, titles: Sequence[str], next_page: PageState | None) -> str:
    """World-model target: memory changes of ``action`` then the next page (or ``END``)."""
    lines = ["CHANGES:"]
    for d in action.decisions:
        if d.watch:
            lines.append("- " + json.dumps(memory_line(titles[d.item_id], d.rating)))
    if next_page is None:
        lines.append("END")
    else:
        shown = " ; ".join(json.dumps(v.title) for v in next_page.items)
        lines.append(f"PAGE {next_page.page}: {shown}")
    return "\n".join(lines)


def compact_result_text(
    action: PageAction, next_page: PageState | None, max_rating: int = 5
) -> str:
    """World-model target for models reading the compact state (no titles there).

    Memory changes name the item by its position on the page (``2 liked 4``; ``watched``
    without a rating), the next page lists each item's genres and popularity decile.

    Example:
        >>> from alignuser.env.actions import ItemDecision
        >>> a = PageAction((ItemDecision(5, False), ItemDecision(7, True, 4)), exit=True)
        >>> print(compact_result_text(a, None))
        CHANGES: 2 liked 4
        END
    """
    changes = []
    for i, d in enumerate(action.decisions):
        if d.watch:
            if d.rating is None:
                changes.append(f"{i + 1} watched")
            else:
                r = int(d.rating) if float(d.rating).is_integer() else d.rating
                changes.append(f"{i + 1} {verdict(d.rating, max_rating)} {r}")
    lines = ["CHANGES: " + (" ; ".join(changes) or "none")]
    if next_page is None:
        lines.append("END")
    else:
        shown = " ; ".join(
            f"{' '.join(v.genres) or '-'} {min(int(v.popularity * 10), 9)}" for v in next_page.items
        )
        lines.append(f"PAGE {next_page.page}: {shown}")
    return "\n".join(lines)


class StepContext:
    """What states are built from: catalog statistics, personas and the retrieval encoder.

    Everything is computed from ``history`` (past interactions) only.

    Args:
        dataset: The dataset (catalog, users, scale).
        history: Interactions allowed as evidence (the training part).
        encoder: Retrieval encoder (default :func:`alignuser.memory.encoders.default_encoder`).
        n_memories: Recent memory lines per state.
        n_similar: Similar-item memory lines per item.
        n_history: The most recent past interactions a state may draw on (similar-item
            memories, taste cue); the simulation seeds each agent's memory with the same
            number (``population.history_memories``, default 20). ``None``: all.
    """

    def __init__(
        self,
        dataset: Dataset,
        history: Interactions,
        encoder=None,
        n_memories: int = 3,
        n_similar: int = 2,
        n_history: int | None = 20,
    ):
        self.max_rating = dataset.scale.max if dataset.scale is not None else 5
        self.catalog: Catalog = dataset.catalog.with_statistics(history)
        # the simulation's item lines (alignuser.env.views): same titles, rounding and
        # popularity percentile, so the policy sees in training what it sees at run time
        self.view = CatalogView(self.catalog)
        self.titles = self.view.titles
        self.popularity = self.catalog.df["popularity"].to_numpy(dtype=float)
        self.n_memories, self.n_similar = n_memories, n_similar
        self.n_history = n_history
        if encoder is None:
            from alignuser.memory.encoders import default_encoder

            encoder = default_encoder(self.catalog, history)
        self.encoder = encoder
        self.personas = _personas(dataset, history)
        self.taste = self.view.taste_model(self.max_rating)
        self.offsets = self.view.rater_offsets()
        # (user, item) pairs the statistics count, as sorted keys user * n_items + item
        n = max(self.catalog.n_items, 1)
        h = history.df
        self._n_keys = n
        self._counted = np.unique(h["user_id"].to_numpy(np.int64) * n + h["item_id"].to_numpy())

    def counted(self, user: int, item_ids: Sequence[int]) -> np.ndarray:
        """Whether the catalog statistics count ``user``'s interaction with each item."""
        keys = int(user) * self._n_keys + np.asarray(item_ids, dtype=np.int64)
        pos = np.searchsorted(self._counted, keys)
        pos = np.minimum(pos, max(len(self._counted) - 1, 0))
        return self._counted[pos] == keys if len(self._counted) else np.zeros(len(keys), bool)

    def state(
        self,
        user: int,
        page: int,
        items: Sequence[int],
        hist_items: list[int],
        hist_ratings: list[float],
        session: int = 0,
        own: dict[int, float] | None = None,
    ) -> PageState:
        """The page state of ``user`` seeing ``items`` with this past.

        ``own``: the user's ratings of page items that the catalog statistics count (a
        training page's positives, when the targets are part of the statistics); their
        views leave them out (:meth:`CatalogView.view`), so a training page shows its
        items as a held-out page does.
        """
        rater_all = self.offsets.for_history(hist_items, hist_ratings)  # every past rating
        if self.n_history is not None:
            keep = max(len(hist_items) - self.n_history, 0)
            hist_items, hist_ratings = hist_items[keep:], hist_ratings[keep:]
        sim = similar_memories(
            self.encoder,
            hist_items,
            hist_ratings,
            items,
            self.titles,
            self.n_similar,
            self.max_rating,
        )
        minus = None if not own else [own.get(int(i)) for i in items]
        views = self.view.views(
            items, sim, self.taste.for_history(hist_items, hist_ratings, items), minus
        )
        recent = [
            _line(self.titles[i], r, self.max_rating)
            for i, r in zip(
                hist_items[::-1][: self.n_memories], hist_ratings[::-1][: self.n_memories]
            )
        ]
        return PageState(
            int(user),
            self.personas.get(int(user), "A movie viewer."),
            page,
            views,
            tuple(recent),
            (),
            self.max_rating,
            session,
            rater=self.taste.bias_for_history(hist_items, hist_ratings),
            history=tuple(int(i) for i in hist_items),
            history_ratings=tuple(float("nan") if r is None else float(r) for r in hist_ratings),
            rater_all=rater_all,
        )


def _personas(dataset: Dataset, history: Interactions) -> dict[int, str]:
    try:
        from alignuser.personas.derive import derive_personas
        from alignuser.personas.text import render_persona
    except ImportError:  # pragma: no cover - personas written by another module
        return {}
    ps = derive_personas(history, dataset.catalog, dataset.users, dataset.scale)
    return {int(p.user_id): render_persona(p) for p in ps}


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
    top, n_items = ctx.max_rating, ctx.catalog.n_items
    weights = np.maximum(ctx.popularity, 0.5) ** popularity_alpha
    weights = weights / weights.sum()
    known = pd.concat([hist_df, targets.df]).groupby("user_id")["item_id"].agg(set).to_dict()
    tg = targets.df.sort_values(["user_id", "timestamp"], kind="stable")
    hg = {int(u): g.sort_values("timestamp", kind="stable") for u, g in hist_df.groupby("user_id")}
    users = tg["user_id"].unique()
    recs = {}
    if recommender is not None and len(users):
        excl = [np.fromiter(known.get(int(u), set()), dtype=np.int64) for u in users]
        top_k = recommender.recommend(np.asarray(users), rec_top_k, excl)
        recs = {int(u): row[row >= 0] for u, row in zip(users, top_k)}
    steps: list[Step] = []
    for u, g in tg.groupby("user_id", sort=True):
        u = int(u)
        items, ratings, times = (
            g["item_id"].to_numpy(),
            g["rating"].to_numpy(dtype=float),
            g["timestamp"].to_numpy(),
        )
        cuts, pos = [], 0
        while pos < len(items):
            n = int(rng.integers(1, max_positives + 1))
            cuts.append((pos, min(pos + n, len(items))))
            pos += n
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
        keep = (
            range(len(cuts))
            if max_pages_per_user is None
            else range(max(0, len(cuts) - max_pages_per_user), len(cuts))
        )
        h = hg.get(u)
        h_items = h["item_id"].tolist() if h is not None else []
        h_ratings = h["rating"].tolist() if h is not None else []
        pages: dict[int, tuple[PageState, PageAction]] = {}
        exclude = known.get(u, set())
        for k in keep:
            a, b = cuts[k]
            n_neg = page_size - (b - a)
            negs = _negatives(rng, n_neg, weights, exclude, recs.get(u), rec_fraction, n_items)
            shown = [*items[a:b].tolist(), *negs]
            rng.shuffle(shown)
            pos_r = {int(i): _rating(r, top, top) for i, r in zip(items[a:b], ratings[a:b])}
            state = ctx.state(
                u,
                page_no[k],
                shown,
                h_items + items[:a].tolist(),
                h_ratings + ratings[:a].tolist(),
                sess[k],
                own=_own(ctx, u, items[a:b], ratings[a:b]),
            )
            last = k + 1 == len(cuts) or sess[k + 1] != sess[k]
            action = PageAction(
                tuple(
                    ItemDecision(int(i), True, pos_r[int(i)])
                    if int(i) in pos_r
                    else ItemDecision(int(i), False)
                    for i in shown
                ),
                exit=last,
            )
            pages[k] = (state, action)
        for k in keep:
            state, action = pages[k]
            last = action.exit
            nxt = None if last or (k + 1) not in pages else pages[k + 1][0]
            steps.append(
                Step(
                    state,
                    action,
                    result_text(action, ctx.titles, nxt),
                    u,
                    sess[k],
                    int(times[cuts[k][0]]),
                    compact_result_text(action, nxt, ctx.max_rating),
                )
            )
    return steps


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
