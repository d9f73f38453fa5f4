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

Confidence intervals resample **agents** (a cluster bootstrap: an agent's sessions stay
together), with the same resamples for every recommender; since all recommenders face the
same population with common random numbers, differences between them are paired.

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
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64) if n else None
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
                with np.errstate(invalid="ignore", divide="ignore"):
                    boot = (weights @ a) / (weights @ b)
                boot = boot[np.isfinite(boot)]
                if len(boot):
                    lo, hi = np.percentile(boot, [2.5, 97.5])
            rows.append((label, metric, value, lo, hi, n))
        rows.append((label, "coverage", *_coverage_ci(ev, agents, n_items, rng, n_boot), n))
    return pd.DataFrame(
        rows, columns=["recommender", "metric", "value", "ci_low", "ci_high", "n_agents"]
    )


def _coverage_ci(ev, agents, n_items, rng, n_boot):
    watched = ev[ev["watched"].astype(bool)]
    value = watched["item_id"].nunique() / n_items
    if not len(agents):
        return value, np.nan, np.nan
    by_agent = {a: set(g) for a, g in watched.groupby("agent_id")["item_id"]}
    boots = []
    for _ in range(min(n_boot, 200)):
        pick = rng.choice(agents, size=len(agents), replace=True)
        items = set().union(*(by_agent.get(a, set()) for a in np.unique(pick)))
        boots.append(len(items) / n_items)
    # distinct-item counts shrink under resampling (duplicated agents add nothing), so the
    # percentile interval sits below the estimate: use the basic bootstrap interval instead
    q_lo, q_hi = np.percentile(boots, [2.5, 97.5])
    lo, hi = max(2 * value - q_hi, 0.0), min(2 * value - q_lo, 1.0)
    return value, min(lo, value), max(hi, value)


def rank_recommenders(
    table: pd.DataFrame, metric: str = "watch_rate", exclude: list[str] | tuple = ()
) -> pd.DataFrame:
    """Rank recommenders by one metric (best first), with CIs.

    ``separated`` says whether a recommender's CI lies wholly above the next one's.
    Recommenders in ``exclude`` (e.g. whose sessions failed) and those without a value are
    left out.
    """
    t = table[(table["metric"] == metric) & ~table["recommender"].isin(list(exclude))]
    t = t[np.isfinite(t["value"].to_numpy(float))].copy()
    t = t.sort_values("value", ascending=not HIGHER_IS_BETTER.get(metric, True)).reset_index(
        drop=True
    )
    t.insert(0, "rank", np.arange(1, len(t) + 1))
    nxt_hi = t["ci_high"].shift(-1)
    t["separated"] = t["ci_low"] > nxt_hi
    return t[["rank", "recommender", "value", "ci_low", "ci_high", "separated"]]


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
