"""Any LangChain chat model as a policy, prompted in the Agent4Rec style.

One :meth:`ChatModelPolicy.decide` sends every state of the step in one
``chat_model.batch(...)`` call, parses each answer strictly with
:func:`alignuser.env.text.extract_action`, re-asks only the answers that failed (with the
parse error appended, up to ``max_retries`` times), and then falls back for what is still
unparsed. Everything is counted in :attr:`ChatModelPolicy.stats`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from alignuser.env.actions import PageAction
from alignuser.env.page import PageState
from alignuser.env.text import extract_action, render_state
from alignuser.policy.random import RandomPolicy

__all__ = ["SYSTEM_PROMPT", "ChatModelPolicy", "parse_satisfaction"]

SYSTEM_PROMPT = (
    "You are a user of a recommendation website. Each message describes who you are (PERSONA), "
    "what you remember (MEMORIES), what friends liked (FRIENDS) and one page of numbered items "
    "with their genres, mean rating, popularity and similar items you rated before.\n"
    "Behave like this person. For every item, in page order, either WATCH it and give the rating "
    "you would give (an integer from 1 to the maximum in the PAGE header), or SKIP it. Then "
    "decide whether to go to the NEXT page or EXIT the website.\n"
    "Answer with exactly one line per item and one final line, nothing else. Example for a page "
    "of three items:\n1. WATCH 4\n2. SKIP\n3. SKIP\nNEXT"
)
INTERVIEW_PROMPT = (
    "You are a user of a recommendation website who just finished a browsing session. You are "
    "interviewed about it. Answer with exactly one line 'SATISFACTION n' where n is an integer "
    "from 1 (very unsatisfied) to 10 (very satisfied), nothing else."
)
_SAT_RE = re.compile(r"(?mi)^\s*SATISFACTION:?\s*(\d+)\s*$")


def parse_satisfaction(text: str) -> int:
    """Read ``SATISFACTION n`` (n in 1..10) from an answer.

    Raises:
        ValueError: When no such line is present or n is out of range.
    """
    m = _SAT_RE.search(text)
    if not m or not 1 <= int(m.group(1)) <= 10:
        raise ValueError("expected one line 'SATISFACTION n' with n from 1 to 10")
    return int(m.group(1))


def _text(message: Any) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    parts = [p if isinstance(p, str) else p.get("text", "") for p in content]
    return "".join(parts)


class ChatModelPolicy:
    """Prompts a LangChain chat model for each page and parses its answer strictly.

    Args:
        chat_model: Any ``langchain_core`` ``BaseChatModel`` (or Runnable with ``batch``).
        max_retries: Re-asks per state after an unparseable answer or a model error.
        fallback: Policy used for states still unparsed after the retries (its decisions are
            counted in ``stats["fallbacks"]``), or ``"skip_all_exit"`` (skip everything, exit).
        max_concurrency: Parallel requests inside one ``batch`` call.

    Example:
        >>> import numpy as np
        >>> from alignuser.testing.fakes import PageRuleChatModel
        >>> from alignuser.testing.policies import random_page_states
        >>> policy = ChatModelPolicy(PageRuleChatModel())
        >>> states = random_page_states(np.random.default_rng(0), 4)
        >>> len(policy.decide(states, np.random.default_rng(0)))
        4
        >>> policy.stats["fallbacks"]
        0
    """

    name = "chat"

    def __init__(
        self,
        chat_model: Any,
        max_retries: int = 2,
        fallback: Any = None,
        max_concurrency: int = 8,
    ):
        if max_retries < 0 or max_concurrency < 1:
            raise ValueError("ChatModelPolicy: max_retries >= 0 and max_concurrency >= 1")
        if fallback is None:
            fallback = RandomPolicy()
        elif isinstance(fallback, str) and fallback != "skip_all_exit":
            raise ValueError(f"ChatModelPolicy: unknown fallback {fallback!r}")
        self.chat_model = chat_model
        self.max_retries = max_retries
        self.fallback = fallback
        self.max_concurrency = max_concurrency
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "decide_calls",
                "batches",
                "calls",
                "errors",
                "parse_failures",
                "retries",
                "fallbacks",
            ),
            0,
        )

    def _ask(self, conversations: list[list[Any]], parse, notice) -> list[Any]:
        """Send conversations in one batch, re-ask failures; ``None`` where all tries failed."""
        from langchain_core.messages import AIMessage, HumanMessage

        results: list[Any] = [None] * len(conversations)
        todo = list(range(len(conversations)))
        for attempt in range(self.max_retries + 1):
            if not todo:
                break
            if attempt:
                self.stats["retries"] += len(todo)
            self.stats["batches"] += 1
            self.stats["calls"] += len(todo)
            answers = self.chat_model.batch(
                [conversations[i] for i in todo],
                config={"max_concurrency": self.max_concurrency},
                return_exceptions=True,
            )
            failed = []
            for i, answer in zip(todo, answers):
                if isinstance(answer, Exception):
                    self.stats["errors"] += 1
                    failed.append(i)
                    continue
                try:
                    results[i] = parse(i, _text(answer))
                except ValueError as exc:
                    self.stats["parse_failures"] += 1
                    conversations[i] = [
                        *conversations[i],
                        AIMessage(content=_text(answer)),
                        HumanMessage(content=f"Your answer could not be used: {exc}. {notice(i)}"),
                    ]
                    failed.append(i)
            todo = failed
        return results

    def decide(self, states: Sequence[PageState], rng: np.random.Generator) -> list[PageAction]:
        """Ask the chat model about every state in one batch; parse, retry, fall back."""
        from langchain_core.messages import HumanMessage, SystemMessage

        self.stats["decide_calls"] += 1
        out: list[PageAction | None] = [
            None if s.items else PageAction((), exit=True) for s in states
        ]
        asked = [i for i, s in enumerate(states) if s.items]

        def notice(k: int) -> str:
            s = states[asked[k]]
            return (
                f"Answer again with exactly {len(s.items)} lines '<i>. WATCH <rating 1-"
                f"{s.max_rating}>' or '<i>. SKIP' in page order, then NEXT or EXIT."
            )

        convs = [
            [
                SystemMessage(content=SYSTEM_PROMPT),
                HumanMessage(content=f"{render_state(states[i])}\n\n{notice(k)[13:]}"),
            ]
            for k, i in enumerate(asked)
        ]

        def parse(k: int, text: str) -> PageAction:
            s = states[asked[k]]
            return extract_action(text, s.item_ids, s.max_rating)

        for k, action in enumerate(self._ask(convs, parse, notice)):
            out[asked[k]] = action
        missing = [i for i, a in enumerate(out) if a is None]
        if missing:
            self.stats["fallbacks"] += len(missing)
            if self.fallback == "skip_all_exit":
                fb = [_skip_all_exit(states[i]) for i in missing]
            else:
                fb = self.fallback.decide([states[i] for i in missing], rng)
            for i, a in zip(missing, fb):
                out[i] = a
        return out  # type: ignore[return-value]

    def satisfaction(
        self, summaries: Sequence[dict[str, Any]], rng: np.random.Generator
    ) -> list[int]:
        """Interview the model once per session summary (1..10); fallback 5 or the fallback's."""
        from langchain_core.messages import HumanMessage, SystemMessage

        if not summaries:
            return []
        convs = []
        for s in summaries:
            facts = {k: v for k, v in s.items() if k not in ("persona", "features")}
            body = f"PERSONA: {json.dumps(str(s.get('persona', '')), ensure_ascii=False)}\n"
            body += f"SESSION: {json.dumps(facts, ensure_ascii=False, default=str)}\n"
            body += "How satisfied are you with the recommendations? Answer 'SATISFACTION n'."
            convs.append([SystemMessage(content=INTERVIEW_PROMPT), HumanMessage(content=body)])
        scores = self._ask(convs, lambda k, t: parse_satisfaction(t), lambda k: "Answer again.")
        missing = [i for i, x in enumerate(scores) if x is None]
        if missing:
            self.stats["fallbacks"] += len(missing)
            alt = getattr(self.fallback, "satisfaction", None)
            fb = alt([summaries[i] for i in missing], rng) if alt else [5] * len(missing)
            for i, x in zip(missing, fb):
                scores[i] = int(x)
        return scores

    def get_state(self) -> dict[str, Any]:
        """JSON-able state: settings and counters (the chat model itself is not saved)."""
        return {"max_retries": self.max_retries, "max_concurrency": self.max_concurrency,
                "stats": dict(self.stats)}  # fmt: skip

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned."""
        self.max_retries = int(state["max_retries"])
        self.max_concurrency = int(state["max_concurrency"])
        self.stats.update(state["stats"])


def _skip_all_exit(state: PageState) -> PageAction:
    from alignuser.env.actions import ItemDecision

    return PageAction(tuple(ItemDecision(i, False) for i in state.item_ids), exit=True)
