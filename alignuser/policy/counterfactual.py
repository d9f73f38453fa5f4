"""Counterfactual actions: ``K`` legal alternatives to a human action, never the human's.

Three kinds, drawn in turn so a page gets a mix: a **different watch set** (one or two
items flipped; a newly watched item gets the page's typical rating), **other ratings** (same
watch set, a rating moved by 1-2 steps; only when something was watched), and **exit vs
continue** flipped (with the human's item decisions). Duplicates and the human action itself
are rejected, so fewer than ``K`` come back only on pages with fewer legal alternatives.

Example:
    >>> import numpy as np
    >>> from alignuser.env.actions import ItemDecision, PageAction
    >>> from alignuser.policy.counterfactual import alternatives
    >>> human = PageAction((ItemDecision(1, True, 5), ItemDecision(2, False)), exit=False)
    >>> alts = alternatives(human, k=3, max_rating=5, rng=np.random.default_rng(0))
    >>> len(alts), human in alts
    (3, False)
"""

from __future__ import annotations

import numpy as np

from alignuser.env.actions import ItemDecision, PageAction

__all__ = ["KINDS", "alternatives", "describe_difference"]

KINDS = ("watch_set", "rating", "exit")


def _flip_watch(human: PageAction, max_rating: int, rng: np.random.Generator) -> PageAction:
    ds = list(human.decisions)
    n_flip = 1 if len(ds) < 3 or rng.random() < 0.6 else 2
    default = round(0.6 * max_rating)
    for j in rng.choice(len(ds), size=min(n_flip, len(ds)), replace=False):
        d = ds[j]
        ds[j] = (
            ItemDecision(d.item_id, False)
            if d.watch
            else ItemDecision(
                d.item_id,
                True,
                int(rng.integers(1, max_rating + 1)) if rng.random() < 0.5 else default,
            )
        )
    return PageAction(tuple(ds), human.exit)


def _other_rating(
    human: PageAction, max_rating: int, rng: np.random.Generator
) -> PageAction | None:
    watched = [j for j, d in enumerate(human.decisions) if d.watch]
    if not watched:
        return None
    ds = list(human.decisions)
    j = int(rng.choice(watched))
    r = ds[j].rating
    step = int(rng.choice([-2, -1, 1, 2]))
    new = int(np.clip(r + step, 1, max_rating))
    if new == r:
        new = int(np.clip(r - step, 1, max_rating))
    ds[j] = ItemDecision(ds[j].item_id, True, new)
    return PageAction(tuple(ds), human.exit)


def alternatives(
    human: PageAction,
    k: int,
    max_rating: int,
    rng: np.random.Generator,
    kinds: tuple[str, ...] = KINDS,
) -> list[PageAction]:
    """Up to ``k`` distinct legal alternatives to ``human`` (see the module docstring)."""
    out: list[PageAction] = []
    seen = {human}
    tries = 0
    while len(out) < k and tries < 10 * max(k, 1):
        kind = kinds[(len(out) + tries) % len(kinds)]
        tries += 1
        if kind == "exit":
            alt = PageAction(human.decisions, not human.exit)
        elif kind == "rating":
            alt = _other_rating(human, max_rating, rng)
        elif kind == "watch_set":
            alt = _flip_watch(human, max_rating, rng) if human.decisions else None
        else:
            raise ValueError(f"unknown counterfactual kind {kind!r}; known: {KINDS}")
        if alt is not None and alt not in seen:
            seen.add(alt)
            out.append(alt)
    return out


def describe_difference(human: PageAction, alt: PageAction, titles: dict[int, str]) -> str:
    """Short text of what ``alt`` does differently from ``human`` (for reflections)."""
    parts = []
    for h, a in zip(human.decisions, alt.decisions):
        t = titles.get(h.item_id, str(h.item_id))
        if h.watch and not a.watch:
            parts.append(f"skipping {t}")
        elif a.watch and not h.watch:
            parts.append(f"watching {t}")
        elif h.watch and a.watch and h.rating != a.rating:
            parts.append(f"rating {t} {a.rating} instead of {h.rating}")
    if human.exit != alt.exit:
        parts.append("leaving now" if alt.exit else "staying for another page")
    return ", ".join(parts) or "the same choice"
