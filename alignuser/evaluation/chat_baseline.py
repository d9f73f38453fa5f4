"""The ``chat`` baseline: an LLM behind a chat spec, and how the protocols recognise it.

A spec ``"openai:<model>[@<base_url>]"`` (:func:`parse_chat_spec`; the judge's specs use
the same form) names a model behind any OpenAI-compatible server; :func:`chat_policy`
builds the :class:`~alignuser.policy.chat.ChatModelPolicy` of the line-up from a spec, a
LangChain chat model or a ready policy, and :func:`is_chat` tells such a policy apart (no
probabilities; each decision costs model calls).

Example:
    >>> parse_chat_spec("openai:Qwen/Qwen2.5-7B-Instruct@http://127.0.0.1:8000/v1")
    ('Qwen/Qwen2.5-7B-Instruct', 'http://127.0.0.1:8000/v1')
"""

from __future__ import annotations

from typing import Any

__all__ = ["chat_policy", "is_chat", "parse_chat_spec"]


def parse_chat_spec(spec: str, what: str = "chat model") -> tuple[str, str | None]:
    """``(model, base_url)`` of a chat spec ``"openai:<model>[@<base_url>]"``.

    Shared by the chat baseline and :func:`alignuser.evaluation.judge.judge_model`; ``what``
    names the spec in the error.

    Raises:
        ValueError: For any other form (naming the spec).
    """
    kind, _, rest = str(spec).partition(":")
    model, _, base_url = rest.partition("@")
    bad_url = "@" in rest and not base_url.startswith(("http://", "https://"))
    if kind != "openai" or not model.strip() or bad_url:
        raise ValueError(
            f"{what} spec {spec!r}: expected 'openai:<model>[@<base_url>]', "
            "e.g. openai:Qwen/Qwen2.5-7B-Instruct@http://127.0.0.1:8000/v1"
        )
    return model, base_url or None


def chat_policy(chat: Any, max_tokens: int = 256, **kwargs: Any):
    """The ``"chat"`` baseline: a :class:`~alignuser.policy.chat.ChatModelPolicy`.

    Args:
        chat: A spec ``"openai:<model>[@<base_url>]"`` (any OpenAI-compatible server, built
            by :func:`alignuser.policy.server.openai_server_policy`), a LangChain chat model
            (wrapped), or a ready policy (anything with ``decide``; used as is).
        max_tokens: Longest answer (spec only; a page answer is one short line per item).
        **kwargs: More :func:`~alignuser.policy.server.openai_server_policy` arguments (spec
            only), e.g. ``timeout``, ``max_concurrency``, ``requests_per_second``.

    States whose answer stays unparseable after the re-asks fall back to random decisions
    (counted in the policy's ``stats["fallbacks"]``), so an evaluation never stops on a bad
    answer or a server outage; the protocols report that count.

    Raises:
        ValueError: For a malformed spec.
    """
    from alignuser.policy.chat import ChatModelPolicy

    if isinstance(chat, str):
        from alignuser.policy.server import openai_server_policy

        model, base_url = parse_chat_spec(chat)
        kwargs.setdefault("fallback", "random")
        return openai_server_policy(base_url, model, max_tokens=max_tokens, **kwargs)
    if hasattr(chat, "decide"):
        return chat
    return ChatModelPolicy(chat)


def is_chat(policy: Any) -> bool:
    """Whether ``policy`` is a :class:`~alignuser.policy.chat.ChatModelPolicy`.

    Such a policy is LLM-backed: no probabilities, and each :meth:`decide` costs model calls.
    """
    from alignuser.policy.chat import ChatModelPolicy

    return isinstance(policy, ChatModelPolicy)
