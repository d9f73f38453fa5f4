"""Fault tolerance of a population step: retries, agent by agent, a breaker, the fault log.

The batched recommender and policy calls of a step go through a :class:`FaultGuard`: a
failing call is retried (``retries`` times, exponential backoff from ``backoff`` seconds, at
most ``backoff_max``; the policy generator rewound before each try so a call that eventually
succeeds gives the same outputs); if the batch still fails the step goes agent by agent (one
try each; after ``breaker`` failures in a row with no success the rest of the step's agents
are not tried). An agent whose page cannot be produced ends its session; an agent whose
decision keeps failing gets :func:`fallback_action` (skip every item, exit). Each such agent
is counted in ``faults`` and listed in ``fault_log`` (``step, agent_id, user_id, stage,
error``).

Example:
    >>> guard = FaultGuard("popular", rng=None, retries=2)
    >>> guard.retry(lambda: 42, "recommend")
    42
    >>> guard.faults, guard.fault_log
    (0, [])
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np

from alignuser.env.actions import ItemDecision, PageAction
from alignuser.env.page import PageState

__all__ = ["FaultGuard", "fallback_action"]

# the model's logger: the messages read as they did when this code lived in the model
log = logging.getLogger("alignuser.simulation.model")


def fallback_action(state: PageState) -> PageAction:
    """The safe action for an agent whose decision failed: skip every item, exit."""
    return PageAction(tuple(ItemDecision(i, False) for i in state.item_ids), exit=True)


class FaultGuard:
    """Retries, agent-by-agent fallback and the fault log of one population's steps.

    Args:
        label: Recommender label (in log messages).
        rng: The policy generator (``numpy.random.Generator``), rewound before each try of
            a call that draws from it.
        retries: Retries of a failed batched call.
        backoff: First backoff in seconds (doubles per retry, at most ``backoff_max``).
        backoff_max: Longest backoff in seconds.
    """

    def __init__(
        self, label: str, rng, retries: int = 0, backoff: float = 0.0, backoff_max: float = 10.0
    ):
        self.label = label
        self.rng = rng
        self.retries, self.backoff, self.backoff_max = retries, backoff, backoff_max
        self.breaker = 8
        self.faults = 0
        self.fault_log: list[dict] = []

    def retry(self, call: Callable, what: str, rewind: bool = False):
        """``call()`` with retries and exponential backoff; re-raises the last error."""
        state = self.rng.bit_generator.state if rewind else None
        for attempt in range(self.retries + 1):
            if rewind:
                self.rng.bit_generator.state = state
            try:
                return call()
            except Exception as exc:
                if attempt == self.retries:
                    raise
                wait = min(self.backoff * 2**attempt, self.backoff_max)
                log.warning(
                    "%s: %s failed (%s: %s), retry %d/%d in %.2fs", self.label, what,
                    type(exc).__name__, exc, attempt + 1, self.retries, wait,
                )  # fmt: skip
                if wait > 0:
                    time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def record(self, agent, step: int, stage: str, exc: Exception) -> None:
        """Count and log a fault of ``agent`` at ``stage`` that no retry mended."""
        self.faults += 1
        self.fault_log.append(
            {
                "step": int(step),
                "agent_id": int(agent.index),
                "user_id": int(agent.user_id),
                "stage": stage,
                "error": f"{type(exc).__name__}: {exc}"[:500],
            }
        )
        log.error("%s: agent %d, step %d: %s failed for good: %s", self.label, agent.index,
                  step, stage, exc)  # fmt: skip

    def one_by_one(self, active: Sequence, call: Callable[[int], object], stage: str, step: int):
        """``call(j)`` for each agent (one try each; the batch was retried already).

        ``None`` (and a fault) where it fails. After ``breaker`` failures in a row with no
        success in this step the rest are not tried (a dead server would otherwise be asked
        once per agent).
        """
        out: list = []
        streak, ok, last = 0, 0, None
        for j, a in enumerate(active):
            if not ok and streak >= self.breaker:
                self.record(
                    a, step, stage, RuntimeError(f"not tried after {streak} failures: {last}")
                )
                out.append(None)
                continue
            try:
                out.append(call(j))
                ok += 1
            except Exception as exc:
                streak, last = streak + 1, exc
                self.record(a, step, stage, exc)
                out.append(None)
        return out

    def recommend(self, recommender, active, users: np.ndarray, exclude: list, k: int, step: int):
        """Pages of the active agents and the agents for which none could be produced."""

        def batch():
            recs = np.asarray(recommender.recommend(users, k, exclude))
            if recs.shape[0] != len(users):
                raise ValueError(f"recommender returned {recs.shape[0]} rows for {len(users)}")
            return recs

        try:
            return [row[row >= 0] for row in self.retry(batch, "recommend")], []
        except Exception as exc:
            log.warning("%s: batched recommend failed (%s), going user by user", self.label, exc)

        def one(j):
            row = np.asarray(recommender.recommend(users[j : j + 1], k, [exclude[j]]))[0]
            return row[row >= 0]

        pages = self.one_by_one(active, one, "recommend", step)
        failed = [a for a, p in zip(active, pages) if p is None]
        return [p for p in pages if p is not None], failed

    def decide(self, decide: Callable, active, states: list[PageState], step: int) -> list:
        """Actions for ``states``: one batched call, else agent by agent, else the fallback."""
        if not states:
            return []

        def batch():
            actions = decide(states)
            if len(actions) != len(states):
                raise ValueError(f"policy returned {len(actions)} actions for {len(states)}")
            return actions

        try:
            return self.retry(batch, "decide", rewind=True)
        except Exception as exc:
            log.warning("%s: batched decide failed (%s), going agent by agent", self.label, exc)

        def one(j):
            self.rng.bit_generator.state = rng_state[0]
            out = decide([states[j]])
            if len(out) != 1:
                raise ValueError(f"policy returned {len(out)} actions for 1")
            rng_state[0] = self.rng.bit_generator.state
            return out[0]

        rng_state = [self.rng.bit_generator.state]
        actions = self.one_by_one(active, one, "policy", step)
        self.rng.bit_generator.state = rng_state[0]
        return [a if a is not None else fallback_action(s) for a, s in zip(actions, states)]
