r"""The text form of page states and actions: the one module that renders and parses them.

A language-model policy reads a **state** and writes (or scores) an **action**. Both are plain
text in the AlignUSER / Agent4Rec lineage: one line per item, a small strict action grammar.
Free-text fields (titles, genres, memory lines, persona) are written as JSON string literals,
so commas, quotes and unicode round-trip exactly.

State example (``render_state``)::

    PERSONA: "A 25-34 year old writer. Loves Drama and Romance; dislikes Horror. Picky rater."
    MEMORIES:
    - "I liked Heat (1995) based on my review score of 5"
    FRIENDS:
    - "A friend rated Fargo (1996) 5"
    PAGE 2 (rate 1-5) | rater -0.3
    1. "Toy Story (1995)" | year 1995 | genres ["Animation", "Comedy"] | mean 3.92 | popularity 0.97 | taste +0.4 | similar ["I liked Aladdin (1992) based on my review score of 4"]
    2. "Brother, Can't You \"Spare\" a Dime?" | year - | genres [] | mean - | popularity 0.10 | similar []

Sections ``MEMORIES`` and ``FRIENDS`` are omitted when empty. ``-`` marks an unknown year or
mean rating. ``taste`` (the user's genre taste for the item, :mod:`alignuser.env.taste`) and
``rater`` (how far the user's ratings sit above the items' means, in rating points) are
shown only when computed.

Action example (``render_action``), one line per item in page order, then the page decision::

    1. WATCH 4
    2. SKIP
    NEXT

The last line is ``NEXT`` (go to the next page) or ``EXIT`` (end the session). Parsing is
strict: :func:`parse_action` raises :class:`ActionParseError` on anything else (wrong item
count, rating outside ``1..max``, extra text), so an LLM answer is either valid or rejected.
:func:`extract_action` is the lenient entry point for chat models: it finds the first block
of the answer that parses.
"""

from __future__ import annotations

import json
import re

from alignuser.env.actions import ItemDecision, PageAction
from alignuser.env.page import ItemView, PageState
from alignuser.env.persona_text import compact_persona

__all__ = [
    "ActionParseError",
    "StateParseError",
    "compact_memory",
    "extract_action",
    "memory_line",
    "parse_action",
    "parse_state",
    "render_action",
    "render_item",
    "render_state",
    "render_state_compact",
    "render_state_lean",
]


class ActionParseError(ValueError):
    """Action text does not follow the grammar (the message says which line and why)."""


class StateParseError(ValueError):
    """State text does not follow the format."""


def _q(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _qs(items: tuple[str, ...] | list[str]) -> str:
    return json.dumps(list(items), ensure_ascii=False)


def memory_line(title: str, rating: float | None, max_rating: int = 5) -> str:
    """The lineage's memory sentence for a rated item.

    Liked means rating >= 0.8 * max (4 of 5), disliked <= 0.4 * max (2 of 5).

    Example:
        >>> memory_line("Heat (1995)", 5)
        'I liked Heat (1995) based on my review score of 5'
        >>> memory_line("Heat (1995)", None)
        'I skipped Heat (1995)'
    """
    if rating is None:
        return f"I skipped {title}"
    r = int(rating) if float(rating).is_integer() else rating
    verb = {"neutral": "felt neutral about"}.get(v := verdict(rating, max_rating), v)
    return f"I {verb} {title} based on my review score of {r}"


def verdict(rating: float, max_rating: int = 5) -> str:
    """``liked`` (>= 0.8 * max), ``disliked`` (<= 0.4 * max) or ``neutral``."""
    if rating >= 0.8 * max_rating:
        return "liked"
    return "disliked" if rating <= 0.4 * max_rating else "neutral"


def render_item(index: int, item: ItemView) -> str:
    """One item line of a page (``index`` is 1-based)."""
    year = "-" if item.year is None else str(int(item.year))
    mean = "-" if item.mean_rating is None else f"{item.mean_rating:.2f}"
    taste = "" if item.taste is None else f" | taste {item.taste:+.1f}"
    return (
        f"{index}. {_q(item.title)} | year {year} | genres {_qs(item.genres)} | mean {mean}"
        f" | popularity {item.popularity:.2f}{taste} | similar {_qs(item.similar)}"
    )


def render_state(state: PageState) -> str:
    """Render a page state as text (see the module docstring for the format)."""
    lines = [f"PERSONA: {_q(state.persona)}"]
    if state.memories:
        lines.append("MEMORIES:")
        lines.extend(f"- {_q(m)}" for m in state.memories)
    if state.social:
        lines.append("FRIENDS:")
        lines.extend(f"- {_q(s)}" for s in state.social)
    rater = "" if state.rater is None else f" | rater {state.rater:+.1f}"
    lines.append(f"PAGE {state.page} (rate 1-{state.max_rating}){rater}")
    lines.extend(render_item(i + 1, it) for i, it in enumerate(state.items))
    return "\n".join(lines)


_MEMORY_RE = re.compile(
    r"^I (liked|disliked|felt neutral about) (.+) based on my review score of (\S+)$"
)
_VERB = {"liked": "liked", "disliked": "disliked", "felt neutral about": "neutral"}


def compact_memory(line: str, title: bool = True) -> str:
    """A memory sentence shortened for small policies (other lines are kept as they are).

    Example:
        >>> compact_memory("I liked Heat (1995) based on my review score of 5")
        'liked "Heat (1995)" 5'
        >>> compact_memory("I felt neutral about Heat (1995) based on my review score of 3", False)
        'neutral 3'
    """
    m = _MEMORY_RE.match(line)
    if m is None:
        return "skipped" if line.startswith("I skipped") and not title else line
    verb = _VERB[m.group(1)]
    return f"{verb} {_q(m.group(2))} {m.group(3)}" if title else f"{verb} {m.group(3)}"


def render_state_compact(state: PageState) -> str:
    """The state in about half the tokens of :func:`render_state`, for small policies.

    Same sections and one line per item (so slots can follow each item line), but the
    persona is keywords (:func:`~alignuser.env.persona_text.compact_persona`), memories keep
    their verdict and score (:func:`compact_memory` without titles), item lines drop the
    title, year and separators, the numeric cues come last (nearest to the decision slots
    that follow the line), and numbers are coarse and written with the shared digit tokens
    (popularity as its decile ``0..9``, the mean rating with one decimal, taste in tenths
    ``-10..+10``), so a model trained from scratch sees each number token often and cannot
    memorise titles. About 125 tokens for a 4-item page (the full text: about 430). Lossy:
    it is never parsed.

    Example:
        >>> from alignuser.env.page import ItemView
        >>> st = PageState(0, "A viewer.", 2, (ItemView(1, "Heat (1995)", ("Action",),
        ...     1995, 3.9, 0.8, ("I liked Fargo (1996) based on my review score of 5",), 0.4),))
        >>> print(render_state_compact(st))
        PERSONA: viewer
        PAGE 2 max 5
        1. Action similar liked 5 mean 3.9 popularity 8 taste +4
    """
    lines = [f"PERSONA: {compact_persona(state.persona)}"]
    if state.memories:
        lines.append("MEMORIES: " + " ; ".join(compact_memory(m, False) for m in state.memories))
    if state.social:
        lines.append("FRIENDS: " + " ; ".join(state.social))
    rater = "" if state.rater is None else f" rater {round(state.rater * 10):+d}"
    lines.append(f"PAGE {state.page} max {state.max_rating}{rater}")
    for i, it in enumerate(state.items):
        mean = "-" if it.mean_rating is None else f"{it.mean_rating:.1f}"
        taste = "" if it.taste is None else f" taste {round(it.taste * 10):+d}"
        sim = " ".join(compact_memory(m, title=False) for m in it.similar)
        pop = min(int(it.popularity * 10), 9)
        lines.append(
            f"{i + 1}. {' '.join(it.genres) or '-'} similar {sim or '-'} mean {mean}"
            f" popularity {pop}{taste}"
        )
    return "\n".join(lines)


def render_state_lean(state: PageState) -> str:
    r"""The state as few tokens as a policy with an item tower and cue inputs needs.

    The persona keywords without separators and the page number; each item line is empty,
    because such a model reads the item as an identity (its item tower vector, content
    fallback included, at the item's decision slots), its numbers as the cue vector added to
    the same slots (:mod:`alignuser.policy.cues`) and the user's remembered history as
    history tokens, not as words. About a third of :func:`render_state_compact`'s tokens.
    Only the tiny base reads it (``train.state_text: lean``); it is never parsed.

    Example:
        >>> from alignuser.env.page import ItemView
        >>> st = PageState(0, "A 25-34 year old writer. Loves Drama.", 2, (ItemView(1, "Heat",
        ...     ("Action",)),))
        >>> render_state_lean(st).split("\n")
        ['25-34 writer loves Drama', 'PAGE 2', '']
    """
    lines = [compact_persona(state.persona).replace(" ; ", " ")]
    if state.social:
        lines.append("FRIENDS: " + " ; ".join(state.social))
    lines.append(f"PAGE {state.page}")
    lines.extend("" for _ in state.items)
    return "\n".join(lines)


_JSTR = r'"(?:[^"\\]|\\.)*"'
_JLIST = r"\[(?:[^\[\]\"]|" + _JSTR + r")*\]"
_ITEM_RE = re.compile(
    rf"^(\d+)\. ({_JSTR}) \| year (-|\d+) \| genres ({_JLIST}) \| mean (-|\d+(?:\.\d+)?)"
    rf" \| popularity (\d+(?:\.\d+)?)(?: \| taste ([+-]\d+(?:\.\d+)?))? \| similar ({_JLIST})$"
)
_PAGE_RE = re.compile(r"^PAGE (\d+) \(rate 1-(\d+)\)(?: \| rater ([+-]\d+(?:\.\d+)?))?$")


def parse_state(text: str, agent_id: int = 0) -> PageState:
    """Parse text written by :func:`render_state` back into a :class:`PageState`.

    Item ids are not part of the text; parsed items get ids ``0..n-1`` unless the caller
    maps them. Numbers come back as rendered (mean ratings to 2 decimals).

    Raises:
        StateParseError: When a line does not follow the format.
    """
    lines = text.split("\n")
    if not lines or not lines[0].startswith("PERSONA: "):
        raise StateParseError("line 1: expected 'PERSONA: \"...\"'")
    persona = json.loads(lines[0][len("PERSONA: ") :])
    memories: list[str] = []
    social: list[str] = []
    target: list[str] | None = None
    i = 1
    while i < len(lines) and not lines[i].startswith("PAGE "):
        line = lines[i]
        if line == "MEMORIES:":
            target = memories
        elif line == "FRIENDS:":
            target = social
        elif line.startswith("- ") and target is not None:
            target.append(json.loads(line[2:]))
        else:
            raise StateParseError(f"line {i + 1}: unexpected {line!r}")
        i += 1
    if i >= len(lines):
        raise StateParseError("no 'PAGE n' line")
    m = _PAGE_RE.match(lines[i])
    if not m:
        raise StateParseError(f"line {i + 1}: expected 'PAGE n (rate 1-max)', got {lines[i]!r}")
    page, max_rating = int(m.group(1)), int(m.group(2))
    items = []
    for j, line in enumerate(lines[i + 1 :], start=i + 2):
        im = _ITEM_RE.match(line)
        if not im or int(im.group(1)) != len(items) + 1:
            raise StateParseError(f"line {j}: bad item line {line!r}")
        items.append(
            ItemView(
                item_id=len(items),
                title=json.loads(im.group(2)),
                year=None if im.group(3) == "-" else int(im.group(3)),
                genres=tuple(json.loads(im.group(4))),
                mean_rating=None if im.group(5) == "-" else float(im.group(5)),
                popularity=float(im.group(6)),
                taste=None if im.group(7) is None else float(im.group(7)),
                similar=tuple(json.loads(im.group(8))),
            )
        )
    return PageState(
        agent_id=agent_id,
        persona=persona,
        page=page,
        items=tuple(items),
        memories=tuple(memories),
        social=tuple(social),
        max_rating=max_rating,
        rater=None if m.group(3) is None else float(m.group(3)),
    )


def render_action(action: PageAction) -> str:
    """Render an action in the strict grammar (see the module docstring)."""
    lines = [
        f"{i + 1}. WATCH {d.rating}" if d.watch else f"{i + 1}. SKIP"
        for i, d in enumerate(action.decisions)
    ]
    lines.append("EXIT" if action.exit else "NEXT")
    return "\n".join(lines)


_DECISION_RE = re.compile(r"^(\d+)\. (?:(WATCH) (\d+)|(SKIP))$")


def parse_action(text: str, item_ids: tuple[int, ...] | list[int], max_rating: int) -> PageAction:
    """Strictly parse action text for a page showing ``item_ids``.

    Args:
        text: Exactly ``len(item_ids)`` decision lines then ``NEXT`` or ``EXIT``; surrounding
            blank lines are ignored.
        item_ids: The page's items, in display order.
        max_rating: Top of the rating scale.

    Raises:
        ActionParseError: Naming the offending line.
    """
    lines = [ln.strip() for ln in text.strip().split("\n")]
    n = len(item_ids)
    if len(lines) != n + 1:
        raise ActionParseError(f"expected {n} decision lines and NEXT/EXIT, got {len(lines)} lines")
    decisions = []
    for i, line in enumerate(lines[:n]):
        m = _DECISION_RE.match(line)
        if not m:
            raise ActionParseError(f"line {i + 1}: expected '{i + 1}. WATCH r' or '{i + 1}. SKIP'")
        if int(m.group(1)) != i + 1:
            raise ActionParseError(f"line {i + 1}: item number {m.group(1)} out of order")
        if m.group(2):
            r = int(m.group(3))
            if not 1 <= r <= max_rating:
                raise ActionParseError(f"line {i + 1}: rating {r} outside 1..{max_rating}")
            decisions.append(ItemDecision(int(item_ids[i]), True, r))
        else:
            decisions.append(ItemDecision(int(item_ids[i]), False, None))
    last = lines[n]
    if last not in ("NEXT", "EXIT"):
        raise ActionParseError(f"line {n + 1}: expected NEXT or EXIT, got {last!r}")
    return PageAction(tuple(decisions), exit=last == "EXIT")


_BLOCK_RE = re.compile(r"(?m)^\s*1\. (?:WATCH \d+|SKIP)\s*$")


def extract_action(text: str, item_ids: tuple[int, ...] | list[int], max_rating: int) -> PageAction:
    """Find and strictly parse the first action block inside a longer answer.

    Chat models add prose around the answer; this looks for a line ``1. WATCH r`` or
    ``1. SKIP`` and parses the ``len(item_ids) + 1`` lines from there with
    :func:`parse_action`.

    Raises:
        ActionParseError: When no block parses.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    last_error: ActionParseError | None = None
    for start, line in enumerate(lines):
        if _BLOCK_RE.match(line):
            chunk = "\n".join(lines[start : start + len(item_ids) + 1])
            try:
                return parse_action(chunk, item_ids, max_rating)
            except ActionParseError as exc:
                last_error = exc
    raise ActionParseError(f"no valid action block found ({last_error or 'no item lines'})")
