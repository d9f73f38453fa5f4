"""Reflectors: write the counterfactual comparison used as supervision in alignment.

A reflection has the four parts of the AlignUSER trajectory reflections: context advantage,
persona alignment, future outcomes (from the **world model's predictions** of each
alternative's next state) and a one-sentence lesson.

Each item of a ``reflect`` batch is a dict with ``state`` (PageState), ``human`` (PageAction),
``alternatives`` (list of PageAction) and ``predicted`` (list of world-model next-state texts,
one per alternative).

* :class:`TemplateReflector` (default; :mod:`alignuser.policy.reflection`, the grammar the
  policy also thinks in): offline, deterministic, grounded in the state's evidence
  (similar-item memories, persona) and the predicted outcomes.
* :class:`ChatModelReflector`: any LangChain chat model, with an on-disk JSON cache keyed by
  the prompt's SHA-256 so reruns cost nothing.

Example:
    >>> from alignuser.training.reflectors import TemplateReflector
    >>> TemplateReflector().reflect([item])[0][:8]  # doctest: +SKIP
    'CONTEXT:'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alignuser.policy.counterfactual import describe_difference
from alignuser.policy.reflection import TemplateReflector, outcome_summary

__all__ = ["ChatModelReflector", "TemplateReflector", "outcome_summary", "reflection_prompt"]


def reflection_prompt(b: dict[str, Any]) -> str:
    """The prompt a chat model gets for one batch item."""
    from alignuser.env.text import render_action, render_state

    state, human = b["state"], b["human"]
    titles = {v.item_id: v.title for v in state.items}
    alts = "\n".join(
        f"- Alternative {k + 1}: {describe_difference(human, a, titles)}; predicted next state: {p}"
        for k, (a, p) in enumerate(zip(b["alternatives"], b.get("predicted", [])))
    )
    return (
        "You are analysing a user's choice on a recommendation page.\n"
        f"STATE:\n{render_state(state)}\n\nTHE USER DID:\n{render_action(human)}\n\n"
        f"ALTERNATIVES THEY DID NOT TAKE:\n{alts}\n\n"
        "In at most 80 words, explain why the user's choice was better, in four labelled parts: "
        "CONTEXT (advantage given the page), PERSONA (fit with the persona), FUTURE (outcomes "
        "of the alternatives), LESSON (one sentence)."
    )


class ChatModelReflector:
    """Reflections from any LangChain chat model, cached on disk as JSON.

    Args:
        chat_model: A LangChain ``BaseChatModel`` (its ``batch`` is used for cache misses).
        cache_dir: Folder of ``<sha256>.json`` files (``{"prompt": ..., "reflection": ...}``).

    Example:
        >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
        >>> fake = FakeListChatModel(responses=["LESSON: ok"])
        >>> r = ChatModelReflector(fake, "cache")  # doctest: +SKIP
    """

    def __init__(self, chat_model, cache_dir: str | Path):
        self.chat_model = chat_model
        self.cache_dir = Path(cache_dir)
        self.calls = 0

    def reflect(self, batch: Sequence[dict[str, Any]]) -> list[str]:
        """One reflection per batch item; only uncached prompts reach the model."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        prompts = [reflection_prompt(b) for b in batch]
        keys = [hashlib.sha256(p.encode()).hexdigest() for p in prompts]
        out: list[str | None] = []
        for k in keys:
            f = self.cache_dir / f"{k}.json"
            out.append(json.loads(f.read_text())["reflection"] if f.is_file() else None)
        miss = [i for i, o in enumerate(out) if o is None]
        if miss:
            answers = self.chat_model.batch([prompts[i] for i in miss])
            self.calls += len(miss)
            for i, ans in zip(miss, answers):
                text = " ".join(str(getattr(ans, "content", ans)).split())
                out[i] = text
                (self.cache_dir / f"{keys[i]}.json").write_text(
                    json.dumps({"prompt": prompts[i], "reflection": text})
                )
        return out  # type: ignore[return-value]
