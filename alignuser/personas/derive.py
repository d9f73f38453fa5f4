"""Derive one :class:`Persona` per user from interaction logs (vectorised with pandas).

Definitions (rating thresholds from :class:`~alignuser.data.dataset.RatingScale`: 4 and 2 on
a 5-point scale, scaled for others):

* **Taste, rated users.** Each rating scores +1 (``>= like_threshold``), -1
  (``<= dislike_threshold``) or 0. ``taste[g] = (n_like - n_dislike) / (n_rated + 1)`` over
  the user's rated items of genre ``g`` (shrunk towards 0 for rarely rated genres). Liked
  genres: ``taste > 0``, most liked items first; disliked: ``taste < 0``, most disliked items
  first; at most ``max_genres`` each.
* **Taste, implicit users** (no rating at all): genre frequency relative to the catalog.
  ``lift[g] = share of the user's items in g (smoothed with 5 pseudo-items at the catalog
  share) / share of catalog items in g``, ``taste[g] = (lift - 1) / (lift + 1)``. Liked: the
  highest ``taste > 0``; disliked: ``taste < -1/3`` (watched under half as often as the
  catalog offers), among genres holding at least 5% of the catalog.
* **Rating bias / pickiness.** Mean of ``rating - item mean`` over rated items (the catalog's
  ``mean_rating`` when known, else the mean in ``interactions``); level 1 (lenient) above
  ``+0.05 * max``, 3 (picky) below ``-0.05 * max``, else 2.
* **Agent4Rec traits** (``datasets/ml-1m/2_get_user_statistic.py``): activity = number of
  interactions, cut at the 60th / 90th percentiles; diversity = number of genres whose
  cumulative share of the user's genre counts (most frequent first) stays within 80%, cut at
  the 33rd / 66th; deviation = mean squared difference between the user's ratings and the
  item means, cut at the 25th / 80th. Level = 1 below the first cut, 2 below the second,
  else 3, so conformity level 1 is the *lowest* deviation (Agent4Rec's "Dedicated Follower").
  Percentiles are taken over the users given, unless ``cuts`` fixes the raw thresholds
  (:data:`AGENT4REC_ML1M_CUTS` reproduces Agent4Rec's, set on all 6,040 ml-1m users).
  The 0..1 scores are percentile ranks (conformity: ``1 - rank of deviation``).
* **Patience** (data personas): from the activity level, :data:`PATIENCE_BY_ACTIVITY`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from alignuser.data.dataset import Dataset, RatingScale
from alignuser.data.tables import Catalog, Interactions, Users
from alignuser.personas.persona import Persona

#: Agent4Rec's percentile cut points per trait.
AGENT4REC_PERCENTILES = {
    "activity": (60.0, 90.0),
    "diversity": (33.0, 66.0),
    "conformity": (25.0, 80.0),
}
#: Patience given to data personas per activity level.
PATIENCE_BY_ACTIVITY = {1: 0.3, 2: 0.6, 3: 0.9}
_PRIOR_ITEMS = 5.0
_MIN_CATALOG_SHARE = 0.05


@dataclass(frozen=True)
class TraitCuts:
    """Fixed raw thresholds ``(low, high)`` per trait; ``None`` = percentiles of the users given.

    Example:
        >>> TraitCuts(activity=(126, 401)).activity
        (126, 401)
    """

    activity: tuple[float, float] | None = None
    diversity: tuple[float, float] | None = None
    conformity: tuple[float, float] | None = None


#: Thresholds implied by Agent4Rec's ``user_statistic*.csv`` (levels set on all 6,040 ml-1m
#: users): midpoints between the largest raw value of one level and the smallest of the next.
AGENT4REC_ML1M_CUTS = TraitCuts(
    activity=(126.0, 401.0), diversity=(6.0, 7.0), conformity=(0.6657, 1.2391)
)


def _levels(values: pd.Series, cut: tuple[float, float] | None, pct: tuple[float, float]):
    known = values.dropna()
    lo, hi = cut if cut is not None else (np.percentile(known, pct) if len(known) else (0.0, 0.0))
    levels = np.where(values < lo, 1, np.where(values < hi, 2, 3))
    levels[values.isna().to_numpy()] = 2
    ranks = (known.rank(method="average") - 0.5) / max(len(known), 1)
    return levels, ranks.reindex(values.index).fillna(0.5).to_numpy()


def _ordered(frame: pd.DataFrame, by: list[str], ascending: list[bool], k: int) -> dict[int, tuple]:
    top = frame.sort_values(["user_id", *by, "genre"], ascending=[True, *ascending, True])
    top = top[top.groupby("user_id").cumcount() < k]
    return {int(u): tuple(g) for u, g in top.groupby("user_id", sort=False)["genre"]}


def _explicit_taste(rated: pd.DataFrame, scale: RatingScale, k: int):
    s = np.where(rated["rating"] >= scale.like_threshold, 1, 0) - np.where(
        rated["rating"] <= scale.dislike_threshold, 1, 0
    )
    g = rated.assign(like=s > 0, dislike=s < 0).groupby(["user_id", "genre"])
    t = g.agg(
        n=("item_id", "size"), n_like=("like", "sum"), n_dislike=("dislike", "sum")
    ).reset_index()
    t["w"] = (t["n_like"] - t["n_dislike"]) / (t["n"] + 1.0)
    liked = _ordered(t[t["w"] > 0], ["n_like", "w"], [False, False], k)
    disliked = _ordered(t[t["w"] < 0], ["n_dislike", "w"], [False, True], k)
    return t[["user_id", "genre", "w"]], liked, disliked


def _implicit_taste(viewed: pd.DataFrame, n_items: pd.Series, share: pd.Series, k: int):
    users = n_items.index.to_numpy()
    common = share[share >= _MIN_CATALOG_SHARE].index
    grid = pd.MultiIndex.from_product([users, common], names=["user_id", "genre"])
    counts = viewed.groupby(["user_id", "genre"]).size()
    idx = counts.index.union(grid)
    t = counts.reindex(idx, fill_value=0).rename("n").reset_index()
    c = t["genre"].map(share).to_numpy()
    total = t["user_id"].map(n_items).to_numpy()
    lift = (t["n"].to_numpy() + _PRIOR_ITEMS * c) / (total + _PRIOR_ITEMS) / c
    t["w"] = (lift - 1.0) / (lift + 1.0)
    liked = _ordered(t[(t["w"] > 0) & (t["n"] > 0)], ["w", "n"], [False, False], k)
    neg = t[(t["w"] < -1 / 3) & t["genre"].isin(common)]
    disliked = _ordered(neg, ["w"], [True], k)
    return t[["user_id", "genre", "w"]], liked, disliked


def derive_personas(
    interactions: Interactions | Dataset,
    catalog: Catalog | None = None,
    users: Users | None = None,
    scale: RatingScale | None = None,
    cuts: TraitCuts | None = None,
    max_genres: int = 3,
    ratings: Interactions | None = None,
) -> list[Persona]:
    """One persona per user found in ``interactions`` (sorted by user id).

    Args:
        interactions: The logs, or a whole :class:`Dataset` (then ``catalog``, ``users`` and
            ``scale`` default to the dataset's). Rows without a rating count for activity,
            diversity and implicit taste only.
        catalog: Items with genres (and ``mean_rating`` when known).
        users: Demographics, when known.
        scale: Rating scale (default 1..5).
        cuts: Fixed trait thresholds (default: Agent4Rec percentiles over these users).
        max_genres: At most this many liked and disliked genres per persona.
        ratings: Extra star ratings for (some of) the users' items, e.g. the profile ratings
            of an implicit dataset; they take precedence over ``interactions`` for the same
            (user, item) and feed taste, rating bias and deviation only (never activity or
            diversity). With a :class:`Dataset`, defaults to ``meta["profile_ratings"]``.

    Returns:
        The personas; see the module docstring for every definition.

    Example:
        >>> import pandas as pd
        >>> from alignuser.data import Catalog, Interactions
        >>> cat = Catalog.from_frame(
        ...     pd.DataFrame({"item_id": [0, 1], "genres": [["Drama"], ["Horror"]]}))
        >>> inter = Interactions.from_frame(pd.DataFrame(
        ...     {"user_id": [0, 0], "item_id": [0, 1], "rating": [5.0, 1.0]}))
        >>> p = derive_personas(inter, cat)[0]
        >>> p.liked_genres, p.disliked_genres
        (('Drama',), ('Horror',))
    """
    if isinstance(interactions, Dataset):
        ds = interactions
        interactions, catalog = ds.interactions, catalog or ds.catalog
        users = users if users is not None else ds.users
        scale = scale or ds.scale
        profile = ds.meta.get("profile_ratings")
        if ratings is None and isinstance(profile, Interactions):
            ratings = profile
    if catalog is None:
        raise ValueError("derive_personas needs a catalog (or a Dataset)")
    scale, cuts = scale or RatingScale(), cuts or TraitCuts()
    df = interactions.df[["user_id", "item_id", "rating"]]
    if not len(df):
        return []
    item_genre = catalog.df[["item_id", "genres"]].explode("genres").dropna()
    item_genre = item_genre.rename(columns={"genres": "genre"}).astype({"genre": str})
    stats = pd.DataFrame(index=pd.Index(np.sort(df["user_id"].unique()), name="user_id"))
    stats["activity_num"] = df.groupby("user_id").size()
    viewed = df[["user_id", "item_id"]].merge(item_genre, on="item_id")
    stats["diversity_num"] = _diversity(viewed)
    rated = _rated(df, ratings, stats.index)
    stats["rating_bias"], stats["deviation"] = _rating_bias(rated, catalog)

    traits = _traits(stats, cuts, scale)
    taste, liked, disliked = _tastes(df, rated, viewed, item_genre, catalog, scale, max_genres)
    return _personas(stats, traits, taste, liked, disliked, _demographics(users))


class _Traits(NamedTuple):
    """Per user (in ``stats`` order): trait levels, percentile scores, rating bias, pickiness."""

    act_lv: np.ndarray
    act_s: np.ndarray
    div_lv: np.ndarray
    div_s: np.ndarray
    con_lv: np.ndarray
    dev_s: np.ndarray
    bias: np.ndarray
    pick_lv: np.ndarray


def _traits(stats: pd.DataFrame, cuts: TraitCuts, scale: RatingScale) -> _Traits:
    """Activity, diversity and conformity levels and scores; pickiness from the rating bias."""
    act_lv, act_s = _levels(
        stats["activity_num"].astype(float), cuts.activity, AGENT4REC_PERCENTILES["activity"]
    )
    div_lv, div_s = _levels(
        stats["diversity_num"], cuts.diversity, AGENT4REC_PERCENTILES["diversity"]
    )
    con_lv, dev_s = _levels(
        stats["deviation"], cuts.conformity, AGENT4REC_PERCENTILES["conformity"]
    )
    thr = 0.05 * scale.max
    bias = stats["rating_bias"].fillna(0.0).to_numpy()
    pick_lv = np.where(bias > thr, 1, np.where(bias < -thr, 3, 2))
    return _Traits(act_lv, act_s, div_lv, div_s, con_lv, dev_s, bias, pick_lv)


def _personas(stats, traits: _Traits, taste, liked, disliked, demo) -> list[Persona]:
    """One :class:`Persona` per row of ``stats`` (the users, sorted by id)."""
    act_lv, act_s, div_lv, div_s, con_lv, dev_s, bias, pick_lv = traits
    out = []
    for i, uid in enumerate(stats.index.to_numpy()):
        uid = int(uid)
        dev, div = stats["deviation"].iat[i], stats["diversity_num"].iat[i]
        gender, age, occupation = demo.get(uid, ("", "", ""))
        out.append(
            Persona(
                user_id=uid,
                gender=gender,
                age=age,
                occupation=occupation,
                liked_genres=liked.get(uid, ()),
                disliked_genres=disliked.get(uid, ()),
                taste=taste.get(uid, {}),
                rating_bias=float(bias[i]),
                pickiness_level=int(pick_lv[i]),
                activity=float(act_s[i]),
                activity_level=int(act_lv[i]),
                diversity=float(div_s[i]),
                diversity_level=int(div_lv[i]),
                conformity=float(1.0 - dev_s[i]),
                conformity_level=int(con_lv[i]),
                patience=PATIENCE_BY_ACTIVITY[int(act_lv[i])],
                activity_num=float(stats["activity_num"].iat[i]),
                diversity_num=None if np.isnan(div) else float(div),
                deviation=None if np.isnan(dev) else float(dev),
            )
        )
    return out


def _diversity(viewed: pd.DataFrame) -> pd.Series:
    """Per user, the number of genres whose cumulative share stays within 80% (most first).

    NaN (neutral level, once aligned on the users) for users none of whose items has a genre.
    """
    counts = viewed.groupby(["user_id", "genre"]).size().rename("n").reset_index()
    counts = counts.sort_values(["user_id", "n"], ascending=[True, False])
    cum = counts.groupby("user_id")["n"].cumsum()
    within = cum <= 0.8 * counts.groupby("user_id")["n"].transform("sum") + 1e-9
    return within.groupby(counts["user_id"]).sum().astype(float)


def _rated(df: pd.DataFrame, ratings: Interactions | None, users: pd.Index) -> pd.DataFrame:
    """The rated rows, the extra ``ratings`` of ``users`` first and winning for the same item."""
    rated = df.dropna(subset=["rating"])
    if ratings is not None and len(ratings):
        extra = ratings.df[["user_id", "item_id", "rating"]].dropna(subset=["rating"])
        extra = extra[extra["user_id"].isin(users)]
        keys = pd.MultiIndex.from_frame(extra[["user_id", "item_id"]])
        mine = pd.MultiIndex.from_frame(rated[["user_id", "item_id"]])
        rated = pd.concat([extra, rated[~mine.isin(keys)]], ignore_index=True)
    return rated


def _rating_bias(rated: pd.DataFrame, catalog: Catalog) -> tuple[pd.Series, pd.Series]:
    """Per user, ``(mean, mean square)`` of ``rating - item mean`` (rating bias, deviation).

    The item mean is the catalog's ``mean_rating`` when known, else the mean in ``rated``.
    """
    means = catalog.df["mean_rating"].to_numpy(dtype=float).copy()
    fallback = rated.groupby("item_id")["rating"].mean()
    missing = np.isnan(means[fallback.index.to_numpy()])
    means[fallback.index.to_numpy()[missing]] = fallback.to_numpy()[missing]
    diff = rated["rating"].to_numpy() - means[rated["item_id"].to_numpy()]
    ok = ~np.isnan(diff)
    by_user = pd.DataFrame({"user_id": rated["user_id"].to_numpy()[ok], "d": diff[ok]})
    bias = by_user.groupby("user_id")["d"].mean()
    deviation = (by_user.assign(d=by_user["d"] ** 2)).groupby("user_id")["d"].mean()
    return bias, deviation


def _tastes(df, rated, viewed, item_genre, catalog, scale, max_genres):
    """``(taste, liked, disliked)`` by user: explicit for rated users, implicit for the rest."""
    explicit_users = set(rated["user_id"].unique().tolist())
    w_exp, liked, disliked = _explicit_taste(
        rated.merge(item_genre, on="item_id"), scale, max_genres
    )
    implicit = viewed[~viewed["user_id"].isin(explicit_users)]
    if len(implicit):
        share = item_genre.groupby("genre").size() / catalog.n_items
        n_items = df[~df["user_id"].isin(explicit_users)].groupby("user_id").size()
        w_imp, liked_i, disliked_i = _implicit_taste(implicit, n_items, share, max_genres)
        liked, disliked = {**liked, **liked_i}, {**disliked, **disliked_i}
        w_exp = pd.concat([w_exp, w_imp], ignore_index=True)
    taste: dict[int, dict[str, float]] = {}
    for u, g, w in zip(
        w_exp["user_id"].to_numpy(), w_exp["genre"].to_numpy(), w_exp["w"].to_numpy()
    ):
        taste.setdefault(int(u), {})[str(g)] = round(float(w), 4)
    return taste, liked, disliked


def _demographics(users: Users | None) -> dict[int, tuple[str, str, str]]:
    """``user_id -> (gender, age, occupation)`` when ``users`` are known, else empty."""
    demo: dict[int, tuple[str, str, str]] = {}
    if users is not None and len(users):
        u = users.df
        demo = {
            int(i): (g, a, o)
            for i, g, a, o in zip(u["user_id"], u["gender"], u["age"], u["occupation"])
        }
    return demo
