"""Off-policy system selection on a real multi-policy A/B log (the Open Bandit Dataset).

Two logging policies ran side by side on the same site and days: ``random`` (uniform) and
``bts`` (Bernoulli Thompson Sampling), per campaign. For each campaign and each direction
(train on one policy's log, predict the other's), every method estimates the **target**
policy's CTR from the **training** log only, and is compared with the target log's own
on-policy CTR (the truth, with a bootstrap interval over its rows):

* ``naive``: the training log's CTR (what you would say without any model);
* the standard off-policy estimators, as the ``obp`` library defines them (``obp`` 0.5.7
  pins pandas 1.5 / scipy 1.9 and does not install on this Python, so they are written here
  in a few lines each and tested against hand-computed values): ``IPW``
  (``mean(r * pi(a|pos) / p)``), ``SNIPW`` (self-normalised), ``DM`` (direct method:
  ``mean_i sum_a pi(a|pos_i) q(a, pos_i)``) and ``DR`` (doubly robust: DM plus the IPW of
  its residuals). ``q`` is a click model fitted on the training log: the CTR of each
  (item, position), shrunk towards the position's CTR (:func:`click_model`; with 40-70
  clicks per log a context model has nothing to learn from);
* ``sim_<policy>``: the simulator. The user policy is fitted on the training log's pages
  (each slot a one-item page; ``choice`` calibrated there, the learned policy trained there
  with ``train_config``), then shown the target log's own pages (users matched by their
  context, history from the training log before each page) and its mean watch probability
  is the predicted CTR. The slot position is not in the page state (one-item pages).

The target policy's action distribution ``pi(a|pos)``: uniform ``1/n_items`` for ``random``;
for ``bts`` (context-free) the frequency of each item at each position in the BTS log
itself, i.e. the time-averaged distribution the logged propensities come from.

Per row: the estimate with a bootstrap interval (training-log rows for the estimators, with
the click model held fixed; target pages for the simulator), its absolute error, whether it
falls inside the truth's interval, and whether it orders the two policies as the truth
does (predicted target CTR vs the training policy's own on-policy CTR; the naive estimate
equals it, so it never orders them: ``=``, counted wrong; where the two true CTRs are
equal, e.g. 46 clicks in both ``women`` logs, no ordering is right or wrong and
``order_right`` is empty). ``decidable`` says
whether the truth itself orders them: the bootstrap interval of the true difference
excludes 0. With 38-69 clicks per 10,000 impressions, most orderings are not.

Example:
    >>> import numpy as np
    >>> float(ipw(np.array([1.0, 0.0]), np.array([0.5, 0.25]), np.array([0.25, 0.5])))
    0.25
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "click_model",
    "dm",
    "dr",
    "ipw",
    "offpolicy_selection",
    "offpolicy_summary",
    "snipw",
    "target_distribution",
]

N_BOOT = 500


def ipw(reward: np.ndarray, pscore: np.ndarray, target_prob: np.ndarray) -> float:
    """Inverse propensity weighting: ``mean(r * pi / p)`` (``pi``, ``p`` of the logged action)."""
    return float(np.mean(reward * target_prob / pscore))


def snipw(reward: np.ndarray, pscore: np.ndarray, target_prob: np.ndarray) -> float:
    """Self-normalised IPW: ``sum(r * w) / sum(w)`` with ``w = pi / p``."""
    w = target_prob / pscore
    return float(np.sum(reward * w) / np.sum(w)) if np.sum(w) > 0 else float("nan")


def dm(q_all: np.ndarray, target_all: np.ndarray) -> float:
    """Direct method: ``mean_i sum_a pi(a|x_i) q(x_i, a)`` (rows x actions arrays)."""
    return float(np.mean(np.sum(q_all * target_all, axis=1)))


def dr(reward, pscore, target_prob, q_logged, q_all, target_all) -> float:
    """Doubly robust: the direct method plus the IPW of the click model's residuals."""
    return dm(q_all, target_all) + float(np.mean(target_prob / pscore * (reward - q_logged)))


def click_model(items: np.ndarray, positions: np.ndarray, clicks: np.ndarray, n_items: int,
                n_positions: int = 3, prior: float = 100.0) -> np.ndarray:  # fmt: skip
    """``q[pos - 1, item]``: each (item, position) CTR shrunk towards its position's CTR.

    ``q = (clicks + prior * ctr_pos) / (shown + prior)``: a beta prior of ``prior`` pseudo
    impressions at the position's CTR (an item never shown there gets that CTR).
    """
    q = np.zeros((n_positions, n_items))
    for k in range(n_positions):
        at = positions == k + 1
        base = clicks[at].mean() if at.any() else clicks.mean()
        shown = np.bincount(items[at], minlength=n_items)
        hit = np.bincount(items[at], weights=clicks[at], minlength=n_items)
        q[k] = (hit + prior * base) / (shown + prior)
    return q


def target_distribution(target_log: pd.DataFrame, policy: str, n_items: int,
                        n_positions: int = 3) -> np.ndarray:  # fmt: skip
    """``pi[pos - 1, item]`` of the target policy (rows sum to 1; see the module docs)."""
    if policy == "random":
        return np.full((n_positions, n_items), 1.0 / n_items)
    pi = np.zeros((n_positions, n_items))
    for k in range(n_positions):
        at = target_log["position"].to_numpy() == k + 1
        counts = np.bincount(target_log["item"].to_numpy()[at], minlength=n_items)
        pi[k] = counts / max(counts.sum(), 1)
    return pi


def _order(target: str, train: str, target_ctr: float, train_ctr: float) -> str:
    """``"bts > random"``, ``"bts < random"`` or ``"bts = random"`` (the naive estimate)."""
    sign = ">" if target_ctr > train_ctr else "<" if target_ctr < train_ctr else "="
    return f"{target} {sign} {train}"


def _log_frame(ds) -> pd.DataFrame:
    imp = ds.impressions.df
    return pd.DataFrame({
        "item": np.array([x[0] for x in imp["items"]], dtype=np.int64),
        "click": imp["clicked"].map(len).to_numpy(float),
        "position": imp["position"].to_numpy(np.int64),
        "pscore": imp["propensity"].to_numpy(float),
    })  # fmt: skip


def _boot(fn, n: int, rng: np.random.Generator, n_boot: int) -> tuple[float, float]:
    vals = [fn(rng.integers(0, n, n)) for _ in range(n_boot)]
    lo, hi = np.nanpercentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def estimator_rows(train_log: pd.DataFrame, pi: np.ndarray, n_items: int,
                   rng: np.random.Generator, n_boot: int = N_BOOT) -> list[dict]:  # fmt: skip
    """naive, IPW, SNIPW, DM and DR on the training log, each with a bootstrap interval."""
    r, p = train_log["click"].to_numpy(), train_log["pscore"].to_numpy()
    a, pos = train_log["item"].to_numpy(), train_log["position"].to_numpy()
    q = click_model(a, pos, r, n_items, pi.shape[0])
    pi_logged, q_logged = pi[pos - 1, a], q[pos - 1, a]
    q_all, pi_all = q[pos - 1], pi[pos - 1]
    fns = {
        "naive": lambda i: float(np.mean(r[i])),
        "IPW": lambda i: ipw(r[i], p[i], pi_logged[i]),
        "SNIPW": lambda i: snipw(r[i], p[i], pi_logged[i]),
        "DM": lambda i: dm(q_all[i], pi_all[i]),
        "DR": lambda i: dr(r[i], p[i], pi_logged[i], q_logged[i], q_all[i], pi_all[i]),
    }
    everything = np.arange(len(r))
    out = []
    for name, fn in fns.items():
        lo, hi = _boot(fn, len(r), rng, n_boot) if n_boot else (np.nan, np.nan)
        out.append({"method": name, "estimate": fn(everything), "est_lo": lo, "est_hi": hi})
    return out


def _transfer(train_ds, target_ds):
    """Training dataset and target pages over one user space (users matched by context)."""
    from alignuser.data.dataset import Dataset
    from alignuser.data.tables import Impressions, Interactions, Users

    tr_u, te_u = train_ds.users.df, target_ds.users.df
    vocab = np.union1d(tr_u["external_id"].to_numpy(str), te_u["external_id"].to_numpy(str))
    map_tr = np.searchsorted(vocab, tr_u.sort_values("user_id")["external_id"].to_numpy(str))
    map_te = np.searchsorted(vocab, te_u.sort_values("user_id")["external_id"].to_numpy(str))
    both = pd.concat(
        [tr_u.assign(user_id=map_tr[tr_u["user_id"]]), te_u.assign(user_id=map_te[te_u["user_id"]])]
    )
    users = Users.from_frame(both.drop_duplicates("user_id").sort_values("user_id"))
    inter = Interactions(
        train_ds.interactions.df.assign(user_id=lambda d: map_tr[d["user_id"].to_numpy()])
    )
    tr_imp = Impressions(train_ds.impressions.df.assign(user_id=lambda d: map_tr[d["user_id"]]))
    te_imp = Impressions(target_ds.impressions.df.assign(user_id=lambda d: map_te[d["user_id"]]))
    policy_ds = Dataset(f"{train_ds.name}", train_ds.catalog.with_statistics(inter), inter,
                        users, tr_imp, scale=None, meta=dict(train_ds.meta))  # fmt: skip
    return policy_ds, dataclasses.replace(policy_ds, impressions=te_imp)


def simulated_ctr(policy, policy_ds, target_pages_ds, rng: np.random.Generator) -> np.ndarray:
    """Per target page, the policy's watch probability (states from the training log)."""
    from alignuser.evaluation.baselines import watch_probabilities
    from alignuser.personas.derive import derive_personas
    from alignuser.state import StepContext
    from alignuser.training.trajectories import from_impressions

    inter = policy_ds.interactions
    ctx = StepContext(policy_ds, inter)
    steps = from_impressions(target_pages_ds, history=inter, context=ctx)
    feats = {int(p.user_id): p.to_features()
             for p in derive_personas(inter, policy_ds.catalog, policy_ds.users, None)}  # fmt: skip
    states = [dataclasses.replace(s.state, features=feats.get(int(s.user_id), {})) for s in steps]
    return np.clip(watch_probabilities(policy, states, rng), 0.0, 1.0)


def _policies(policy_ds, names, seed, checkpoint, train_config, train_dir):
    from alignuser.evaluation.protocols import build_policies
    from alignuser.policy.registry import make_policy
    from alignuser.training.calibration import calibrate_choice

    out: dict[str, Any] = {}
    for name in names:
        if name == "choice":
            pol = make_policy("choice")
            calibrate_choice(pol, policy_ds, policy_ds.interactions,
                             max_steps=len(policy_ds.impressions), seed=seed)  # fmt: skip
            out[name] = pol
        elif name == "alignuser" and train_config is not None:
            from alignuser.training.trainer import train

            folder = Path(train_dir) / policy_ds.name
            train(train_config, policy_ds, folder, interactions=policy_ds.interactions)
            out[name] = make_policy("alignuser", model=str(folder / "policy"))
        elif name == "alignuser" and checkpoint:
            ck = checkpoint.get(policy_ds.name) if isinstance(checkpoint, dict) else checkpoint
            if ck:
                out[name] = make_policy("alignuser", model=str(ck))
        elif name != "alignuser":
            out.update(build_policies(policy_ds, policy_ds.interactions, [name], seed))
    return out


def _direction_rows(camp: str, src: str, dst: str, logs: dict, frames: dict,
                    rng: np.random.Generator, seed: int, n_boot: int, policies: Sequence[str],
                    checkpoint, train_config, train_dir) -> list[dict]:  # fmt: skip
    """Rows of one campaign and direction: every method fitted on ``src``, predicting ``dst``.

    The truth is ``dst``'s own CTR with a bootstrap interval (and ``decidable``: whether the
    interval of the true difference excludes 0); the estimators and each simulated policy
    follow, a policy without a checkpoint or train config as "not run".
    """
    tr, te = frames[src], frames[dst]
    n_items = logs[src].n_items
    truth = float(te["click"].mean())
    t_lo, t_hi = _boot(lambda i, c=te["click"].to_numpy(): c[i].mean(), len(te), rng,
                       max(n_boot, 200))  # fmt: skip
    diff = [te["click"].to_numpy()[rng.integers(0, len(te), len(te))].mean()
            - tr["click"].to_numpy()[rng.integers(0, len(tr), len(tr))].mean()
            for _ in range(max(n_boot, 200))]  # fmt: skip
    d_lo, d_hi = np.percentile(diff, [2.5, 97.5])
    base = {"campaign": camp, "train_log": src, "target": dst, "n_train": len(tr),
            "train_clicks": int(tr["click"].sum()), "train_ctr": float(tr["click"].mean()),
            "truth": truth, "truth_lo": t_lo, "truth_hi": t_hi,
            "target_clicks": int(te["click"].sum()),
            "decidable": bool(d_lo > 0 or d_hi < 0)}  # fmt: skip
    pi = target_distribution(te, dst, n_items)
    found = estimator_rows(tr, pi, n_items, rng, n_boot)
    policy_ds, pages = _transfer(logs[src], logs[dst])
    pols = _policies(policy_ds, policies, seed, checkpoint, train_config, train_dir)
    for k, name in enumerate(policies):
        if name not in pols:
            found.append({"method": f"sim_{name}", "status": "not run: no checkpoint "
                          "or train config for this log"})  # fmt: skip
            continue
        w = simulated_ctr(pols[name], policy_ds, pages, np.random.default_rng([seed, k]))
        lo, hi = (_boot(lambda i, w=w: w[i].mean(), len(w), rng, n_boot) if n_boot
                  else (np.nan, np.nan))  # fmt: skip
        found.append({"method": f"sim_{name}", "estimate": float(w.mean()),
                      "est_lo": lo, "est_hi": hi})  # fmt: skip
    rows = []
    for f in found:
        row = {**base, "status": "ok", **f}
        est = row.get("estimate", np.nan)
        row["abs_error"] = abs(est - truth) if np.isfinite(est) else np.nan
        row["in_truth_ci"] = bool(t_lo <= est <= t_hi) if np.isfinite(est) else None
        rows.append(row)
    return rows


def offpolicy_selection(
    root: str | Path,
    campaigns: Sequence[str] = ("all", "men", "women"),
    policies: Sequence[str] = ("choice", "alignuser"),
    seed: int = 0,
    n_boot: int = N_BOOT,
    checkpoint: str | dict | None = None,
    train_config=None,
    train_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Every method's estimate of the other logging policy's CTR, per campaign and direction.

    Args:
        root: The Open Bandit Dataset folder (``{random,bts}/{campaign}/``).
        campaigns: Campaigns to run.
        policies: Simulator user policies (``choice``; ``alignuser`` with ``train_config``
            or ``checkpoint``, else reported as not run; any name of
            :func:`~alignuser.evaluation.protocols.build_policies`).
        seed: Bootstrap, calibration and sampling seed.
        n_boot: Bootstrap resamples of each interval (``0``: none).
        checkpoint: A learned-policy checkpoint, or ``{dataset name: folder}`` per training
            log (e.g. ``{"obd-random-men": DIR}``): a policy is only right on its log.
        train_config: :class:`~alignuser.training.config.TrainConfig`: train the learned
            policy on each training log (into ``train_dir/<log name>``).
        train_dir: Folder of those trainings (required with ``train_config``).

    Returns:
        One row per (campaign, train_log, method): ``target``, ``n_train``,
        ``train_clicks``, ``train_ctr``, ``truth``, ``truth_lo``, ``truth_hi``,
        ``target_clicks``, ``estimate``, ``est_lo``, ``est_hi``, ``abs_error``,
        ``in_truth_ci``, ``order_true``, ``order_pred``, ``order_right``, ``decidable``,
        ``status``.
    """
    from alignuser.data.formats.obd import ObdLoader

    if train_config is not None and train_dir is None:
        raise ValueError("train_config needs train_dir")
    rows = []
    for ci, camp in enumerate(campaigns):
        logs = {p: ObdLoader().load(Path(root), policy=p, campaign=camp) for p in ("random", "bts")}
        frames = {p: _log_frame(ds) for p, ds in logs.items()}
        for di, (src, dst) in enumerate((("random", "bts"), ("bts", "random"))):
            rng = np.random.default_rng([seed, ci, di])
            rows += _direction_rows(camp, src, dst, logs, frames, rng, seed, n_boot, policies,
                                    checkpoint, train_config, train_dir)  # fmt: skip
    cols = ["campaign", "train_log", "target", "method", "estimate", "est_lo", "est_hi",
            "truth", "truth_lo", "truth_hi", "abs_error", "in_truth_ci", "order_true",
            "order_pred", "order_right", "decidable", "n_train", "train_clicks", "train_ctr",
            "target_clicks", "status"]  # fmt: skip
    return order_columns(pd.DataFrame(rows)).reindex(columns=cols)


def order_columns(raw: pd.DataFrame) -> pd.DataFrame:
    """``order_true``, ``order_pred`` and ``order_right`` from the CTRs of each row.

    ``order_right`` is undefined (``None``) where the truth is a tie (both logs' CTRs equal)
    or there is no estimate.
    """
    raw = raw.copy()
    true, pred, right = [], [], []
    for r in raw.itertuples(index=False):
        t = _order(r.target, r.train_log, r.truth, r.train_ctr)
        est = r.estimate if hasattr(r, "estimate") else np.nan
        p = _order(r.target, r.train_log, est, r.train_ctr) if np.isfinite(est) else None
        true.append(t)
        pred.append(p)
        right.append(None if p is None or " = " in t else p == t)
    raw["order_true"], raw["order_pred"], raw["order_right"] = true, pred, right
    return raw


def offpolicy_summary(raw: pd.DataFrame) -> pd.DataFrame:
    """Per method: mean absolute error, share inside the truth's interval, orderings right.

    ``order_right`` is over the rows with an ordering (``n_ordered``: true ties left out),
    ``order_right_decidable`` over the rows whose true ordering is decidable.
    """
    ok = raw[raw["status"] == "ok"].assign(
        order_right=lambda d: pd.to_numeric(d["order_right"].astype(object), errors="coerce"),
        in_truth_ci=lambda d: pd.to_numeric(d["in_truth_ci"].astype(object), errors="coerce"),
    )
    g = ok.groupby("method", sort=False)
    dec = ok[ok["decidable"].astype(bool)].groupby("method", sort=False)["order_right"]
    out = pd.DataFrame({
        "mean_abs_error": g["abs_error"].mean(),
        "in_truth_ci": g["in_truth_ci"].mean(),
        "order_right": g["order_right"].mean(),
        "n_ordered": g["order_right"].count(),
        "n": g.size(),
        "order_right_decidable": dec.mean(),
        "n_decidable": dec.size(),
    }).reset_index()  # fmt: skip
    out["n_decidable"] = out["n_decidable"].fillna(0).astype(int)
    missing = raw[raw["status"] != "ok"].drop_duplicates("method")
    for _, r in missing.iterrows():
        if r["method"] not in set(out["method"]):
            out.loc[len(out)] = {"method": r["method"], "n": 0, "n_decidable": 0}
    out["status"] = [raw.loc[raw["method"] == m, "status"].iloc[0] for m in out["method"]]
    return out
