"""The page-state builder: the :class:`~alignuser.env.page.PageState` a user's past gives.

:class:`StepContext` holds what states are built from (catalog statistics, personas, the
retrieval encoder, the taste and rater models, all from past interactions only) and builds
the state of a user seeing a page with a given history (:meth:`StepContext.state`);
:func:`similar_memories` ranks the similar-item memory lines as the simulation's memory index
does. Training (:mod:`alignuser.training.trajectories`), the choice-model calibration and the
evaluation protocols build their states here.

Example:
    >>> from alignuser.data.synthetic import SyntheticWorld
    >>> from alignuser.state import StepContext
    >>> ds = SyntheticWorld(n_users=20, n_items=40, seed=0).dataset(n_sessions_per_user=2)
    >>> st = StepContext(ds, ds.interactions).state(0, 1, [3, 5], [1, 2], [5.0, 2.0])
    >>> [v.item_id for v in st.items], st.page
    ([3, 5], 1)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alignuser.data.dataset import Dataset
from alignuser.data.tables import Catalog, Interactions
from alignuser.env.page import PageState
from alignuser.env.text import memory_line
from alignuser.env.views import CatalogView

__all__ = ["StepContext", "similar_memories"]


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

