"""LangChain tools over a policy and a memory, each taking a whole step's batch in one call.

``tool.batch`` runs items one by one in threads, so a tool here carries the **whole batch**:
one call decides every active agent's page, or retrieves memories for many (agent, item)
pairs. In-process callers pass a :class:`StateBatch` (a cheap handle: nothing is copied,
validated item by item or printed); JSON callers (an LLM agent, a remote client) pass plain
state dicts and get dicts back.

Example:
    >>> import numpy as np
    >>> from alignuser.policy import RandomPolicy
    >>> from alignuser.testing.policies import random_page_states
    >>> tool = make_policy_tool(RandomPolicy(), np.random.default_rng(0))
    >>> states = random_page_states(np.random.default_rng(1), 3)
    >>> len(tool.invoke({"batch": StateBatch(states)}))
    3
"""

from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.json_schema import SkipJsonSchema

from alignuser.env.actions import ItemDecision, PageAction
from alignuser.env.page import ItemView, PageState

__all__ = [
    "MemoryToolInput",
    "PolicyToolInput",
    "StateBatch",
    "action_from_dict",
    "action_to_dict",
    "make_memory_tool",
    "make_policy_tool",
    "state_from_dict",
    "state_to_dict",
]


class StateBatch(Sequence[PageState]):
    """An opaque, cheap-to-pass handle on a step's states (short ``repr``, no copy).

    Args:
        states: The page states of one step.
    """

    __slots__ = ("states",)

    def __init__(self, states: Sequence[PageState]):
        self.states = states

    def __len__(self) -> int:
        return len(self.states)

    def __getitem__(self, i):  # type: ignore[override]
        return self.states[i]

    def __iter__(self) -> Iterator[PageState]:
        return iter(self.states)

    def __repr__(self) -> str:
        return f"StateBatch(<{len(self.states)} states>)"


def state_to_dict(state: PageState) -> dict[str, Any]:
    """A JSON-able dict of a state (``features`` included)."""
    return asdict(state)


def state_from_dict(d: dict[str, Any]) -> PageState:
    """Inverse of :func:`state_to_dict`."""
    items = tuple(
        ItemView(
            **{**v, "genres": tuple(v.get("genres", ())), "similar": tuple(v.get("similar", ()))}
        )
        for v in d.get("items", ())
    )
    tuples = {k: tuple(d.get(k, ())) for k in ("memories", "social", "history", "history_ratings")}
    return PageState(**{**d, **tuples, "items": items, "features": dict(d.get("features") or {})})


def action_to_dict(action: PageAction) -> dict[str, Any]:
    """A JSON-able dict of an action."""
    decisions = [
        {"item_id": x.item_id, "watch": x.watch, "rating": x.rating} for x in action.decisions
    ]
    out: dict[str, Any] = {"decisions": decisions, "exit": action.exit}
    if action.rationale is not None:
        out["rationale"] = action.rationale
    return out


def action_from_dict(d: dict[str, Any]) -> PageAction:
    """Inverse of :func:`action_to_dict`."""
    return PageAction(
        tuple(ItemDecision(**x) for x in d["decisions"]),
        exit=bool(d["exit"]),
        rationale=d.get("rationale"),
    )


_Opaque = PlainSerializer(lambda v: repr(v), return_type=str)


class PolicyToolInput(BaseModel):
    """Arguments of the policy tool: ``batch`` (in process) or ``states`` (JSON), not both."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    batch: SkipJsonSchema[Annotated[StateBatch | None, _Opaque]] = None
    states: list[dict[str, Any]] | None = Field(
        default=None, description="Page states as dicts (agent_id, persona, page, items, ...)."
    )
    return_dicts: bool = Field(default=False, description="Return actions as JSON dicts.")


class MemoryToolInput(BaseModel):
    """Arguments of the memory tool: many (agent, item) pairs in one call."""

    agent_ids: list[int] = Field(description="Agent of each query.")
    item_ids: list[int] | None = Field(
        default=None, description="Item of each query; omit for the agents' recent memories."
    )
    k: int = Field(default=5, ge=1, description="Memories per query.")
    return_dicts: bool = Field(default=False, description="Return records as JSON dicts.")


def make_policy_tool(policy: Any, rng: np.random.Generator, name: str = "decide_pages") -> Any:
    """A ``StructuredTool`` whose single call decides a whole step's batch with ``policy``.

    Args:
        policy: Any :class:`alignuser.interfaces.Policy`.
        rng: Generator drawn from on each call (seed it for reproducible runs).
        name: Tool name.

    Returns:
        The tool; ``invoke({"batch": StateBatch(states)})`` returns ``list[PageAction]``,
        ``invoke({"states": [dict, ...], "return_dicts": True})`` returns action dicts.
    """
    from langchain_core.tools import StructuredTool

    def run(
        batch: StateBatch | None = None,
        states: list[dict[str, Any]] | None = None,
        return_dicts: bool = False,
    ) -> list[Any]:
        if (batch is None) == (states is None):
            raise ValueError(f"{name}: pass exactly one of 'batch' or 'states'")
        seq = batch.states if batch is not None else [state_from_dict(d) for d in states or ()]
        actions = policy.decide(seq, rng)
        return [action_to_dict(a) for a in actions] if return_dicts else actions

    return StructuredTool.from_function(
        func=run,
        name=name,
        description="Decide the pages of all active users of one simulation step at once: per "
        "item WATCH with a rating or SKIP, per page NEXT or EXIT.",
        args_schema=PolicyToolInput,
    )


def make_memory_tool(memory: Any, name: str = "retrieve_memories") -> Any:
    """A ``StructuredTool`` retrieving memories for many (agent_id, item_id) pairs in one call.

    Args:
        memory: Any :class:`alignuser.interfaces.EpisodicMemory`.
        name: Tool name.

    Returns:
        The tool; returns one list of ``MemoryRecord`` (or dicts) per query.
    """
    from langchain_core.tools import StructuredTool

    def run(
        agent_ids: list[int],
        item_ids: list[int] | None = None,
        k: int = 5,
        return_dicts: bool = False,
    ) -> list[list[Any]]:
        if item_ids is None:
            found = memory.recent(agent_ids, k)
        elif len(item_ids) != len(agent_ids):
            raise ValueError(f"{name}: {len(agent_ids)} agent_ids but {len(item_ids)} item_ids")
        else:
            found = memory.retrieve(agent_ids, item_ids, k)
        return [[asdict(r) for r in rs] for rs in found] if return_dicts else found

    return StructuredTool.from_function(
        func=run,
        name=name,
        description="Retrieve each agent's memories most similar to an item, for many "
        "(agent_id, item_id) pairs at once; without item_ids, the most recent memories.",
        args_schema=MemoryToolInput,
    )
