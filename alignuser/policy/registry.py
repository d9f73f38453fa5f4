"""The policy registry: built-in policies and outside ones declared as entry points.

Outside packages add policies without touching alignuser::

    [project.entry-points."alignuser.policies"]
    my_policy = "my_package.module:MyPolicy"

Example:
    >>> from alignuser.policy import make_policy
    >>> make_policy("random", watch_prob=0.5).watch_prob
    0.5
"""

from __future__ import annotations

from typing import Any

from alignuser.registry import Registry

__all__ = ["BUILTINS", "POLICIES", "make_policy"]

BUILTINS = {
    "alignuser": "alignuser.policy.alignuser_policy:AlignUserPolicy",
    "chat": "alignuser.policy.chat:ChatModelPolicy",
    "choice": "alignuser.policy.choice:ChoiceModelPolicy",
    "openai_server": "alignuser.policy.server:openai_server_policy",
    "random": "alignuser.policy.random:RandomPolicy",
}
"""The built-in policies, ``name -> "module:attr"``, imported when first asked for."""

POLICIES: Registry[Any] = Registry("alignuser.policies", BUILTINS)


def make_policy(name: str, **params: Any) -> Any:
    """Build the policy registered as ``name`` with keyword parameters.

    Args:
        name: Registered name (case-insensitive), e.g. ``"random"``, ``"choice"``, ``"chat"``.
        **params: Passed to the policy's constructor.

    Returns:
        The policy instance.

    Raises:
        KeyError: When ``name`` is unknown (the message lists known names).
        TypeError: When a parameter is not accepted by that policy.
    """
    factory = POLICIES.get(name)
    try:
        return factory(**params)
    except TypeError as exc:
        raise TypeError(f"policy {name!r}: {exc}") from exc
