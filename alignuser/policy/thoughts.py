"""Thought-action consistency: does the policy do what its rationale says?

With ``AlignUserPolicy(thoughts=True)`` the policy first writes a rationale for the page
(:meth:`~alignuser.policy.model.PolicyModel.generate_thoughts`, the reflection format it was
aligned on: ``CONTEXT: <item> watched (...); <item> skipped (...). PERSONA: ... LESSON: ...``)
and then decides after reading it. This module reads back which items the rationale says are
watched and which skipped (by title, or by page position, ``item 2``, the way reflections for
compact-state models name items), and compares that with the decisions taken:

* ``coverage``: share of the page's items the rationale names as watched or skipped;
* ``agreement``: among the named items, share whose decision matches the rationale;
* ``exit_agreement``: share of pages where the lesson's "Leave ..." / "Keep browsing ..."
  matches the exit decision (pages whose lesson says neither are left out).

Matching is on word-normalised titles (the words of :func:`alignuser.policy.tokenizer.words`),
so the spacing of word-level decoding does not matter. A rationale in other words (a chat
model's) is read the same way; items it does not name lower the coverage, not the agreement.

Example:
    >>> from alignuser.env.page import ItemView, PageState
    >>> from alignuser.env.actions import ItemDecision, PageAction
    >>> st = PageState(0, "p", 1, (ItemView(1, "Heat (1995)"), ItemView(2, "Up (2009)")))
    >>> t = "CONTEXT: watched Heat ( 1995 ) ( no similar memory ), skipped Up ( 2009 ) ( x )."
    >>> said_watched(t, st)
    [True, False]
    >>> a = PageAction((ItemDecision(1, True, 4), ItemDecision(2, True, 3)), exit=False)
    >>> thought_action_consistency([st], [t], [a])["agreement"]
    0.5
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from alignuser.env.actions import PageAction
from alignuser.env.page import PageState
from alignuser.policy.tokenizer import words

__all__ = ["said_exit", "said_watched", "thought_action_consistency"]


def _norm(text: str) -> str:
    return " " + " ".join(words(text)) + " "


def _parts(thought: str) -> tuple[str, str]:
    """The normalised ``watched ...`` and ``skipped ...`` parts of the CONTEXT section."""
    ctx = _norm(thought).split(" PERSONA ")[0]
    m_w = re.search(r" watched (.*?)(?= skipped |$)", ctx)
    m_s = re.search(r" skipped (.*)$", ctx)
    return (" " + m_w.group(1) + " ") if m_w else "", (" " + m_s.group(1) + " ") if m_s else ""


def said_watched(thought: str, state: PageState) -> list[bool | None]:
    """Per item: ``True`` named as watched, ``False`` as skipped, ``None`` not named.

    Reads both forms: an item followed by its verdict (``item 2 watched (...)``, the
    reflection's page-order form) and ``watched <items>, skipped <items>`` lists.
    """
    ctx = _norm(thought).split(" PERSONA ")[0]
    watched, skipped = _parts(thought)
    out: list[bool | None] = []
    for j, it in enumerate(state.items):
        names = [f" item {j + 1} "] + ([_norm(it.title)] if it.title.strip() else [])
        in_w = any(n + "watched " in ctx for n in names)
        in_s = any(n + "skipped " in ctx for n in names)
        if not (in_w or in_s):
            in_w = any(n in watched for n in names)
            in_s = any(n in skipped for n in names)
        out.append(None if in_w == in_s else in_w)
    return out


def said_exit(thought: str) -> bool | None:
    """``True`` when the lesson says to leave, ``False`` to keep browsing, else ``None``."""
    lesson = _norm(thought).split(" LESSON ")[-1]
    leave, stay = " Leave " in lesson, " Keep browsing " in lesson
    return None if leave == stay else leave


def thought_action_consistency(
    states: Sequence[PageState], thoughts: Sequence[str], actions: Sequence[PageAction]
) -> dict[str, float]:
    """Coverage and agreement of rationales with the decisions (see the module doc)."""
    if not (len(states) == len(thoughts) == len(actions)):
        raise ValueError(f"{len(states)} states, {len(thoughts)} thoughts, {len(actions)} actions")
    n_items = named = agree = 0
    n_exit = exit_agree = 0
    for st, th, a in zip(states, thoughts, actions):
        for claim, d in zip(said_watched(th, st), a.decisions):
            n_items += 1
            if claim is not None:
                named += 1
                agree += claim == d.watch
        leave = said_exit(th)
        if leave is not None:
            n_exit += 1
            exit_agree += leave == a.exit
    nan = float("nan")
    return {
        "coverage": named / n_items if n_items else nan,
        "agreement": agree / named if named else nan,
        "exit_agreement": exit_agree / n_exit if n_exit else nan,
        "n_pages": float(len(states)),
    }
