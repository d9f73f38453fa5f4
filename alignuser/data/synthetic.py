"""The embedded, seeded synthetic world: items, users with latent traits, a known choice model.

It is the default data of the demo and the fast tests, and the *known truth* for two checks:
that a learned policy recovers a known behaviour (:meth:`SyntheticWorld.sample_action`), and
that system selection ranks recommenders by their true online outcome
(:meth:`SyntheticWorld.simulate_online`). Everything is numpy, seeded by ``seed``.

The true model (coefficients in :class:`ChoiceModel`, ``σ`` the logistic function). Items
have 1-3 genres, a quality ``q_i ~ N(0,1)`` and a popularity ``π_i ~ N(0,1)`` (correlated with
quality) whose prior ``∝ exp(1.3·π_i)`` is long-tailed and drives the popularity logger.
Users have a taste ``τ_u`` over genres (1-3 liked, 1-2 disliked), pickiness ``κ_u``,
conformity ``c_u ∈ (0,1)``, patience ``ρ_u``, activity (sessions, mean 1) and diversity
(breadth of taste: more liked genres, flatter).

* affinity: ``a(u,i) = mean of τ_u[g] over the genres g of i``
* watch, item at 0-based position ``j`` of 1-based page ``p``::

      P(watch) = σ(b_w + w_a·a(u,i) + w_q·q_i + w_c·c_u·π_i − w_j·j − w_f·(p−1))

* rating on ``1..max`` (ordinal, cumulative logit), ``r = r_a·a(u,i) + r_q·q_i − κ_u``::

      P(rating ≤ k) = σ(θ_k − r),  θ = linspace(θ_low, θ_high, max−1)

* exit after page ``p`` with ``n`` items watched on it (the session ends anyway after
  ``max_pages``)::

      P(exit) = σ(b_e + e_p·(p−1) − e_s·n − e_t·ρ_u)

Logs (:meth:`SyntheticWorld.dataset`) run sessions page by page under a logging recommender;
timing is described in :mod:`alignuser.data.synthetic_sessions`.

Example:
    >>> from alignuser.data.synthetic import SyntheticWorld
    >>> world = SyntheticWorld(n_users=50, n_items=80, seed=0)
    >>> ds = world.dataset(n_sessions_per_user=2)
    >>> ds.name, ds.n_items
    ('synthetic', 80)
    >>> out = world.simulate_online(world.oracle_recommend, seed=0)
    >>> out["click_rate"] > world.simulate_online("random", seed=0)["click_rate"]
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd

from alignuser.data.dataset import Dataset, RatingScale
from alignuser.data.synthetic_population import draw_items, draw_users
from alignuser.data.synthetic_sessions import PageBatch, resolve_policy, run_sessions, top_k
from alignuser.data.tables import Catalog, Impressions, Interactions, Users

__all__ = ["ChoiceModel", "PageBatch", "RecommendFn", "SyntheticWorld"]

RecommendFn = Callable[[np.ndarray, int, list[np.ndarray]], np.ndarray]
"""``(user_ids, k, exclude) -> (len(user_ids), k)`` item ids, ``-1`` padded (a Recommender's
``recommend``)."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class ChoiceModel:
    """Coefficients of the true behaviour model (formulas in the module docstring)."""

    watch_bias: float = -1.2
    watch_affinity: float = 1.6
    watch_quality: float = 0.6
    watch_popularity: float = 0.8
    position_decay: float = 0.25
    page_fatigue: float = 0.15
    rating_affinity: float = 1.2
    rating_quality: float = 0.6
    rating_cut_low: float = -2.8
    rating_cut_high: float = 2.6
    exit_bias: float = -1.2
    exit_page: float = 0.4
    exit_satisfaction: float = 0.5
    exit_patience: float = 0.7


@dataclass(frozen=True)
class SyntheticWorld:
    """A seeded world with a known ground-truth user model.

    Args:
        n_users: Number of users.
        n_items: Number of items.
        n_genres: Number of genres ("Action", "Comedy", ...).
        max_rating: Top of the ``1..max`` rating scale.
        seed: Seed of everything latent (items, users); logs take their own seed too.
        model: Coefficients of the choice model.

    Attributes:
        genres: Genre names (``"Genre 19"``... past the 18 embedded ones).
        item_genres: ``(n_items, n_genres)`` genre weights, each row averaging the genres.
        quality: Item quality ``q_i``.
        popularity: Standardised item popularity ``π_i``; ``popularity_prior`` sums to 1.
        taste: ``(n_users, n_genres)`` taste ``τ_u``.
        traits: Per-user latent traits (see :meth:`users_frame`).

    Example:
        >>> world = SyntheticWorld(n_users=20, n_items=30, seed=1)
        >>> p = world.watch_prob([0, 0], [3, 3], positions=[0, 3])
        >>> bool(p[0] > p[1])
        True
        >>> sorted(world.users_frame().columns)[:3]
        ['activity', 'conformity', 'disliked']
    """

    n_users: int = 500
    n_items: int = 400
    n_genres: int = 12
    max_rating: int = 5
    seed: int = 0
    model: ChoiceModel = field(default_factory=ChoiceModel)
    genres: list[str] = field(init=False, repr=False, compare=False)
    item_genres: np.ndarray = field(init=False, repr=False, compare=False)
    quality: np.ndarray = field(init=False, repr=False, compare=False)
    popularity: np.ndarray = field(init=False, repr=False, compare=False)
    popularity_prior: np.ndarray = field(init=False, repr=False, compare=False)
    taste: np.ndarray = field(init=False, repr=False, compare=False)
    traits: pd.DataFrame = field(init=False, repr=False, compare=False)
    _items: pd.DataFrame = field(init=False, repr=False, compare=False)
    _demographics: dict = field(init=False, repr=False, compare=False)
    _genre_freq: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        for name, low in (("n_users", 1), ("n_items", 1), ("n_genres", 2), ("max_rating", 2)):
            if int(getattr(self, name)) < low:
                raise ValueError(
                    f"SyntheticWorld.{name} must be >= {low}, got {getattr(self, name)}"
                )
        rng = np.random.default_rng([int(self.seed), 0])
        self._set(**draw_items(rng, self.n_items, self.n_genres))
        self._set(**draw_users(rng, self.n_users, self.genres, self._genre_freq))

    def _set(self, **values) -> None:
        for key, value in values.items():
            object.__setattr__(self, key, value)

    # ------------------------------------------------------------------ tables

    def config(self) -> dict[str, object]:
        """The constructor arguments as a plain dict (what ``Dataset.meta["world"]`` holds)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        out["model"] = asdict(self.model)
        return out

    def catalog(self, interactions: Interactions | None = None) -> Catalog:
        """The catalog; popularity and mean rating come from ``interactions`` when given."""
        cat = Catalog.from_frame(self._items)
        return cat.with_statistics(interactions) if interactions is not None else cat

    def users(self) -> Users:
        """Demographics (age bucket, gender, occupation), drawn at random."""
        frame = pd.DataFrame({"user_id": np.arange(self.n_users), **self._demographics})
        frame["external_id"] = [str(u) for u in range(self.n_users)]
        return Users.from_frame(frame)

    def users_frame(self) -> pd.DataFrame:
        """Latent traits per user, plus one ``taste_<genre>`` column per genre."""
        taste = pd.DataFrame(self.taste, columns=[f"taste_{g}" for g in self.genres])
        return pd.concat([self.traits, taste], axis=1)

    def items_frame(self) -> pd.DataFrame:
        """Latent item terms: quality, standardised popularity, popularity prior."""
        return pd.DataFrame(
            {
                "item_id": np.arange(self.n_items),
                "quality": self.quality,
                "popularity": self.popularity,
                "popularity_prior": self.popularity_prior,
            }
        )

    # ------------------------------------------------------------------ the true model

    def affinity(self, user_ids, item_ids) -> np.ndarray:
        """Taste-genre affinity ``a(u,i)``; arguments broadcast (numpy rules)."""
        u, i = np.broadcast_arrays(np.asarray(user_ids), np.asarray(item_ids))
        return np.einsum("...g,...g->...", self.taste[u], self.item_genres[np.maximum(i, 0)])

    def _base_logit(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        m, ic = self.model, np.maximum(i, 0)
        conf = self.traits["conformity"].to_numpy()[u]
        return (
            m.watch_bias
            + m.watch_affinity * self.affinity(u, i)
            + m.watch_quality * self.quality[ic]
            + m.watch_popularity * conf * self.popularity[ic]
        )

    def watch_prob(self, user_ids, item_ids, positions=0, pages=1) -> np.ndarray:
        """True ``P(watch)``; positions 0-based, pages 1-based; ``-1`` items give 0."""
        u, i, j, p = np.broadcast_arrays(*map(np.asarray, (user_ids, item_ids, positions, pages)))
        m = self.model
        logit = self._base_logit(u, i) - m.position_decay * j - m.page_fatigue * (p - 1)
        return np.where(i >= 0, _sigmoid(logit), 0.0)

    def rating_dist(self, user_ids, item_ids) -> np.ndarray:
        """True rating distribution, shape ``(*broadcast, max_rating)`` over ``1..max``."""
        u, i = np.broadcast_arrays(np.asarray(user_ids), np.asarray(item_ids))
        m = self.model
        pick = self.traits["pickiness"].to_numpy()[u]
        r = m.rating_affinity * self.affinity(u, i)
        r = r + m.rating_quality * self.quality[np.maximum(i, 0)] - pick
        cuts = np.linspace(m.rating_cut_low, m.rating_cut_high, self.max_rating - 1)
        cdf = _sigmoid(cuts - r[..., None])
        cdf = np.concatenate([cdf, np.ones((*r.shape, 1))], axis=-1)
        return np.diff(cdf, axis=-1, prepend=0.0)

    def exit_prob(self, user_ids, pages, n_watched_on_page) -> np.ndarray:
        """True ``P(exit)`` after a page; arguments broadcast."""
        u, p, n = np.broadcast_arrays(*map(np.asarray, (user_ids, pages, n_watched_on_page)))
        m = self.model
        patience = self.traits["patience"].to_numpy()[u]
        logit = m.exit_bias + m.exit_page * (p - 1) - m.exit_satisfaction * n
        return _sigmoid(logit - m.exit_patience * patience)

    def decide(self, user_ids, item_ids, pages, u_watch, u_rating, u_exit) -> PageBatch:
        """Decisions for pages ``item_ids`` ``(n, k)`` given uniforms (common random numbers)."""
        u, items = np.asarray(user_ids), np.asarray(item_ids)
        pages = np.broadcast_to(np.asarray(pages), u.shape)
        k = items.shape[1]
        watched = u_watch < self.watch_prob(u[:, None], items, np.arange(k), pages[:, None])
        cdf = np.cumsum(self.rating_dist(u[:, None], items), axis=-1)[..., :-1]
        ratings = 1 + (u_rating[..., None] > cdf).sum(-1)
        exit_ = u_exit < self.exit_prob(u, pages, watched.sum(1))
        return PageBatch(items, watched, np.where(watched, ratings, 0), exit_)

    def sample_action(self, user_ids, item_ids, pages, rng: np.random.Generator) -> PageBatch:
        """Draw whole page actions (watch, rating, exit) for a batch of pages.

        Args:
            user_ids: ``(n,)`` users.
            item_ids: ``(n, k)`` items shown, in order (``-1`` = empty slot).
            pages: 1-based page number(s), scalar or ``(n,)``.
            rng: Seeded generator.

        Returns:
            A :class:`PageBatch`; ``.actions()`` gives :class:`~alignuser.env.actions.PageAction`.
        """
        items = np.asarray(item_ids)
        n, k = items.shape
        return self.decide(
            user_ids, items, pages, rng.random((n, k)), rng.random((n, k)), rng.random(n)
        )

    def oracle_recommend(self, user_ids, k: int, exclude=None) -> np.ndarray:
        """Rank items by true watch probability (a :data:`RecommendFn`)."""
        scores = self.score_matrix(user_ids)
        for row, ex in enumerate(exclude if exclude is not None else []):
            scores[row, np.asarray(ex, dtype=np.int64)] = -np.inf
        return top_k(scores, k)

    def score_matrix(self, user_ids) -> np.ndarray:
        """True watch logits at position 0 of page 1, ``(len(user_ids), n_items)``."""
        u = np.asarray(user_ids)
        m = self.model
        conf = self.traits["conformity"].to_numpy()[u]
        return (
            m.watch_bias
            + m.watch_affinity * (self.taste[u] @ self.item_genres.T)
            + m.watch_quality * self.quality[None, :]
            + m.watch_popularity * conf[:, None] * self.popularity[None, :]
        )

    # ------------------------------------------------------------------ logs and truth

    def dataset(
        self,
        n_sessions_per_user: float = 3,
        items_per_page: int = 4,
        max_pages: int = 5,
        logging_policy: str | RecommendFn = "popularity",
        seed: int = 0,
    ) -> Dataset:
        """Logs of page-by-page sessions under a logging recommender.

        Args:
            n_sessions_per_user: Mean sessions per user (scaled by each user's activity).
            items_per_page: Items per page ``k``.
            max_pages: Pages after which a session ends anyway.
            logging_policy: ``"popularity"`` (sampled by the popularity prior),
                ``"random"``, ``"oracle"``, or a :data:`RecommendFn`.
            seed: Seed of the logs (with the world's seed).

        Returns:
            ``Dataset(name="synthetic")`` with interactions, impressions, users, the catalog
            (statistics from the generated interactions) and ``meta["world"]``.
        """
        rng = np.random.default_rng([int(self.seed), 1, int(seed)])
        policy, policy_name = resolve_policy(self, logging_policy, rng.spawn(1)[0])
        activity = self.traits["activity"].to_numpy()
        n_sessions = 1 + rng.poisson(max(n_sessions_per_user - 1, 0) * activity)
        log = run_sessions(
            self, policy, np.arange(self.n_users), n_sessions, items_per_page, max_pages, rng
        )
        inter = Interactions.from_frame(log.interactions_frame())
        meta = {
            "world": self.config(),
            "seed": self.seed,
            "log_seed": seed,
            "logging_policy": policy_name,
            "n_sessions_per_user": n_sessions_per_user,
            "items_per_page": items_per_page,
            "max_pages": max_pages,
        }
        return Dataset(
            name="synthetic",
            catalog=self.catalog(inter),
            interactions=inter,
            users=self.users(),
            impressions=Impressions.from_frame(log.impressions_frame()),
            scale=RatingScale(self.max_rating),
            meta=meta,
        )

    def simulate_online(
        self,
        recommend_fn: str | RecommendFn,
        n_users: int | None = None,
        sessions_per_user: int = 1,
        items_per_page: int = 4,
        max_pages: int = 5,
        seed: int = 0,
        history: Interactions | None = None,
    ) -> dict[str, float]:
        """True online outcomes of a recommender against the true model.

        Uniforms are drawn per (user, session, page, slot) from ``seed`` before any page is
        shown (common random numbers), so two recommenders differ only by the recommender.

        Args:
            recommend_fn: A :data:`RecommendFn`, an object with ``recommend``, or a built-in
                name (``"popularity"``, ``"random"``, ``"oracle"``).
            n_users: Simulate users ``0..n_users-1`` (all when ``None``).
            sessions_per_user: Sessions per user.
            items_per_page: Items per page.
            max_pages: Pages after which a session ends anyway.
            seed: Seed of the simulation.
            history: Interactions whose items are excluded per user (e.g. the training data).

        Returns:
            ``click_rate`` (watched / shown), ``pages_per_session``, ``watches_per_session``,
            ``mean_rating``, ``likes_per_session`` (ratings >= 0.8·max), ``exit_page`` (mean
            page of a voluntary exit), ``early_exit_rate`` (sessions ended before
            ``max_pages``), ``n_sessions``.
        """
        users = np.arange(self.n_users if n_users is None else min(n_users, self.n_users))
        rng = np.random.default_rng([int(self.seed), 2, int(seed)])
        policy, _ = resolve_policy(self, recommend_fn, rng.spawn(1)[0])
        n_sessions = np.full(len(users), int(sessions_per_user))
        log = run_sessions(self, policy, users, n_sessions, items_per_page, max_pages, rng, history)
        return log.outcomes(self.max_rating, max_pages)
