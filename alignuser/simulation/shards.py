"""The runtime of a run: one recommender's population, or one shard of it, step by step.

:func:`run_shard` builds the :class:`~alignuser.simulation.model.PopulationModel` of a shard
(its agents, memory restored to a checkpoint when resuming, the policy's LangChain tool),
steps it until every session has ended with a checkpoint after each step, and returns the
shard's entry; :func:`run_one` fits the recommender and runs every shard in this process.
Shards share their bounds and keys (:func:`shard_bounds`, :func:`shard_key`) and the merge
rule of their entries (:func:`~alignuser.simulation.entries.merge_shards`) with the Ray
engine (:mod:`~alignuser.simulation.engines`).

Example:
    >>> from alignuser.simulation.shards import run_one  # doctest: +SKIP
    >>> entry = run_one(scenario, prep, spec, policy, run_dir)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from alignuser.scenario import Scenario
from alignuser.simulation.build import Prepared, make_memory, policy_decider
from alignuser.simulation.entries import merge_shards
from alignuser.simulation.outputs import RunWriter
from alignuser.simulation.timing import timed

log = logging.getLogger(__name__)


def shard_bounds(n_agents: int, n_shards: int) -> list[tuple[int, int]]:
    """``(start, stop)`` agent indices of each shard: contiguous, sizes differ by at most one."""
    if n_shards > n_agents:
        raise ValueError(f"engine.shards ({n_shards}) exceeds population.n_agents ({n_agents})")
    edges = np.cumsum([0] + [len(b) for b in np.array_split(np.arange(n_agents), n_shards)])
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def shard_key(label: str, shard: int | None) -> str:
    """Checkpoint / memory name of one shard of one recommender's run."""
    return label if shard is None else f"{label}.s{shard:04d}"


class ShardWriter(RunWriter):
    """A :class:`RunWriter` of one shard: ``part-s0003-000012.parquet``, ``<label>.s0003``."""

    def __init__(self, run_dir: str | Path, label: str, shard: int):
        super().__init__(run_dir, label, shard)


def _restore_memory(
    memory, prep: Prepared, run_dir: Path, label: str, step: int | None, agents: range,
    history: list,
) -> None:  # fmt: skip
    """Fill a fresh memory (``step=None``) or restore it to the end of ``step``.

    ``history``: the ``agents``' seeded history memories (a Chroma store may already hold
    them as its ``base``).
    """
    from alignuser.simulation.checkpoint import memories_from_events

    if hasattr(memory, "truncate_after"):  # a durable store: keep what it holds up to step
        memory.truncate_after(-2 if step is None else step)
        if step is None and not getattr(memory, "base", None):
            memory.add(history)
        return
    memory.add(history)
    if step is not None:
        events = read_events_of(run_dir, label)
        events = events[events["agent_id"].between(agents.start, agents.stop - 1)]
        memory.add(memories_from_events(events, prep.view.titles, prep.scale.max))


def read_events_of(run_dir: Path, label: str) -> pd.DataFrame:
    """Events of one recommender (in write order)."""
    from alignuser.simulation.outputs import read_events

    ev = read_events(run_dir)
    return ev[ev["recommender"] == label].reset_index(drop=True)


def _fit(scenario: Scenario, prep: Prepared, rec_spec):
    from alignuser.recommenders.registry import make_recommender

    t0 = time.perf_counter()
    rec = make_recommender(rec_spec.name, seed=scenario.seed, **rec_spec.params)
    rec.fit(prep.train, prep.catalog)
    return rec, time.perf_counter() - t0


def _store_cpu(memory) -> float | None:
    """CPU seconds of a memory store's own process so far (``None`` without one)."""
    cpu = getattr(getattr(memory, "client", None), "cpu_seconds", None)
    return cpu() if callable(cpu) else None


@contextlib.contextmanager
def _quiet_gc():
    """Fewer, cheaper garbage collections while the population runs (same results).

    Everything built before the loop (data, personas, memories, the model) is moved out of
    the collector's reach (``gc.freeze``) and young collections run every 50,000
    allocations instead of 700: with 100k agents the default settings spent a growing
    share of each step rescanning long-lived objects.
    """
    import gc

    old = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


@dataclass
class ShardPlace:
    """Where one shard sits: its recommender, checkpoint key, agents ``lo..hi`` of ``n``."""

    label: str
    key: str
    shard: int | None
    lo: int
    hi: int
    n: int


def run_shard(
    scenario: Scenario, prep: Prepared, rec_spec, rec, policy, run_dir: Path,
    shard: int | None = None, progress=None, resume: bool = False,
) -> dict:  # fmt: skip
    """Run one shard of the population (all of it when ``shard`` is ``None``) against ``rec``.

    Returns:
        The shard's entry (``steps, agent_pages, faults, fault_list, ...``).
    """
    from alignuser.simulation import checkpoint as ck

    label = rec_spec.display
    n = len(prep.agent_users)
    lo, hi = (0, n) if shard is None else shard_bounds(n, scenario.engine.shards)[shard]
    place = ShardPlace(label, shard_key(label, shard), shard, lo, hi, n)
    ck.forget_checkpoints(run_dir, place.key)
    ckpt = ck.load_checkpoint(run_dir, place.key) if resume else None
    if ckpt is not None and scenario.session.update_recommender:
        raise RuntimeError(
            f"{label}: cannot resume a run whose recommender learns during the run "
            "(session.update_recommender); start it again"
        )
    writer = RunWriter(run_dir, label) if shard is None else ShardWriter(run_dir, label, shard)
    writer.truncate_after(ckpt["step"] if ckpt else 0)
    history = [r for i in range(lo, hi) for r in prep.history[i]]
    memory = make_memory(scenario, prep.encoder, run_dir, label, shard, history)
    step = ckpt["step"] if ckpt else None
    _restore_memory(memory, prep, run_dir, label, step, range(lo, hi), history)
    model = shard_model(scenario, prep, rec, policy, memory, writer, place)
    if ckpt is not None:
        model.set_state(ckpt)
    sim_s, loop_cpu, ckpt_s = _step_loop(scenario, model, memory, run_dir, place, progress)
    series = _write_shard_outputs(model, writer, run_dir, place)
    rss = getattr(getattr(memory, "client", None), "peak_rss_bytes", None)
    store_rss = rss() if callable(rss) else None
    if hasattr(memory, "close"):
        memory.close()
    return {
        "shard": shard,
        "agents": [lo, hi],
        "resumed_from_step": ckpt["step"] if ckpt else None,
        "simulate_seconds": round(sim_s, 3),
        # CPU of the step loop: this process and, when it has one, the memory store's
        "simulate_cpu_seconds": round(loop_cpu, 3),
        "memory_store_peak_rss_bytes": store_rss,
        **_outcome(model, series, ckpt_s),
    }


def word_of_mouth(scenario: Scenario, prep: Prepared):
    """The run's word of mouth over its social graph (``None`` with ``social.graph: none``)."""
    from alignuser.simulation.social import WordOfMouth, build_graph

    if scenario.social.graph == "none":
        return None
    matrix = prep.train.to_csr(
        n_users=max(prep.dataset.n_users, int(prep.agent_users.max()) + 1),
        n_items=prep.catalog.n_items,
    )[prep.agent_users]
    graph = build_graph(
        scenario.social.graph, len(prep.agent_users), scenario.social.degree,
        scenario.social.rewire, seed=scenario.seed, user_matrix=matrix,
    )  # fmt: skip
    return WordOfMouth(graph, scenario.social.window, scenario.social.max_lines)


def shard_model(scenario: Scenario, prep: Prepared, rec, policy, memory, writer, place):
    """The :class:`~alignuser.simulation.model.PopulationModel` of one shard.

    It decides with ``policy`` (its LangChain tool, drawing from the model's policy
    generator).
    """
    from alignuser.personas.text import render_persona
    from alignuser.simulation.model import PopulationModel

    lo, hi = place.lo, place.hi
    population = [
        (int(u), render_persona(p), p.to_features())
        for u, p in zip(prep.agent_users[lo:hi], prep.personas[lo:hi])
    ]
    model = PopulationModel(
        population, rec, None, memory, prep.view, scenario.session, scenario.memory,
        wom=word_of_mouth(scenario, prep), writer=writer,
        satisfaction=getattr(policy, "satisfaction", None), max_rating=prep.scale.max,
        seed=scenario.seed, label=place.label, social=scenario.social,
        resilience=scenario.resilience, agent_offset=lo, shard=place.shard,
        prior_ratings=_prior_ratings(prep, lo, hi),
    )  # fmt: skip
    model.decide = policy_decider(policy, model.policy_rng)
    model.states.item_history = int(getattr(policy, "history_length", 0) or 0)
    return model


def _step_loop(scenario: Scenario, model, memory, run_dir: Path, place: ShardPlace, progress):
    """Step ``model`` until every session has ended, with a checkpoint after each step.

    Returns:
        ``(wall seconds, CPU seconds, checkpoint seconds)`` of the loop (the CPU of this
        process and, when it has one, of the memory store's).
    """
    from alignuser.simulation import checkpoint as ck

    s = scenario.session
    n, total = place.n, place.n * s.sessions_per_agent
    cap = s.max_steps or (
        int(np.ceil(s.sessions_per_agent * (s.max_pages + 1) / s.activation_prob * 4)) + 10
    )
    t1 = time.perf_counter()
    ckpt_s = 0.0
    cpu0, store_cpu0 = time.process_time(), _store_cpu(memory)
    with _quiet_gc():
        while model.running and model.steps < cap:
            with timed(model.timings, "outer"):
                model.step()
            t3 = time.perf_counter()
            ck.save_checkpoint(run_dir, place.key, model, memory)
            ckpt_s += time.perf_counter() - t3
            if progress is not None:  # sessions done of all this recommender's sessions
                done = sum(a.sessions_done for a in model.agents)
                progress(place.label, place.lo * s.sessions_per_agent + done, total)
        if progress is not None and (place.shard is None or place.hi == n):  # the loop is over
            progress(place.label, total, total)
        t3 = time.perf_counter()
        ck.finish_checkpoints(run_dir, place.key, memory)
        ckpt_s += time.perf_counter() - t3
    sim_s = time.perf_counter() - t1
    loop_cpu = time.process_time() - cpu0
    store_cpu = _store_cpu(memory)
    if store_cpu is not None and store_cpu0 is not None:
        loop_cpu += store_cpu - store_cpu0
    return sim_s, loop_cpu, ckpt_s


def _write_shard_outputs(model, writer, run_dir: Path, place: ShardPlace) -> pd.DataFrame:
    """Write the shard's per-step series and its faults (``faults/<key>.parquet``)."""
    series = model.datacollector.get_model_vars_dataframe()
    writer.write_series(series.reset_index(names="step"))
    if model.fault_log:
        faults = pd.DataFrame(model.fault_log)
        faults.insert(0, "recommender", place.label)
        faults.insert(1, "shard", -1 if place.shard is None else place.shard)
        (run_dir / "faults").mkdir(parents=True, exist_ok=True)
        faults.to_parquet(run_dir / "faults" / f"{place.key}.parquet", index=False)
    return series


def _outcome(model, series: pd.DataFrame, ckpt_s: float) -> dict:
    """The shard entry's counts: steps, pages, sessions, faults, seconds per part."""
    agent_pages = int(series["pages"].sum()) if len(series) else 0
    # every recorded fault ends its session (no page: ended; no decision: skip all, exit)
    ended = [f for f in model.fault_log if f["stage"] in ("recommend", "policy")]
    first = model.fault_log[0] if model.fault_log else None
    return {
        "steps": int(model.steps),
        "agent_pages": agent_pages,
        "unfinished_sessions": int(sum(a.in_session for a in model.agents)),
        "part_seconds": {
            **{k: round(v, 3) for k, v in model.part_times().items()},
            # waiting for the step's memory writes to be durable, plus the checkpoint file
            "checkpoint": round(ckpt_s, 3),
        },
        "faults": model.faults,
        "fault_list": model.fault_log[:1000],
        "sessions": int(sum(a.sessions_done + bool(a.in_session) for a in model.agents)),
        "failed_sessions": len(ended),
        "first_error": None
        if first is None
        else f"step {first['step']}, agent {first['agent_id']}, {first['stage']}: {first['error']}",
    }


def run_one(
    scenario: Scenario, prep: Prepared, rec_spec, policy, run_dir: Path, progress=None, resume=False
):
    """Run the population against one recommender (every shard, in turn); its manifest entry."""
    import copy

    n_shards = scenario.engine.shards
    if progress is not None:
        progress(f"fit {rec_spec.display}", 0, 1)
    rec, fit_s = _fit(scenario, prep, rec_spec)
    if progress is not None:
        progress(f"fit {rec_spec.display}", 1, 1)
    t0 = time.perf_counter()
    entries = []
    for shard in [None] if n_shards == 1 else range(n_shards):
        # a recommender that learns during the run must not carry one shard's feedback over
        learns = shard is not None and scenario.session.update_recommender
        r = copy.deepcopy(rec) if learns else rec
        entry = run_shard(scenario, prep, rec_spec, r, policy, run_dir, shard, progress, resume)
        entry["fit_seconds"] = round(fit_s, 3)
        entries.append(entry)
    out = merge_shards(rec_spec.display, rec_spec.name, entries, time.perf_counter() - t0)
    if n_shards == 1:
        out["simulate_seconds"] = entries[0]["simulate_seconds"]
        out["simulate_cpu_seconds"] = entries[0]["simulate_cpu_seconds"]
        out["memory_store_peak_rss_bytes"] = entries[0]["memory_store_peak_rss_bytes"]
        sim = entries[0]["simulate_seconds"]
        out["agent_pages_per_second"] = round(out["agent_pages"] / sim, 1) if sim else None
    return out


def _prior_ratings(prep, lo: int, hi: int) -> tuple:
    """``(rows, item_ids, ratings)`` of every training rating of agents ``lo..hi``' users.

    A user copied into several agents gives its ratings to each of them.
    """
    df = prep.train.df
    df = df.loc[df["rating"].notna(), ["user_id", "item_id", "rating"]]
    agents = pd.DataFrame({"user_id": prep.agent_users[lo:hi], "row": np.arange(hi - lo)})
    mine = agents.merge(df, on="user_id", how="inner")
    return (
        mine["row"].to_numpy(np.int64),
        mine["item_id"].to_numpy(np.int64),
        mine["rating"].to_numpy(float),
    )
