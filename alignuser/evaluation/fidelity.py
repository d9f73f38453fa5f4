"""Macro fidelity: do simulated sessions look like the held-out human ones?

For held-out users, the same session statistics are read from the human log and from the
simulation, as tidy long samples (``source, statistic, value, user_id, session``: one value
per session, page or click), and compared per statistic with the Wasserstein distance and the
two-sample Kolmogorov-Smirnov test (:mod:`scipy.stats`).

=======================  ===========  ========================================================
statistic                one value    meaning
=======================  ===========  ========================================================
``pages_per_session``    per session  pages viewed
``watches_per_page``     per page     items clicked / watched on the page
``click_position``       per click    1-based position of the clicked item on its page
``exit_page``            per session  page on which the user chose to leave
``watches_per_session``  per session  items clicked / watched in the session
``rating``               per watch    rating on the agents' ``1..max`` scale
=======================  ===========  ========================================================

**Impression logs** (EB-NeRD, the synthetic world): impressions are cut in time as in
:func:`~alignuser.evaluation.next_action.impression_time_split`; sessions (``session_id``,
else an inactivity gap) that start at or after the cut are held out, sessions crossing the
cut are left out of both sides, and only impressions (and interactions) before the cut
train the policies. Human: the logged pages; every session ends on its last logged page.
Simulated: each held-out session's real pages are walked in order with the policy (states
from :func:`~alignuser.training.trajectories.from_impressions`, evidence strictly before
each page, as in next-action), one seeded sampled action per page; the session ends when
the policy exits (its ``exit_page``) or the real pages run out (censored: no ``exit_page``).
``rating`` needs explicit ratings of the clicks (not in EB-NeRD).

**Rating logs** (MovieLens): held-out users are the test part's users with training history
(their persona comes from it). Human: their held-out interactions cut into sessions by an
inactivity gap (:func:`~alignuser.data.sessions.sessionize`): ``watches_per_session`` and
``rating`` (half stars rounded onto the agents' integer scale, as in training). Rating logs
have no pages, so the page statistics are reported as not available, never invented.
Simulated: the real population simulation (:func:`~alignuser.simulation.runner.run_shard`,
in-memory memory) of those users against a recommender fitted on the training part (default
EASE), with as many sessions per agent as the human mean (1..20) and the default session
rules (4 items per page, up to 5 pages: a simulated session watches at most 20 items, a
human rating session has no such cap). Human sessions weigh users by their activity,
simulated ones weigh agents equally.

Ratings are rounded onto ``1..max`` with :func:`numpy.rint` (half to even: 2.5 -> 2,
3.5 -> 4), the mapping the trajectories use in training. KS p-values on these discrete
samples are approximate (ties).

Example:
    >>> import pandas as pd
    >>> h = pd.DataFrame({"statistic": "rating", "value": [1.0, 2.0, 3.0]})
    >>> s = pd.DataFrame({"statistic": "rating", "value": [2.0, 3.0, 4.0]})
    >>> float(compare(h, s).loc[0, "wasserstein"])
    1.0
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alignuser.data.tables import Impressions, Interactions

__all__ = [
    "PAGE_STATISTICS",
    "STATISTICS",
    "FidelitySamples",
    "HeldOut",
    "compare",
    "fidelity_plots",
    "fidelity_samples",
    "fidelity_table",
    "held_out",
    "human_session_stats",
    "macro_fidelity",
    "run_fidelity",
    "session_pages",
    "simulated_session_stats",
]

log = logging.getLogger(__name__)

STATISTICS = (
    "pages_per_session", "watches_per_page", "click_position", "exit_page",
    "watches_per_session", "rating",
)  # fmt: skip
PAGE_STATISTICS = STATISTICS[:4]
NO_PAGES = "rating logs have no pages (no page counts, click positions or exits)"
NO_RATINGS = "implicit clicks: the log has no ratings"
NO_TIME = "no timestamps: sessions cannot be cut"
COLUMNS = ["source", "statistic", "value", "user_id", "session"]


# --------------------------------------------------------------------------- held-out data


@dataclass(eq=False)
class HeldOut:
    """Held-out human sessions and what the simulation needs to replay them.

    Attributes:
        kind: ``"impressions"`` or ``"ratings"``.
        dataset: The whole dataset (catalog, users, scale).
        policy_data: The dataset policies may be fitted on: training interactions only
            (and, for impressions, only the pages before the cut).
        train: Interactions policies, personas and recommenders may use.
        users: Held-out users (sorted).
        pages: Impressions: one row per held-out page (see :func:`session_pages`).
        states: Impressions: the page state of each row of ``pages``.
        log: Ratings: the held-out users' test interactions.
        unavailable: Statistic -> why it cannot be measured on this log.
        session_gap: Inactivity (seconds) that cuts sessions.
    """

    kind: str
    dataset: Any
    policy_data: Any
    train: Interactions
    users: np.ndarray
    pages: pd.DataFrame | None = None
    states: list | None = None
    log: Interactions | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
    session_gap: float = 1800
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def max_rating(self) -> int:
        """Top of the agents' rating scale."""
        return self.dataset.scale.max if self.dataset.scale is not None else 5


def _to_scale(ratings: np.ndarray, max_rating: int) -> np.ndarray:
    r = np.asarray(ratings, dtype=float)
    return np.clip(np.rint(r[np.isfinite(r)]), 1, max_rating)


def _pick_users(users: np.ndarray, max_users: int | None, seed: int) -> np.ndarray:
    users = np.unique(users)
    if max_users is not None and len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    return users


def session_pages(impressions: Impressions | pd.DataFrame, session_gap: float = 1800):
    """One row per page, sorted by user, time and impression id, with its session.

    A session is a run of a user's impressions with the same ``session_id`` (when every row
    has one) or without a gap longer than ``session_gap`` seconds. Adds ``session`` (int,
    numbered from 0 in that order), ``page`` (1-based) and ``last`` (the session's last page).
    """
    df = impressions.df if isinstance(impressions, Impressions) else impressions
    df = df.sort_values(["user_id", "timestamp", "impression_id"]).reset_index(drop=True)
    user, t, sid = (df[c].to_numpy() for c in ("user_id", "timestamp", "session_id"))
    new = np.ones(len(df), dtype=bool)
    if len(df) > 1:
        cut = sid[1:] != sid[:-1] if (sid >= 0).all() else np.diff(t) > session_gap
        new[1:] = (user[1:] != user[:-1]) | cut
    session = np.cumsum(new) - 1
    df["session"] = session.astype(np.int64)
    df["page"] = (np.arange(len(df)) - np.flatnonzero(new)[session] + 1).astype(np.int64)
    df["last"] = np.r_[new[1:], True] if len(df) else np.zeros(0, dtype=bool)
    return df


def _impressions(dataset, test_fraction, session_gap, max_users, seed) -> HeldOut:
    from alignuser.evaluation.next_action import impression_time_split
    from alignuser.evaluation.protocols import StateBuilder
    from alignuser.training.trajectories import from_impressions

    train_ds, _, train_inter, cut = impression_time_split(dataset, test_fraction)
    train_ds = dataclasses.replace(train_ds, interactions=train_inter)
    pages = session_pages(dataset.impressions, session_gap)
    start = pages.groupby("session")["timestamp"].transform("min")
    pages = pages[start >= cut]
    users = _pick_users(pages["user_id"].to_numpy(), max_users, seed)
    pages = pages[pages["user_id"].isin(users)].reset_index(drop=True)
    test = Impressions(pages[list(Impressions.SCHEMA)].assign(session_id=pages["session"]))
    sb = StateBuilder(dataset, train_inter)
    steps = from_impressions(
        dataclasses.replace(dataset, impressions=test), context=sb.ctx, session_gap=int(session_gap)
    )
    if [(s.user_id, s.timestamp) for s in steps] != list(zip(pages.user_id, pages.timestamp)):
        raise RuntimeError("from_impressions returned pages in another order")  # pragma: no cover
    states = [dataclasses.replace(s.state, features=sb.features.get(s.user_id, {})) for s in steps]
    explicit = dataset.interactions.is_explicit
    return HeldOut(
        "impressions",
        dataset,
        train_ds,
        train_inter,
        users,
        pages,
        states,
        unavailable={} if explicit else {"rating": NO_RATINGS},
        session_gap=session_gap,
    )


def _ratings(dataset, split, session_gap, max_users, seed) -> HeldOut:
    test = split.test.df
    users = np.intersect1d(test["user_id"].unique(), split.train.df["user_id"].unique())
    users = _pick_users(users, max_users, seed)
    held = Interactions(test[test["user_id"].isin(users)].reset_index(drop=True))
    unavailable = dict.fromkeys(PAGE_STATISTICS, NO_PAGES)
    if not held.has_time:
        unavailable["watches_per_session"] = NO_TIME
    if not held.is_explicit:
        unavailable["rating"] = NO_RATINGS
    policy_data = dataclasses.replace(dataset, interactions=split.train, impressions=None)
    return HeldOut(
        "ratings",
        dataset,
        policy_data,
        split.train,
        users,
        log=held,
        unavailable=unavailable,
        session_gap=session_gap,
    )


def held_out(
    dataset,
    split=None,
    test_fraction: float = 0.3,
    session_gap: float = 1800,
    max_users: int | None = None,
    seed: int = 0,
) -> HeldOut:
    """The held-out sessions of ``dataset``.

    Args:
        dataset: The dataset.
        split: A :class:`~alignuser.data.dataset.Split` for a rating log; ``None``: the
            impressions cut in time (``test_fraction`` latest), or, without impressions, a
            temporal split of the interactions (``test_fraction`` latest).
        test_fraction: Share held out when ``split`` is ``None``.
        session_gap: Inactivity (seconds) that ends a session when ids are unknown.
        max_users: Subsample this many held-out users (seeded by ``seed``).
        seed: Subsampling seed (fixed across simulation seeds).
    """
    if split is None and dataset.impressions is not None and len(dataset.impressions):
        return _impressions(dataset, test_fraction, session_gap, max_users, seed)
    if split is None:
        from alignuser.data.splits import temporal_split

        split = temporal_split(dataset.interactions, test_fraction)
    return _ratings(dataset, split, session_gap, max_users, seed)


# --------------------------------------------------------------------------- samples


def _frame(source: str, rows: Mapping[str, Sequence[tuple[float, int, int]]]) -> pd.DataFrame:
    parts = [
        pd.DataFrame(list(vals), columns=["value", "user_id", "session"]).assign(statistic=stat)
        for stat, vals in rows.items()
        if len(vals)
    ]
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.concat(parts, ignore_index=True).assign(source=source)
    out["value"] = out["value"].astype(float)
    return out[COLUMNS]


def _page_rows(pages: pd.DataFrame, rating_of: dict | None, max_rating: int) -> dict:
    rows: dict[str, list] = {s: [] for s in STATISTICS}
    for (u, s), g in pages.groupby(["user_id", "session"], sort=True):
        u, s = int(u), int(s)
        rows["pages_per_session"].append((len(g), u, s))
        rows["exit_page"].append((int(g["page"].max()), u, s))
        n = 0
        for items, clicked in zip(g["items"], g["clicked"]):
            hit = set(int(i) for i in clicked)
            pos = [k + 1 for k, i in enumerate(items) if int(i) in hit]
            rows["watches_per_page"].append((len(pos), u, s))
            rows["click_position"] += [(p, u, s) for p in pos]
            n += len(pos)
            if rating_of is not None:
                r = _to_scale([rating_of.get((u, int(i)), np.nan) for i in hit], max_rating)
                rows["rating"] += [(x, u, s) for x in r]
        rows["watches_per_session"].append((n, u, s))
    return rows


def human_session_stats(
    log, ratings: Interactions | None = None, max_rating: int = 5, session_gap: float = 1800
) -> pd.DataFrame:
    """Human session statistics as long samples (``source == "human"``).

    Args:
        log: A :class:`HeldOut`, an :class:`Impressions` log (every session counted) or an
            :class:`Interactions` rating log (sessions cut by ``session_gap``).
        ratings: For an impressions log, explicit ratings of the clicks (``rating``).
        max_rating: The agents' rating scale (ratings are rounded onto ``1..max``).
        session_gap: Inactivity (seconds) that ends a session.

    Returns:
        Columns ``source, statistic, value, user_id, session``; a statistic the log cannot
        give is absent (see :attr:`HeldOut.unavailable`).
    """
    if isinstance(log, HeldOut):
        explicit = "rating" not in log.unavailable
        src = log.pages if log.kind == "impressions" else log.log
        rt = log.dataset.interactions if log.kind == "impressions" and explicit else None
        return human_session_stats(src, rt, log.max_rating, log.session_gap)
    if isinstance(log, (Impressions, pd.DataFrame)):
        pages = log if isinstance(log, pd.DataFrame) else session_pages(log, session_gap)
        rating_of = None
        if ratings is not None and ratings.is_explicit:
            df = ratings.df
            rating_of = dict(zip(zip(df["user_id"], df["item_id"]), df["rating"]))
        return _frame("human", _page_rows(pages, rating_of, max_rating))
    rows: dict[str, list] = {"watches_per_session": [], "rating": []}
    if log.has_time:
        from alignuser.data.sessions import sessionize

        ses = sessionize(log, session_gap)
        for (u, s), g in ses.groupby(["user_id", "session_id"], sort=True):
            rows["watches_per_session"].append((len(g), int(u), int(s)))
    if log.is_explicit:
        df = log.df
        r = np.clip(np.rint(df["rating"].to_numpy(float)), 1, max_rating)
        rows["rating"] = list(zip(r, df["user_id"].astype(int), [-1] * len(df)))
    return _frame("human", rows)


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
    from alignuser.simulation.runner import Prepared, _history

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
    history = _history(users, train, view, scale, sc.population.history_memories)
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
    return _frame(name, rows)


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


# --------------------------------------------------------------------------- distances


def compare(human: pd.DataFrame, sim: pd.DataFrame) -> pd.DataFrame:
    """Wasserstein and KS distances per statistic between two long sample frames."""
    from scipy.stats import ks_2samp, wasserstein_distance

    rows = []
    for stat in [s for s in STATISTICS if s in set(human["statistic"]) | set(sim["statistic"])]:
        h = human.loc[human["statistic"] == stat, "value"].to_numpy(float)
        s = sim.loc[sim["statistic"] == stat, "value"].to_numpy(float)
        row = {
            "statistic": stat,
            "n_human": len(h),
            "n_sim": len(s),
            "human_mean": float(h.mean()) if len(h) else np.nan,
            "sim_mean": float(s.mean()) if len(s) else np.nan,
        }
        if len(h) and len(s):
            ks = ks_2samp(h, s)
            row.update(
                wasserstein=float(wasserstein_distance(h, s)),
                ks=float(ks.statistic),
                ks_pvalue=float(ks.pvalue),
                status="ok",
            )
        else:
            row.update(
                wasserstein=np.nan,
                ks=np.nan,
                ks_pvalue=np.nan,
                status="no samples: " + ("human" if not len(h) else "simulated"),
            )
        rows.append(row)
    cols = "statistic wasserstein ks ks_pvalue n_human n_sim human_mean sim_mean status"
    return pd.DataFrame(rows, columns=cols.split())


def fidelity_table(fs: FidelitySamples) -> pd.DataFrame:
    """One row per policy x statistic (unavailable statistics: NaN and the reason)."""
    df = fs.samples
    human = df[df["source"] == "human"]
    parts = []
    for name in fs.policies:
        t = compare(human, df[df["source"] == name]).set_index("statistic")
        t = t.reindex(list(STATISTICS))
        for stat, why in fs.unavailable.items():
            t.loc[stat] = np.nan
            t.loc[stat, "status"] = f"not available: {why}"
        t["status"] = t["status"].fillna("no samples")
        parts.append(t.reset_index().assign(policy=name))
    if not parts:
        return pd.DataFrame(columns=["policy", *compare(human, human).columns])
    out = pd.concat(parts, ignore_index=True)
    for c in ("n_human", "n_sim"):
        out[c] = out[c].astype("Int64")
    return out[["policy", *[c for c in out.columns if c != "policy"]]]


def macro_fidelity(
    dataset,
    split=None,
    policies: Mapping[str, Any] | Callable | None = None,
    seed: int = 0,
    max_users: int | None = None,
    **kwargs,
) -> pd.DataFrame:
    """Macro fidelity of every policy on ``dataset`` (see the module docstring).

    Args:
        dataset: Impressions dataset, or a rating log.
        split: Rating-log split (``None``: see :func:`held_out`).
        policies: ``{name: policy}`` fitted on the training part, or a function
            ``(policy_data, train_interactions) -> {name: policy}`` (e.g. a partial of
            :func:`~alignuser.evaluation.protocols.build_policies`).
        seed: Sampling / simulation seed.
        max_users: Subsample held-out users.
        **kwargs: ``test_fraction``, ``session_gap`` (held-out data); ``recommender``,
            ``session`` (rating-log simulation).

    Returns:
        Columns ``policy, statistic, wasserstein, ks, ks_pvalue, n_human, n_sim,
        human_mean, sim_mean, status``.
    """
    hk = {k: kwargs.pop(k) for k in ("test_fraction", "session_gap") if k in kwargs}
    held = held_out(dataset, split, max_users=max_users, **hk)
    pols = policies(held.policy_data, held.train) if callable(policies) else dict(policies or {})
    return fidelity_table(fidelity_samples(held, pols, seed, **kwargs))


# --------------------------------------------------------------------------- plots, runner


def fidelity_plots(samples, out_dir: str | Path, prefix: str = "") -> list[Path]:
    """One PNG per statistic: human vs each policy's distribution (density histograms).

    Args:
        samples: A :class:`FidelitySamples` or its long ``samples`` frame.
        out_dir: Folder (created).
        prefix: File name prefix (e.g. the dataset name): ``<prefix><statistic>.png``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = samples.samples if isinstance(samples, FidelitySamples) else samples
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for stat in [s for s in STATISTICS if s in set(df["statistic"])]:
        d = df[df["statistic"] == stat]
        if not (d["source"] == "human").any():
            continue
        v = d["value"].to_numpy(float)
        hi = max(np.percentile(v, 99), v.min() + 1)
        bins = np.arange(np.floor(v.min()) - 0.5, np.ceil(hi) + 1.5, max(1.0, (hi - v.min()) // 40))
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for src, g in d.groupby("source", sort=False):
            human = src == "human"
            ax.hist(
                np.clip(g["value"], None, bins[-1] - 0.5),
                bins=bins,
                density=True,
                histtype="step",
                lw=2.5 if human else 1.3,
                color="black" if human else None,
                label=f"{src} (n={len(g)})",
            )
        ax.set(xlabel=stat.replace("_", " "), ylabel="share", title=f"{prefix}{stat}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out / f"{prefix}{stat}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def run_fidelity(
    data=None,
    seeds=(0,),
    checkpoint=None,
    policies=None,
    max_users: int = 200,
    plots_dir: str | Path | None = None,
    recommender: str = "ease",
) -> dict:
    """Macro fidelity on ``data`` (default: ebnerd-sample and ml-latest-small).

    Args:
        data: Dataset folders and/or :class:`~alignuser.data.dataset.Dataset` objects (one
            or a list). A rating log uses its ``provided`` split, else a temporal split
            (latest 20% held out, as in the rating protocol); impressions are cut in time.
        seeds: Sampling / simulation seeds.
        checkpoint: Learned policy checkpoint (``alignuser`` row "not run" without it).
        policies: Line-up names (default: the eval CLI's ``POLICIES``).
        max_users: Subsample held-out users per dataset (seed 0).
        plots_dir: Write one PNG per dataset and statistic there.
        recommender: Recommender of the rating-log simulation.

    Returns:
        ``{"summary": mean over seeds per dataset/policy/statistic, "raw": per seed}`` and,
        with ``plots_dir``, ``"plots"`` (``dataset, statistic, path``; seed ``seeds[0]``).
    """
    from alignuser.data.dataset import Dataset
    from alignuser.data.loaders import load_dataset
    from alignuser.evaluation.eval_cli import POLICIES, shared_data
    from alignuser.evaluation.protocols import build_policies

    policies = tuple(policies or POLICIES)
    if data is None:
        data = [shared_data() / "ebnerd-sample", shared_data() / "ml-latest-small"]
    raws, plots = [], []
    for item in data if isinstance(data, (list, tuple)) else [data]:
        ds = item if isinstance(item, Dataset) else load_dataset(item)
        split = None
        if ds.impressions is None or not len(ds.impressions):
            from alignuser.data.splits import temporal_split

            split = ds.splits.get("provided") or temporal_split(ds.interactions, 0.2)
        held = held_out(ds, split, max_users=max_users)
        pols = build_policies(held.policy_data, held.train, policies, 0, checkpoint)
        for seed in seeds:
            fs = fidelity_samples(held, pols, seed, recommender)
            raws.append(fidelity_table(fs).assign(dataset=ds.name, seed=seed))
            if plots_dir is not None and seed == seeds[0]:
                for p in fidelity_plots(fs, plots_dir, prefix=f"{ds.name}_"):
                    stat = p.stem[len(ds.name) + 1 :]
                    plots.append({"dataset": ds.name, "statistic": stat, "path": str(p)})
        if "alignuser" in policies and "alignuser" not in pols:
            why = "no --alignuser-checkpoint" if not checkpoint else "checkpoint failed to load"
            row = {"policy": "alignuser", "statistic": "all", "dataset": ds.name}
            raws.append(pd.DataFrame([{**row, "status": f"not run: {why}"}]))
    raw = pd.concat(raws, ignore_index=True)
    keys = ["dataset", "policy", "statistic"]
    num = ["wasserstein", "ks", "ks_pvalue", "human_mean", "sim_mean"]
    g = raw.groupby(keys, sort=False, dropna=False)
    summary = g[num].mean().join(g[["n_human", "n_sim", "status"]].first())
    summary["n_seeds"] = g["seed"].count().astype("Int64")
    order = [
        *keys,
        "wasserstein",
        "ks",
        "ks_pvalue",
        "n_human",
        "n_sim",
        "human_mean",
        "sim_mean",
        "status",
        "n_seeds",
    ]
    out = {"summary": summary.reset_index()[order], "raw": raw}
    if plots_dir is not None:
        out["plots"] = pd.DataFrame(plots, columns=["dataset", "statistic", "path"])
    return out
