"""``PageStates``: the page states of a step's active agents, built in batched look-ups.

For the active agents and their pages, one memory call retrieves each agent's memories most
similar to each item on its page ("similar items you rated") and one its most recent
memories (which also give the item tower's history); the taste cue, the rater bias and the
long-run rater offset come from models fed with every rating in the memory store (built at
the first step, kept current with :meth:`PageStates.add_rated`); word of mouth adds the
friends' lines and items. The result is one :class:`~alignuser.env.page.PageState` per
agent, the policy's input.

Example:
    >>> states = PageStates(memory, view, scenario.memory, 5, n_agents=100)  # doctest: +SKIP
    >>> batch = states.build(active, pages, step=0, timings=model.timings)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from alignuser.env.page import PageState
from alignuser.simulation.timing import timed

__all__ = ["PageStates"]


class PageStates:
    """Builds the :class:`~alignuser.env.page.PageState` of each active agent of a step.

    Args:
        memory: Episodic memory (a memory without ``records()`` gives no taste cue).
        view: Catalog view (item display fields, taste and rater-offset models).
        memory_spec: ``MemorySpec`` (``top_k`` similar, ``recent_k`` recent lines).
        max_rating: Top of the rating scale.
        n_agents: Number of agents (rows of the taste models).
        agent_offset: Global index of the first agent.
        wom: Word of mouth (``None`` without a social graph).
        social_influence: Weight of friends' items in the policy features.
        prior_ratings: ``(rows, item_ids, ratings)`` seeding the long-run rater offset
            (see :class:`~alignuser.simulation.model.PopulationModel`).

    ``item_history``: remembered items per state (``PageState.history``) for a policy with
    an item tower (0: none); the runtime sets it from ``policy.history_length``.
    """

    def __init__(
        self, memory, view, memory_spec, max_rating: int, n_agents: int, agent_offset: int = 0,
        wom=None, social_influence: float = 1.0, prior_ratings: tuple | None = None,
    ):  # fmt: skip
        self.memory = memory
        self.view = view
        self.memory_spec = memory_spec
        self.max_rating = max_rating
        self.n_agents = n_agents
        self.agent_offset = agent_offset
        self.wom = wom
        self.social_influence = social_influence
        self.prior_ratings = prior_ratings
        self.item_history = 0
        self.taste = None  # GenreTaste, built from the memory store at the first step
        self.offsets = None  # RaterOffsets, built with it

    def add_rated(self, records) -> None:
        """Feed new memories' ratings to the taste and rater-offset models (once built)."""
        if self.taste is not None:
            rated = [r for r in records if r.rating is not None and r.kind != "social"]
            rows = [r.agent_id - self.agent_offset for r in rated]
            self.taste.add(rows, [r.item_id for r in rated], [r.rating for r in rated])
            if self.prior_ratings is not None:  # the history memories are in the prior
                rated = [r for r in rated if r.kind != "history"]
                rows = [r.agent_id - self.agent_offset for r in rated]
            self.offsets.add(rows, [r.item_id for r in rated], [r.rating for r in rated])

    def taste_scores(self, active, pages):
        """Taste cue of each page's items, rater bias and long-run offset of each agent.

        ``(None, None, None)`` for a memory without ``records()``.
        """
        if self.taste is None:
            records = getattr(self.memory, "records", None)
            if records is None:  # a user memory without ``records()``: no cue
                return None, None, None
            self.taste = self.view.taste_model(self.max_rating, self.n_agents)
            self.offsets = self.view.rater_offsets(self.n_agents)
            if self.prior_ratings is not None:
                self.offsets.add(*self.prior_ratings)
            self.add_rated(records())
        rows = [a.index - self.agent_offset for a in active]
        return self.taste.scores(rows, pages), self.taste.bias(rows), self.offsets.offsets(rows)

    def look_up(self, active, pages: list[np.ndarray]):
        """The memory look-ups: similar memories per page item, recent lines, item histories."""
        k_sim, k_recent = self.memory_spec.top_k, self.memory_spec.recent_k
        sims: list[list] = [[] for _ in active]
        if k_sim:
            q_agents = [a.index for a, p in zip(active, pages) for _ in p]
            q_items = [int(i) for p in pages for i in p]
            flat = self.memory.retrieve(q_agents, q_items, k_sim) if q_items else []
            pos = 0
            for j, p in enumerate(pages):
                sims[j] = flat[pos : pos + len(p)]
                pos += len(p)
        # one look-up serves the recent memory lines and the item tower's history
        k_look = max(k_recent, self.item_history)
        looked = self.memory.recent([a.index for a in active], k_look) if k_look else None
        recent = [r[:k_recent] for r in looked] if k_recent else None
        hist = (
            self.item_histories([r[: self.item_history] for r in looked])
            if self.item_history
            else None
        )
        return sims, recent, hist

    def build(self, active, pages: list[np.ndarray], step: int, timings: dict) -> list[PageState]:
        """One state per active agent and page (the look-ups timed as ``memory``)."""
        k_sim = self.memory_spec.top_k
        with timed(timings, "memory"):
            sims, recent, hist = self.look_up(active, pages)
        taste, rater, rater_all = self.taste_scores(active, pages)
        states = []
        for j, (a, p) in enumerate(zip(active, pages)):
            similar = [[r.text for r in recs] for recs in sims[j]] if k_sim else None
            feats = dict(a.features)
            feats["user_id"] = a.user_id  # the dataset user (agent_id is the agent's index)
            social: tuple[str, ...] = ()
            if self.wom is not None:
                social = tuple(self.wom.lines(a.index, step))
                feats["friend_items"] = self.wom.items(a.index, step)
                feats["social_influence"] = self.social_influence
            states.append(
                PageState(
                    agent_id=a.index,
                    persona=a.persona_text,
                    page=a.page + 1,
                    items=self.view.views(p, similar, taste[j] if taste else None),
                    memories=tuple(r.text for r in recent[j]) if recent is not None else (),
                    social=social,
                    max_rating=self.max_rating,
                    session=a.sessions_done,
                    features=feats,
                    rater=rater[j] if rater else None,
                    history=hist[j][0] if hist else (),
                    history_ratings=hist[j][1] if hist else (),
                    rater_all=rater_all[j] if rater_all else None,
                )
            )
        return states

    @staticmethod
    def item_histories(looked) -> list[tuple[tuple, tuple]]:
        """Each agent's consumed items among its most recent memories, and their ratings.

        ``looked``: per agent, the newest ``item_history`` memories, newest first
        (the seeded history included). Returns oldest first, NaN for watched-unrated, as
        training builds them from the logs.
        """
        out = []
        for recs in looked:
            kept = [r for r in recs if r.item_id >= 0 and r.kind in ("history", "rating")][::-1]
            out.append(
                (
                    tuple(int(r.item_id) for r in kept),
                    tuple(float("nan") if r.rating is None else float(r.rating) for r in kept),
                )
            )
        return out
