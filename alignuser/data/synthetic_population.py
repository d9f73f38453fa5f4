"""Latent items and users of the synthetic world (see :mod:`alignuser.data.synthetic`).

:func:`draw_items` gives genres (1-3 per item, some genres more common), years, quality and a
long-tailed popularity prior, plus readable titles and descriptions; :func:`draw_users` gives
each user a taste over genres (1-3 liked, 1-2 disliked, the rest near 0), pickiness,
activity, patience, conformity and diversity, plus random demographics.

Example:
    >>> import numpy as np
    >>> from alignuser.data.synthetic_population import draw_items, draw_users
    >>> items = draw_items(np.random.default_rng(0), n_items=10, n_genres=4)
    >>> users = draw_users(np.random.default_rng(0), 5, items["genres"], items["_genre_freq"])
    >>> users["taste"].shape
    (5, 4)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alignuser.data.synthetic_names import genre_names, make_demographics, make_texts, make_titles


def _rank_rows(rng: np.random.Generator, freq: np.ndarray, n: int) -> np.ndarray:
    """Per row, a random ranking of genres favouring frequent ones (Gumbel top-k)."""
    keys = np.log(freq) + rng.gumbel(size=(n, len(freq)))
    return np.argsort(np.argsort(-keys, axis=1), axis=1)


def draw_items(rng: np.random.Generator, n_items: int, n_genres: int) -> dict[str, object]:
    """Draw the catalog's latent terms and its table (without statistics)."""
    n, g = n_items, n_genres
    freq = rng.dirichlet(np.full(g, 2.0))
    rank = _rank_rows(rng, freq, n)
    member = rank < rng.choice([1, 2, 3], n, p=[0.4, 0.4, 0.2])[:, None]
    years = (1950 + np.round(70 * rng.beta(3.0, 1.5, n))).astype(int)
    quality = rng.normal(size=n)
    raw = 0.4 * quality + rng.normal(size=n)
    names = genre_names(g)
    genre_lists = [[names[j] for j in np.flatnonzero(row)] for row in member]
    titles = [f"{t} ({y})" for t, y in zip(make_titles(rng, n), years)]
    items = pd.DataFrame(
        {
            "item_id": np.arange(n),
            "external_id": [str(i) for i in range(n)],
            "title": titles,
            "genres": genre_lists,
            "year": years,
            "text": make_texts(rng, genre_lists, years, quality),
        }
    )
    prior = np.exp(1.3 * (raw - raw.max()))
    return {
        "genres": names,
        "item_genres": member / member.sum(1, keepdims=True),
        "quality": quality,
        "popularity": (raw - raw.mean()) / (raw.std() or 1.0),
        "popularity_prior": prior / prior.sum(),
        "_items": items,
        "_genre_freq": freq,
    }


def draw_users(
    rng: np.random.Generator, n_users: int, genres: list[str], genre_freq: np.ndarray
) -> dict[str, object]:
    """Draw users' latent traits (``taste`` array, ``traits`` frame) and demographics."""
    n, g = n_users, len(genres)
    diversity = rng.beta(2.0, 4.0, n)
    n_like = np.minimum(1 + np.floor(3 * diversity), g - 1).astype(int)
    n_dislike = np.minimum(rng.integers(1, 3, n), g - n_like)
    rank = _rank_rows(rng, genre_freq, n)
    liked, disliked = rank < n_like[:, None], rank >= g - n_dislike[:, None]
    taste = rng.normal(0.0, 0.3, (n, g))
    taste += liked * rng.uniform(1.0, 2.0, (n, 1)) * (1 - 0.4 * diversity[:, None])
    taste -= disliked * rng.uniform(1.0, 2.0, (n, 1))
    activity = rng.lognormal(-0.125, 0.5, n)
    log_act = np.log(activity)
    patience = 0.6 * (log_act - log_act.mean()) / (log_act.std() or 1.0)
    patience = patience + 0.8 * rng.normal(size=n)
    traits = pd.DataFrame(
        {
            "user_id": np.arange(n),
            "pickiness": rng.normal(0.0, 0.6, n),
            "activity": activity,
            "patience": patience,
            "conformity": rng.beta(2.0, 2.0, n),
            "diversity": diversity,
            "liked": [[genres[j] for j in np.flatnonzero(r)] for r in liked],
            "disliked": [[genres[j] for j in np.flatnonzero(r)] for r in disliked],
        }
    )
    return {"taste": taste, "traits": traits, "_demographics": make_demographics(rng, n)}
