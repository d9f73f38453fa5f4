"""Every plug point of alignuser as a Protocol, in one place (implementations live elsewhere).

=================  ===========================================  ==============================
plug point         protocol                                     registry / entry-point group
=================  ===========================================  ==============================
recommender        :class:`Recommender`                         ``alignuser.recommenders``
policy             :class:`Policy`                              ``alignuser.policies``
episodic memory    :class:`EpisodicMemory`                      ``alignuser.memories``
reflector          :class:`Reflector`                           ``alignuser.reflectors``
dataset loader     :class:`DatasetLoader`                       ``alignuser.loaders``
=================  ===========================================  ==============================

All calls are **batched**: one call per simulation step covers every active agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from alignuser.data.dataset import Dataset
    from alignuser.data.tables import Catalog, Interactions
    from alignuser.env.actions import PageAction
    from alignuser.env.page import PageState


# --------------------------------------------------------------------------- recommender


@dataclass(frozen=True)
class Feedback:
    """What users did on the pages of one step, for recommenders that learn during a run.

    Attributes:
        user_ids: One entry per (user, item) shown.
        item_ids: The item shown.
        clicked: Whether it was watched.
        ratings: The rating given (NaN when not watched).
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    clicked: np.ndarray
    ratings: np.ndarray


@runtime_checkable
class Recommender(Protocol):
    """A recommender as a state machine (RecSim NG style): fit, recommend pages, update.

    ``recommend`` returns, for each user of the batch, ``k`` distinct item ids ranked best
    first, none of them in that user's exclusions. When fewer than ``k`` items remain the row
    is padded with ``-1``.
    """

    name: str

    def fit(self, interactions: Interactions, catalog: Catalog) -> Recommender:
        """Learn from interactions; returns ``self``."""
        ...

    def recommend(
        self,
        user_ids: np.ndarray,
        k: int,
        exclude: Sequence[np.ndarray] | None = None,
    ) -> np.ndarray:
        """Return an ``(len(user_ids), k)`` int64 array of item ids."""
        ...

    def update(self, feedback: Feedback) -> None:
        """Optional online update between pages (no-op for static models)."""
        ...


# --------------------------------------------------------------------------- policy


@runtime_checkable
class Policy(Protocol):
    """Decides actions for a batch of page states: one call per step for all active agents."""

    name: str

    def decide(self, states: Sequence[PageState], rng: np.random.Generator) -> list[PageAction]:
        """Return one legal action per state, in order."""
        ...


@runtime_checkable
class SatisfactionPolicy(Protocol):
    """Optional: a policy that answers the post-session 1..10 satisfaction interview."""

    def satisfaction(
        self, summaries: Sequence[dict[str, Any]], rng: np.random.Generator
    ) -> list[int]:
        """Return a 1..10 score per finished session summary."""
        ...


# --------------------------------------------------------------------------- memory


@dataclass(frozen=True)
class MemoryRecord:
    """One episodic memory of one agent.

    Attributes:
        agent_id: Owner.
        item_id: Item the memory is about (``-1`` for none).
        text: The memory line, e.g. "I liked Heat (1995) based on my review score of 5".
        rating: Rating given, when any.
        page: Page number where it happened.
        step: Simulation step (time) when it was written.
        kind: ``"rating"``, ``"skip"``, ``"exit"``, ``"social"``...
    """

    agent_id: int
    item_id: int
    text: str
    rating: float | None = None
    page: int = 0
    step: int = 0
    kind: str = "rating"
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@runtime_checkable
class EpisodicMemory(Protocol):
    """Per-agent episodic memory, batched across agents.

    Retrieval is by item: "which of my memories are about items most similar to this one?"
    The store embeds memories and queries with the same item encoder so that simulation and
    training see the same evidence.
    """

    def add(self, records: Sequence[MemoryRecord]) -> None:
        """Store a batch of memories (many agents at once)."""
        ...

    def retrieve(
        self, agent_ids: Sequence[int], query_item_ids: Sequence[int], k: int
    ) -> list[list[MemoryRecord]]:
        """Top-``k`` memories of ``agent_ids[i]`` most similar to ``query_item_ids[i]``."""
        ...

    def recent(self, agent_ids: Sequence[int], k: int) -> list[list[MemoryRecord]]:
        """The ``k`` most recent memories of each agent, newest first."""
        ...

    def count(self, agent_id: int | None = None) -> int:
        """Number of memories (of one agent, or all)."""
        ...

    def save(self, path: str | Path) -> None:
        """Persist to ``path`` (a folder)."""
        ...


@runtime_checkable
class ItemEncoder(Protocol):
    """Maps items to vectors for memory retrieval (text and/or collaborative signal)."""

    dim: int

    def encode_items(self, item_ids: np.ndarray) -> np.ndarray:
        """Return ``(len(item_ids), dim)`` float32 L2-normalised vectors."""
        ...


# --------------------------------------------------------------------------- reflector


@runtime_checkable
class Reflector(Protocol):
    """Writes the counterfactual comparison text used as supervision in alignment."""

    def reflect(self, batch: Sequence[dict[str, Any]]) -> list[str]:
        """One reflection per item of ``batch`` (state, human action, alternatives, outcomes)."""
        ...


# --------------------------------------------------------------------------- loaders


@runtime_checkable
class DatasetLoader(Protocol):
    """Reads a dataset folder or file into a :class:`~alignuser.data.dataset.Dataset`."""

    name: str

    def detect(self, path: Path) -> bool:
        """True when ``path`` looks like this loader's format."""
        ...

    def load(self, path: Path, **options: Any) -> Dataset:
        """Read the dataset."""
        ...
