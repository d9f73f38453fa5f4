"""Offline accuracy and beyond-accuracy metrics of recommendation lists.

Everything starts from a recommendation matrix ``recs`` (``n_users x K`` item ids, best
first, ``-1`` padding) and the held-out items of the same users. Definitions (per user,
averaged over the users with at least one held-out item):

* ``Recall@k``   = hits in the top ``k`` / number of held-out items.
* ``NDCG@k``     = DCG / IDCG with binary gains: ``DCG = Σ_{r<k} hit_r / log2(r + 2)``
  (``r`` is the 0-based rank) and ``IDCG`` the DCG of ``min(k, n_heldout)`` hits in a row.
* ``HitRate@k``  = 1 if any held-out item is in the top ``k``, else 0.
* ``MRR@k``      = 1 / (1-based rank of the first hit in the top ``k``), 0 without a hit.
* ``Coverage@k`` = distinct items in anybody's top ``k`` / catalog size (whole list set).
* ``Novelty@k``  = mean self-information ``-log2(p_i)`` of the recommended items (padding
  ignored), ``p_i`` = share of training users who interacted with item ``i``; items never seen
  in training count as one user, so novelty is at most ``log2(n_train_users)``.

Example:
    >>> import numpy as np
    >>> recs = np.array([[3, 1, 2]])
    >>> hits = hit_matrix(recs, [np.array([1, 9])])
    >>> float(recall_at_k(hits, np.array([2]), 3)[0]), float(mrr_at_k(hits, 3)[0])
    (0.5, 0.5)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from alignuser.data.dataset import Split
    from alignuser.data.tables import Catalog, Interactions
    from alignuser.interfaces import Recommender


def hit_matrix(recs: np.ndarray, relevant: Sequence[np.ndarray]) -> np.ndarray:
    """Boolean ``(n, K)``: whether ``recs[u, r]`` is one of user ``u``'s relevant items."""
    recs = np.asarray(recs, dtype=np.int64)
    n, width = recs.shape
    lengths = np.fromiter((len(r) for r in relevant), dtype=np.int64, count=len(relevant))
    if len(relevant) != n:
        raise ValueError(f"{len(relevant)} relevant sets for {n} recommendation rows")
    if n == 0 or lengths.sum() == 0:
        return np.zeros((n, width), dtype=bool)
    # Encode (row, item) as one int64 and test membership in one vectorised call.
    base = int(max(recs.max(initial=0), max(int(np.max(r)) for r in relevant if len(r))) + 2)
    rel_keys = np.repeat(np.arange(n), lengths) * base + np.concatenate(relevant).astype(np.int64)
    rec_keys = np.arange(n)[:, None] * base + recs
    return np.isin(rec_keys, rel_keys) & (recs >= 0)


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Per-user Recall@k (NaN for users with no relevant item)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_relevant > 0, hits[:, :k].sum(axis=1) / n_relevant, np.nan)


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Per-user NDCG@k with binary gains (NaN for users with no relevant item)."""
    discounts = 1.0 / np.log2(np.arange(k) + 2.0)
    top = hits[:, :k]
    dcg = (top * discounts[: top.shape[1]]).sum(axis=1)
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(n_relevant, k)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_relevant > 0, dcg / ideal, np.nan)


def hit_rate_at_k(hits: np.ndarray, k: int) -> np.ndarray:
    """Per-user HitRate@k (1.0 when any of the top ``k`` is relevant)."""
    return hits[:, :k].any(axis=1).astype(np.float64)


def mrr_at_k(hits: np.ndarray, k: int) -> np.ndarray:
    """Per-user reciprocal rank of the first hit within the top ``k`` (0 without one)."""
    top = hits[:, :k]
    first = top.argmax(axis=1)
    return np.where(top.any(axis=1), 1.0 / (first + 1.0), 0.0)


def coverage_at_k(recs: np.ndarray, n_items: int, k: int) -> float:
    """Share of the catalog that appears in at least one top-``k`` list."""
    top = np.asarray(recs)[:, :k]
    return float(len(np.unique(top[top >= 0]))) / n_items


def novelty_at_k(recs: np.ndarray, popularity: np.ndarray, n_users: int, k: int) -> float:
    """Mean ``-log2`` popularity share of recommended items (see the module docstring).

    Args:
        recs: ``(n, K)`` recommendation matrix.
        popularity: Training users per item (length ``n_items``).
        n_users: Number of training users.
        k: Cut-off.
    """
    top = np.asarray(recs)[:, :k]
    items = top[top >= 0]
    if items.size == 0:
        return float("nan")
    share = np.maximum(np.asarray(popularity, dtype=np.float64)[items], 1.0) / n_users
    return float(np.mean(-np.log2(share)))


def metrics_table(
    recs: np.ndarray,
    relevant: Sequence[np.ndarray],
    popularity: np.ndarray,
    n_train_users: int,
    k_values: Sequence[int] = (10, 20),
) -> dict[str, float]:
    """All metrics for every ``k`` as one flat dict (``"Recall@10"``, ``"NDCG@20"``...).

    Users with no relevant item are skipped in the accuracy means, not in coverage/novelty.
    """
    hits = hit_matrix(recs, relevant)
    n_rel = np.fromiter((len(np.unique(r)) for r in relevant), dtype=np.int64, count=len(relevant))
    out: dict[str, float] = {}
    with np.errstate(invalid="ignore"):
        for k in k_values:
            out[f"Recall@{k}"] = float(np.nanmean(recall_at_k(hits, n_rel, k)))
            out[f"NDCG@{k}"] = float(np.nanmean(ndcg_at_k(hits, n_rel, k)))
            out[f"HitRate@{k}"] = float(np.mean(hit_rate_at_k(hits, k)[n_rel > 0]))
            out[f"MRR@{k}"] = float(np.mean(mrr_at_k(hits, k)[n_rel > 0]))
            out[f"Coverage@{k}"] = coverage_at_k(recs, len(popularity), k)
            out[f"Novelty@{k}"] = novelty_at_k(recs, popularity, n_train_users, k)
    return out


def _by_user(inter: Interactions | None, users: np.ndarray) -> list[np.ndarray]:
    if inter is None or not len(inter):
        return [np.empty(0, dtype=np.int64) for _ in users]
    groups = inter.items_by_user()
    return [groups.get(int(u), np.empty(0, dtype=np.int64)) for u in users]


def evaluate_offline(
    recommender: Recommender,
    split: Split,
    k_values: Sequence[int] = (10, 20),
    *,
    catalog: Catalog,
    heldout: str = "test",
    fit: bool = False,
    batch_size: int = 1024,
) -> pd.DataFrame:
    """Rank the catalog for every held-out user and score the lists.

    The recommender sees ``split.train`` (it is fitted here when ``fit=True``). For each user
    with held-out items, the items of ``split.train`` and of the splits that are neither train
    nor held out (e.g. ``valid`` when ``heldout="test"``) are passed as exclusions, so every
    recommender is judged on the same candidate set whatever its ``exclude_seen`` setting.

    Args:
        recommender: Any :class:`~alignuser.interfaces.Recommender` (fitted unless ``fit``).
        split: Train / valid / test interactions.
        k_values: Cut-offs; the lists are ``max(k_values)`` long.
        catalog: The items (for ``n_items``).
        heldout: ``"test"``, ``"valid"`` or ``"valid+test"``.
        fit: Fit ``recommender`` on ``split.train`` first (timed).
        batch_size: Users per ``recommend`` call.

    Returns:
        One-row DataFrame indexed by the recommender's name: ``users`` (evaluated),
        ``fit_s``, ``recommend_s_per_1k`` and the columns of :func:`metrics_table`.
    """
    parts = {"train": split.train, "valid": split.valid, "test": split.test}
    held_names = heldout.split("+")
    if not held_names or any(h not in ("valid", "test") for h in held_names):
        raise ValueError(f"heldout must be 'test', 'valid' or 'valid+test', got {heldout!r}")
    if any(parts[h] is None for h in held_names):
        raise ValueError(f"split {split.name!r} has no {heldout} part")
    held = [parts[h] for h in held_names]
    held_all = held[0] if len(held) == 1 else held[0].concat(held[1])
    other = [p for n, p in parts.items() if n not in held_names and p is not None]
    fit_s = float("nan")
    if fit:
        start = time.perf_counter()
        recommender.fit(split.train, catalog)
        fit_s = time.perf_counter() - start
    users = np.unique(held_all.df["user_id"].to_numpy())
    relevant = _by_user(held_all, users)
    known = [_by_user(p, users) for p in other]
    exclude = [np.unique(np.concatenate([k[i] for k in known])) for i in range(len(users))]
    kmax = max(k_values)
    recs = np.empty((len(users), kmax), dtype=np.int64)
    start = time.perf_counter()
    for lo in range(0, len(users), batch_size):
        hi = lo + batch_size
        recs[lo:hi] = recommender.recommend(users[lo:hi], kmax, exclude[lo:hi])
    rec_s = time.perf_counter() - start
    train = split.train.df
    popularity = np.bincount(
        train.drop_duplicates(["user_id", "item_id"])["item_id"].to_numpy(),
        minlength=catalog.n_items,
    )
    row = {
        "users": len(users),
        "fit_s": fit_s,
        "recommend_s_per_1k": rec_s / max(len(users), 1) * 1000.0,
        **metrics_table(recs, relevant, popularity, train["user_id"].nunique(), k_values),
    }
    return pd.DataFrame([row], index=pd.Index([recommender.name], name="recommender"))
