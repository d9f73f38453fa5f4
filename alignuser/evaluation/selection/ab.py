"""Your own A/B test: which arm would the simulated users prefer, against the arms' real CTRs?

The input is an impressions log whose pages carry an arm (``arm_column``: the variant that
served the page). The pages are cut once in time
(:func:`~alignuser.evaluation.next_action.impression_time_split`): the earlier pages of
**every** arm (and the interactions before the cut) fit the user policies; the later pages
of each arm are then shown to them exactly as logged (states with the user's real history
before each page, as in replay), and each policy's **mean watch probability per item
shown** is its predicted CTR of that arm.

Per arm the table holds the real CTR of its later pages (clicks / items shown) and every
method's estimate, each with a bootstrap interval over the arm's later pages:

* ``sim_<policy>``: the simulator with that policy;
* ``naive``: the arm's own CTR on the earlier pages (the "offline" guess a log gives without
  any user model). Offline ranking metrics of the arms' recommendations cannot be computed
  from logged pages alone (they need each arm's ranking of every candidate), so none is
  reported.

The summary per method: the arm it picks (highest estimate), whether that is the real
winner, Kendall tau of its arm ranking with the real one, mean absolute CTR error, and
``decidable``: whether the real winner is clear (the bootstrap interval of the real CTR
difference between the best two arms excludes 0).

Example:
    >>> raw = ab_selection(ds, "arm", fit_policies)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = ["ab_selection", "ab_summary"]


def _ctr_boot(clicks: np.ndarray, shown: np.ndarray, rng, n_boot: int) -> tuple[float, float]:
    """Bootstrap interval (pages resampled) of ``sum(clicks) / sum(shown)``."""
    if not n_boot or not len(clicks):
        return float("nan"), float("nan")
    idx = rng.integers(0, len(clicks), (n_boot, len(clicks)))
    vals = clicks[idx].sum(1) / np.maximum(shown[idx].sum(1), 1)
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def ab_selection(
    dataset,
    arm_column: str,
    fit_policies: Callable,
    test_fraction: float = 0.3,
    seed: int = 0,
    n_boot: int = 500,
) -> pd.DataFrame:
    """Real and estimated CTR of every arm on its later pages (see the module docstring).

    Args:
        dataset: An impressions dataset whose ``impressions`` have ``arm_column``.
        arm_column: Column naming each page's arm.
        fit_policies: ``(train_dataset, train_interactions) -> {name: policy}`` (e.g. a
            partial of :func:`~alignuser.evaluation.protocols.build_policies`).
        test_fraction: Latest share of the pages (by time) that is evaluated.
        seed: Sampling and bootstrap seed.
        n_boot: Bootstrap resamples (``0``: no intervals).

    Returns:
        One row per (arm, method): ``arm, method, pages, items, estimate, est_lo, est_hi,
        real_ctr, real_lo, real_hi, abs_error``.
    """
    from alignuser.evaluation.baselines import page_sizes

    later = _later_pages(dataset, arm_column, fit_policies, test_fraction)
    train_ds, test_imp, policies, steps, states = later
    sizes = page_sizes(states)
    real = np.array([sum(d.watch for d in s.action.decisions) for s in steps], dtype=float)
    arms = test_imp[arm_column].astype(str).to_numpy()
    preds = _predicted_clicks(policies, states, sizes, seed)
    rows = []
    for a_i, arm in enumerate(sorted(set(arms))):
        rows += _arm_rows(arm, a_i, arms, real, sizes, train_ds.impressions.df, arm_column,
                          preds, seed, n_boot)  # fmt: skip
    out = pd.DataFrame(rows)
    out["abs_error"] = (out["estimate"] - out["real_ctr"]).abs()
    out["decidable"] = _decidable(arms, real, sizes, seed, max(n_boot, 200))
    cols = ["arm", "method", "pages", "items", "estimate", "est_lo", "est_hi", "real_ctr",
            "real_lo", "real_hi", "abs_error", "decidable"]  # fmt: skip
    return out[cols]


def _later_pages(dataset, arm_column: str, fit_policies: Callable, test_fraction: float):
    """Policies fitted on the earlier pages of every arm, and the later pages as states.

    Returns ``(train_dataset, later impressions sorted by user and time, policies, steps,
    states)``; the states carry the personas derived from the training part.

    Raises:
        DatasetError: When ``arm_column`` is not a column of the pages, holds fewer than 2
            arms, or a later page has no state.
    """
    from alignuser.errors import DatasetError
    from alignuser.evaluation.next_action import impression_time_split
    from alignuser.evaluation.replay import strict_train
    from alignuser.personas.derive import derive_personas
    from alignuser.state import StepContext
    from alignuser.training.trajectories import from_impressions

    imp = dataset.impressions.df
    if arm_column not in imp.columns:
        have = [c for c in imp.columns if c not in ("items", "clicked")]
        raise DatasetError(
            f"--arm-column {arm_column!r} is not a column of the pages of {dataset.name!r}; "
            f"columns are {have}"
        )
    if imp[arm_column].nunique() < 2:
        raise DatasetError(f"arm column {arm_column!r} has fewer than 2 arms")
    train_ds, test_ds, train_inter, _ = impression_time_split(dataset, test_fraction)
    test_imp = test_ds.impressions.df.sort_values(["user_id", "timestamp", "impression_id"])
    policies = fit_policies(strict_train(dataset, train_ds, train_inter), train_inter)
    ctx = StepContext(dataset, train_inter)
    steps = from_impressions(test_ds, history=train_inter, context=ctx)
    if len(steps) != len(test_imp):
        raise DatasetError(f"{dataset.name!r}: {len(test_imp)} later pages, {len(steps)} states")
    feats = {
        int(p.user_id): p.to_features()
        for p in derive_personas(train_inter, dataset.catalog, dataset.users, dataset.scale)
    }
    states = [dataclasses.replace(s.state, features=feats.get(int(s.user_id), {})) for s in steps]
    return train_ds, test_imp, policies, steps, states


def _predicted_clicks(policies, states, sizes: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """``{"sim_<policy>": expected clicks per page}`` (watch probabilities summed per page)."""
    from alignuser.evaluation.baselines import watch_probabilities
    from alignuser.evaluation.protocols import rng_for

    bounds = np.r_[0, np.cumsum(sizes)]
    preds = {}
    for k, (name, pol) in enumerate(policies.items()):
        p = np.clip(watch_probabilities(pol, states, rng_for(seed, 909, k)), 0, 1)
        preds[f"sim_{name}"] = np.add.reduceat(p, bounds[:-1]) if len(p) else p
    return preds


def _arm_rows(arm: str, a_i: int, arms, real, sizes, early: pd.DataFrame, arm_column: str,
              preds: dict, seed: int, n_boot: int) -> list[dict]:  # fmt: skip
    """One arm's rows: the real CTR of its later pages, the naive and simulated estimates."""
    rng = np.random.default_rng([seed, a_i])
    early_arm = early[arm_column].astype(str).to_numpy()
    early_clicks = early["clicked"].map(len).to_numpy(float)
    early_shown = early["items"].map(len).to_numpy(float)
    at = arms == arm
    shown = sizes[at].astype(float)
    r_ctr = real[at].sum() / max(shown.sum(), 1)
    r_lo, r_hi = _ctr_boot(real[at], shown, rng, n_boot)
    base = {"arm": arm, "pages": int(at.sum()), "items": int(shown.sum()),
            "real_ctr": float(r_ctr), "real_lo": r_lo, "real_hi": r_hi}  # fmt: skip
    e_at = early_arm == arm
    n_ctr = early_clicks[e_at].sum() / max(early_shown[e_at].sum(), 1)
    n_lo, n_hi = _ctr_boot(early_clicks[e_at], early_shown[e_at], rng, n_boot)
    rows = [{**base, "method": "naive", "estimate": float(n_ctr) if e_at.any() else np.nan,
             "est_lo": n_lo, "est_hi": n_hi}]  # fmt: skip
    for m, per_page in preds.items():
        lo, hi = _ctr_boot(per_page[at], shown, rng, n_boot)
        rows.append({**base, "method": m, "estimate": float(per_page[at].sum() / shown.sum()),
                     "est_lo": lo, "est_hi": hi})  # fmt: skip
    return rows


def _decidable(arms, real, sizes, seed: int, n_boot: int) -> bool:
    """Whether the best two arms' real CTRs differ: their bootstrap difference excludes 0."""
    ctr = {a: real[arms == a].sum() / max(sizes[arms == a].sum(), 1) for a in set(arms)}
    a, b = sorted(ctr, key=lambda k: -ctr[k])[:2]
    rng = np.random.default_rng([seed, 77])
    ia, ib = np.flatnonzero(arms == a), np.flatnonzero(arms == b)
    sa = rng.choice(ia, (n_boot, len(ia)))
    sb = rng.choice(ib, (n_boot, len(ib)))
    diff = real[sa].sum(1) / sizes[sa].sum(1) - real[sb].sum(1) / sizes[sb].sum(1)
    lo, hi = np.percentile(diff, [2.5, 97.5])
    return bool(lo > 0 or hi < 0)


def ab_summary(raw: pd.DataFrame) -> pd.DataFrame:
    """Per method: picked arm, real winner, right or not, Kendall tau, mean absolute error."""
    from scipy.stats import kendalltau

    rows = []
    for m, g in raw.groupby("method", sort=False):
        g = g.sort_values("arm")
        real, est = g["real_ctr"].to_numpy(), g["estimate"].to_numpy()
        winner = g["arm"].iloc[int(np.argmax(real))]
        picked = g["arm"].iloc[int(np.nanargmax(est))] if np.isfinite(est).any() else None
        tau = kendalltau(real, est).statistic if len(g) > 1 else np.nan
        rows.append({
            "method": m, "picked": picked, "real_winner": winner, "right": picked == winner,
            "kendall_tau": 0.0 if np.isnan(tau) else float(tau),
            "mean_abs_error": float(g["abs_error"].mean()),
            "decidable": bool(g["decidable"].iloc[0]),
        })  # fmt: skip
    return pd.DataFrame(rows)
