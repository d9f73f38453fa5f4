"""``run(scenario)``: the whole pipeline behind ``alignuser run``.

Steps: load the data (or build the synthetic world), split, compute item statistics on the
training part, build personas, then for each recommender of the scenario: fit it on the
training part, give the population fresh memories seeded with each agent's history, and run
a :class:`~alignuser.simulation.model.PopulationModel` until every session has ended. Every
recommender faces the same agents with the same seed (common random numbers). Finally the
macro outcomes, their CIs and a report are written.

Example:
    >>> from alignuser.scenario import Scenario  # doctest: +SKIP
    >>> from alignuser.simulation.runner import run  # doctest: +SKIP
    >>> run_dir = run(Scenario(name="tiny"))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from alignuser.data.dataset import Dataset, RatingScale
from alignuser.data.scenario_data import load_data, split_train
from alignuser.data.tables import Catalog, Interactions
from alignuser.env.views import CatalogView
from alignuser.interfaces import MemoryRecord
from alignuser.scenario import Scenario
from alignuser.simulation.outputs import RunWriter, provenance, write_json

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """Everything the population needs that does not depend on the recommender."""

    dataset: Dataset
    train: Interactions
    catalog: Catalog
    view: CatalogView
    scale: RatingScale
    personas: list
    agent_users: np.ndarray
    encoder: object
    history: list[list[MemoryRecord]]


def _history(
    agent_users: np.ndarray, train: Interactions, view: CatalogView, scale: RatingScale, n: int
) -> list[list[MemoryRecord]]:
    """Each agent's ``n`` most recent training interactions as memories."""
    from alignuser.env.text import memory_line

    if n == 0 or not len(train):
        return [[] for _ in agent_users]
    df = train.df.sort_values(["user_id", "timestamp"], kind="stable")
    last = df.groupby("user_id", sort=False).tail(n)
    by_user = {int(u): g for u, g in last.groupby("user_id", sort=False)}
    out = []
    for agent, user in enumerate(agent_users):
        g = by_user.get(int(user))
        recs = []
        if g is not None:
            for item, rating in zip(g["item_id"].to_numpy(), g["rating"].to_numpy()):
                title = view.titles[int(item)]
                if np.isnan(rating):
                    text, r = f"I watched {title}", None
                else:
                    text, r = memory_line(title, float(rating), scale.max), float(rating)
                recs.append(
                    MemoryRecord(agent, int(item), text, r, page=0, step=-1, kind="history")
                )
        out.append(recs)
    return out


def prepare(scenario: Scenario) -> Prepared:
    """Load, split, derive personas and choose the population."""
    from alignuser.memory.encoders import CFItemEncoder, HashingTextEncoder, default_encoder
    from alignuser.personas.derive import derive_personas

    dataset = load_data(scenario)
    train = split_train(scenario, dataset)
    catalog = dataset.catalog.with_statistics(train)
    view = CatalogView(catalog)
    scale = dataset.scale or RatingScale(5)
    rng = np.random.default_rng(scenario.seed)
    n = scenario.population.n_agents
    if scenario.population.source == "dataset":
        pool = derive_personas(train, catalog, dataset.users, scale)
        if n > len(pool):
            log.warning(
                "population.n_agents: %d agents on %d users with training data: personas are "
                "repeated; copies add sessions, not users (intervals resample distinct users)",
                n, len(pool),
            )  # fmt: skip
        if n <= len(pool):
            idx = np.sort(rng.choice(len(pool), size=n, replace=False))
        else:  # every user once, then copies: as many distinct users as there are
            extra = rng.choice(len(pool), size=n - len(pool), replace=True)
            idx = np.sort(np.concatenate([np.arange(len(pool)), extra]))
        personas = [pool[i] for i in idx]
        agent_users = np.array([p.user_id for p in personas], dtype=np.int64)
    else:
        from alignuser.personas.library import load_archetypes, load_mix, sample_from_mix

        archetypes = load_archetypes(scenario.resolve(scenario.population.archetypes))
        mix = load_mix(scenario.resolve(scenario.population.mix))
        personas = sample_from_mix(mix, archetypes, n, catalog.genre_vocabulary, seed=scenario.seed)
        agent_users = dataset.n_users + np.arange(n, dtype=np.int64)  # cold users
    enc = scenario.memory.encoder
    if enc == "text":
        encoder = HashingTextEncoder(catalog)
    elif enc == "cf":
        encoder = CFItemEncoder(train, catalog.n_items, seed=scenario.seed)
    else:
        encoder = default_encoder(catalog, train, seed=scenario.seed)
    history = _history(agent_users, train, view, scale, scenario.population.history_memories)
    return Prepared(dataset, train, catalog, view, scale, personas, agent_users, encoder, history)


def make_memory(
    scenario: Scenario, encoder, run_dir: Path, label: str, shard: int | None = None, history=()
):
    """A fresh episodic memory for one recommender's run (one shard's, when sharded).

    Shards get their own collection (and, for a local Chroma store, their own folder
    ``memory/s0003`` so parallel workers never share a SQLite file). Unless
    ``memory.store_history`` is set, a Chroma store gets the agents' seeded ``history`` as
    its in-process ``base`` (derived from the dataset again on resume) instead of writing it.
    """
    spec = scenario.memory
    base = () if spec.store_history else history
    if spec.backend == "inmemory":
        from alignuser.memory.inmemory import InMemoryMemory

        return InMemoryMemory(encoder)
    from alignuser.memory.chroma import ChromaMemory

    key = label if shard is None else f"{label}.s{shard:04d}"
    name = "mem-" + "".join(c if c.isalnum() or c in "._-" else "-" for c in key)
    if spec.server_url:
        return ChromaMemory(
            encoder,
            server_url=spec.server_url,
            collection=f"{scenario.name}-{name}",
            write_behind=spec.write_behind,
            hnsw=spec.hnsw,
            base=base,
        )
    path = Path(spec.path) if spec.path else run_dir / "memory"
    if shard is not None:
        path = path / f"s{shard:04d}"
    return ChromaMemory(
        encoder,
        path=path,
        collection=name,
        write_behind=spec.write_behind,
        hnsw=spec.hnsw,
        base=base,
    )


def make_policy(scenario: Scenario, prep: Prepared | None = None):
    """The scenario's policy (a registered name plus params, or a checkpoint).

    ``params.calibrate: true`` fits a choice-model policy to the training logs first
    (:mod:`alignuser.policy.calibration`).
    """
    from alignuser.policy.registry import make_policy as _make

    params = dict(scenario.policy.params)
    calibrate = bool(params.pop("calibrate", False))
    if scenario.policy.checkpoint == "auto":  # trained on this scenario's data, cached
        from alignuser.training.auto import cached_policy

        params["checkpoint"] = str(cached_policy(scenario, prep.dataset if prep else None))
    elif scenario.policy.checkpoint:
        params["checkpoint"] = str(scenario.resolve(scenario.policy.checkpoint))
    policy = _make(scenario.policy.name, **params)
    if prep is not None:
        from alignuser.policy.items import check_catalog

        check_catalog(policy, prep.catalog.n_items, f"dataset {prep.dataset.name!r}")
    if calibrate:
        if prep is None or not hasattr(policy, "fit"):
            raise ValueError(f"policy {scenario.policy.name!r} cannot be calibrated")
        from alignuser.policy.calibration import calibrate_choice

        policy.calibration = calibrate_choice(policy, prep.dataset, prep.train, seed=scenario.seed)
    return policy


def _decider(policy, rng):
    """One LangChain tool call per step carrying the whole batch."""
    from alignuser.policy.tools import StateBatch, make_policy_tool

    tool = make_policy_tool(policy, rng)
    return lambda states: tool.invoke({"batch": StateBatch(states)}) if states else []


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


def run_shard(
    scenario: Scenario, prep: Prepared, rec_spec, rec, policy, run_dir: Path,
    shard: int | None = None, progress=None, resume: bool = False,
) -> dict:  # fmt: skip
    """Run one shard of the population (all of it when ``shard`` is ``None``) against ``rec``.

    Returns:
        The shard's entry (``steps, agent_pages, faults, fault_list, ...``).
    """
    from alignuser.simulation import checkpoint as ck
    from alignuser.simulation.engines import ShardWriter, shard_bounds, shard_key
    from alignuser.simulation.model import PopulationModel
    from alignuser.simulation.social import WordOfMouth, build_graph

    label = rec_spec.display
    key = shard_key(label, shard)
    n = len(prep.agent_users)
    lo, hi = (0, n) if shard is None else shard_bounds(n, scenario.engine.shards)[shard]
    ck.forget_checkpoints(run_dir, key)
    ckpt = ck.load_checkpoint(run_dir, key) if resume else None
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
    wom = None
    if scenario.social.graph != "none":
        matrix = prep.train.to_csr(
            n_users=max(prep.dataset.n_users, int(prep.agent_users.max()) + 1),
            n_items=prep.catalog.n_items,
        )[prep.agent_users]
        graph = build_graph(
            scenario.social.graph, len(prep.agent_users), scenario.social.degree,
            scenario.social.rewire, seed=scenario.seed, user_matrix=matrix,
        )  # fmt: skip
        wom = WordOfMouth(graph, scenario.social.window, scenario.social.max_lines)
    from alignuser.personas.text import render_persona

    population = [
        (int(u), render_persona(p), p.to_features())
        for u, p in zip(prep.agent_users[lo:hi], prep.personas[lo:hi])
    ]
    res = scenario.resilience
    model = PopulationModel(
        population, rec, None, memory, prep.view, scenario.session,
        scenario.memory, wom=wom, writer=writer,
        satisfaction=getattr(policy, "satisfaction", None), max_rating=prep.scale.max,
        seed=scenario.seed, label=label, social_influence=scenario.social.influence,
        agent_offset=lo, shard=shard, retries=res.retries, backoff=res.backoff,
        backoff_max=res.backoff_max,
    )  # fmt: skip
    model.decide = _decider(policy, model.policy_rng)
    model.item_history = int(getattr(policy, "history_length", 0) or 0)
    if ckpt is not None:
        model.set_state(ckpt)
    s = scenario.session
    cap = s.max_steps or (
        int(np.ceil(s.sessions_per_agent * (s.max_pages + 1) / s.activation_prob * 4)) + 10
    )
    t1 = time.perf_counter()
    ckpt_s = 0.0
    cpu0, store_cpu0 = time.process_time(), _store_cpu(memory)
    with _quiet_gc():
        while model.running and model.steps < cap:
            t2 = time.perf_counter()
            model.step()
            t3 = time.perf_counter()
            model.timings["outer"] = model.timings.get("outer", 0.0) + (t3 - t2)
            ck.save_checkpoint(run_dir, key, model, memory)
            ckpt_s += time.perf_counter() - t3
            if progress is not None:  # sessions done of all this recommender's sessions
                done = sum(a.sessions_done for a in model.population)
                progress(label, lo * s.sessions_per_agent + done, n * s.sessions_per_agent)
        if progress is not None and (shard is None or hi == n):  # the loop is over
            progress(label, n * s.sessions_per_agent, n * s.sessions_per_agent)
        t3 = time.perf_counter()
        ck.finish_checkpoints(run_dir, key, memory)
        ckpt_s += time.perf_counter() - t3
    sim_s = time.perf_counter() - t1
    loop_cpu = time.process_time() - cpu0
    store_cpu = _store_cpu(memory)
    if store_cpu is not None and store_cpu0 is not None:
        loop_cpu += store_cpu - store_cpu0
    series = model.datacollector.get_model_vars_dataframe()
    writer.write_series(series.reset_index(names="step"))
    if model.fault_log:
        faults = pd.DataFrame(model.fault_log)
        faults.insert(0, "recommender", label)
        faults.insert(1, "shard", -1 if shard is None else shard)
        (run_dir / "faults").mkdir(parents=True, exist_ok=True)
        faults.to_parquet(run_dir / "faults" / f"{key}.parquet", index=False)
    rss = getattr(getattr(memory, "client", None), "peak_rss_bytes", None)
    store_rss = rss() if callable(rss) else None
    if hasattr(memory, "close"):
        memory.close()
    agent_pages = int(series["pages"].sum()) if len(series) else 0
    # every recorded fault ends its session (no page: ended; no decision: skip all, exit)
    ended = [f for f in model.fault_log if f["stage"] in ("recommend", "policy")]
    first = model.fault_log[0] if model.fault_log else None
    return {
        "shard": shard,
        "agents": [lo, hi],
        "resumed_from_step": ckpt["step"] if ckpt else None,
        "simulate_seconds": round(sim_s, 3),
        # CPU of the step loop: this process and, when it has one, the memory store's
        "simulate_cpu_seconds": round(loop_cpu, 3),
        "memory_store_peak_rss_bytes": store_rss,
        "steps": int(model.steps),
        "agent_pages": agent_pages,
        "unfinished_sessions": int(sum(a.in_session for a in model.population)),
        "part_seconds": {
            **{k: round(v, 3) for k, v in model.part_times().items()},
            # waiting for the step's memory writes to be durable, plus the checkpoint file
            "checkpoint": round(ckpt_s, 3),
        },
        "faults": model.faults,
        "fault_list": model.fault_log[:1000],
        "sessions": int(sum(a.sessions_done + bool(a.in_session) for a in model.population)),
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

    from alignuser.simulation.engines import merge_shards

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


#: Statuses of a recommender that has finished running (a resume skips it).
FINISHED = ("complete", "partial", "failed")


def judge_entry(entry: dict, max_failed_share: float) -> dict:
    """Set a recommender's ``status`` from the share of its sessions that failed.

    ``complete``: none failed; ``partial``: some, at most ``max_failed_share`` (ranked, with
    a warning); ``failed``: more, or no session at all (left out of the ranking). Sets
    ``failed_share`` too.
    """
    sessions, failed = entry.get("sessions", 0), entry.get("failed_sessions", 0)
    share = failed / sessions if sessions else 1.0
    entry["failed_share"] = round(share, 4)
    if not sessions or share > max_failed_share:
        entry["status"] = "failed"
    else:
        entry["status"] = "partial" if failed else "complete"
    return entry


def run_status(entries: dict[str, dict]) -> str:
    """The run's status from its recommenders'.

    ``failed`` when all failed, ``partial`` when any failed or partly failed, else
    ``complete``.
    """
    statuses = [e.get("status", "complete") for e in entries.values()]
    if statuses and all(s == "failed" for s in statuses):
        return "failed"
    return "partial" if any(s in ("failed", "partial") for s in statuses) else "complete"


def new_run_dir(scenario: Scenario) -> Path:
    """``<output.dir>/<name>-<UTC timestamp>`` (made unique)."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    base = Path(scenario.output.dir) / f"{scenario.name}-{stamp}"
    path, i = base, 1
    while path.exists():
        path, i = Path(f"{base}-{i}"), i + 1
    return path


def resume(run_dir: str | Path, progress=None) -> Path:
    """Continue a run that was interrupted (killed at any point) from its checkpoints.

    The final outputs equal those of an uninterrupted run of the same scenario and seed.
    The parts already written are checked first (:func:`~alignuser.simulation.integrity.
    verify_run`): a damaged one is named, and the run is not resumed from it.
    """
    from alignuser.errors import AlignUserError
    from alignuser.scenario import load_scenario
    from alignuser.simulation.integrity import verify_run
    from alignuser.simulation.outputs import read_manifest

    run_dir = Path(run_dir)
    if not (run_dir / "scenario.yaml").exists():
        raise AlignUserError(f"{run_dir}: not a run folder (no scenario.yaml)")
    scenario = load_scenario(run_dir / "scenario.yaml")
    verify_run(
        run_dir,
        fix="cannot resume from damaged outputs; run the scenario again into a new folder: "
        f"alignuser run {run_dir / 'scenario.yaml'} --out NEW_RUN_DIR",
    )
    return run(scenario, run_dir, progress, _manifest=read_manifest(run_dir))


def run(
    scenario: Scenario, run_dir: str | Path | None = None, progress=None, _manifest=None
) -> Path:
    """Run a scenario end to end and return the run folder.

    Args:
        scenario: The validated scenario.
        run_dir: Where to write (default: a new folder under ``scenario.output.dir``).
        progress: Optional callback ``(label, done, total)``: for each recommender label,
            sessions finished of all its sessions (agents x ``sessions_per_agent``); the
            phases ``prepare``, ``fit <label>`` and ``report`` go from 0 to 1.
    """
    import alignuser
    from alignuser.errors import AlignUserError
    from alignuser.preflight import check_scenario
    from alignuser.simulation.integrity import count_outputs

    resuming = _manifest is not None
    check_scenario(scenario, check_output=run_dir is None)
    run_dir = Path(run_dir) if run_dir else new_run_dir(scenario)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        if not resuming:
            (run_dir / "scenario.yaml").write_text(scenario.to_yaml(), encoding="utf-8")
    except OSError as exc:
        raise AlignUserError(
            f"{run_dir}: cannot create the run folder ({exc.strerror or exc}); choose another "
            "with --out or output.dir"
        ) from None
    manifest = _manifest or {
        "alignuser": alignuser.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.system()}",
        **provenance(),
        "scenario": scenario.name,
        "seed": scenario.seed,
        "status": "running",
        "recommenders": {},
    }
    write_json(run_dir / "manifest.json", manifest)
    t0 = time.perf_counter()
    if progress is not None:
        progress("prepare", 0, 1)
    prep = prepare(scenario)
    manifest["prepare_seconds"] = round(time.perf_counter() - t0, 3)
    manifest["dataset"] = prep.dataset.summary()
    manifest["n_agents"] = len(prep.agent_users)
    manifest["n_distinct_users"] = len(np.unique(prep.agent_users))
    manifest["n_items"] = prep.catalog.n_items
    manifest["max_rating"] = prep.scale.max
    if progress is not None:
        progress("prepare", 1, 1)
    if scenario.policy.checkpoint == "auto":
        scenario = _trained_policy(scenario, prep, manifest, progress)
    policy = make_policy(scenario, prep)
    manifest["policy"] = scenario.policy.name
    if getattr(policy, "calibration", None):
        manifest["policy_calibration"] = policy.calibration
    manifest["status"] = "running"
    manifest["engine"] = scenario.engine.model_dump(mode="json")
    todo = [
        i
        for i, spec in enumerate(scenario.recommenders)
        if not (
            resuming and manifest["recommenders"].get(spec.display, {}).get("status") in FINISHED
        )
    ]
    limit = scenario.resilience.max_failed_share
    if scenario.engine.kind == "ray":
        from alignuser.simulation.engines import merge_shards, run_ray

        def done(index: int, entries: list[dict], wall_s: float) -> None:
            spec = scenario.recommenders[index]
            manifest["recommenders"][spec.display] = judge_entry(
                merge_shards(spec.display, spec.name, entries, wall_s), limit
            )
            manifest["recommenders"][spec.display]["outputs"] = count_outputs(run_dir, spec.display)
            write_json(run_dir / "manifest.json", manifest)

        run_ray(scenario, run_dir, todo, resuming, done, prep)
    for i in todo if scenario.engine.kind == "local" else []:
        spec = scenario.recommenders[i]
        manifest["recommenders"][spec.display] = judge_entry(
            run_one(scenario, prep, spec, policy, run_dir, progress, resume=resuming), limit
        )
        manifest["recommenders"][spec.display]["outputs"] = count_outputs(run_dir, spec.display)
        write_json(run_dir / "manifest.json", manifest)
    if hasattr(policy, "stats"):
        manifest["policy_stats"] = dict(policy.stats)
    manifest["status"] = run_status(manifest["recommenders"])
    for label, entry in manifest["recommenders"].items():
        if entry.get("status") in ("failed", "partial"):
            log.error(
                "%s: %s, %d of %d sessions failed (%.0f%%); first error: %s", label,
                entry["status"], entry["failed_sessions"], entry["sessions"],
                100 * entry["failed_share"], entry["first_error"],
            )  # fmt: skip
    manifest["total_seconds"] = round(time.perf_counter() - t0, 3)
    write_json(run_dir / "manifest.json", manifest)
    if progress is not None:
        progress("report", 0, 1)
    finalize(run_dir, prep.catalog, prep.scale.max, scenario)
    if progress is not None:
        progress("report", 1, 1)
    return run_dir


def _trained_policy(scenario: Scenario, prep: Prepared, manifest: dict, progress) -> Scenario:
    """``scenario`` with its ``checkpoint: auto`` replaced by the trained (cached) policy.

    Shards and engines then load that folder instead of training again.
    """
    from alignuser.training.auto import cached_policy

    if progress is not None:
        progress("fit policy", 0, 1)
    t = time.perf_counter()
    path = cached_policy(scenario, prep.dataset)
    manifest["policy_checkpoint"] = str(path)
    manifest["policy_fit_seconds"] = round(time.perf_counter() - t, 3)
    if progress is not None:
        progress("fit policy", 1, 1)
    resolved = scenario.model_copy(deep=True)
    resolved.policy.checkpoint = str(path)
    return resolved


def finalize(
    run_dir: Path, catalog: Catalog, max_rating: int, scenario: Scenario | None = None
) -> pd.DataFrame:
    """Compute macro outcomes and write ``metrics.json``, ``metrics.md`` and the report."""
    from alignuser.evaluation.macro import (
        macro_outcomes,
        paired_differences,
        rank_recommenders,
        wide,
    )
    from alignuser.simulation.outputs import read_events, read_manifest, read_sessions

    events, sessions = read_events(run_dir), read_sessions(run_dir)
    entries = read_manifest(run_dir).get("recommenders", {})
    left_out = [
        {"recommender": k, **{f: e.get(f) for f in ("status", "failed_share", "first_error")}}
        for k, e in sorted(entries.items())
        if e.get("status") == "failed"
    ]
    genres = [frozenset(g) for g in catalog.df["genres"]]
    table = macro_outcomes(
        events, sessions, catalog.n_items, catalog.df["popularity"].to_numpy(float), genres,
        max_rating, seed=scenario.seed if scenario else 0,
    )  # fmt: skip
    dropped = {r["recommender"] for r in left_out}
    kept = ~sessions["recommender"].isin(dropped)
    paired = paired_differences(
        events[~events["recommender"].isin(dropped)], sessions[kept], "watch_rate",
        seed=scenario.seed if scenario else 0,
    )  # fmt: skip
    ranking = rank_recommenders(table, "watch_rate", exclude=sorted(dropped), paired=paired)
    write_json(
        run_dir / "metrics.json",
        {
            "outcomes": table.to_dict(orient="records"),
            "ranking": ranking.to_dict(orient="records"),
            "paired": paired.to_dict(orient="records"),
            "left_out": left_out,
        },
    )
    md = [
        "# Macro outcomes (value [95% CI])",
        "",
        wide(table).to_markdown(),
        "",
        "## Ranking by watch_rate",
        "",
        "Recommenders share a rank when the paired 95% CI of their difference (same agents, "
        "same random numbers, users resampled) contains 0.",
        "",
        ranking.to_markdown(index=False),
    ]
    for r in left_out:
        md += [
            "",
            f"Left out of the ranking: {r['recommender']} ({r['status']}: "
            f"{100 * (r['failed_share'] or 0):.0f}% of sessions failed; first error: "
            f"{r['first_error']})",
        ]
    (run_dir / "metrics.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    if scenario is None or scenario.output.report:
        from alignuser.evaluation.report import write_report

        write_report(run_dir, table, ranking, events, sessions, left_out=left_out)
    return table
