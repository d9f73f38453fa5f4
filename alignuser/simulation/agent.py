"""``UserAgent``: one persona browsing a recommender, as a Mesa 3 agent.

The agent holds its own session state (page number, items shown in this session, what it
consumed before) and turns a :class:`~alignuser.env.actions.PageAction` into events, memories
and a session summary. Decisions are not made here: the model gathers every active agent's
page state and makes one batched policy call per step (see
:class:`~alignuser.simulation.model.PopulationModel`).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import mesa

from alignuser.env.text import memory_line
from alignuser.interfaces import MemoryRecord

if TYPE_CHECKING:
    from alignuser.env.actions import PageAction


class UserAgent(mesa.Agent):
    """A synthetic user.

    Args:
        model: The population model.
        index: 0-based agent index (memory and social-graph id).
        user_id: Id the recommender knows this user by (a dataset user, or a cold id).
        persona_text: Rendered persona.
        features: Numeric persona features for policies (see ``Persona.to_features``).
    """

    def __init__(self, model, index: int, user_id: int, persona_text: str, features: dict):
        t0 = time.perf_counter()
        super().__init__(model)  # Mesa: unique id, registration in the model's AgentSets
        model.mesa_setup_seconds = getattr(model, "mesa_setup_seconds", 0.0) + (
            time.perf_counter() - t0
        )
        self.index = index
        self.user_id = user_id
        self.persona_text = persona_text
        self.features = features
        self.sessions_done = 0
        self.in_session = False
        self.consumed: set[int] = set()
        self._reset_session(0)

    def _reset_session(self, step: int) -> None:
        self.page = 0
        self.shown: list[int] = []
        self.start_step = step
        self.watches = 0
        self.likes = 0
        self.rating_sum = 0.0

    def start_session(self, step: int) -> None:
        """Begin a new session at ``step``."""
        self.in_session = True
        self._reset_session(step)

    def apply(self, action: PageAction, step: int, titles: list[str], max_rating: int):
        """Apply a page action.

        Returns:
            ``(events, memories, finished)``: event rows, memory records, and whether the
            session ended (exit, or the last page was reached).
        """
        self.page += 1
        like_at = 0.8 * max_rating
        events, memories = [], []
        for pos, (d, title) in enumerate(zip(action.decisions, titles)):
            self.shown.append(d.item_id)
            events.append(
                {
                    "step": step,
                    "agent_id": self.index,
                    "user_id": self.user_id,
                    "session": self.sessions_done,
                    "page": self.page,
                    "position": pos,
                    "item_id": d.item_id,
                    "watched": d.watch,
                    "rating": float(d.rating) if d.watch else math.nan,
                    "exit": action.exit,
                }
            )
            if d.watch:
                self.watches += 1
                self.rating_sum += d.rating
                self.likes += d.rating >= like_at
                self.consumed.add(d.item_id)
                memories.append(
                    MemoryRecord(
                        agent_id=self.index,
                        item_id=d.item_id,
                        text=memory_line(title, d.rating, max_rating),
                        rating=float(d.rating),
                        page=self.page,
                        step=step,
                    )
                )
        finished = action.exit or self.page >= self.model.spec.max_pages
        return events, memories, finished

    def end_session(self, step: int, exited: bool) -> dict:
        """Close the session; returns its summary row (satisfaction filled by the model)."""
        self.in_session = False
        row = {
            "agent_id": self.index,
            "user_id": self.user_id,
            "session": self.sessions_done,
            "start_step": self.start_step,
            "end_step": step,
            "pages": self.page,
            "shown": len(self.shown),
            "watches": self.watches,
            "likes": self.likes,
            "mean_rating": self.rating_sum / self.watches if self.watches else math.nan,
            "exit_page": self.page,
            "exited": exited,
            "satisfaction": math.nan,
        }
        self.sessions_done += 1
        return row
