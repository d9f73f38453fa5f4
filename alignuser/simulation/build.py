"""The wiring of a run: data, split, personas, encoder, history memories, memory, policy.

Everything a population needs that does not depend on the recommender is built here, once
per run (:func:`prepare`), plus the memory store and the policy of a scenario
(:func:`make_memory`, :func:`make_policy`). The runtime (:mod:`~alignuser.simulation.shards`)
and the orchestration (:mod:`~alignuser.simulation.runner`) call these; nothing here runs a
simulation.

Example:
    >>> from alignuser.simulation.build import prepare, make_policy  # doctest: +SKIP
    >>> prep = prepare(scenario)  # doctest: +SKIP
    >>> policy = make_policy(scenario, prep)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alignuser.data.dataset import Dataset, RatingScale
from alignuser.data.scenario_data import load_data, split_train
from alignuser.data.tables import Catalog, Interactions
from alignuser.env.views import CatalogView
from alignuser.interfaces import MemoryRecord
from alignuser.scenario import Scenario

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


def history_memories(
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
    n_history = scenario.population.history_memories
    history = history_memories(agent_users, train, view, scale, n_history)
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
    (:mod:`alignuser.training.calibration`).
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
        from alignuser.training.calibration import calibrate_choice

        policy.calibration = calibrate_choice(policy, prep.dataset, prep.train, seed=scenario.seed)
    return policy


def policy_decider(policy, rng):
    """One LangChain tool call per step carrying the whole batch."""
    from alignuser.policy.tools import StateBatch, make_policy_tool

    tool = make_policy_tool(policy, rng)
    return lambda states: tool.invoke({"batch": StateBatch(states)}) if states else []


def trained_policy(scenario: Scenario, prep: Prepared, manifest: dict, progress) -> Scenario:
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
