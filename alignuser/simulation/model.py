"""``PopulationModel``: a Mesa 3 model of a persona population browsing one recommender.

Each :meth:`~PopulationModel.step` (no monkey-patching of Mesa; batching lives here):

1. idle agents start a session with ``activation_prob`` (draws from a dedicated generator,
   one per agent per step, so two recommenders see the same activations: common random
   numbers);
2. the recommender fills one page for **all** active agents in one call, excluding what
   each agent saw in this session and consumed before;
3. the memory retrieves, in one call, each agent's memories most similar to each item on its
   page ("similar items you rated") and its most recent memories;
4. **one** policy call (through the LangChain tool) decides every page;
5. actions become events, memories (one batched write) and word of mouth; agents that exit
   or reach ``max_pages`` end their session, answer the satisfaction interview, and their
   summaries are written.

The page states of step 3 are built by :class:`~alignuser.simulation.states.PageStates`.
Time spent per part (recommender, memory, policy, the rest) is in :meth:`part_times`.

Faults (:class:`~alignuser.simulation.faults.FaultGuard`): the batched recommender and policy
calls are retried (``retries`` times, exponential backoff from ``backoff`` seconds, the policy
generator rewound before each try so a call that eventually succeeds gives the same outputs);
if the batch still fails the step goes agent by agent (one try each; after 8 failures in a
row with no success the rest of the step's agents are not tried). An agent whose page cannot
be produced ends its session; an agent whose decision keeps failing skips every item and
exits. A failed satisfaction interview leaves the score missing (NaN). Each is counted in
``faults`` and listed in ``fault_log`` (``step, agent_id, user_id, stage, error``); the run
goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import mesa
import numpy as np

from alignuser.env.page import PageState
from alignuser.interfaces import Feedback
from alignuser.simulation.agent import UserAgent
from alignuser.simulation.faults import FaultGuard
from alignuser.simulation.states import PageStates
from alignuser.simulation.timing import timed

__all__ = ["PopulationModel"]

log = logging.getLogger(__name__)


class PopulationModel(mesa.Model):
    """A population of :class:`UserAgent` against one recommender.

    The agents are Mesa's ``self.agents`` (an ``AgentSet``, in the order of ``population``).

    Args:
        population: ``(user_id, persona_text, features)`` per agent.
        recommender: A fitted recommender.
        decide: Batched decision function (usually the policy's LangChain tool).
        memory: Episodic memory (already holding the agents' history memories).
        catalog_view: Item display fields.
        session: ``SessionSpec`` of the scenario.
        memory_spec: ``MemorySpec`` (``top_k`` similar, ``recent_k`` recent lines).
        wom: Word of mouth (``None`` without a social graph).
        writer: ``RunWriter`` or ``None``.
        satisfaction: Optional ``(summaries, rng) -> scores`` interview function.
        max_rating: Top of the rating scale.
        seed: Seed; activations and policy draws use independent streams derived from it.
        label: Recommender label written in outputs.
        social: ``SocialSpec``: its ``influence`` weighs friends' items in the policy features
            (``None``: 1.0).
        resilience: ``ResilienceSpec``: ``retries`` of a failed batched call (recommender,
            policy), first ``backoff`` in seconds (doubles per retry, at most
            ``backoff_max``); ``None``: no retries.
        agent_offset: Global index of the first agent (a shard's agents keep their global
            indices in outputs, memories and checkpoints).
        shard: Shard number (``None`` for an unsharded run); seeds derive from
            ``(seed, shard)``.
        prior_ratings: ``(rows, item_ids, ratings)``: every training rating of the agents'
            users (rows: agent index minus ``agent_offset``), the evidence of the long-run
            rater offset (``PageState.rater_all``) beyond the memories' window; ``None``:
            the offset reads every rating in the memory store.

    Example:
        >>> model = PopulationModel(population, rec, decide, memory, view,  # doctest: +SKIP
        ...                         scenario.session, scenario.memory, seed=3)
        >>> while model.running:  # doctest: +SKIP
        ...     model.step()
    """

    def __init__(
        self,
        population: Sequence[tuple[int, str, dict]],
        recommender,
        decide: Callable[[list[PageState]], list],
        memory,
        catalog_view,
        session,
        memory_spec,
        wom=None,
        writer=None,
        satisfaction=None,
        max_rating: int = 5,
        seed: int = 0,
        label: str = "recommender",
        social=None,
        resilience=None,
        agent_offset: int = 0,
        shard: int | None = None,
        prior_ratings: tuple | None = None,
    ):
        t_mesa = time.perf_counter()
        super().__init__(seed=seed if shard is None else seed * 1_000_003 + shard)
        self.mesa_setup_seconds = time.perf_counter() - t_mesa  # + Agent.__init__, see agent.py
        ss = np.random.SeedSequence(seed if shard is None else [seed, shard])
        act_seed, pol_seed = ss.spawn(2)
        self.activation_rng = np.random.default_rng(act_seed)
        self.policy_rng = np.random.default_rng(pol_seed)
        self.spec = session
        self.memory_spec = memory_spec
        self.recommender = recommender
        self.decide = decide
        self.memory = memory
        self.view = catalog_view
        self.agent_offset = agent_offset
        self.wom = wom
        self.writer = writer
        self.satisfaction = satisfaction
        self.max_rating = max_rating
        self.label = label
        self.seed_value = seed
        self.shard = shard
        res = resilience
        retries = () if res is None else (res.retries, res.backoff, res.backoff_max)
        self.guard = FaultGuard(label, self.policy_rng, *retries)
        for i, (u, text, feats) in enumerate(population):  # registered in self.agents
            UserAgent(self, agent_offset + i, int(u), text, feats)
        self.states = PageStates(
            memory, catalog_view, memory_spec, max_rating, len(self.agents), agent_offset, wom,
            1.0 if social is None else social.influence, prior_ratings,
        )  # fmt: skip
        # "mesa": time inside Mesa's own code per step (DataCollector.collect); "outer": the
        # wall time of Mesa's wrapped ``step`` (measured by the runner), so that
        # ``outer - total`` is the step wrapper's own overhead
        self.timings = {
            "recommender": 0.0, "memory": 0.0, "policy": 0.0, "mesa": 0.0, "total": 0.0,
            "outer": 0.0,
        }  # fmt: skip
        self.last = {"active": 0, "watches": 0, "exits": 0, "rating_sum": 0.0, "pages": 0}
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "active": lambda m: m.last["active"],
                "pages": lambda m: m.last["pages"],
                "watches": lambda m: m.last["watches"],
                "exits": lambda m: m.last["exits"],
                "mean_rating": lambda m: (
                    m.last["rating_sum"] / m.last["watches"] if m.last["watches"] else np.nan
                ),
            }
        )

    @property
    def faults(self) -> int:
        """Number of faults so far (see :class:`~alignuser.simulation.faults.FaultGuard`)."""
        return self.guard.faults

    @property
    def fault_log(self) -> list[dict]:
        """The faults so far (``step, agent_id, user_id, stage, error``)."""
        return self.guard.fault_log

    # ------------------------------------------------------------------ step
    def step(self) -> None:
        """One simulation step for the whole population (see the module docstring)."""
        with timed(self.timings, "total"):
            step = self.steps
            active = self._activate(step)
            self.last = {
                "active": len(active), "watches": 0, "exits": 0, "rating_sum": 0.0, "pages": 0,
            }  # fmt: skip
            if active:
                self._browse(active, step)
            with timed(self.timings, "mesa"):
                self.datacollector.collect(self)
            self.running = self._pending()

    def _activate(self, step: int) -> list[UserAgent]:
        """Idle agents start a session (one activation draw per agent); the active agents."""
        draws = self.activation_rng.random(len(self.agents))
        for j, a in enumerate(self.agents):
            if (
                not a.in_session
                and a.sessions_done < self.spec.sessions_per_agent
                and draws[j] < self.spec.activation_prob
            ):
                a.start_session(step)
        return [a for a in self.agents if a.in_session]

    def _pending(self) -> bool:
        return any(
            a.in_session or a.sessions_done < self.spec.sessions_per_agent for a in self.agents
        )

    def _browse(self, active: list[UserAgent], step: int) -> None:
        """Pages, states, decisions, their effects and outputs of the step's active agents."""
        active, pages, session_rows = self._pages(active, step)
        states = self.states.build(active, pages, step, self.timings)
        with timed(self.timings, "policy"):
            actions = self.guard.decide(self.decide, active, states, step)
        events, memories, finished, thoughts, liked = self._apply(active, pages, actions, step)
        self._feedback(step, events, memories, liked)
        session_rows.extend(self._end_sessions(finished, step))
        if self.writer is not None:
            tag = {"recommender": self.label, "seed": self.seed_value}
            self.writer.add_events([{**tag, **e} for e in events])
            self.writer.add_sessions([{**tag, **r} for r in session_rows])
            self.writer.add_thoughts([{**tag, **r} for r in thoughts])
            self.writer.flush(step)

    def _pages(self, active: list[UserAgent], step: int):
        """One page per active agent from one recommender call.

        Returns:
            ``(active, pages, session_rows)``: the agents that got a non-empty page, their
            pages, and the summaries of the sessions that ended without one (no page could
            be produced: a fault; nothing left to show).
        """
        with timed(self.timings, "recommender"):
            users = np.array([a.user_id for a in active], dtype=np.int64)
            exclude = [np.fromiter(set(a.shown) | a.consumed, dtype=np.int64) for a in active]
            k = self.spec.items_per_page
            pages, failed = self.guard.recommend(self.recommender, active, users, exclude, k, step)
        session_rows: list[dict] = []
        for a in failed:  # no page could be produced: the session ends with a fault
            session_rows.append(a.end_session(step, exited=True))
        if failed:
            gone = {id(a) for a in failed}
            active = [a for a in active if id(a) not in gone]
        exhausted = [a for a, p in zip(active, pages) if len(p) == 0]
        for a in exhausted:  # nothing left to show: the session ends without a page
            session_rows.append(a.end_session(step, exited=False))
        keep = [j for j, p in enumerate(pages) if len(p)]
        return [active[j] for j in keep], [pages[j] for j in keep], session_rows

    def _apply(self, active, pages, actions, step: int):
        """Each agent applies its action; the step's counts go into ``self.last``.

        Returns:
            ``(events, memories, finished, thoughts, liked)``: ``finished`` holds
            ``(agent, exited)`` of the sessions that end; ``liked`` the word of mouth's
            ``(agents, items, ratings, titles)`` of the watches rated at least 80% of the
            scale's top.
        """
        events, memories, finished, thoughts = [], [], [], []
        liked_agents, liked_items, liked_ratings, liked_titles = [], [], [], []
        like_at = 0.8 * self.max_rating
        for a, p, action in zip(active, pages, actions):
            titles = [self.view.titles[i] for i in p]
            ev, mem, done = a.apply(action, step, titles, self.max_rating)
            events.extend(ev)
            if action.rationale is not None and ev:
                keys = ("step", "agent_id", "user_id", "session", "page")
                thoughts.append({**{k: ev[0][k] for k in keys}, "thought": action.rationale})
            memories.extend(mem)
            for m in mem:
                self.last["watches"] += 1
                self.last["rating_sum"] += m.rating
                if m.rating >= like_at:
                    liked_agents.append(a.index)
                    liked_items.append(m.item_id)
                    liked_ratings.append(m.rating)
                    liked_titles.append(self.view.titles[m.item_id])
            if done:
                finished.append((a, action.exit))
        self.last["pages"] = len(active)
        liked = (liked_agents, liked_items, liked_ratings, liked_titles)
        return events, memories, finished, thoughts, liked

    def _feedback(self, step: int, events: list[dict], memories: list, liked) -> None:
        """The step's memories (one batched write), word of mouth, the recommender's update."""
        with timed(self.timings, "memory"):
            if memories:
                self.memory.add(memories)
                self.states.add_rated(memories)
        liked_agents, liked_items, liked_ratings, liked_titles = liked
        if self.wom is not None and liked_items:
            self.wom.record(step, liked_agents, liked_items, liked_ratings, liked_titles)
        if self.spec.update_recommender and events:
            with timed(self.timings, "recommender"):
                self.recommender.update(
                    Feedback(
                        user_ids=np.array([e["user_id"] for e in events]),
                        item_ids=np.array([e["item_id"] for e in events]),
                        clicked=np.array([e["watched"] for e in events]),
                        ratings=np.array([e["rating"] for e in events]),
                    )
                )

    def _end_sessions(self, finished, step: int) -> list[dict]:
        """End the finished sessions; their summaries with the satisfaction interview's scores."""
        ended = [a.end_session(step, exited) for a, exited in finished]
        self.last["exits"] = len(ended)
        if ended and self.satisfaction is not None:
            with timed(self.timings, "policy"):
                scores = self._interview(ended, step)
            for row, s in zip(ended, scores):
                row["satisfaction"] = float(s)
        return ended

    def _interview(self, ended: list[dict], step: int) -> list:
        """Satisfaction scores of the ended sessions (NaN each when the interview fails)."""
        summaries = [
            {**r, "max_rating": self.max_rating, "n_watched": r["watches"], "n_shown": r["shown"]}
            for r in ended
        ]
        try:
            return self.guard.retry(
                lambda: self.satisfaction(summaries, self.policy_rng), "satisfaction", rewind=True
            )
        except Exception as exc:
            log.error("%s: step %d: satisfaction interview failed: %s", self.label, step, exc)
            return [np.nan] * len(ended)

    def get_state(self) -> dict:
        """Everything needed to continue this run exactly (JSON-able).

        Memories are not included: they are durable in the memory store (or rebuilt from the
        events), see :mod:`alignuser.simulation.checkpoint`.
        """
        return {
            "step": int(self.steps),
            "running": bool(self.running),
            "agents": [
                [
                    a.sessions_done,
                    a.in_session,
                    a.page,
                    a.shown,
                    sorted(a.consumed),
                    a.start_step,
                    a.watches,
                    a.likes,
                    a.rating_sum,
                ]
                for a in self.agents
            ],
            "activation_rng": self.activation_rng.bit_generator.state,
            "policy_rng": self.policy_rng.bit_generator.state,
            "wom": self.wom.get_state() if self.wom is not None else None,
            "series": {k: list(v) for k, v in self.datacollector.model_vars.items()},
            "timings": dict(self.timings),
            "faults": self.faults,
            "fault_log": list(self.fault_log),
        }

    def set_state(self, state: dict) -> None:
        """Restore a state written by :meth:`get_state` (same scenario, same population)."""
        if len(state["agents"]) != len(self.agents):
            raise ValueError("checkpoint population size differs from the scenario's")
        self.steps = state["step"]
        self.running = state["running"]
        for a, row in zip(self.agents, state["agents"]):
            (a.sessions_done, a.in_session, a.page, shown, consumed,
             a.start_step, a.watches, a.likes, a.rating_sum) = row  # fmt: skip
            a.shown, a.consumed = list(shown), set(consumed)
        self.activation_rng.bit_generator.state = state["activation_rng"]
        self.policy_rng.bit_generator.state = state["policy_rng"]
        if self.wom is not None and state.get("wom") is not None:
            self.wom.set_state(state["wom"])
        for k, v in state["series"].items():
            self.datacollector.model_vars[k] = list(v)
        self.timings.update(state["timings"])
        self.guard.faults = state["faults"]
        self.guard.fault_log = list(state.get("fault_log", []))

    def part_times(self) -> dict[str, float]:
        """Seconds per part of the steps so far.

        ``recommender``, ``memory``, ``policy``: the batched calls. ``mesa``: time inside
        Mesa's own code: ``DataCollector.collect`` plus the ``Model.step`` wrapper (the
        runner's wall time of ``model.step()`` minus this class's step body).
        ``step_code``: the rest of our step (activations, agent loop, state building,
        outputs). ``mesa_setup``: ``Model``/``Agent`` construction and registration (once).
        """
        t = self.timings
        parts = {k: t.get(k, 0.0) for k in ("recommender", "memory", "policy")}
        wrapper = max(t.get("outer", 0.0) - t["total"], 0.0) if t.get("outer") else 0.0
        mesa = t.get("mesa", 0.0)
        parts["step_code"] = max(t["total"] - sum(parts.values()) - mesa, 0.0)
        parts["mesa"] = mesa + wrapper
        parts["mesa_setup"] = self.mesa_setup_seconds
        parts["total"] = t["total"]
        return parts
