"""The template reflector: the counterfactual reflection as the policy writes and reads it.

A reflection has the four parts of the AlignUSER trajectory reflections: context advantage,
persona alignment, future outcomes (from the **world model's predictions** of each
alternative's next state) and a one-sentence lesson. :class:`TemplateReflector` writes it
offline and deterministically, grounded in the state's evidence (similar-item memories,
persona) and the predicted outcomes; training uses it as the alignment supervision
(:mod:`alignuser.training.reflectors`) and the policy thinks in the same grammar
(:mod:`alignuser.policy.thinking`).

Each item of a ``reflect`` batch is a dict with ``state`` (PageState), ``human`` (PageAction),
``alternatives`` (list of PageAction) and ``predicted`` (list of world-model next-state texts,
one per alternative).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alignuser.policy.counterfactual import describe_difference

__all__ = ["TemplateReflector", "outcome_summary"]


_VERBS = ("disliked", "liked", "felt neutral about")


def _verdict(similar: Sequence[str]) -> str | None:
    """The verb of the first similar-item memory (``liked``...), ``None`` without one."""
    first = similar[0] if similar else ""
    return next((v for v in _VERBS if first.startswith(f"I {v} ")), None)


def _evidence(similar: Sequence[str], titles: bool = True) -> str:
    if not similar:
        return "no similar memory"
    verb = _verdict(similar)
    if verb is None:
        return similar[0]
    if not titles:  # the compact state shows the verdict of a similar item, not its title
        return "similar " + verb.replace("felt neutral about", "neutral")
    title = similar[0][len(f"I {verb} ") :].split(" based on")[0]
    return f"{verb} {title}".replace("felt neutral about", "neutral on")


def outcome_summary(predicted: str) -> str:
    """Condense a world-model next-state text into a few words."""
    head, page, _ = predicted.partition("PAGE")  # the next page's titles may say "liked"
    words = head.replace('"', " ").split()
    liked = words.count("liked")
    disliked = words.count("disliked")
    neutral = words.count("neutral")
    parts = []
    if liked:
        parts.append(f"{liked} liked")
    if disliked:
        parts.append(f"{disliked} disliked")
    if neutral:
        parts.append(f"{neutral} neutral")
    body = ", ".join(parts) or "nothing enjoyed"
    return body + ("; session ends" if "END" in words and not page else "")


class TemplateReflector:
    """Deterministic four-part reflection from the state's evidence and predicted outcomes.

    Args:
        max_alternatives: At most this many alternatives are described.
        compact: Name items by page position (``item 2``) and similar memories by their
            verdict, for models that read the compact state, which has no titles: a
            reflection should only say what its reader can see.

    Example:
        >>> r = TemplateReflector()
        >>> text = r.reflect([{"state": state, "human": human, "alternatives": alts,
        ...                    "predicted": preds}])[0]  # doctest: +SKIP
    """

    def __init__(self, max_alternatives: int = 2, compact: bool = False):
        self.max_alternatives = max_alternatives
        self.compact = compact

    def reflect(self, batch: Sequence[dict[str, Any]]) -> list[str]:
        """One reflection per batch item."""
        return [self._one(b) for b in batch]

    def _one(self, b: dict[str, Any]) -> str:
        state, human = b["state"], b["human"]
        if self.compact:
            titles = {v.item_id: f"item {j + 1}" for j, v in enumerate(state.items)}
        else:
            titles = {v.item_id: v.title for v in state.items}
        ev = {v.item_id: _evidence(v.similar, not self.compact) for v in state.items}
        watched = [d for d in human.decisions if d.watch]
        skipped = [d for d in human.decisions if not d.watch]
        ctx = [  # page order, one verdict per item (a thought is decoded item by item)
            f"{titles[d.item_id]} {'watched' if d.watch else 'skipped'} ({ev[d.item_id]})"
            for d in human.decisions
        ]
        persona = state.persona.split(".")
        taste = next(
            (p.strip() for p in persona if "Loves" in p or "dislikes" in p), persona[0].strip()
        )
        future = []
        for alt, pred in list(zip(b.get("alternatives", ()), b.get("predicted", ())))[
            : self.max_alternatives
        ]:
            future.append(f"{describe_difference(human, alt, titles)} -> {outcome_summary(pred)}")
        verdict = {v.item_id: _verdict(v.similar) for v in state.items}
        pos = sum(1 for d in watched if verdict[d.item_id] == "liked")
        neg = sum(1 for d in skipped if verdict[d.item_id] == "disliked")
        if watched and pos >= len(watched) / 2:
            lesson = "Watch what resembles films I liked and skip what resembles films I disliked."
        elif watched:
            lesson = "Give new things a chance when the page matches my genres."
        elif neg:
            lesson = "Skip pages that resemble what I disliked."
        else:
            lesson = "Nothing here fits my taste, so skipping is right."
        lesson += (
            " Leave when pages stop fitting." if human.exit else " Keep browsing while pages fit."
        )
        return (
            f"CONTEXT: {'; '.join(ctx) or 'empty page'}. PERSONA: {taste}. "
            f"FUTURE: {' | '.join(future) or 'no alternative'}. LESSON: {lesson}"
        )
