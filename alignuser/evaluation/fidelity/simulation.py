"""Simulated session statistics: the policies replay the held-out sessions.

Impression logs: each held-out session's real pages are walked in order with the policy (one
seeded sampled action per page, one policy batch per page depth) until it exits or the pages
run out. Rating logs: the held-out users are simulated as a population
(:func:`~alignuser.simulation.runner.run_shard`, in-memory memory) against a recommender
fitted on the training part. Both give long samples like
:func:`~alignuser.evaluation.fidelity.stats.human_session_stats`.

Example:
    >>> from alignuser.evaluation.fidelity.heldout import held_out  # doctest: +SKIP
    >>> held = held_out(dataset, max_users=50)  # doctest: +SKIP
    >>> fs = fidelity_samples(held, {"random": make_policy("random")}, seed=0)  # doctest: +SKIP
    >>> fs.samples.groupby(["source", "statistic"]).size()  # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alignuser.evaluation.fidelity.heldout import COLUMNS, STATISTICS, HeldOut
from alignuser.evaluation.fidelity.stats import human_session_stats, sample_frame

__all__ = ["FidelitySamples", "fidelity_samples", "simulated_session_stats"]


def _walk(held: HeldOut, policy, rng: np.random.Generator) -> dict:
    """Walk every held-out session's real pages with ``policy`` (one batch per depth)."""
    rows: dict[str, list] = {s: [] for s in STATISTICS}
    pages, states = held.pages, held.states
    groups = pages.groupby("session", sort=True).indices
    keys, seq = list(groups), [np.asarray(v) for v in groups.values()]
    user = pages["user_id"].to_numpy()
    totals = np.zeros(len(seq), dtype=np.int64)
    alive, depth = list(range(len(seq))), 0
    while alive:
        idx = [int(seq[j][depth]) for j in alive]
        actions = policy.decide([states[i] for i in idx], rng)
        nxt = []
        for j, i, a in zip(alive, idx, actions):
            a.validate_for(states[i].item_ids, held.max_rating)
            u, s = int(user[i]), int(keys[j])
            pos = [k + 1 for k, d in enumerate(a.decisions) if d.watch]
            rows["watches_per_page"].append((len(pos), u, s))
            rows["click_position"] += [(p, u, s) for p in pos]
            rows["rating"] += [(float(r), u, s) for r in a.ratings.values()]
            totals[j] += len(pos)
            if a.exit or depth + 1 == len(seq[j]):
                rows["pages_per_session"].append((depth + 1, u, s))
                rows["watches_per_session"].append((int(totals[j]), u, s))
                if a.exit:
                    rows["exit_page"].append((depth + 1, u, s))
            else:
                nxt.append(j)
        alive, depth = nxt, depth + 1
    return rows


def _setup(held: HeldOut, seed: int, recommender: str, session: dict | None):
    """Scenario, prepared population and fitted recommender (cached per held-out set)."""
    key = (seed, recommender, repr(sorted((session or {}).items())))
    if key in held.cache:
        return held.cache[key]
    from alignuser.data.dataset import RatingScale
    from alignuser.env.views import CatalogView
    from alignuser.memory.encoders import default_encoder
    from alignuser.personas.derive import derive_personas
    from alignuser.recommenders.registry import make_recommender
    from alignuser.scenario import Scenario
    from alignuser.simulation.build import Prepared, history_memories

    ds, train, users = held.dataset, held.train, held.users
    if not len(users):
        raise ValueError(f"{ds.name}: no held-out user has training history to simulate")
    catalog = ds.catalog.with_statistics(train)
    view, scale = CatalogView(catalog), ds.scale or RatingScale(5)
    pool = {int(p.user_id): p for p in derive_personas(train, catalog, ds.users, scale)}
    missing = [int(u) for u in users if int(u) not in pool]
    if missing:
        raise ValueError(f"held-out users without a persona (no training history): {missing[:5]}")
    spec = {"sessions_per_agent": _sessions_per_user(held), **(session or {})}
    sc = Scenario.model_validate(
        {
            "name": "fidelity",
            "seed": seed,
            "memory": {"backend": "inmemory"},
            "population": {"n_agents": len(users)},
            "recommenders": [{"name": recommender}],
            "session": spec,
            "output": {"report": False},
        }
    )
    history = history_memories(users, train, view, scale, sc.population.history_memories)
    prep = Prepared(
        ds,
        train,
        catalog,
        view,
        scale,
        [pool[int(u)] for u in users],
        users,
        default_encoder(catalog, train, seed=seed),
        history,
    )
    rec = make_recommender(recommender, seed=seed).fit(train, catalog)
    held.cache = {key: (sc, prep, rec)}  # one setup kept at a time
    return held.cache[key]


def _simulate(held: HeldOut, policy, seed: int, recommender: str, session: dict | None) -> dict:
    """Run the population simulation of the held-out users; rows from its events/sessions."""
    from alignuser.simulation.outputs import read_events, read_sessions
    from alignuser.simulation.runner import run_shard

    sc, prep, rec = _setup(held, seed, recommender, session)
    with tempfile.TemporaryDirectory(prefix="alignuser-fidelity-") as tmp:
        run_shard(sc, prep, sc.recommenders[0], rec, policy, Path(tmp))
        events, sessions = read_events(tmp), read_sessions(tmp)
    rows: dict[str, list] = {"watches_per_session": [], "rating": []}
    for u, s, w in zip(sessions["user_id"], sessions["session"], sessions["watches"]):
        rows["watches_per_session"].append((int(w), int(u), int(s)))
    w = events[events["watched"].astype(bool)]
    rows["rating"] = list(zip(w["rating"].astype(float), w["user_id"].astype(int), w["session"]))
    return rows


def _sessions_per_user(held: HeldOut) -> int:
    """Simulated sessions per agent: the human mean (rounded, 1..20)."""
    if not held.log.has_time or not len(held.log):
        return 1
    from alignuser.data.sessions import sessionize

    ses = sessionize(held.log, held.session_gap)
    return int(np.clip(round(ses["session_id"].nunique() / len(held.users)), 1, 20))


def simulated_session_stats(
    held: HeldOut,
    policy,
    name: str = "policy",
    seed: int = 0,
    recommender: str = "ease",
    session: dict | None = None,
) -> pd.DataFrame:
    """Simulated session statistics of ``policy`` as long samples (``source == name``).

    Args:
        held: From :func:`held_out`.
        policy: Any :class:`~alignuser.interfaces.Policy` (fitted on ``held.train``).
        name: Source label (the policy's name in the line-up).
        seed: Sampling seed (impressions: the policy's draws; ratings: the scenario seed).
        recommender: Rating logs: registry name of the recommender fitted on train.
        session: Rating logs: ``SessionSpec`` overrides (default 4 items, up to 5 pages).
    """
    if held.kind == "impressions":
        rows = _walk(held, policy, np.random.default_rng([seed, zlib.crc32(name.encode())]))
    else:
        rows = _simulate(held, policy, seed, recommender, session)
    rows = {k: v for k, v in rows.items() if k not in held.unavailable}
    return sample_frame(name, rows)


@dataclass(eq=False)
class FidelitySamples:
    """Long samples of the human log and of each policy, plus what could not be measured."""

    samples: pd.DataFrame
    unavailable: dict[str, str]
    policies: list[str]


def fidelity_samples(
    held: HeldOut,
    policies: Mapping[str, Any],
    seed: int = 0,
    recommender: str = "ease",
    session: dict | None = None,
) -> FidelitySamples:
    """Human samples and every policy's simulated samples on ``held``."""
    parts = [human_session_stats(held)]
    for name, pol in policies.items():
        parts.append(simulated_session_stats(held, pol, name, seed, recommender, session))
    parts = [p for p in parts if len(p)]
    samples = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    return FidelitySamples(samples, dict(held.unavailable), list(policies))
