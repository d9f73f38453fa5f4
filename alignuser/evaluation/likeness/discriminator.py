"""Human-likeness by a discriminator: can a classifier tell simulated sessions from real ones?

A classifier two-sample test (Lopez-Paz & Oquab, 2017): the held-out human sessions and one
policy's sessions **on the same pages** (:mod:`~alignuser.evaluation.likeness.sessions`)
become feature rows (watches per page, click positions, ratings, pages before exit,
popularity, genre taste and history similarity of what was watched, ...); a scikit-learn
``HistGradientBoostingClassifier`` is trained to tell them apart on grouped folds
(``StratifiedGroupKFold`` by user: a user's real and simulated sessions are always in the
same fold, so the classifier cannot learn the user), and its out-of-fold ROC AUC is the
score. **0.5: indistinguishable**; 1.0: every simulated session is given away. The interval
is a percentile bootstrap over users (the out-of-fold scores resampled by user,
:data:`N_BOOT` times). Permutation importance (``sklearn.inspection``, AUC drop on each
held-out fold, mean over folds) says which features give the simulated users away.

Caveats. The human side is what the log holds: every EB-NeRD impression is logged with its
click (so a human page always has one), and a rating log's protocol pages hold 1..2 items the
user really rated (so a human watches 1..2 per page); a policy is measured on how it acts on
those pages, and such facts of the log are legitimately part of what gives it away. Not
featurised: time to first click (simulated users have no clock) and a sequence model of the
session (not tried).

scikit-learn is imported only when a test runs (``pip install scikit-learn``; it is a
dependency of the package).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
    >>> out = two_sample_auc(a, b, np.arange(200), np.arange(200), n_boot=100)
    >>> 0.35 < out["auc"] < 0.65
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from alignuser.evaluation.likeness.sessions import (
    likeness_sessions,
    session_features,
    simulate,
)

__all__ = ["N_BOOT", "likeness", "likeness_table", "run_likeness", "two_sample_auc"]

N_BOOT = 1000


def _sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError:  # pragma: no cover - a declared dependency
        raise ImportError(
            "the likeness test needs scikit-learn: pip install scikit-learn"
        ) from None


def _classifier(seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_depth=3,
                                          min_samples_leaf=10, l2_regularization=1.0,
                                          random_state=seed)  # fmt: skip


def _bootstrap(y, p, groups, n_boot: int, seed: int) -> tuple[float, float]:
    """Percentile interval of the AUC, resampling users (all their sessions) with replacement."""
    from sklearn.metrics import roc_auc_score

    if n_boot <= 0:
        return np.nan, np.nan
    rng = np.random.default_rng(seed)
    uniq, inv = np.unique(groups, return_inverse=True)
    rows = [np.flatnonzero(inv == g) for g in range(len(uniq))]
    vals = []
    for _ in range(n_boot):
        idx = np.concatenate([rows[g] for g in rng.integers(0, len(uniq), len(uniq))])
        if len(np.unique(y[idx])) == 2:
            vals.append(roc_auc_score(y[idx], p[idx]))
    if not vals:
        return np.nan, np.nan
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def two_sample_auc(real, sim, real_groups, sim_groups, features: Sequence[str] | None = None,
                   n_splits: int = 5, n_boot: int = N_BOOT, n_repeats: int = 5,
                   seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """Out-of-fold AUC of a classifier telling ``sim`` rows from ``real`` rows.

    Args:
        real: Feature rows of the real sessions (array or frame; NaN allowed).
        sim: Feature rows of the simulated sessions, same columns.
        real_groups: Group (user) of each real row; folds never split a group.
        sim_groups: Group of each simulated row.
        features: Column names (default: the frame's columns, else ``f0, f1, ...``).
        n_splits: Folds (fewer when there are fewer groups).
        n_boot: Bootstrap resamples of the interval (``0``: none).
        n_repeats: Permutation-importance repeats per fold.
        seed: Folds, classifier, bootstrap and permutation seed.

    Returns:
        ``auc``, ``ci_low``, ``ci_high``, ``n_real``, ``n_sim``, ``folds`` and
        ``importance`` (a frame: ``feature``, ``importance``, ``importance_std``: the mean AUC
        drop over folds when the feature is shuffled; ``feature_auc``: the AUC of the feature
        alone, above 0.5 when simulated sessions have larger values). Permutation importance
        splits credit among correlated features; ``feature_auc`` does not.

    Raises:
        ValueError: When a side is empty, the columns differ or there are fewer than 2 groups.
    """
    _sklearn()
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    names = list(features or (real.columns if isinstance(real, pd.DataFrame) else []))
    a, b = np.asarray(real, dtype=float), np.asarray(sim, dtype=float)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"real and simulated rows need the same columns: {a.shape} vs {b.shape}")
    if not len(a) or not len(b):
        raise ValueError(f"two-sample test needs rows on both sides ({len(a)} real, {len(b)} sim)")
    names = names or [f"f{k}" for k in range(a.shape[1])]
    x = np.vstack([a, b])
    y = np.r_[np.zeros(len(a), dtype=int), np.ones(len(b), dtype=int)]
    groups = np.r_[np.asarray(real_groups), np.asarray(sim_groups)]
    k = min(n_splits, len(np.unique(groups)))
    if k < 2:
        raise ValueError("two-sample test needs sessions of at least 2 users (grouped folds)")
    p = np.full(len(y), np.nan)
    imps = []
    folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    for f, (tr, te) in enumerate(folds.split(x, y, groups)):
        if len(np.unique(y[tr])) < 2:
            p[te] = 0.5
            continue
        xf = x.copy()  # a column without any value in the fold carries no information
        xf[:, ~np.isfinite(x[tr]).any(0)] = 0.0
        model = _classifier(seed + f).fit(xf[tr], y[tr])
        p[te] = model.predict_proba(xf[te])[:, 1]
        if len(np.unique(y[te])) == 2:
            r = permutation_importance(model, xf[te], y[te], scoring="roc_auc",
                                       n_repeats=n_repeats, random_state=seed + f)  # fmt: skip
            imps.append(r.importances_mean)
    auc = float(roc_auc_score(y, p))
    lo, hi = _bootstrap(y, p, groups, n_boot, seed)
    imp = np.array(imps) if imps else np.full((1, len(names)), np.nan)
    importance = pd.DataFrame({"feature": names, "importance": imp.mean(0),
                               "importance_std": imp.std(0),
                               "feature_auc": [_feature_auc(y, c) for c in x.T]})  # fmt: skip
    importance = importance.sort_values("importance", ascending=False, kind="stable")
    return {"auc": auc, "ci_low": lo, "ci_high": hi, "n_real": len(a), "n_sim": len(b),
            "folds": k, "importance": importance.reset_index(drop=True)}  # fmt: skip


def _feature_auc(y: np.ndarray, col: np.ndarray) -> float:
    """AUC of one feature alone (missing values rank lowest): 0.5 = no separation."""
    from sklearn.metrics import roc_auc_score

    ok = np.isfinite(col)
    if not ok.any():
        return np.nan
    v = np.where(ok, col, col[ok].min() - 1.0)
    return float(roc_auc_score(y, v)) if np.ptp(v) > 0 else 0.5


def _gives_away(importance: pd.DataFrame, top: int = 3) -> str:
    imp = importance[importance["importance"] > 0.005].head(top)
    return ", ".join(f"{f} ({v:+.3f})" for f, v in zip(imp["feature"], imp["importance"]))


def likeness(dataset, policies: Mapping[str, Any] | Any, split=None, seeds=(0,),
             max_users: int | None = 300, test_fraction: float = 0.3,
             n_boot: int = N_BOOT) -> dict[str, pd.DataFrame]:  # fmt: skip
    """The discriminator test of every policy on ``dataset``'s held-out sessions.

    Args:
        dataset: An impressions dataset or a rating log (see
            :func:`~alignuser.evaluation.likeness.sessions.likeness_sessions`).
        policies: ``{name: policy}`` fitted on the training part, or a function
            ``(policy_data, train_interactions) -> {name: policy}``.
        split: Rating logs: the split (default provided, else temporal).
        seeds: Simulation (and fold) seeds: one test per seed.
        max_users: Held-out users (subsample, seed 0).
        test_fraction: Impressions: latest share held out.
        n_boot: Bootstrap resamples of each interval.

    Returns:
        ``{"raw": one row per policy and seed, "importance": per policy, seed and feature
        (with the human and simulated means of the feature)}``.
    """
    held = likeness_sessions(dataset, split, test_fraction, max_users, 0)
    pols = policies(held.policy_data, held.train) if callable(policies) else dict(policies)
    feats = list(held.features)
    human = session_features(held.human, held.encoder, held.max_rating, feats)
    rows, imps = [], []
    for seed in seeds:
        for k, (name, pol) in enumerate(pols.items()):
            sim = session_features(simulate(held, pol, seed * 1000 + k), held.encoder,
                                   held.max_rating, feats)  # fmt: skip
            out = two_sample_auc(human[feats], sim[feats], human["user_id"], sim["user_id"],
                                 feats, n_boot=n_boot, seed=seed)  # fmt: skip
            imp = out.pop("importance").assign(dataset=dataset.name, policy=name, seed=seed)
            imp["human_mean"] = imp["feature"].map(human[feats].mean())
            imp["sim_mean"] = imp["feature"].map(sim[feats].mean())
            imps.append(imp)
            rows.append({"dataset": dataset.name, "policy": name, "seed": seed, **out,
                         "gives_away": _gives_away(imp), "status": "ok"})  # fmt: skip
    cols = ["dataset", "policy", "seed", "feature", "importance", "importance_std",
            "feature_auc", "human_mean", "sim_mean"]  # fmt: skip
    imp = pd.concat(imps, ignore_index=True)[cols] if imps else pd.DataFrame(columns=cols)
    return {"raw": pd.DataFrame(rows), "importance": imp}


def likeness_table(raw: pd.DataFrame, importance: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per dataset and policy, with the features that give it away."""
    cols = ["dataset", "policy", "auc", "ci_low", "ci_high", "n_real", "n_sim", "n_seeds",
            "gives_away", "status"]  # fmt: skip
    if not len(raw):
        return pd.DataFrame(columns=cols)
    ok = raw[raw["status"] == "ok"]
    keys = ["dataset", "policy"]
    g = ok.groupby(keys, sort=False)
    out = g[["auc", "ci_low", "ci_high"]].mean().join(g[["n_real", "n_sim"]].first())
    out["n_seeds"] = g.size()
    imp = importance.groupby([*keys, "feature"], sort=False)["importance"].mean().reset_index()
    imp = imp.sort_values("importance", ascending=False, kind="stable")
    away = {k: _gives_away(v) for k, v in imp.groupby(keys, sort=False)}
    out = out.reset_index()
    out["gives_away"] = [away.get((d, p), "") for d, p in zip(out["dataset"], out["policy"])]
    out["status"] = "ok"
    rest = raw[raw["status"] != "ok"][[c for c in cols if c in raw.columns]]
    out = pd.concat([out, rest], ignore_index=True) if len(rest) else out
    for c in ("n_real", "n_sim", "n_seeds"):
        out[c] = out[c].astype("Int64")
    return out[cols]


def run_likeness(data=None, seeds=(0,), checkpoint=None, policies=None,
                 max_users: int | None = 300, test_fraction: float = 0.3, n_boot: int = N_BOOT,
                 chat=None, fmt=None, options=None, scenario=None, split=None) -> dict:  # fmt: skip
    """The discriminator table on ``data`` (default: ebnerd-sample and agent4rec-ml1m).

    Args:
        data: A dataset folder or file (or loaded dataset); ``None``: the shared defaults.
        seeds: Simulation seeds (one test each; the summary is their mean).
        checkpoint: AlignUSER checkpoint folder, ``{dataset: folder}`` (see
            :func:`~alignuser.evaluation.fidelity.checkpoints.parse_checkpoints`); several
            folders joined by ``+`` give one row each (e.g. three training seeds).
        policies: Line-up names (default: random, popularity, mf, choice, alignuser).
        max_users: Held-out users per dataset.
        test_fraction: Impressions: latest share held out.
        n_boot: Bootstrap resamples of each interval.
        chat: Chat-model baseline spec / model / policy (``None``: none).
        fmt: Loader name (see :func:`~alignuser.evaluation.datasource.load_eval_data`).
        options: Loader options.
        scenario: Scenario YAML (its dataset and split).
        split: Split choice of a rating log.

    Returns:
        ``{"summary", "importance", "raw"}`` (and ``"data"`` with ``data``/``scenario``).
    """
    from pathlib import Path

    from alignuser.evaluation.common import chat_status, data_table, not_run_row, shared_data
    from alignuser.evaluation.fidelity.checkpoints import checkpoint_variants
    from alignuser.evaluation.protocols import build_policies

    names = tuple(policies or ("random", "popularity", "mf", "choice", "alignuser"))
    extra: dict = {}
    if data is not None or scenario is not None:
        from alignuser.evaluation.datasource import load_eval_data, require

        ed = require("fidelity", load_eval_data(data, fmt, options, scenario, split,
                                                impressions="auto"))  # fmt: skip
        jobs = [(ed.dataset, ed.split, [ed.dataset.name, Path(str(data or "")).name])]
        extra["data"] = data_table(ed)
    else:
        from alignuser.data.loaders import load_dataset

        jobs = []
        for name in ("ebnerd-sample", "agent4rec-ml1m"):
            ds = load_dataset(shared_data() / name)
            jobs.append((ds, None, [ds.name, name]))
    raws, imps, chats = [], [], []
    for ds, sp, ds_names in jobs:
        ckpts, why = checkpoint_variants(checkpoint, ds_names)
        built: dict = {}

        def fit(policy_data, train, ckpts=ckpts, built=built):
            got = build_policies(policy_data, train, names, 0, ckpts or None, chat=chat)
            built.update(got)
            return got

        out = likeness(ds, fit, sp, seeds, max_users, test_fraction, n_boot)
        raws.append(out["raw"])
        imps.append(out["importance"])
        chats.append(built.get("chat"))
        if "alignuser" in names:
            for label, folder in (ckpts or {"alignuser": None}).items():
                if label not in built:
                    reason = why or f"checkpoint failed to load: {folder}"
                    raws.append(pd.DataFrame([not_run_row(label, reason, dataset=ds.name)]))
    raw = pd.concat(raws, ignore_index=True)
    importance = pd.concat(imps, ignore_index=True)
    summary = chat_status(likeness_table(raw, importance), chats, "likeness")
    return {"summary": summary, "importance": importance, "raw": raw, **extra}
