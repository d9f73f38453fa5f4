"""Fake LangChain chat models shipped in the package, so tests and examples need no LLM.

:class:`PageRuleChatModel` answers page prompts of
:class:`~alignuser.policy.chat.ChatModelPolicy` deterministically from the rendered state,
wrapped in a little prose (as real models do), and can be scripted to answer badly first
(``bad_answers``) or always (``always_bad``) to exercise retries and fallbacks. It also answers
the satisfaction interview. This module imports ``langchain_core`` at import time.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from alignuser.env.text import parse_state

__all__ = ["PageRuleChatModel", "rule_answer"]

_SESSION_RE = re.compile(r"(?m)^SESSION: (.*)$")


def rule_answer(prompt: str) -> str:
    """The deterministic answer to one page or interview prompt.

    Page rule: watch an item when a similar item was liked or its mean rating is at least the
    scale's middle; rate it the rounded mean (the middle when unknown); exit from page 3 on.
    Interview rule: ``1 + round(9 * watched / shown)``.
    """
    m = _SESSION_RE.search(prompt)
    if m:
        facts = json.loads(m.group(1))
        shown, watched = facts.get("shown", 0), facts.get("watched", 0)
        return f"SATISFACTION {1 + round(9 * watched / shown) if shown else 1}"
    state = parse_state(prompt.split("\n\n", 1)[0])
    mid = (state.max_rating + 1) / 2
    lines = []
    for i, v in enumerate(state.items, start=1):
        liked = any(s.startswith("I liked") for s in v.similar)
        if liked or (v.mean_rating is not None and v.mean_rating >= mid):
            r = round(v.mean_rating) if v.mean_rating is not None else round(mid)
            lines.append(f"{i}. WATCH {min(max(r, 1), state.max_rating)}")
        else:
            lines.append(f"{i}. SKIP")
    lines.append("EXIT" if state.page >= 3 else "NEXT")
    return "Sure, here are my decisions:\n" + "\n".join(lines) + "\nThanks!"


class PageRuleChatModel(BaseChatModel):
    """A deterministic chat model for :class:`~alignuser.policy.chat.ChatModelPolicy` tests.

    Args:
        bad_answers: Number of unusable answers given before the good one, counted per
            conversation (prior AI turns), so results do not depend on thread order.
        always_bad: Never give a usable answer.
        bad_answer: The unusable answer text.
        fail_agents: Raise an error instead of answering for prompts whose persona contains one
            of these strings (to exercise error handling).

    Example:
        >>> from langchain_core.messages import HumanMessage
        >>> PageRuleChatModel(always_bad=True).invoke([HumanMessage("hi")]).content
        'I would probably watch the first one.'
    """

    bad_answers: int = 0
    always_bad: bool = False
    bad_answer: str = "I would probably watch the first one."
    fail_agents: tuple[str, ...] = ()
    _calls: int = PrivateAttr(default=0)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def calls(self) -> int:
        """Number of prompts answered so far."""
        return self._calls

    @property
    def _llm_type(self) -> str:
        return "alignuser-page-rule"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._lock:
            self._calls += 1
        humans = [m for m in messages if isinstance(m, HumanMessage)]
        prompt = str(humans[0].content) if humans else ""
        if any(tag in prompt.split("\n", 1)[0] for tag in self.fail_agents):
            raise RuntimeError("PageRuleChatModel: scripted failure")
        prior = sum(isinstance(m, AIMessage) for m in messages)
        if self.always_bad or prior < self.bad_answers or not humans:
            text = self.bad_answer
        else:
            text = rule_answer(prompt)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def write_chat_completion(handler, model: str, content: str) -> None:
    """Answer an ``http.server`` request with an OpenAI ``chat.completion`` JSON body.

    For fake OpenAI-compatible servers in tests (``POST /v1/chat/completions``).
    """
    import json

    reply = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    data = json.dumps(reply).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
