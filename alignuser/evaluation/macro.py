"""Macro session outcomes per recommender, with bootstrap 95% confidence intervals.

Metrics (one row per recommender and metric in :func:`macro_outcomes`):

=====================  ========================================================
``pages_per_session``  pages viewed per session
``exit_page``          page on which users chose to exit (sessions that exited)
``watch_rate``         watched / shown (click rate)
``watches_per_page``   watched items per page
``likes_per_page``     items rated >= 0.8 * max per page
``mean_rating``        mean rating of watched items
``satisfaction``       post-session interview, 1..10
``coverage``           distinct watched items / catalog size
``novelty``            mean self-information -log2(popularity share) of watched items
``diversity``          mean genre dissimilarity (1 - Jaccard) of item pairs on a page
=====================  ========================================================

Confidence intervals resample **distinct users** (a cluster bootstrap: an agent's sessions
stay together, and so do the agents that copy one user's persona when a population has more
agents than the data has users), so copies never narrow an interval; the same resamples
serve every recommender. All recommenders face the same agents with common random numbers,
so their differences are **paired**: :func:`paired_differences` bootstraps the difference
itself, and :func:`rank_recommenders` marks as tied the recommenders whose paired 95% CI of
the difference contains 0.

Example:
    >>> import pandas as pd  # doctest: +SKIP
    >>> table = macro_outcomes(events, sessions, n_items=1000)  # doctest: +SKIP
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

RATIO_METRICS = {
    # metric: (numerator column, denominator column) of the per-agent aggregate
    "pages_per_session": ("pages", "sessions"),
    "exit_page": ("exit_page_sum", "exited"),
    "watch_rate": ("watched", "shown"),
    "watches_per_page": ("watched", "pages"),
    "likes_per_page": ("likes", "pages"),
    "mean_rating": ("rating_sum", "watched"),
    "satisfaction": ("sat_sum", "sat_n"),
    "novelty": ("novelty_sum", "watched"),
    "diversity": ("div_sum", "div_n"),
}
HIGHER_IS_BETTER = {
    "pages_per_session": True, "exit_page": True, "watch_rate": True, "watches_per_page": True,
    "likes_per_page": True, "mean_rating": True, "satisfaction": True, "coverage": True,
    "novelty": True, "diversity": True,
}  # fmt: skip


def _page_diversity(events: pd.DataFrame, genres: list[frozenset]) -> pd.DataFrame:
    """Per page: mean (1 - Jaccard) over item pairs."""
    rows = []
    for key, g in events.groupby(["agent_id", "session", "page"], sort=False):
        items = g["item_id"].to_numpy()
        if len(items) < 2:
            continue
        ds = []
        for a, b in combinations(items, 2):
            ga, gb = genres[a], genres[b]
            union = len(ga | gb)
            ds.append(1.0 - (len(ga & gb) / union if union else 1.0))
        rows.append((key[0], float(np.mean(ds))))
    return pd.DataFrame(rows, columns=["agent_id", "div"])


def agent_aggregates(
    events: pd.DataFrame,
    sessions: pd.DataFrame,
    popularity: np.ndarray | None = None,
    genres: list[frozenset] | None = None,
    max_rating: int = 5,
) -> pd.DataFrame:
    """Per-agent sums from which every ratio metric is computed."""
    ev = events
    agg = ev.groupby("agent_id").agg(shown=("item_id", "size"), watched=("watched", "sum"))
    watched = ev[ev["watched"].astype(bool)]
    agg["rating_sum"] = watched.groupby("agent_id")["rating"].sum()
    agg["likes"] = (watched["rating"] >= 0.8 * max_rating).groupby(watched["agent_id"]).sum()
    if popularity is not None and len(watched):
        share = popularity / max(popularity.sum(), 1)
        info = -np.log2(np.clip(share[watched["item_id"].to_numpy()], 1e-12, None))
        agg["novelty_sum"] = pd.Series(info, index=watched.index).groupby(watched["agent_id"]).sum()
    else:
        agg["novelty_sum"] = np.nan
    if genres is not None:
        div = _page_diversity(ev, genres)
        agg["div_sum"] = div.groupby("agent_id")["div"].sum()
        agg["div_n"] = div.groupby("agent_id")["div"].size()
    s = sessions.groupby("agent_id").agg(
        sessions=("session", "size"),
        pages=("pages", "sum"),
        exited=("exited", "sum"),
        sat_n=("satisfaction", "count"),
        sat_sum=("satisfaction", "sum"),
    )
    s["exit_page_sum"] = (
        sessions[sessions["exited"].astype(bool)].groupby("agent_id")["pages"].sum()
    )
    out = s.join(agg, how="outer").fillna(0.0)
    for col in ("div_sum", "div_n"):
        if col not in out:
            out[col] = 0.0
    return out


def macro_outcomes(
    events: pd.DataFrame,
    sessions: pd.DataFrame,
    n_items: int,
    popularity: np.ndarray | None = None,
    genres: list[frozenset] | None = None,
    max_rating: int = 5,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Tidy table: ``recommender, metric, value, ci_low, ci_high, n_agents``.

    Args:
        events: Event rows (see :mod:`alignuser.simulation.outputs`).
        sessions: Session rows.
        n_items: Catalog size (for coverage).
        popularity: Training popularity per item (for novelty).
        genres: Genre set per item (for diversity).
        max_rating: Top of the rating scale (likes are >= 0.8 * max).
        n_boot: Bootstrap resamples.
        seed: Seed of the resampling.
    """
    rng = np.random.default_rng(seed)
    agents = np.sort(sessions["agent_id"].unique())
    n = len(agents)
    codes = clusters(sessions, agents)
    k = int(codes.max()) + 1 if n else 0
    weights = rng.multinomial(k, np.full(k, 1.0 / k), size=n_boot).astype(np.float64) if n else None
    rows = []
    for label in sorted(sessions["recommender"].unique()):
        ev = events[events["recommender"] == label]
        se = sessions[sessions["recommender"] == label]
        agg = agent_aggregates(ev, se, popularity, genres, max_rating).reindex(agents, fill_value=0)
        for metric, (num, den) in RATIO_METRICS.items():
            a, b = agg[num].to_numpy(float), agg[den].to_numpy(float)
            value = a.sum() / b.sum() if b.sum() else np.nan
            lo = hi = np.nan
            if weights is not None and b.sum():
                boot = _ratio_boot(weights, codes, a, b)
                boot = boot[np.isfinite(boot)]
                if len(boot):
                    lo, hi = np.percentile(boot, [2.5, 97.5])
            rows.append((label, metric, value, lo, hi, n, k))
        cov = _coverage_ci(ev, agents, codes, n_items, rng, n_boot)
        rows.append((label, "coverage", *cov, n, k))
    return pd.DataFrame(
        rows,
        columns=["recommender", "metric", "value", "ci_low", "ci_high", "n_agents", "n_users"],
    )


def clusters(sessions: pd.DataFrame, agents: np.ndarray) -> np.ndarray:
    """Cluster index (0..k-1) of each of ``agents``: its user, so copies share one.

    Agents without a ``user_id`` column in ``sessions`` are each their own cluster.
    """
    if "user_id" not in sessions or not len(agents):
        return np.arange(len(agents))
    users = sessions.groupby("agent_id")["user_id"].first().reindex(agents)
    return pd.factorize(users.to_numpy(), use_na_sentinel=False)[0]


def _ratio_boot(weights: np.ndarray, codes: np.ndarray, a: np.ndarray, b: np.ndarray):
    """Bootstrap ratios ``sum(a) / sum(b)`` with clusters drawn by ``weights``."""
    k = weights.shape[1]
    ca, cb = np.bincount(codes, a, minlength=k), np.bincount(codes, b, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights @ ca) / (weights @ cb)


def _coverage_ci(ev, agents, codes, n_items, rng, n_boot):
    watched = ev[ev["watched"].astype(bool)]
    value = watched["item_id"].nunique() / n_items
    if not len(agents):
        return value, np.nan, np.nan
    code_of = dict(zip(agents.tolist(), codes.tolist()))
    by_cluster: dict[int, set] = {}
    for a, g in watched.groupby("agent_id")["item_id"]:
        by_cluster.setdefault(code_of.get(a, -1), set()).update(g)
    k = int(codes.max()) + 1
    boots = []
    for _ in range(min(n_boot, 200)):
        pick = np.unique(rng.integers(0, k, size=k))
        items = set().union(*(by_cluster.get(int(c), set()) for c in pick))
        boots.append(len(items) / n_items)
    # distinct-item counts shrink under resampling (duplicated agents add nothing), so the
    # percentile interval sits below the estimate: use the basic bootstrap interval instead
    q_lo, q_hi = np.percentile(boots, [2.5, 97.5])
    lo, hi = max(2 * value - q_hi, 0.0), min(2 * value - q_lo, 1.0)
    return value, min(lo, value), max(hi, value)


def paired_differences(
    events: pd.DataFrame,
    sessions: pd.DataFrame,
    metric: str = "watch_rate",
    popularity: np.ndarray | None = None,
    genres: list[frozenset] | None = None,
    max_rating: int = 5,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Every pair of recommenders' difference in a ratio metric, with a paired 95% CI.

    The recommenders faced the same agents with the same random numbers, so one cluster
    bootstrap over distinct users (the same resamples for both) gives the CI of the
    difference itself, much tighter than comparing the two separate CIs.

    Returns:
        One row per ordered pair ``a, b`` (``a != b``): ``difference`` (a - b),
        ``ci_low``, ``ci_high``, ``tied`` (the CI contains 0), ``n_users``.
    """
    num, den = RATIO_METRICS[metric]
    agents = np.sort(sessions["agent_id"].unique())
    labels = sorted(sessions["recommender"].unique())
    cols = ["a", "b", "difference", "ci_low", "ci_high", "tied", "n_users"]
    if not len(agents) or len(labels) < 2:
        return pd.DataFrame(columns=cols)
    codes = clusters(sessions, agents)
    k = int(codes.max()) + 1
    weights = np.random.default_rng(seed).multinomial(k, np.full(k, 1.0 / k), size=n_boot)
    weights = weights.astype(np.float64)
    value, boot = {}, {}
    for label in labels:
        agg = agent_aggregates(
            events[events["recommender"] == label], sessions[sessions["recommender"] == label],
            popularity, genres, max_rating,
        ).reindex(agents, fill_value=0)  # fmt: skip
        a, b = agg[num].to_numpy(float), agg[den].to_numpy(float)
        value[label] = a.sum() / b.sum() if b.sum() else np.nan
        boot[label] = _ratio_boot(weights, codes, a, b)
    rows = []
    for x in labels:
        for y in labels:
            if x == y:
                continue
            d = boot[x] - boot[y]
            d = d[np.isfinite(d)]
            lo, hi = np.percentile(d, [2.5, 97.5]) if len(d) else (np.nan, np.nan)
            tied = not (lo > 0 or hi < 0)  # NaN bounds (no data): tied, never separated
            rows.append((x, y, value[x] - value[y], lo, hi, tied, k))
    return pd.DataFrame(rows, columns=cols)


def rank_recommenders(
    table: pd.DataFrame,
    metric: str = "watch_rate",
    exclude: list[str] | tuple = (),
    paired: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Rank recommenders by one metric (best first), with CIs, marking ties.

    With ``paired`` (from :func:`paired_differences`), a recommender's ``rank`` is 1 plus
    the number of recommenders significantly better than it (paired 95% CI of the
    difference excluding 0), so recommenders that cannot be told apart share a rank;
    ``tied_with`` names them, ``vs_next`` is the paired difference to the next one with its
    CI, and ``separated`` says that CI excludes 0. Without ``paired``, ranks are positions
    and ``separated`` compares the two separate CIs (conservative).

    Recommenders in ``exclude`` (e.g. whose sessions failed) and those without a value are
    left out.
    """
    t = table[(table["metric"] == metric) & ~table["recommender"].isin(list(exclude))]
    t = t[np.isfinite(t["value"].to_numpy(float))].copy()
    higher = HIGHER_IS_BETTER.get(metric, True)
    t = t.sort_values(["value", "recommender"], ascending=[not higher, True])
    t = t.reset_index(drop=True)
    names = list(t["recommender"])
    if paired is None or not len(paired):
        t.insert(0, "rank", np.arange(1, len(t) + 1))
        t["separated"] = t["ci_low"] > t["ci_high"].shift(-1) if higher else (
            t["ci_high"] < t["ci_low"].shift(-1)
        )  # fmt: skip
        return t[["rank", "recommender", "value", "ci_low", "ci_high", "separated"]]
    pair = paired.set_index(["a", "b"])

    def better(x: str, y: str) -> bool:  # x significantly better than y
        row = pair.loc[(x, y)]
        return bool(row["ci_low"] > 0) if higher else bool(row["ci_high"] < 0)

    t.insert(0, "rank", [1 + sum(better(o, x) for o in names if o != x) for x in names])
    t["tied_with"] = [
        ", ".join(o for o in names if o != x and pair.loc[(x, o), "tied"]) for x in names
    ]
    nxt = [pair.loc[(x, y)] if y is not None else None for x, y in zip(names, [*names[1:], None])]
    t["vs_next"] = [np.nan if r is None else r["difference"] for r in nxt]
    t["vs_next_ci_low"] = [np.nan if r is None else r["ci_low"] for r in nxt]
    t["vs_next_ci_high"] = [np.nan if r is None else r["ci_high"] for r in nxt]
    t["separated"] = [False if r is None else not bool(r["tied"]) for r in nxt]
    return t[
        ["rank", "recommender", "value", "ci_low", "ci_high", "tied_with", "vs_next",
         "vs_next_ci_low", "vs_next_ci_high", "separated"]
    ]  # fmt: skip


def wide(table: pd.DataFrame) -> pd.DataFrame:
    """Recommenders as rows, metrics as columns, formatted ``value [lo, hi]``."""
    t = table.copy()
    t["cell"] = [
        f"{v:.3f} [{lo:.3f}, {hi:.3f}]"
        if np.isfinite(v) and np.isfinite(lo)
        else (f"{v:.3f}" if np.isfinite(v) else "-")
        for v, lo, hi in zip(t["value"], t["ci_low"], t["ci_high"])
    ]
    return t.pivot(index="recommender", columns="metric", values="cell")
