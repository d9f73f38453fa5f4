"""Actions an agent takes on a page: immutable, typed, validated.

Per item: watch or skip, and a ``1..max`` rating for what was watched. Per page: go to the
next page or exit. The text form lives in :mod:`alignuser.env.text`.

Example:
    >>> from alignuser.env.actions import ItemDecision, PageAction
    >>> a = PageAction((ItemDecision(7, True, 4), ItemDecision(9, False)), exit=False)
    >>> a.watched
    (7,)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ItemDecision", "PageAction", "rating_values", "scale_rating"]


def scale_rating(r: float, max_rating: int) -> int:
    """A logged rating on the integer ``1..max_rating`` scale: half stars round **up**.

    Python's ``round`` rounds half to even (4.5 -> 4, 2.5 -> 2), which would bias half-star
    datasets downwards; here 4.5 -> 5, 2.5 -> 3, 3.5 -> 4, clipped to the scale.

    Example:
        >>> [scale_rating(r, 5) for r in (0.5, 2.5, 3.5, 4.5, 7.0)]
        [1, 3, 4, 5, 5]
    """
    return int(min(max(math.floor(float(r) + 0.5), 1), max_rating))


def rating_values(ratings, max_rating: int) -> list[float]:
    """The mean logged rating behind each class ``1..max_rating`` of :func:`scale_rating`.

    On a half-star dataset class 4 holds the 3.5s and the 4s: its value is their mean (about
    3.8 on ml-latest-small), so an expectation over the classes lands on the dataset's own
    scale instead of a quarter star too high. A class no rating maps to keeps its own value.

    Example:
        >>> rating_values([3.5, 4.0, 4.0, 4.0, 5.0], 5)
        [1.0, 2.0, 3.0, 3.875, 5.0]
    """
    r = np.asarray([x for x in ratings if x is not None], dtype=float)
    r = r[~np.isnan(r)]
    cls = np.fromiter((scale_rating(x, max_rating) for x in r), dtype=int, count=len(r))
    out = []
    for c in range(1, int(max_rating) + 1):
        hit = r[cls == c]
        out.append(round(float(hit.mean()), 4) if len(hit) else float(c))
    return out


@dataclass(frozen=True, slots=True)
class ItemDecision:
    """The decision about one item on a page.

    Attributes:
        item_id: Catalog id of the item.
        watch: True to watch (click), False to skip.
        rating: ``1..max`` rating when watched, ``None`` when skipped.
    """

    item_id: int
    watch: bool
    rating: int | None = None

    def __post_init__(self):
        if self.watch and self.rating is None:
            raise ValueError(f"item {self.item_id}: a watched item needs a rating")
        if not self.watch and self.rating is not None:
            raise ValueError(f"item {self.item_id}: a skipped item cannot have a rating")
        if self.rating is not None and self.rating < 1:
            raise ValueError(f"item {self.item_id}: rating must be >= 1, got {self.rating}")


@dataclass(frozen=True, slots=True)
class PageAction:
    """All decisions on one page plus whether the user leaves after it.

    Attributes:
        decisions: One decision per item, in page order.
        exit: True to end the session after this page, False for the next page.
        rationale: Optional free-text reason the policy gave before deciding (a "thought";
            see :mod:`alignuser.policy.thoughts`), ``None`` when it gave none.
    """

    decisions: tuple[ItemDecision, ...]
    exit: bool
    rationale: str | None = None

    def __post_init__(self):
        ids = [d.item_id for d in self.decisions]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate item in page action: {ids}")

    @property
    def watched(self) -> tuple[int, ...]:
        """Ids of watched items, in page order."""
        return tuple(d.item_id for d in self.decisions if d.watch)

    @property
    def ratings(self) -> dict[int, int]:
        """Item id -> rating for watched items."""
        return {d.item_id: d.rating for d in self.decisions if d.watch}  # type: ignore[misc]

    def validate_for(self, item_ids: tuple[int, ...] | list[int], max_rating: int) -> None:
        """Check this action is legal for a page showing ``item_ids`` in that order.

        Raises:
            ValueError: When items differ from the page or a rating exceeds ``max_rating``.
        """
        if tuple(d.item_id for d in self.decisions) != tuple(item_ids):
            raise ValueError(
                f"action covers items {[d.item_id for d in self.decisions]}, "
                f"page shows {list(item_ids)}"
            )
        for d in self.decisions:
            if d.rating is not None and d.rating > max_rating:
                raise ValueError(f"item {d.item_id}: rating {d.rating} > max {max_rating}")
