"""The random baseline policy, and the array -> actions helper the numeric policies share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from alignuser.env.actions import ItemDecision, PageAction
from alignuser.env.page import PageState

__all__ = ["RandomPolicy", "assemble_actions"]


def assemble_actions(
    states: Sequence[PageState], watch: np.ndarray, ratings: np.ndarray, exits: np.ndarray
) -> list[PageAction]:
    """Turn flat per-item arrays into one :class:`PageAction` per state.

    Args:
        states: The batch; its items, concatenated in page order, index ``watch``/``ratings``.
        watch: Bool array, one entry per item of the whole batch.
        ratings: Int array of the same length (ignored where not watched).
        exits: Bool array, one entry per state.

    Returns:
        One action per state, in batch order.
    """
    watch_l = watch.tolist()
    rating_l = ratings.tolist()
    exit_l = exits.tolist()
    out: list[PageAction] = []
    k = 0
    for i, s in enumerate(states):
        decisions = []
        for v in s.items:
            w = watch_l[k]
            decisions.append(ItemDecision(v.item_id, w, int(rating_l[k]) if w else None))
            k += 1
        out.append(PageAction(tuple(decisions), exit=bool(exit_l[i])))
    return out


class RandomPolicy:
    """Watches each item with ``watch_prob``, rates uniformly, exits with ``exit_prob``.

    All randomness comes from the ``rng`` passed to :meth:`decide`, so a seeded generator
    reproduces a run.

    Args:
        watch_prob: Probability of watching each item.
        exit_prob: Probability of leaving after each page.

    Example:
        >>> import numpy as np
        >>> from alignuser.env.page import ItemView, PageState
        >>> state = PageState(0, "", 1, (ItemView(3, "A"), ItemView(5, "B")))
        >>> [a] = RandomPolicy(watch_prob=1.0).decide([state], np.random.default_rng(0))
        >>> a.watched
        (3, 5)
    """

    name = "random"

    def __init__(self, watch_prob: float = 0.3, exit_prob: float = 0.3):
        for key, p in (("watch_prob", watch_prob), ("exit_prob", exit_prob)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"RandomPolicy: {key} must be in [0, 1], got {p}")
        self.watch_prob = float(watch_prob)
        self.exit_prob = float(exit_prob)

    def decide(self, states: Sequence[PageState], rng: np.random.Generator) -> list[PageAction]:
        """Return one random legal action per state, in order."""
        if not states:
            return []
        n = np.fromiter((len(s.items) for s in states), dtype=np.int64, count=len(states))
        max_r = np.repeat([s.max_rating for s in states], n)
        watch = rng.random(int(n.sum())) < self.watch_prob
        ratings = rng.integers(1, max_r + 1) if max_r.size else np.zeros(0, dtype=np.int64)
        exits = rng.random(len(states)) < self.exit_prob
        return assemble_actions(states, watch, ratings, exits)

    def satisfaction(
        self, summaries: Sequence[dict[str, Any]], rng: np.random.Generator
    ) -> list[int]:
        """Uniform 1..10 scores, one per session summary."""
        return rng.integers(1, 11, size=len(summaries)).tolist()

    def get_state(self) -> dict[str, Any]:
        """JSON-able parameters (for checkpoints)."""
        return {"watch_prob": self.watch_prob, "exit_prob": self.exit_prob}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned."""
        self.__init__(**state)  # type: ignore[misc]
