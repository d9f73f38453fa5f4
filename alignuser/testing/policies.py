"""Conformance kit for the ``Policy`` plug point, and random page states for tests.

Subclass :class:`PolicyConformance` in a test module (name the subclass ``Test...``) and
implement :meth:`~PolicyConformance.make_policy`; pytest then runs every check against it::

    from alignuser.testing.policies import PolicyConformance

    class TestMyPolicy(PolicyConformance):
        def make_policy(self):
            return MyPolicy()
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from alignuser.env.page import ItemView, PageState
from alignuser.env.text import memory_line

__all__ = ["GENRES", "PolicyConformance", "random_page_states", "random_summaries"]

GENRES = ("Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller", "Animation")


def random_page_states(
    rng: np.random.Generator,
    n: int,
    *,
    items: tuple[int, int] = (1, 10),
    max_ratings: Sequence[int] = (5,),
    pages: tuple[int, int] = (1, 8),
    with_features: bool = True,
    genres: Sequence[str] = GENRES,
) -> list[PageState]:
    """Random but well-formed page states (distinct item ids per page, varied personas).

    Args:
        rng: Source of randomness (same seed, same states).
        n: Number of states.
        items: Inclusive range of page sizes (``(0, 0)`` gives empty pages).
        max_ratings: Rating scales to draw from.
        pages: Inclusive range of page numbers.
        with_features: Attach the persona side channel (``liked_genres``, ``taste``...).
        genres: Genre vocabulary.

    Returns:
        ``n`` states with agent ids ``0..n-1``.
    """
    out = []
    for agent in range(n):
        max_r = int(rng.choice(max_ratings))
        k = int(rng.integers(items[0], items[1] + 1))
        ids = rng.choice(10_000, size=k, replace=False)
        taste = {g: float(t) for g, t in zip(genres, rng.uniform(-1, 1, len(genres)))}
        views = []
        for item_id in ids:
            gs = tuple(rng.choice(genres, size=int(rng.integers(0, 4)), replace=False).tolist())
            similar = tuple(
                memory_line(f"Movie {int(m)}", int(rng.integers(1, max_r + 1)), max_r)
                for m in rng.integers(0, 10_000, size=int(rng.integers(0, 4)))
            )
            mean = None if rng.random() < 0.1 else float(rng.uniform(1, max_r))
            year = int(rng.integers(1930, 2024))
            pop = float(rng.random())
            views.append(ItemView(int(item_id), f"Movie {item_id}", gs, year, mean, pop, similar))
        features: dict[str, Any] = {}
        if with_features:
            ranked = sorted(taste, key=taste.get)  # type: ignore[arg-type]
            features = {
                "liked_genres": tuple(ranked[-2:]),
                "disliked_genres": tuple(ranked[:1]),
                "taste": taste,
                "rating_bias": float(rng.normal(0, 0.5)),
                "patience": float(rng.random()),
                "conformity": float(rng.random()),
                "activity": float(rng.random()),
            }
        out.append(
            PageState(
                agent_id=agent,
                persona=f"Agent {agent}: likes {', '.join(features.get('liked_genres', ()))}",
                page=int(rng.integers(pages[0], pages[1] + 1)),
                items=tuple(views),
                memories=(memory_line("Heat (1995)", 5, 5),) if agent % 2 else (),
                max_rating=max_r,
                session=int(rng.integers(0, 3)),
                features=features,
            )
        )
    return out


def random_summaries(rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    """Random finished-session summaries (keys read by ``summary_stats``)."""
    out = []
    for agent in range(n):
        shown = int(rng.integers(0, 40))
        watched = int(rng.integers(0, shown + 1))
        max_r = int(rng.choice([5, 10]))
        ratings = rng.integers(1, max_r + 1, size=watched).tolist()
        out.append(
            {
                "agent_id": agent,
                "persona": f"Agent {agent}",
                "pages": int(rng.integers(1, 6)),
                "shown": shown,
                "watched": watched,
                "ratings": ratings,
                "max_rating": max_r,
            }
        )
    return out


class PolicyConformance:
    """Behaviour every ``Policy`` must have; subclass and implement :meth:`make_policy`.

    Checks: legal actions for random states of varying page sizes and rating scales, batch
    order preserved, same seed -> same actions, empty batch -> ``[]``, empty pages handled,
    and ``satisfaction`` in ``1..10`` when the policy implements it.
    """

    batch_size: int = 24

    def make_policy(self) -> Any:
        """Return a fresh policy instance."""
        raise NotImplementedError

    def _states(self, seed: int = 0, **kw: Any) -> list[PageState]:
        kw.setdefault("max_ratings", (3, 5, 10))
        return random_page_states(np.random.default_rng(seed), self.batch_size, **kw)

    def test_has_name_and_decide(self) -> None:
        """It satisfies the ``Policy`` protocol."""
        from alignuser.interfaces import Policy

        assert isinstance(self.make_policy(), Policy)

    def test_actions_are_legal(self) -> None:
        """One legal action per state: page items in order, ratings in range."""
        states = self._states(0, items=(1, 12))
        actions = self.make_policy().decide(states, np.random.default_rng(0))
        assert len(actions) == len(states)
        for s, a in zip(states, actions):
            a.validate_for(s.item_ids, s.max_rating)
            assert isinstance(a.exit, bool)
            assert all(1 <= r <= s.max_rating for r in a.ratings.values())

    def test_without_features(self) -> None:
        """States without the persona side channel still get legal actions."""
        states = self._states(1, with_features=False)
        actions = self.make_policy().decide(states, np.random.default_rng(1))
        for s, a in zip(states, actions):
            a.validate_for(s.item_ids, s.max_rating)

    def test_batch_order_preserved(self) -> None:
        """Action ``i`` answers state ``i``, whatever the batch order."""
        states = self._states(2)
        policy = self.make_policy()
        for batch in (states, states[::-1], states[: self.batch_size // 2]):
            actions = policy.decide(batch, np.random.default_rng(2))
            got = [tuple(d.item_id for d in a.decisions) for a in actions]
            assert got == [s.item_ids for s in batch]

    def test_same_seed_same_actions(self) -> None:
        """Same states and seed give the same actions."""
        states = self._states(3)
        a1 = self.make_policy().decide(states, np.random.default_rng(7))
        a2 = self.make_policy().decide(states, np.random.default_rng(7))
        assert a1 == a2

    def test_empty_batch(self) -> None:
        """An empty batch gives an empty list."""
        assert self.make_policy().decide([], np.random.default_rng(0)) == []

    def test_empty_pages(self) -> None:
        """Pages without items give actions without decisions."""
        states = self._states(4, items=(0, 0))
        actions = self.make_policy().decide(states, np.random.default_rng(0))
        assert [a.decisions for a in actions] == [()] * len(states)

    def test_satisfaction_range(self) -> None:
        """``satisfaction`` (when present) gives one int in 1..10 per summary."""
        import pytest

        policy = self.make_policy()
        if not hasattr(policy, "satisfaction"):
            pytest.skip(f"{type(policy).__name__} has no satisfaction()")
        summaries = random_summaries(np.random.default_rng(5), self.batch_size)
        scores = policy.satisfaction(summaries, np.random.default_rng(5))
        assert len(scores) == len(summaries)
        assert all(isinstance(x, int) and 1 <= x <= 10 for x in scores)
        assert policy.satisfaction([], np.random.default_rng(5)) == []
