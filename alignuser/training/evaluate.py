"""Decision metrics of a policy model on held-out steps (no sampling: its probabilities).

``watch_auc`` (P(watch) vs the human's watch), ``watch_accuracy`` (greedy) against the
``watch_majority`` baseline, ``rating_rmse`` (expected rating vs the human's, watched items),
``exit_accuracy`` and ``bc_nll`` (mean negative log-likelihood per decision).

Example:
    >>> from alignuser.training.evaluate import auc
    >>> auc([0.9, 0.1, 0.8], [1, 0, 0])
    1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["auc", "calibrate_rating", "calibrate_watch", "evaluate_policy", "fit_platt"]


def auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve (Mann-Whitney, ties averaged); NaN with one class."""
    from scipy.stats import rankdata

    s, y = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate_policy(model, steps: Sequence, batch_size: int = 64) -> dict[str, float]:
    """Score every step's page and compare with the human action."""
    if not steps:
        return {}
    scores = model.score([s.state for s in steps], batch_size=batch_size)
    pw, yw, nll, r_err, x_ok = [], [], [], [], []
    for sc, st in zip(scores, steps):
        for i, d in enumerate(st.action.decisions):
            p = float(np.clip(sc.watch[i], 1e-7, 1 - 1e-7))
            pw.append(p)
            yw.append(int(d.watch))
            nll.append(-np.log(p if d.watch else 1 - p))
            if d.watch:
                pr = sc.rating[i]
                r_err.append(float(np.dot(pr, np.arange(1, len(pr) + 1))) - d.rating)
                nll.append(-np.log(max(float(pr[d.rating - 1]), 1e-7)))
        px = float(np.clip(sc.exit, 1e-7, 1 - 1e-7))
        x_ok.append(float((px >= 0.5) == st.action.exit))
        nll.append(-np.log(px if st.action.exit else 1 - px))
    pw_a, yw_a = np.asarray(pw), np.asarray(yw)
    base = max(yw_a.mean(), 1 - yw_a.mean()) if len(yw_a) else float("nan")
    return {
        "watch_auc": auc(pw_a, yw_a),
        "watch_accuracy": float(((pw_a >= 0.5) == yw_a).mean()) if len(yw_a) else float("nan"),
        "watch_majority": float(base),
        "rating_rmse": float(np.sqrt(np.mean(np.square(r_err)))) if r_err else float("nan"),
        "exit_accuracy": float(np.mean(x_ok)),
        "bc_nll": float(np.mean(nll)),
        "n_steps": len(steps),
    }


def calibrate_watch(model, steps: Sequence, batch_size: int = 64) -> dict[str, float]:
    """Calibrate and weigh the watch decision on held-out steps (Platt scaling, stacked).

    Fits ``P(watch) = sigmoid(a * lm + c * cues + b)`` to the human decisions by logistic
    regression (L-BFGS, deterministic), where ``lm`` and ``cues`` are the two parts of the
    model's uncalibrated watch logit (:meth:`~alignuser.policy.model.PolicyModel.watch_parts`;
    without a cue head, one scale ``a`` for the logit). The result goes to ``policy.json``
    (``info["calibration"]``) and every later :meth:`score` applies it, so a simulation's
    watch rate matches the human watch rate of pages like the training ones, and the
    language model's part weighs what it adds on held-out pages: ``a`` near 0 says it adds
    nothing beside the cues.

    Returns:
        ``{"watch_scale": a, "cue_scale": c, "watch_bias": b, "human_rate": ..., "n": ...}``
        (no ``cue_scale`` without a cue head).
    """
    parts = model.watch_parts([s.state for s in steps], batch_size=batch_size)
    y = np.asarray([int(d.watch) for s in steps for d in s.action.decisions], dtype=np.float32)
    stacked = bool(np.any(parts["cues"]))
    cols = [parts["lm"], parts["cues"]] if stacked else [parts["lm"] + parts["cues"]]
    ws, bias = fit_platt(np.stack(cols, 1), y)
    out = {"watch_scale": ws[0], "watch_bias": bias}
    if stacked:
        out["cue_scale"] = ws[1]
    return {**out, "human_rate": float(y.mean()), "n": len(y)}


def calibrate_rating(
    model, steps: Sequence, values: Sequence[float], rating_mse: float = 0.0, batch_size: int = 64
) -> dict[str, Any]:
    """Weigh the two parts of the rating logits on held-out steps (stacked, as the watch).

    Fits ``logits = a * lm + c * cues + b_k`` (a per-class bias ``b``) to the human ratings
    of the watched items by the training objective (cross-entropy plus ``rating_mse``
    times the squared error of the expected rating on the class ``values``; L-BFGS from
    the identity, deterministic, a small ridge towards it). The language model's part
    learns what the cues leave unexplained on the training pages; held-out pages say how
    much of it carries over (``a`` near 0: none).

    Returns:
        ``{"rating_scale": a, "rating_cue_scale": c, "rating_bias": [...],
        "rating_rmse_before": ..., "rating_rmse_after": ..., "rating_n": ...}``, or ``{}``
        with fewer than 50 rated decisions.
    """
    import torch
    import torch.nn.functional as F

    from alignuser.policy.cues import rating_sq_error

    parts = model.rating_parts([s.state for s in steps], batch_size=batch_size)
    dec = [d for s in steps for d in s.action.decisions]
    n_r = parts["lm"].shape[1]
    keep = [j for j, d in enumerate(dec) if d.watch and d.rating is not None]
    if len(keep) < 50:
        return {}
    lm = torch.from_numpy(parts["lm"][keep].astype(np.float32))
    cue = torch.from_numpy(parts["cues"][keep].astype(np.float32))
    y = torch.tensor([min(max(int(dec[j].rating), 1), n_r) - 1 for j in keep])
    v = torch.tensor(list(values)[:n_r], dtype=torch.float32)
    w = torch.ones(2, requires_grad=True)
    b = torch.zeros(n_r, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def objective():
        z = w[0] * lm + w[1] * cue + b
        return F.cross_entropy(z, y) + rating_mse * rating_sq_error(z, y, v)

    def closure():
        opt.zero_grad()
        loss = objective() + 1e-3 * ((w - 1) ** 2).sum() + 1e-3 * (b**2).sum()
        loss.backward()
        return loss

    def rmse(z):
        return float(torch.sqrt(((torch.softmax(z, -1) @ v - v[y]) ** 2).mean()))

    before = rmse(lm + cue)
    opt.step(closure)
    with torch.no_grad():
        after = rmse(w[0] * lm + w[1] * cue + b)
    return {
        "rating_scale": float(w.detach()[0]),
        "rating_cue_scale": float(w.detach()[1]),
        "rating_bias": [round(float(x), 5) for x in b.detach()],
        "rating_rmse_before": before,
        "rating_rmse_after": after,
        "rating_n": len(keep),
    }


def fit_platt(x, y, l2: float = 1e-4) -> tuple[list[float], float]:
    """Logistic regression ``sigmoid(x @ w + b)`` of labels ``y`` on logit columns ``x``.

    Full-batch L-BFGS from ``w = 1, b = 0`` (deterministic), a small ridge on ``w``; with
    labels of one class only, the identity is returned. Returns ``(w, b)``.
    """
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.asarray(x, dtype=np.float32).reshape(len(y), -1))
    t = torch.from_numpy(np.asarray(y, dtype=np.float32))
    w = torch.ones(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(x @ w + b, t) + l2 * (w**2).sum()
        loss.backward()
        return loss

    if 0 < float(t.sum()) < len(t):
        opt.step(closure)
    return [float(v) for v in w.detach()], float(b.detach()[0])
