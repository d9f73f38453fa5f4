"""Is a counterfactual reflection grounded? Automatic checks of its four parts.

A reflection (:mod:`alignuser.training.reflectors`) reads ``CONTEXT: ... PERSONA: ...
FUTURE: ... LESSON: ...``. For one training step (state, human action, the alternatives it
was compared with and, when known, the world model's predicted outcome of each), the checks
of :func:`check_reflection` are:

=========================  =================================================================
``parsed``                 the four labelled parts are there
``persona_grounded``       the PERSONA part is taken from the state's persona text
``persona_coherent``       no genre is both loved and disliked in it
``persona_consistent``     no watched item's genres fall only among the disliked ones named
``cites_alternatives``     FUTURE describes each alternative as it really differs from the
                           human action (``describe_difference``) with an outcome
``outcome_matches_wm``     each cited outcome is the world model's predicted outcome (only
                           when predictions are given; NaN otherwise)
``lesson_agrees``          the LESSON's stance (watch or skip, leave or keep browsing) is the
                           action's
``lesson_supported``       the LESSON's stated reason holds on the page: "matches my genres"
                           (a watched item has a loved genre), "resembles films I liked" (a
                           watched item's similar memory is liked), "resemble what I
                           disliked" (a skipped one's is disliked); no stated reason passes
=========================  =================================================================

``grounded`` is all of them (``outcome_matches_wm`` when known). The template reflector
builds most parts from the same facts, so its rates mostly confirm that nothing was lost;
the checks matter for chat-model reflectors, whose text is free.

Example:
    >>> parts = split_reflection("CONTEXT: a. PERSONA: Loves Drama. FUTURE: x -> 1 liked. "
    ...                          "LESSON: Watch. Keep browsing while pages fit.")
    >>> parts["PERSONA"], parts["LESSON"]
    ('Loves Drama', 'Watch. Keep browsing while pages fit.')
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["CHECKS", "check_reflection", "reflection_rates", "split_reflection"]

CHECKS = ("parsed", "persona_grounded", "persona_coherent", "persona_consistent",
          "cites_alternatives", "outcome_matches_wm", "lesson_agrees",
          "lesson_supported")  # fmt: skip
_PARTS = ("CONTEXT", "PERSONA", "FUTURE", "LESSON")
_SPLIT = re.compile(r"\b(CONTEXT|PERSONA|FUTURE|LESSON):\s*")
_WATCH = re.compile(r"\b(watch|give new things|chance)\b", re.I)
_SKIP = re.compile(r"\b(skip|nothing here)\b", re.I)
_LEAVE = re.compile(r"\b(leave|leaving|stop|end the session)\b", re.I)
_STAY = re.compile(r"\b(keep browsing|continue|another page|stay)\b", re.I)


def split_reflection(text: str) -> dict[str, str]:
    """The labelled parts of a reflection (missing parts are absent); trailing '.' dropped."""
    bits = _SPLIT.split(text)
    out = {}
    for label, body in zip(bits[1::2], bits[2::2]):
        body = body.strip()
        out[label] = body[:-1].strip() if label != "LESSON" and body.endswith(".") else body
    return out


def _genres(clause: str, word: str) -> set[str]:
    m = re.search(rf"{word}\s+([^;.]+)", clause)
    if not m:
        return set()
    return {g.strip() for g in re.split(r",|\band\b", m.group(1)) if g.strip()}


def _future_ok(future: str, human, alternatives, titles_sets) -> tuple[bool, list[str]]:
    cited = [p.strip() for p in future.split(" | ") if "->" in p]
    outcomes = [p.split("->", 1)[1].strip() for p in cited]
    if len(cited) != len(alternatives) or not cited:
        return False, outcomes
    from alignuser.policy.counterfactual import describe_difference

    for titles in titles_sets:
        want = [describe_difference(human, a, titles) for a in alternatives]
        if [p.split("->", 1)[0].strip() for p in cited] == want:
            return True, outcomes
    return False, outcomes


def _supported(lesson: str, state, human, loves: set[str], genres: dict) -> float:
    sim = {v.item_id: (v.similar[0] if v.similar else "") for v in state.items}
    watched = [d.item_id for d in human.decisions if d.watch]
    skipped = [d.item_id for d in human.decisions if not d.watch]
    claims = []
    if "matches my genres" in lesson:
        claims.append(any(genres[i] & loves for i in watched))
    if "resembles films I liked" in lesson:
        claims.append(any(sim[i].startswith("I liked") for i in watched))
    if "resemble what I disliked" in lesson:
        claims.append(any(sim[i].startswith("I disliked") for i in skipped))
    return float(all(claims))


def check_reflection(text: str, state, human, alternatives: Sequence = (),
                     predicted: Sequence[str] | None = None) -> dict[str, float]:  # fmt: skip
    """The checks of the module docstring for one reflection (1.0 pass, 0.0 fail, NaN n/a).

    Args:
        text: The reflection.
        state: The step's :class:`~alignuser.env.page.PageState`.
        human: The human :class:`~alignuser.env.actions.PageAction`.
        alternatives: The alternatives the reflection describes (in order).
        predicted: The world model's next-state text of each alternative (``None``: unknown).
    """
    from alignuser.training.reflectors import outcome_summary

    parts = split_reflection(text)
    out = dict.fromkeys(CHECKS, 0.0)
    out["parsed"] = float(all(p in parts for p in _PARTS))
    persona = parts.get("PERSONA", "")
    loves, dislikes = _genres(persona, "Loves"), _genres(persona, "dislikes")
    out["persona_grounded"] = float(bool(persona) and persona in state.persona)
    out["persona_coherent"] = float(bool(persona) and not (loves & dislikes))
    genres = {v.item_id: set(v.genres) for v in state.items}
    bad = [d for d in human.decisions if d.watch and genres[d.item_id]
           and genres[d.item_id] <= dislikes and not genres[d.item_id] & loves]  # fmt: skip
    out["persona_consistent"] = float(bool(persona) and not bad)
    titles_sets = [{v.item_id: v.title for v in state.items},
                   {v.item_id: f"item {j + 1}" for j, v in enumerate(state.items)}]  # fmt: skip
    ok, outcomes = _future_ok(parts.get("FUTURE", ""), human, list(alternatives), titles_sets)
    out["cites_alternatives"] = float(ok)
    if predicted is None:
        out["outcome_matches_wm"] = np.nan
    else:
        want = [outcome_summary(p) for p in predicted]
        out["outcome_matches_wm"] = float(bool(want) and outcomes == want)
    lesson = parts.get("LESSON", "")
    watched = any(d.watch for d in human.decisions)
    stance = bool(_WATCH.search(lesson)) if watched else bool(_SKIP.search(lesson))
    leave = bool(_LEAVE.search(lesson)) and not _STAY.search(lesson)
    stay = bool(_STAY.search(lesson)) and not _LEAVE.search(lesson)
    out["lesson_agrees"] = float(stance and (leave if human.exit else stay))
    out["lesson_supported"] = _supported(lesson, state, human, loves, genres)
    keys = [k for k in CHECKS if not (k == "outcome_matches_wm" and predicted is None)]
    out["grounded"] = float(all(out[k] == 1.0 for k in keys))
    return out


def reflection_rates(rows: pd.DataFrame) -> pd.DataFrame:
    """Share of reflections passing each check (NaN checks left out), with ``n``."""
    cols = [*CHECKS, "grounded"]
    rates = {c: rows[c].mean() for c in cols if c in rows}
    return pd.DataFrame([{**rates, "n": len(rows)}])
