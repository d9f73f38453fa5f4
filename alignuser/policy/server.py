"""A large policy behind an OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, ...).

``policy: {name: openai_server, params: {base_url, model, ...}}`` builds a
``langchain_openai.ChatOpenAI`` pointed at the server, with an
``InMemoryRateLimiter`` (``requests_per_second``) and HTTP retries (``max_retries``: the
OpenAI client retries connection errors, 408/409/429 and 5xx with exponential backoff), and
wraps it in :class:`~alignuser.policy.chat.ChatModelPolicy`, which sends one ``.batch()``
per step (at most ``max_concurrency`` requests in flight), re-asks unparseable answers and
counts everything in ``stats``.

With the default ``fallback="fault"``, states still without a usable answer after those
retries make :meth:`decide` raise :class:`PolicyUnavailable`: the simulation step then retries
with backoff, goes agent by agent and records a fault for each agent that still gets no
answer (skip everything, exit), so a server outage shows up as faults in the manifest instead
of silently random decisions. ``fallback="random"`` or ``"skip_all_exit"`` keep the
:class:`ChatModelPolicy` behaviour.

Serve a model with vLLM and point a scenario at it::

    vllm serve Qwen/Qwen2.5-7B-Instruct --port 8000 --max-num-seqs 256

    policy:
      name: openai_server
      params: {base_url: "http://gpu-host:8000/v1", model: Qwen/Qwen2.5-7B-Instruct,
               max_concurrency: 64, requests_per_second: 50}

Example:
    >>> policy = openai_server_policy("http://127.0.0.1:8000/v1", "m")  # doctest: +SKIP
    >>> policy.decide(states, rng)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from alignuser.errors import AlignUserError
from alignuser.policy.chat import ChatModelPolicy

__all__ = ["PolicyUnavailable", "openai_server_policy"]


class PolicyUnavailable(AlignUserError):
    """No usable answer came back from the policy server for some states."""


class _RaiseFallback:
    """Fallback of :class:`ChatModelPolicy` that turns "no answer" into an exception."""

    name = "fault"

    def decide(self, states: Sequence[Any], rng: Any) -> list:
        ids = [getattr(s, "agent_id", "?") for s in states][:10]
        raise PolicyUnavailable(
            f"policy server gave no usable answer for {len(states)} state(s) (agents {ids})"
        )


def openai_server_policy(
    base_url: str,
    model: str,
    api_key: str | None = None,
    max_concurrency: int = 16,
    requests_per_second: float | None = None,
    max_retries: int = 3,
    timeout: float = 60.0,
    temperature: float = 0.0,
    max_tokens: int = 64,
    parse_retries: int = 2,
    fallback: str = "fault",
    model_kwargs: dict[str, Any] | None = None,
) -> ChatModelPolicy:
    """A :class:`ChatModelPolicy` over an OpenAI-compatible chat-completions server.

    Args:
        base_url: Server URL up to ``/v1`` (e.g. ``http://127.0.0.1:8000/v1``).
        model: Model name the server serves.
        api_key: API key (default ``$OPENAI_API_KEY``, else ``"EMPTY"`` as vLLM accepts).
        max_concurrency: Requests in flight within one step's batch.
        requests_per_second: Client-side rate limit (``None``: none).
        max_retries: HTTP retries per request (connection errors, 429, 5xx), with backoff.
        timeout: Seconds per request.
        temperature: Sampling temperature.
        max_tokens: Longest answer (a page answer is a few short lines).
        parse_retries: Re-asks after an unparseable answer.
        fallback: ``"fault"`` (raise, so the step records faults), ``"random"`` or
            ``"skip_all_exit"``.
        model_kwargs: Extra ``ChatOpenAI`` keyword arguments (e.g. ``{"seed": 0}``).

    Returns:
        The policy; its ``chat_model`` is the ``ChatOpenAI``.
    """
    from alignuser.errors import require

    require("langchain_openai", "openai", "the OpenAI-compatible server policy")
    from langchain_core.rate_limiters import InMemoryRateLimiter
    from langchain_openai import ChatOpenAI

    if fallback not in ("fault", "random", "skip_all_exit"):
        raise ValueError(f"openai_server: unknown fallback {fallback!r}")
    if requests_per_second is not None and requests_per_second <= 0:
        raise ValueError("openai_server: requests_per_second must be > 0")
    limiter = None
    if requests_per_second:
        limiter = InMemoryRateLimiter(
            requests_per_second=requests_per_second,
            check_every_n_seconds=min(0.05, 0.5 / requests_per_second),
            max_bucket_size=1,
        )
    chat = ChatOpenAI(
        base_url=base_url,
        model=model,
        api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
        max_retries=max_retries,
        timeout=timeout,
        temperature=temperature,
        max_tokens=max_tokens,
        rate_limiter=limiter,
        **(model_kwargs or {}),
    )
    fb: Any = {"fault": _RaiseFallback(), "random": None, "skip_all_exit": "skip_all_exit"}
    return ChatModelPolicy(
        chat,
        max_retries=parse_retries,
        fallback=fb[fallback],
        max_concurrency=max_concurrency,
    )
