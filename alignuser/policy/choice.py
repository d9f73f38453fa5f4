"""A calibrated RecSim-style choice model: logistic watch, ordinal rating, fatigue exit.

For every item of the batch (vectorised with numpy)::

    logit P(watch) = b0 + b_aff * affinity + b_pop * popularity * (0.5 + conformity)
                     + b_mean * mean_dev + b_mem * memory + b_pos * position
                     + b_act * (activity - 0.5)
                     + b_soc * friend * social_influence * (0.5 + conformity)
    rating         = clip(round(mid + r0 + r_aff * affinity * half + r_mean * (mean - mid)
                                + r_mem * memory * half + r_bias * rating_bias
                                + r_sigma * N(0, 1)), 1, max_rating)
    logit P(exit)  = e0 + e_page * (page - 1) - e_pat * patience - e_sat * watched_fraction

``affinity`` is the mean over the item's genres of the persona's ``taste`` (``liked_genres``
count +1 and ``disliked_genres`` -1 where ``taste`` has no entry); ``mean_dev`` is
``(mean_rating - mid) / half`` with ``mid``/``half`` the centre and half-range of the scale;
``memory`` is ``(liked - disliked) / (liked + disliked + neutral)`` counted from the item's
``similar`` lines; ``position`` is ``index / (n - 1)`` on the page; ``friend`` is 1 when
the item is in ``features["friend_items"]`` (friends liked it recently: word of mouth),
weighted by ``features["social_influence"]`` (the scenario's ``social.influence``, default 1).
The ordinal rating is an ordered probit with unit-spaced cut points, so
:meth:`ChoiceModelPolicy.fit` estimates every coefficient (and ``r_sigma``) by maximum
likelihood from (state, human action) pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from alignuser.env.actions import PageAction
from alignuser.env.page import PageState
from alignuser.policy.random import assemble_actions

__all__ = [
    "WATCH_TERMS",
    "ChoiceModelPolicy",
    "ChoiceParams",
    "batch",
    "read_features",
    "sigmoid",
    "summary_stats",
]

WATCH_TERMS = ("b0", "b_aff", "b_pop", "b_mean", "b_mem", "b_pos", "b_act", "b_soc")
EXIT_TERMS = ("e0", "e_page", "e_pat", "e_sat")
RATING_TERMS = ("r0", "r_aff", "r_mean", "r_mem", "r_bias")
NEUTRAL = {"rating_bias": 0.0, "patience": 0.5, "conformity": 0.5, "activity": 0.5}


class ChoiceParams(BaseModel):
    """Coefficients of :class:`ChoiceModelPolicy` (defaults: a plausible uncalibrated user)."""

    model_config = ConfigDict(extra="forbid")

    b0: float = -1.2
    b_aff: float = 2.0
    b_pop: float = 1.0
    b_mean: float = 0.8
    b_mem: float = 1.5
    b_pos: float = -0.5
    b_act: float = 1.0
    b_soc: float = 1.5
    e0: float = -1.5
    e_page: float = 0.3
    e_pat: float = 1.5
    e_sat: float = 1.0
    r0: float = 0.0
    r_aff: float = 0.8
    r_mean: float = 0.7
    r_mem: float = 0.4
    r_bias: float = 1.0
    r_sigma: float = 0.8
    s0: float = -0.5
    s_rate: float = 1.5
    s_hit: float = 2.0
    s_noise: float = 1.0

    def vector(self, terms: Sequence[str]) -> np.ndarray:
        """The named coefficients as a float array."""
        return np.array([getattr(self, t) for t in terms], dtype=float)


def read_features(state: PageState) -> dict[str, Any]:
    """The persona side channel of ``state`` with neutral defaults for missing keys."""
    f = state.features or {}
    out: dict[str, Any] = {k: float(f.get(k, v)) for k, v in NEUTRAL.items()}  # type: ignore[arg-type]
    out["liked_genres"] = tuple(f.get("liked_genres", ()))  # type: ignore[arg-type]
    out["disliked_genres"] = tuple(f.get("disliked_genres", ()))  # type: ignore[arg-type]
    out["taste"] = dict(f.get("taste", {}))  # type: ignore[arg-type]
    return out


@dataclass
class _Batch:
    sid: np.ndarray  # item -> state index
    xw: np.ndarray  # (N, 7) watch design
    zr: np.ndarray  # (N, 5) rating design, rating points
    mid: np.ndarray  # (N,)
    max_r: np.ndarray  # (N,)
    n_items: np.ndarray  # (B,)
    page: np.ndarray  # (B,)
    patience: np.ndarray  # (B,)

    def exit_design(self, watched: np.ndarray) -> np.ndarray:
        frac = np.bincount(self.sid, watched, minlength=len(self.page)) / np.maximum(
            self.n_items, 1
        )
        ones = np.ones_like(frac)
        return np.column_stack([ones, self.page - 1.0, -self.patience, -frac])


def batch(states: Sequence[PageState]) -> _Batch:
    """Per-item covariates of a batch (one pass over items, the arithmetic vectorised)."""
    aff, mem, mean, pop, pos, sid, friend = [], [], [], [], [], [], []
    b = len(states)
    n_items = np.zeros(b)
    page, patience, conf, act, bias, max_s = (np.zeros(b) for _ in range(6))
    for i, s in enumerate(states):
        f = read_features(s)
        taste = {g: 1.0 for g in f["liked_genres"]} | {g: -1.0 for g in f["disliked_genres"]}
        taste |= {g: float(v) for g, v in f["taste"].items()}
        friends = (s.features or {}).get("friend_items") or ()
        influence = float((s.features or {}).get("social_influence", 1.0))
        n = len(s.items)
        n_items[i], page[i], max_s[i] = n, s.page, s.max_rating
        patience[i], conf[i], act[i], bias[i] = (
            f["patience"], f["conformity"], f["activity"], f["rating_bias"])  # fmt: skip
        for j, v in enumerate(s.items):
            gs = v.genres
            aff.append(sum(taste.get(g, 0.0) for g in gs) / len(gs) if gs else 0.0)
            liked = disliked = neutral = 0
            for line in v.similar:
                if line.startswith("I liked"):
                    liked += 1
                elif line.startswith("I disliked"):
                    disliked += 1
                elif line.startswith("I felt neutral"):
                    neutral += 1
            total = liked + disliked + neutral
            mem.append((liked - disliked) / total if total else 0.0)
            mean.append(np.nan if v.mean_rating is None else v.mean_rating)
            pop.append(v.popularity)
            pos.append(j / max(n - 1, 1))
            friend.append(influence if v.item_id in friends else 0.0)
            sid.append(i)
    sid_a = np.asarray(sid, dtype=np.int64)
    max_r = max_s[sid_a]
    mid, half = (max_r + 1.0) / 2.0, (max_r - 1.0) / 2.0
    aff_a, mem_a = np.clip(np.asarray(aff), -1, 1), np.asarray(mem)
    mean_dev = np.nan_to_num(np.asarray(mean, dtype=float) - mid)
    ones = np.ones(len(sid_a))
    xw = np.column_stack([
        ones, aff_a, np.asarray(pop) * (0.5 + conf[sid_a]), mean_dev / np.maximum(half, 1e-9),
        mem_a, np.asarray(pos), act[sid_a] - 0.5,
        np.asarray(friend) * (0.5 + conf[sid_a])])  # fmt: skip
    zr = np.column_stack([ones, aff_a * half, mean_dev, mem_a * half, bias[sid_a]])
    xw = xw.reshape(-1, len(WATCH_TERMS))
    return _Batch(sid_a, xw, zr.reshape(-1, 5), mid, max_r, n_items, page, patience)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-x))`` (as ``tanh``: no overflow)."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _logistic_nll(w: np.ndarray, x: np.ndarray, y: np.ndarray, l2: float):
    z = x @ w
    nll = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * np.sum(w[1:] ** 2)
    grad = x.T @ (sigmoid(z) - y) / len(y)
    grad[1:] += l2 * w[1:]
    return nll, grad


def _offset_nll(w: np.ndarray, x: np.ndarray, y: np.ndarray, l2: float, offset: np.ndarray):
    """Logistic NLL with a fixed offset (contribution of the coefficients held fixed)."""
    z = x @ w + offset
    nll = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * np.sum(w[1:] ** 2)
    grad = x.T @ (sigmoid(z) - y) / len(y)
    grad[1:] += l2 * w[1:]
    return nll, grad


def _ordinal_terms(theta: np.ndarray, z: np.ndarray, mid, max_r, r):
    from scipy.special import ndtr

    mu = mid + z @ theta[:-1]
    sigma = np.exp(theta[-1])
    a = np.where(r <= 1, -np.inf, (r - 0.5 - mu) / sigma)
    b = np.where(r >= max_r, np.inf, (r + 0.5 - mu) / sigma)
    p = np.where(a > 0, ndtr(-a) - ndtr(-b), ndtr(b) - ndtr(a))
    return a, b, np.maximum(p, 1e-300), sigma


def _ordinal_nll(theta, z, mid, max_r, r, l2: float):
    a, b, p, sigma = _ordinal_terms(theta, z, mid, max_r, r)
    af, bf = np.where(np.isfinite(a), a, 0.0), np.where(np.isfinite(b), b, 0.0)
    phi_a = np.where(np.isfinite(a), np.exp(-0.5 * af**2), 0.0) / np.sqrt(2 * np.pi)
    phi_b = np.where(np.isfinite(b), np.exp(-0.5 * bf**2), 0.0) / np.sqrt(2 * np.pi)
    d_mu = (phi_a - phi_b) / (sigma * p)
    d_ls = (af * phi_a - bf * phi_b) / p
    n = len(r)
    nll = -np.mean(np.log(p)) + 0.5 * l2 * np.sum(theta[1:-1] ** 2)
    grad = np.concatenate([-(z.T @ d_mu) / n, [-np.mean(d_ls)]])
    grad[1:-1] += l2 * theta[1:-1]
    return nll, grad


def _observed(states: Sequence[PageState], actions: Sequence[PageAction]):
    if len(states) != len(actions):
        raise ValueError(f"fit: {len(states)} states but {len(actions)} actions")
    watch, rating, exits = [], [], []
    for i, (s, a) in enumerate(zip(states, actions)):
        try:
            a.validate_for(s.item_ids, s.max_rating)
        except ValueError as exc:
            raise ValueError(f"fit: action {i} (agent {s.agent_id}): {exc}") from exc
        watch.extend(d.watch for d in a.decisions)
        rating.extend(d.rating or 0 for d in a.decisions)
        exits.append(a.exit)
    return np.asarray(watch, dtype=float), np.asarray(rating, dtype=float), np.asarray(exits, float)


def summary_stats(summary: dict[str, Any]) -> tuple[float, float]:
    """``(rating_norm, hit_rate)`` of a session summary, for satisfaction models.

    Reads ``ratings`` (list) or ``mean_rating``, ``max_rating`` (default 5), ``watched`` /
    ``n_watched`` and ``shown`` / ``n_shown``; ``rating_norm`` is in ``[-1, 1]`` (0 when
    nothing was rated), ``hit_rate`` is watched / shown (0 when nothing was shown).
    """
    max_r = float(summary.get("max_rating", 5))
    ratings = summary.get("ratings")
    mean = float(np.mean(ratings)) if ratings else summary.get("mean_rating")
    watched = summary.get("watched", summary.get("n_watched", len(ratings or ())))
    shown = summary.get("shown", summary.get("n_shown", 0))
    if mean is not None and not np.isfinite(float(mean)):
        mean = None  # a session without watches has no mean rating
    rating_norm = 0.0 if mean is None else (float(mean) - (max_r + 1) / 2) / max((max_r - 1) / 2, 1)
    return float(np.clip(rating_norm, -1, 1)), float(watched) / shown if shown else 0.0


class ChoiceModelPolicy:
    """A RecSim-style choice model over the persona side channel, fitted to human logs.

    Args:
        params: Coefficients; defaults when omitted.
        **overrides: Individual coefficients overriding ``params`` (e.g. ``b_pop=2.0``).

    Example:
        >>> import numpy as np
        >>> from alignuser.testing.policies import random_page_states
        >>> rng = np.random.default_rng(0)
        >>> states = random_page_states(rng, 200)
        >>> teacher = ChoiceModelPolicy(b_aff=3.0)
        >>> student = ChoiceModelPolicy().fit(states, teacher.decide(states, rng))
        >>> student.params.b_aff > 1.0
        True
    """

    name = "choice"

    def __init__(self, params: ChoiceParams | dict[str, Any] | None = None, **overrides: float):
        base = params if isinstance(params, ChoiceParams) else ChoiceParams(**(params or {}))
        self.params = ChoiceParams(**(base.model_dump() | overrides)) if overrides else base

    def decide(self, states: Sequence[PageState], rng: np.random.Generator) -> list[PageAction]:
        """Sample one legal action per state (watch, rating, exit), in order."""
        if not states:
            return []
        p = self.params
        fb = batch(states)
        watch = rng.random(len(fb.sid)) < sigmoid(fb.xw @ p.vector(WATCH_TERMS))
        mu = fb.mid + fb.zr @ p.vector(RATING_TERMS)
        noisy = np.rint(mu + p.r_sigma * rng.standard_normal(len(mu)))
        ratings = np.clip(noisy, 1, fb.max_r).astype(np.int64)
        p_exit = sigmoid(fb.exit_design(watch.astype(float)) @ p.vector(EXIT_TERMS))
        exits = rng.random(len(states)) < p_exit
        return assemble_actions(states, watch, ratings, exits)

    def log_likelihood(
        self, states: Sequence[PageState], actions: Sequence[PageAction]
    ) -> dict[str, float]:
        """Mean log-likelihood per watch decision, per exit decision and per rating."""
        fb = batch(states)
        y, r, ex = _observed(states, actions)
        p = self.params
        out = {
            "watch": -_logistic_nll(p.vector(WATCH_TERMS), fb.xw, y, 0.0)[0] if len(y) else 0.0,
            "exit": -_logistic_nll(p.vector(EXIT_TERMS), fb.exit_design(y), ex, 0.0)[0],
        }
        m = y > 0
        theta = np.append(p.vector(RATING_TERMS), np.log(p.r_sigma))
        out["rating"] = (
            -_ordinal_nll(theta, fb.zr[m], fb.mid[m], fb.max_r[m], r[m], 0.0)[0] if m.any() else 0.0
        )
        return {k: float(v) for k, v in out.items()}

    def fit(
        self, states: Sequence[PageState], actions: Sequence[PageAction], l2: float = 1e-4
    ) -> ChoiceModelPolicy:
        """Fit watch, exit and rating coefficients by maximum likelihood (L-BFGS).

        Args:
            states: Observed states.
            actions: The human action taken in each state (must be legal for it).
            l2: Ridge penalty on non-intercept coefficients (keeps separable data finite).

        Returns:
            ``self``, with :attr:`params` updated.
        """
        from scipy.optimize import minimize

        fb = batch(states)
        y, r, ex = _observed(states, actions)
        p, upd = self.params, {}
        jobs = [(WATCH_TERMS, fb.xw, y), (EXIT_TERMS, fb.exit_design(y), ex)]
        for terms, x, target in jobs:
            if len(target):
                # a covariate that never varies from 0 in the data (e.g. the word-of-mouth
                # term when the logs have no social graph) is not identifiable: keep its
                # coefficient instead of letting the ridge shrink it to 0
                free = np.flatnonzero(np.any(x != 0, axis=0))
                w0 = p.vector(terms)
                offset = x @ w0 - x[:, free] @ w0[free]
                res = minimize(
                    _offset_nll, w0[free], (x[:, free], target, l2, offset), "L-BFGS-B", jac=True
                )
                upd |= dict(zip([terms[i] for i in free], res.x.tolist()))
        m = y > 0
        if m.any():
            theta0 = np.append(p.vector(RATING_TERMS), np.log(p.r_sigma))
            args = (fb.zr[m], fb.mid[m], fb.max_r[m], r[m], l2)
            res = minimize(_ordinal_nll, theta0, args, "L-BFGS-B", jac=True)
            upd |= dict(zip(RATING_TERMS, res.x[:-1].tolist())) | {
                "r_sigma": float(np.exp(res.x[-1]))
            }
        self.params = p.model_copy(update=upd)
        return self

    def satisfaction(
        self, summaries: Sequence[dict[str, Any]], rng: np.random.Generator
    ) -> list[int]:
        """1..10 score per session: higher for better ratings and more hits (see summary_stats)."""
        if not summaries:
            return []
        p = self.params
        stats = np.array([summary_stats(s) for s in summaries], dtype=float).reshape(-1, 2)
        z = p.s0 + p.s_rate * stats[:, 0] + p.s_hit * stats[:, 1]
        score = 1 + 9 * sigmoid(z) + p.s_noise * rng.standard_normal(len(z))
        return np.clip(np.rint(score), 1, 10).astype(int).tolist()

    def get_state(self) -> dict[str, Any]:
        """JSON-able state (the coefficients)."""
        return {"params": self.params.model_dump()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned."""
        self.params = ChoiceParams(**state["params"])
