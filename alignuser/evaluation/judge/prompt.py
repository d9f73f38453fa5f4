r"""The judge's rubric, how its answers are read, and the cache key of a conversation.

The rubric (:data:`JUDGE_PROMPT`) asks for exactly two lines, ``SCORE n`` (1..5) and
``REASON ...``; :func:`parse_judgement` reads them strictly. A conversation is cached under
the SHA-256 of the model id (:func:`model_id`) and its turns.

Example:
    >>> parse_judgement("SCORE 4\nREASON consistent taste, natural exit")
    (4, 'consistent taste, natural exit')
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

__all__ = ["ASK_AGAIN", "JUDGE_PROMPT", "cache_key", "message_text", "model_id", "parse_judgement"]

JUDGE_PROMPT = (
    "You review logs of people browsing a recommendation website. Each log shows who the "
    "person is (when known), every page of recommended items they were shown, which items they "
    "watched and the rating they gave (out of the stated maximum), and how the session ended.\n"
    "Rate how human-like the behaviour is, from 1 to 5:\n"
    "5 = indistinguishable from a real person: choices follow a consistent taste that fits the "
    "persona, ratings vary plausibly, the browsing length and the exit feel natural.\n"
    "4 = mostly human-like, with minor oddities.\n"
    "3 = mixed: partly plausible, partly mechanical or inconsistent.\n"
    "2 = mostly unnatural: repetitive or arbitrary choices, ratings at odds with the taste, "
    "odd exits.\n"
    "1 = clearly machine-generated or random.\n"
    "Answer with exactly two lines and nothing else:\nSCORE <1-5>\nREASON <one short sentence>"
)
_SCORE_RE = re.compile(r"(?mi)^\s*\**SCORE\**\s*:?\s*(\d+)\s*(?:/\s*5)?\s*$")
_REASON_RE = re.compile(r"(?mi)^\s*\**REASON\**\s*:?\s*(.+?)\s*$")
#: The re-ask after an unusable answer (after the problem found in it).
ASK_AGAIN = "Answer with exactly two lines: 'SCORE n' (1 to 5) and 'REASON <one sentence>'."


def parse_judgement(text: str) -> tuple[int, str]:
    """Read ``SCORE n`` (one line, n in 1..5) and the optional ``REASON ...`` line.

    Raises:
        ValueError: When there is not exactly one score line or the score is out of range.
    """
    scores = _SCORE_RE.findall(text)
    if len(scores) != 1:
        raise ValueError(f"expected exactly one line 'SCORE n', found {len(scores)}")
    if not 1 <= int(scores[0]) <= 5:
        raise ValueError(f"the score must be an integer from 1 to 5, not {scores[0]}")
    m = _REASON_RE.search(text)
    return int(scores[0]), (m.group(1) if m else "")


def model_id(chat_model: Any) -> str:
    """A stable id of a chat model and its settings (part of the cache key).

    It is ``_llm_type`` plus ``_identifying_params`` (and the server URL when the model has
    one). Models that report no parameters share an id per type: pass ``model=`` to
    :func:`judge_sessions` to tell them apart.
    """
    params = dict(getattr(chat_model, "_identifying_params", {}) or {})
    for attr in ("openai_api_base", "base_url"):  # the server, when the model has one
        if getattr(chat_model, attr, None):
            params[attr] = str(getattr(chat_model, attr))
    kind = getattr(chat_model, "_llm_type", type(chat_model).__name__)
    return f"{kind}:{json.dumps(params, sort_keys=True, default=str)}"


def message_text(message: Any) -> str:
    """The text of a chat message (or of its content parts), or of a plain string."""
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    return "".join(p if isinstance(p, str) else p.get("text", "") for p in content)


def cache_key(mid: str, conversation: list) -> str:
    """SHA-256 of the model id ``mid`` and the conversation's turns (type and text)."""
    turns = [[type(m).__name__, message_text(m)] for m in conversation]
    return hashlib.sha256(json.dumps([mid, turns]).encode()).hexdigest()
