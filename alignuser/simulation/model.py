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

Time spent per part (recommender, memory, policy, the rest) is in :meth:`part_times`.

Faults: the batched recommender and policy calls are retried (``retries`` times, exponential
backoff from ``backoff`` seconds, the policy generator rewound before each try so a call that
eventually succeeds gives the same outputs); if the batch still fails the step goes agent by
agent (one try each; after 8 failures in a row with no success the rest of the step's agents
are not tried). An agent whose page cannot be produced ends its session; an agent whose
decision keeps failing skips every item and exits. A failed satisfaction interview leaves the
score missing (NaN). Each is counted in ``faults`` and listed in
``fault_log`` (``step, agent_id, user_id, stage, error``); the run goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import mesa
import numpy as np

from alignuser.env.actions import ItemDecision, PageAction
from alignuser.env.page import PageState
from alignuser.interfaces import Feedback
from alignuser.simulation.agent import UserAgent

log = logging.getLogger(__name__)


def fallback_action(state: PageState) -> PageAction:
    """The safe action for an agent whose decision failed: skip every item, exit."""
    return PageAction(tuple(ItemDecision(i, False) for i in state.item_ids), exit=True)


class PopulationModel(mesa.Model):
    """A population of :class:`UserAgent` against one recommender.

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
        social_influence: Weight of friends' items in the policy features.
        agent_offset: Global index of the first agent (a shard's agents keep their global
            indices in outputs, memories and checkpoints).
        shard: Shard number (``None`` for an unsharded run); seeds derive from
            ``(seed, shard)``.
        retries: Retries of a failed batched call (recommender, policy).
        backoff: First backoff in seconds (doubles per retry, at most ``backoff_max``).
        backoff_max: Longest backoff in seconds.
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
        social_influence: float = 1.0,
        agent_offset: int = 0,
        shard: int | None = None,
        retries: int = 0,
        backoff: float = 0.0,
        backoff_max: float = 10.0,
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
        self._taste = None  # GenreTaste, built from the memory store at the first step
        self._offsets = None  # RaterOffsets, built with it
        self.prior_ratings = prior_ratings
        self.wom = wom
        self.writer = writer
        self.satisfaction = satisfaction
        self.max_rating = max_rating
        self.label = label
        self.seed_value = seed
        self.social_influence = social_influence
        self.shard = shard
        self.breaker = 8
        # remembered items per state (PageState.history) for a policy with an item tower;
        # the runner sets it from ``policy.history_length``
        self.item_history = 0
        self.retries, self.backoff, self.backoff_max = retries, backoff, backoff_max
        self.population: list[UserAgent] = [
            UserAgent(self, agent_offset + i, int(u), text, feats)
            for i, (u, text, feats) in enumerate(population)
        ]
        # "mesa": time inside Mesa's own code per step (DataCollector.collect); "outer": the
        # wall time of Mesa's wrapped ``step`` (measured by the runner), so that
        # ``outer - total`` is the step wrapper's own overhead
        self.timings = {
            "recommender": 0.0, "memory": 0.0, "policy": 0.0, "mesa": 0.0, "total": 0.0,
            "outer": 0.0,
        }  # fmt: skip
        self.last = {"active": 0, "watches": 0, "exits": 0, "rating_sum": 0.0, "pages": 0}
        self.faults = 0
        self.fault_log: list[dict] = []
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

    # ------------------------------------------------------------------ helpers
    def _collect(self) -> None:
        t0 = time.perf_counter()
        self.datacollector.collect(self)
        self.timings["mesa"] += time.perf_counter() - t0

    def _pending(self) -> bool:
        return any(
            a.in_session or a.sessions_done < self.spec.sessions_per_agent for a in self.population
        )

    def _taste_add(self, records) -> None:
        if self._taste is not None:
            rated = [r for r in records if r.rating is not None and r.kind != "social"]
            rows = [r.agent_id - self.agent_offset for r in rated]
            self._taste.add(rows, [r.item_id for r in rated], [r.rating for r in rated])
            if self.prior_ratings is not None:  # the history memories are in the prior
                rated = [r for r in rated if r.kind != "history"]
                rows = [r.agent_id - self.agent_offset for r in rated]
            self._offsets.add(rows, [r.item_id for r in rated], [r.rating for r in rated])

    def _taste_scores(self, active, pages):
        """Taste cue of each page's items, rater bias and long-run offset of each agent.

        ``(None, None, None)`` for a memory without ``records()``.
        """
        if self._taste is None:
            records = getattr(self.memory, "records", None)
            if records is None:  # a user memory without ``records()``: no cue
                return None, None, None
            self._taste = self.view.taste_model(self.max_rating, len(self.population))
            self._offsets = self.view.rater_offsets(len(self.population))
            if self.prior_ratings is not None:
                self._offsets.add(*self.prior_ratings)
            self._taste_add(records())
        rows = [a.index - self.agent_offset for a in active]
        return self._taste.scores(rows, pages), self._taste.bias(rows), self._offsets.offsets(rows)

    def _states(self, active: list[UserAgent], pages: list[np.ndarray]) -> list[PageState]:
        k_sim, k_recent = self.memory_spec.top_k, self.memory_spec.recent_k
        t0 = time.perf_counter()
        sims: list[list] = [[] for _ in active]
        if k_sim:
            q_agents = [a.index for a, p in zip(active, pages) for _ in p]
            q_items = [int(i) for p in pages for i in p]
            flat = self.memory.retrieve(q_agents, q_items, k_sim) if q_items else []
            pos = 0
            for j, p in enumerate(pages):
                sims[j] = flat[pos : pos + len(p)]
                pos += len(p)
        # one look-up serves the recent memory lines and the item tower's history
        k_look = max(k_recent, self.item_history)
        looked = self.memory.recent([a.index for a in active], k_look) if k_look else None
        recent = [r[:k_recent] for r in looked] if k_recent else None
        hist = (
            self._item_histories([r[: self.item_history] for r in looked])
            if self.item_history
            else None
        )
        self.timings["memory"] += time.perf_counter() - t0
        step = self.steps
        taste, rater, rater_all = self._taste_scores(active, pages)
        states = []
        for j, (a, p) in enumerate(zip(active, pages)):
            similar = [[r.text for r in recs] for recs in sims[j]] if k_sim else None
            feats = dict(a.features)
            feats["user_id"] = a.user_id  # the dataset user (agent_id is the agent's index)
            social: tuple[str, ...] = ()
            if self.wom is not None:
                social = tuple(self.wom.lines(a.index, step))
                feats["friend_items"] = self.wom.items(a.index, step)
                feats["social_influence"] = self.social_influence
            states.append(
                PageState(
                    agent_id=a.index,
                    persona=a.persona_text,
                    page=a.page + 1,
                    items=self.view.views(p, similar, taste[j] if taste else None),
                    memories=tuple(r.text for r in recent[j]) if recent is not None else (),
                    social=social,
                    max_rating=self.max_rating,
                    session=a.sessions_done,
                    features=feats,
                    rater=rater[j] if rater else None,
                    history=hist[j][0] if hist else (),
                    history_ratings=hist[j][1] if hist else (),
                    rater_all=rater_all[j] if rater_all else None,
                )
            )
        return states

    @staticmethod
    def _item_histories(looked) -> list[tuple[tuple, tuple]]:
        """Each agent's consumed items among its most recent memories, and their ratings.

        ``looked``: per agent, the newest ``item_history`` memories, newest first
        (the seeded history included). Returns oldest first, NaN for watched-unrated, as
        training builds them from the logs.
        """
        out = []
        for recs in looked:
            kept = [r for r in recs if r.item_id >= 0 and r.kind in ("history", "rating")][::-1]
            out.append(
                (
                    tuple(int(r.item_id) for r in kept),
                    tuple(float("nan") if r.rating is None else float(r.rating) for r in kept),
                )
            )
        return out

    # ------------------------------------------------------------------ faults
    def _retry(self, call, what: str, rewind: bool = False):
        """``call()`` with retries and exponential backoff; re-raises the last error."""
        state = self.policy_rng.bit_generator.state if rewind else None
        for attempt in range(self.retries + 1):
            if rewind:
                self.policy_rng.bit_generator.state = state
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

    def _fault(self, agent: UserAgent, step: int, stage: str, exc: Exception) -> None:
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

    def _recommend(self, active, users, exclude, step):
        """Pages of the active agents and the agents for which none could be produced."""
        k = self.spec.items_per_page

        def batch():
            recs = np.asarray(self.recommender.recommend(users, k, exclude))
            if recs.shape[0] != len(users):
                raise ValueError(f"recommender returned {recs.shape[0]} rows for {len(users)}")
            return recs

        try:
            return [row[row >= 0] for row in self._retry(batch, "recommend")], []
        except Exception as exc:
            log.warning("%s: batched recommend failed (%s), going user by user", self.label, exc)

        def one(j):
            row = np.asarray(self.recommender.recommend(users[j : j + 1], k, [exclude[j]]))[0]
            return row[row >= 0]

        pages = self._one_by_one(active, one, "recommend", step)
        failed = [a for a, p in zip(active, pages) if p is None]
        return [p for p in pages if p is not None], failed

    def _one_by_one(self, active, call, stage: str, step: int) -> list:
        """``call(j)`` for each agent (one try each; the batch was retried already).

        ``None`` (and a fault) where it fails. After ``breaker`` failures in a row with no
        success in this step the rest are not tried (a dead server would otherwise be asked
        once per agent).
        """
        out: list = []
        streak, ok, last = 0, 0, None
        for j, a in enumerate(active):
            if not ok and streak >= self.breaker:
                self._fault(
                    a, step, stage, RuntimeError(f"not tried after {streak} failures: {last}")
                )
                out.append(None)
                continue
            try:
                out.append(call(j))
                ok += 1
            except Exception as exc:
                streak, last = streak + 1, exc
                self._fault(a, step, stage, exc)
                out.append(None)
        return out

    def _decide(self, active, states: list[PageState], step: int) -> list:
        """Actions for ``states``: one batched call, else agent by agent, else the fallback."""
        if not states:
            return []

        def batch():
            actions = self.decide(states)
            if len(actions) != len(states):
                raise ValueError(f"policy returned {len(actions)} actions for {len(states)}")
            return actions

        try:
            return self._retry(batch, "decide", rewind=True)
        except Exception as exc:
            log.warning("%s: batched decide failed (%s), going agent by agent", self.label, exc)

        def one(j):
            self.policy_rng.bit_generator.state = rng_state[0]
            out = self.decide([states[j]])
            if len(out) != 1:
                raise ValueError(f"policy returned {len(out)} actions for 1")
            rng_state[0] = self.policy_rng.bit_generator.state
            return out[0]

        rng_state = [self.policy_rng.bit_generator.state]
        actions = self._one_by_one(active, one, "policy", step)
        self.policy_rng.bit_generator.state = rng_state[0]
        return [a if a is not None else fallback_action(s) for a, s in zip(actions, states)]

    # ------------------------------------------------------------------ step
    def step(self) -> None:
        """One simulation step for the whole population (see the module docstring)."""
        t_start = time.perf_counter()
        step = self.steps
        draws = self.activation_rng.random(len(self.population))
        for j, a in enumerate(self.population):
            if (
                not a.in_session
                and a.sessions_done < self.spec.sessions_per_agent
                and draws[j] < self.spec.activation_prob
            ):
                a.start_session(step)
        active = [a for a in self.population if a.in_session]
        self.last = {"active": len(active), "watches": 0, "exits": 0, "rating_sum": 0.0, "pages": 0}
        if not active:
            self.running = self._pending()
            self._collect()
            self.timings["total"] += time.perf_counter() - t_start
            return

        t0 = time.perf_counter()
        users = np.array([a.user_id for a in active], dtype=np.int64)
        exclude = [np.fromiter(set(a.shown) | a.consumed, dtype=np.int64) for a in active]
        pages, failed = self._recommend(active, users, exclude, step)
        self.timings["recommender"] += time.perf_counter() - t0

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
        active = [active[j] for j in keep]
        pages = [pages[j] for j in keep]

        states = self._states(active, pages)
        t0 = time.perf_counter()
        actions = self._decide(active, states, step)
        self.timings["policy"] += time.perf_counter() - t0

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

        t0 = time.perf_counter()
        if memories:
            self.memory.add(memories)
            self._taste_add(memories)
        self.timings["memory"] += time.perf_counter() - t0
        if self.wom is not None and liked_items:
            self.wom.record(step, liked_agents, liked_items, liked_ratings, liked_titles)
        if self.spec.update_recommender and events:
            t0 = time.perf_counter()
            self.recommender.update(
                Feedback(
                    user_ids=np.array([e["user_id"] for e in events]),
                    item_ids=np.array([e["item_id"] for e in events]),
                    clicked=np.array([e["watched"] for e in events]),
                    ratings=np.array([e["rating"] for e in events]),
                )
            )
            self.timings["recommender"] += time.perf_counter() - t0

        ended = [a.end_session(step, exited) for a, exited in finished]
        self.last["exits"] = len(ended)
        if ended and self.satisfaction is not None:
            t0 = time.perf_counter()
            summaries = [
                {
                    **r,
                    "max_rating": self.max_rating,
                    "n_watched": r["watches"],
                    "n_shown": r["shown"],
                }
                for r in ended
            ]
            try:
                scores = self._retry(
                    lambda: self.satisfaction(summaries, self.policy_rng), "satisfaction",
                    rewind=True,
                )  # fmt: skip
            except Exception as exc:
                log.error("%s: step %d: satisfaction interview failed: %s", self.label, step, exc)
                scores = [np.nan] * len(ended)
            self.timings["policy"] += time.perf_counter() - t0
            for row, s in zip(ended, scores):
                row["satisfaction"] = float(s)
        session_rows.extend(ended)

        if self.writer is not None:
            tag = {"recommender": self.label, "seed": self.seed_value}
            self.writer.add_events([{**tag, **e} for e in events])
            self.writer.add_sessions([{**tag, **r} for r in session_rows])
            self.writer.add_thoughts([{**tag, **r} for r in thoughts])
            self.writer.flush(step)
        self._collect()
        self.running = self._pending()
        self.timings["total"] += time.perf_counter() - t_start

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
                for a in self.population
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
        if len(state["agents"]) != len(self.population):
            raise ValueError("checkpoint population size differs from the scenario's")
        self.steps = state["step"]
        self.running = state["running"]
        for a, row in zip(self.population, state["agents"]):
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
        self.faults = state["faults"]
        self.fault_log = list(state.get("fault_log", []))

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
