"""Baseline user policies and the scoring hooks the alignment protocols read.

Baselines (each a :class:`~alignuser.interfaces.Policy`):

* :class:`PopularityPolicy`: watches the ``watch_fraction`` most popular items of each page
  (popularity percentile from the page), rates an item its rounded historical mean rating.
* :class:`MFUserPolicy`: a matrix-factorisation user model. An implicit recommender (EASE by
  default) scores every item for the user; the item is watched when its score is above a
  per-user threshold fitted on train (the midpoint between the median score of the user's
  train items and the median score of as many random never-interacted items). The rating is
  the baseline predictor ``global mean + item bias + user bias`` (damped, fitted on the rated
  train rows).

Scoring hooks (:func:`watch_probabilities`, :func:`expected_ratings`) give, per item of a
batch of pages, the policy's watch probability and its expected rating *given a watch*:

* ``watch_scores`` / ``rating_expectations`` methods when a policy has them (the baselines);
* :class:`~alignuser.policy.choice.ChoiceModelPolicy`: its documented formulas, ``σ(x·b)``
  and the expectation of ``clip(round(μ + σ_r·N(0,1)), 1, max)`` (exact, from the normal
  CDF);
* policies with ``scores(states)`` returning ``PageScores`` (AlignUSER): ``watch`` and
  ``Σ r·P(r)``;
* anything else: Monte-Carlo over ``n_samples`` seeded :meth:`decide` calls (watch
  frequency; mean of the sampled ratings of watched draws, the scale's midpoint when none);
* a :class:`~alignuser.policy.chat.ChatModelPolicy` (the ``chat`` baseline): **one**
  :meth:`decide` call (each costs a model call per page, and repeated draws of a
  temperature-0 model are the same), so its "probabilities" are its 0/1 decisions and its
  rating is the one it gave (the midpoint for items it skipped).

Example:
    >>> import numpy as np
    >>> from alignuser.env.page import ItemView, PageState
    >>> s = PageState(0, "", 1, (ItemView(1, "A", popularity=0.9), ItemView(2, "B")))
    >>> PopularityPolicy().decide([s], np.random.default_rng(0))[0].watched
    (1,)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from alignuser.env.actions import PageAction
from alignuser.env.page import PageState
from alignuser.env.views import RATING_DAMPING
from alignuser.policy.random import assemble_actions

__all__ = [
    "MFUserPolicy",
    "PopularityPolicy",
    "decide_watch",
    "expected_ratings",
    "is_choice",
    "page_sizes",
    "watch_probabilities",
]


def page_sizes(states: Sequence[PageState]) -> np.ndarray:
    """Number of items of each page."""
    return np.fromiter((len(s.items) for s in states), dtype=np.int64, count=len(states))


def _mid(states: Sequence[PageState]) -> np.ndarray:
    return np.repeat([(s.max_rating + 1) / 2.0 for s in states], page_sizes(states))


class PopularityPolicy:
    """Watches the most popular items of each page; rates the historical mean.

    Args:
        watch_fraction: Share of each page watched (at least one item per non-empty page).
        exit_prob: Probability of leaving after each page.

    Example:
        >>> PopularityPolicy(watch_fraction=0.25).watch_fraction
        0.25
    """

    name = "popularity"

    def __init__(self, watch_fraction: float = 0.5, exit_prob: float = 0.3):
        self.watch_fraction = float(watch_fraction)
        self.exit_prob = float(exit_prob)

    def watch_scores(self, states: Sequence[PageState]) -> np.ndarray:
        """Popularity percentile per item (the ranking score)."""
        return np.array([v.popularity for s in states for v in s.items], dtype=float)

    def rating_expectations(self, states: Sequence[PageState]) -> np.ndarray:
        """Historical mean rating per item (the scale's midpoint when unknown)."""
        mid = _mid(states)
        means = np.array(
            [np.nan if v.mean_rating is None else v.mean_rating for s in states for v in s.items],
            dtype=float,
        )
        return np.where(np.isfinite(means), means, mid)

    def decide(self, states: Sequence[PageState], rng: np.random.Generator) -> list[PageAction]:
        """Watch the top ``watch_fraction`` of each page by popularity (ties: page order)."""
        if not states:
            return []
        pop = self.watch_scores(states)
        watch = np.zeros(len(pop), dtype=bool)
        k = 0
        for s in states:
            n = len(s.items)
            if n:
                m = max(1, round(self.watch_fraction * n))
                order = np.argsort(-pop[k : k + n], kind="stable")[:m]
                watch[k + order] = True
            k += n
        max_r = np.repeat([s.max_rating for s in states], page_sizes(states))
        ratings = np.clip(np.rint(self.rating_expectations(states)), 1, max_r).astype(np.int64)
        exits = rng.random(len(states)) < self.exit_prob
        return assemble_actions(states, watch, ratings, exits)


def _user(state: PageState) -> int:
    """The dataset user of a state: ``features["user_id"]`` in simulations, else the agent."""
    return int(state.features.get("user_id", state.agent_id))


class MFUserPolicy:
    """A matrix-factorisation user model: recommender score vs a per-user threshold.

    Args:
        recommender: Registry name of an implicit scoring recommender (``"ease"``, ``"bpr"``).
        damping: Shrinkage of item and user rating biases towards zero.
        exit_prob: Probability of leaving after each page.
        seed: Seed of the negatives used to fit thresholds.
        **params: Passed to the recommender.

    Example:
        >>> policy = MFUserPolicy("ease", l2=100.0)  # doctest: +SKIP
        >>> policy.fit(split.train, dataset.catalog)  # doctest: +SKIP
    """

    name = "mf"

    def __init__(
        self,
        recommender: str = "ease",
        damping: float = RATING_DAMPING,
        exit_prob: float = 0.3,
        seed: int = 0,
        **params: Any,
    ):
        self.recommender_name, self.params = recommender, params
        self.damping, self.exit_prob, self.seed = float(damping), float(exit_prob), int(seed)
        self.rec = None

    def fit(self, train, catalog) -> MFUserPolicy:
        """Fit the recommender, the per-user thresholds and the rating biases on ``train``."""
        from alignuser.recommenders.registry import make_recommender

        rng = np.random.default_rng(self.seed)
        self.rec = make_recommender(self.recommender_name, **self.params).fit(train, catalog)
        self.n_items = catalog.n_items
        df = train.df
        users = np.unique(df["user_id"].to_numpy())
        n_users = int(users.max()) + 1 if len(users) else 0
        self.threshold = np.full(n_users, np.nan)
        self.pop_threshold = 0.0
        by_user = df.groupby("user_id")["item_id"].agg(lambda x: np.unique(x.to_numpy()))
        for lo in range(0, len(users), 512):
            batch = users[lo : lo + 512]
            scores = np.asarray(self.rec.score(batch), dtype=float)
            for row, u in zip(scores, batch):
                pos = by_user[u]
                neg_pool = np.setdiff1d(np.arange(self.n_items), pos, assume_unique=True)
                neg = rng.choice(neg_pool, min(len(pos), len(neg_pool)), replace=False)
                if len(neg):
                    self.threshold[u] = 0.5 * (np.median(row[pos]) + np.median(row[neg]))
        self._fit_ratings(df)
        return self

    def _fit_ratings(self, df) -> None:
        rated = df.dropna(subset=["rating"])
        self.global_mean = float(rated["rating"].mean()) if len(rated) else np.nan
        self.item_bias = np.zeros(self.n_items)
        self.user_bias: dict[int, float] = {}
        if not len(rated):
            return
        dev = rated["rating"] - self.global_mean
        g = dev.groupby(rated["item_id"])
        self.item_bias[g.sum().index.to_numpy()] = (g.sum() / (g.count() + self.damping)).to_numpy()
        resid = dev - self.item_bias[rated["item_id"].to_numpy()]
        gu = resid.groupby(rated["user_id"])
        self.user_bias = (gu.sum() / (gu.count() + self.damping)).to_dict()

    def _check(self) -> None:
        if self.rec is None:
            raise RuntimeError("MFUserPolicy: call fit(train, catalog) first")

    def watch_scores(self, states: Sequence[PageState]) -> np.ndarray:
        """Recommender score minus the user's threshold, per item (> 0 means watch)."""
        self._check()
        users = np.array([_user(s) for s in states], dtype=np.int64)
        uniq, inv = np.unique(users, return_inverse=True)
        known = uniq < len(self.threshold)
        scores = np.asarray(self.rec.score(np.where(known, uniq, 0)), dtype=float)
        thr = np.where(known, self.threshold[np.minimum(uniq, len(self.threshold) - 1)], np.nan)
        out = []
        for i, s in enumerate(states):
            row, t = scores[inv[i]], thr[inv[i]]
            for v in s.items:
                if not known[inv[i]] or not np.isfinite(t):
                    out.append(v.popularity - 0.5)  # cold user: popularity above median
                else:
                    out.append(row[v.item_id] - t)
        return np.asarray(out, dtype=float)

    def rating_expectations(self, states: Sequence[PageState]) -> np.ndarray:
        """``global mean + item bias + user bias`` per item (the midpoint without ratings)."""
        self._check()
        mid = _mid(states)
        if not np.isfinite(self.global_mean):
            return mid
        vals = [
            self.global_mean + self.item_bias[v.item_id] + self.user_bias.get(_user(s), 0.0)
            for s in states
            for v in s.items
        ]
        max_r = np.repeat([s.max_rating for s in states], page_sizes(states))
        return np.clip(np.asarray(vals, dtype=float), 1, max_r)

    def decide(self, states: Sequence[PageState], rng: np.random.Generator) -> list[PageAction]:
        """Watch items scoring above the user's threshold; rate with the bias model."""
        if not states:
            return []
        watch = self.watch_scores(states) > 0
        max_r = np.repeat([s.max_rating for s in states], page_sizes(states))
        ratings = np.clip(np.rint(self.rating_expectations(states)), 1, max_r).astype(np.int64)
        exits = rng.random(len(states)) < self.exit_prob
        return assemble_actions(states, watch, ratings, exits)


def _choice_terms(policy, states):
    from alignuser.policy.choice import RATING_TERMS, WATCH_TERMS, batch

    fb = batch(states)
    p = policy.params
    return fb, fb.xw @ p.vector(WATCH_TERMS), fb.mid + fb.zr @ p.vector(RATING_TERMS)


def is_choice(policy) -> bool:
    """Whether ``policy`` is a :class:`~alignuser.policy.choice.ChoiceModelPolicy`."""
    from alignuser.policy.choice import ChoiceModelPolicy

    return isinstance(policy, ChoiceModelPolicy)


def _draws(policy, n_samples: int) -> int:
    """Monte-Carlo draws for ``policy``: one for a chat model (see the module docstring)."""
    from alignuser.evaluation.chat_baseline import is_chat

    return 1 if is_chat(policy) else n_samples


def _monte_carlo(policy, states, rng, n_samples):
    n = int(page_sizes(states).sum())
    watch, rsum = np.zeros(n), np.zeros(n)
    for _ in range(n_samples):
        acts = policy.decide(states, rng)
        flat = [d for a in acts for d in a.decisions]
        w = np.array([d.watch for d in flat], dtype=float)
        watch += w
        rsum += np.array([d.rating or 0 for d in flat], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        rating = np.where(watch > 0, rsum / np.maximum(watch, 1), _mid(states))
    return watch / n_samples, rating


def watch_probabilities(
    policy, states: Sequence[PageState], rng: np.random.Generator, n_samples: int = 20
) -> np.ndarray:
    """Per item of the batch (pages concatenated), the policy's watch score.

    A probability for the choice, AlignUSER and sampled policies; a monotone score for the
    baselines (:meth:`watch_scores`, decision threshold 0 for :class:`MFUserPolicy`).
    """
    if not states:
        return np.zeros(0)
    if hasattr(policy, "watch_scores"):
        return np.asarray(policy.watch_scores(states), dtype=float)
    if is_choice(policy):
        from alignuser.policy.choice import sigmoid

        return sigmoid(_choice_terms(policy, states)[1])
    if hasattr(policy, "scores"):
        return np.concatenate([np.asarray(sc.watch, float) for sc in policy.scores(states)])
    return _monte_carlo(policy, states, rng, _draws(policy, n_samples))[0]


def decide_watch(
    policy,
    states: Sequence[PageState],
    rng: np.random.Generator,
    mode: str = "sample",
    n_samples: int = 20,
) -> np.ndarray:
    """Watch decisions per item of the batch.

    ``mode="sample"``: Bernoulli draws from the policy's own watch probability (choice,
    AlignUSER) or one seeded :meth:`decide` call (others): what the policy does in a simulation.
    ``mode="greedy"``: ``P(watch) >= 0.5`` for choice / AlignUSER; the baselines' ``decide`` is
    deterministic already; random policies still draw (they have no mode).
    """
    if mode not in ("sample", "greedy"):
        raise ValueError(f"mode must be 'sample' or 'greedy', got {mode!r}")
    if not states:
        return np.zeros(0, dtype=bool)
    if is_choice(policy) or (hasattr(policy, "scores") and not hasattr(policy, "watch_scores")):
        p = watch_probabilities(policy, states, rng, n_samples)
        return p >= 0.5 if mode == "greedy" else rng.random(len(p)) < p
    acts = policy.decide(states, rng)
    return np.array([d.watch for a in acts for d in a.decisions], dtype=bool)


def _ordered_probit_mean(mu: np.ndarray, sigma: float, max_r: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    out = np.zeros_like(mu)
    for r in range(1, int(max_r.max()) + 1):
        lo = np.where(r <= 1, -np.inf, (r - 0.5 - mu) / sigma)
        hi = np.where(r >= max_r, np.inf, (r + 0.5 - mu) / sigma)
        out += np.where(r <= max_r, r * (ndtr(hi) - ndtr(lo)), 0.0)
    return out


def expected_ratings(
    policy, states: Sequence[PageState], rng: np.random.Generator, n_samples: int = 20
) -> np.ndarray:
    """Per item of the batch, the policy's expected rating given that it watches the item."""
    if not states:
        return np.zeros(0)
    if hasattr(policy, "rating_expectations"):
        return np.asarray(policy.rating_expectations(states), dtype=float)
    if is_choice(policy):
        fb, _, mu = _choice_terms(policy, states)
        return _ordered_probit_mean(mu, float(policy.params.r_sigma), fb.max_r)
    if hasattr(policy, "scores"):
        values = getattr(policy, "rating_values", None)  # what each class stands for
        out = []
        for sc in policy.scores(states):
            pr = np.asarray(sc.rating, dtype=float)
            pr = pr / pr.sum(axis=1, keepdims=True)
            v = np.arange(1.0, pr.shape[1] + 1) if values is None else np.asarray(values)
            out.append(pr @ v[: pr.shape[1]])
        return np.concatenate(out)
    return _monte_carlo(policy, states, rng, _draws(policy, n_samples))[1]
