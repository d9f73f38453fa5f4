"""World-model targets: what a page's action changed in memory, then the next page.

:func:`result_text` names the items by title (the full state text), :func:`compact_result_text`
by page position and genres (the compact state); :mod:`alignuser.training.trajectories` puts
both on every :class:`~alignuser.training.trajectories.Step`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from alignuser.env.actions import PageAction
from alignuser.env.page import PageState
from alignuser.env.text import memory_line, verdict

__all__ = ["compact_result_text", "result_text"]


def result_text(action: PageAction, titles: Sequence[str], next_page: PageState | None) -> str:
    """World-model target: memory changes of ``action`` then the next page (or ``END``)."""
    lines = ["CHANGES:"]
    for d in action.decisions:
        if d.watch:
            lines.append("- " + json.dumps(memory_line(titles[d.item_id], d.rating)))
    if next_page is None:
        lines.append("END")
    else:
        shown = " ; ".join(json.dumps(v.title) for v in next_page.items)
        lines.append(f"PAGE {next_page.page}: {shown}")
    return "\n".join(lines)


def compact_result_text(
    action: PageAction, next_page: PageState | None, max_rating: int = 5
) -> str:
    """World-model target for models reading the compact state (no titles there).

    Memory changes name the item by its position on the page (``2 liked 4``; ``watched``
    without a rating), the next page lists each item's genres and popularity decile.

    Example:
        >>> from alignuser.env.actions import ItemDecision
        >>> a = PageAction((ItemDecision(5, False), ItemDecision(7, True, 4)), exit=True)
        >>> print(compact_result_text(a, None))
        CHANGES: 2 liked 4
        END
    """
    changes = []
    for i, d in enumerate(action.decisions):
        if d.watch:
            if d.rating is None:
                changes.append(f"{i + 1} watched")
            else:
                r = int(d.rating) if float(d.rating).is_integer() else d.rating
                changes.append(f"{i + 1} {verdict(d.rating, max_rating)} {r}")
    lines = ["CHANGES: " + (" ; ".join(changes) or "none")]
    if next_page is None:
        lines.append("END")
    else:
        shown = " ; ".join(
            f"{' '.join(v.genres) or '-'} {min(int(v.popularity * 10), 9)}" for v in next_page.items
        )
        lines.append(f"PAGE {next_page.page}: {shown}")
    return "\n".join(lines)
