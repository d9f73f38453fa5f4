"""What an agent sees: ``ItemView`` (one line of a page) and ``PageState`` (the whole state).

A ``PageState`` is the unit a ``Policy`` decides on. Its text form (what a language-model
policy reads) is produced by :mod:`alignuser.env.text`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ItemView:
    """One item as shown on a page.

    Attributes:
        item_id: Catalog id.
        title: Display title.
        genres: Genres or tags.
        year: Release year, when known.
        mean_rating: Historical mean rating on the dataset's scale, when known.
        popularity: Popularity as a 0..1 percentile within the catalog.
        similar: Memory lines about similar items this user rated ("similar items you rated").
        taste: The user's genre taste for this item in ``-1..1`` (see
            :mod:`alignuser.env.taste`), ``None`` when not computed (then not shown).
        count: Interactions with the item in the training data (the count behind
            ``popularity``); a numeric cue, never rendered as text.
        damped_mean: ``mean_rating`` shrunk towards the catalog's mean rating by
            :data:`alignuser.env.views.RATING_DAMPING` pseudo-ratings (the item term of the
            damped-bias rating model; the catalog mean for an item nobody rated), ``None``
            when the catalog has no ratings at all; never rendered as text.
    """

    item_id: int
    title: str
    genres: tuple[str, ...] = ()
    year: int | None = None
    mean_rating: float | None = None
    popularity: float = 0.0
    similar: tuple[str, ...] = ()
    taste: float | None = None
    count: int = 0
    damped_mean: float | None = None


@dataclass(frozen=True, slots=True)
class PageState:
    """The state a policy decides on: who the user is, what they remember, the page.

    Attributes:
        agent_id: Id of the agent (the user).
        persona: Persona text (see :mod:`alignuser.personas`).
        page: 1-based page number within the session.
        items: The items on the page, in display order.
        memories: Recent or retrieved memory lines shown before the page.
        social: Friends' recent high ratings (word of mouth), as lines.
        max_rating: Top of the rating scale (``1..max_rating``).
        session: 0-based session index of this agent.
        features: Optional numeric side channel for non-text policies (e.g. the persona's
            taste vector); never rendered as text.
        rater: The user's rater bias in rating points, from their own ratings (see
            :meth:`alignuser.env.taste.GenreTaste.bias`); ``None`` when unknown (not shown).
        history: Ids of the items the user remembers consuming, oldest first (the same
            window as the memories: ``population.history_memories`` in a simulation,
            ``n_history`` in training); read as item tokens by a policy with an item tower
            (:mod:`alignuser.policy.items`), never rendered as text.
        history_ratings: The rating of each ``history`` item (NaN: watched, not rated).
        rater_all: The user's long-run rating offset in rating points, over every rating
            they gave (training: all past interactions; simulation: all training ratings
            of the agent's user and those it gave since; see
            :class:`alignuser.env.taste.RaterOffsets`); ``None`` when unknown (not shown).
    """

    agent_id: int
    persona: str
    page: int
    items: tuple[ItemView, ...]
    memories: tuple[str, ...] = ()
    social: tuple[str, ...] = ()
    max_rating: int = 5
    session: int = 0
    features: dict[str, object] = field(default_factory=dict, compare=False, hash=False)
    rater: float | None = None
    history: tuple[int, ...] = ()
    history_ratings: tuple[float, ...] = ()
    rater_all: float | None = None

    @property
    def item_ids(self) -> tuple[int, ...]:
        """Ids of the page's items, in order."""
        return tuple(v.item_id for v in self.items)
