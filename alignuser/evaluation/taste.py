"""Taste discrimination: Agent4Rec's 1:m protocol (can the user model tell liked items apart?).

Per user: ``n_pos = min(|valid ∪ test|, 20 // (m + 1))`` held-out items are positives,
``m * n_pos`` random items the user never interacted with (not in train, valid or test) are
negatives; all are shuffled and shown as consecutive pages of ``page_size`` items, the state
built from the user's **train** history only. A watch is a "yes". Metrics are pooled over all
(user, item) pairs: accuracy, precision, recall, F1 (precision 0 when nothing is watched),
plus the AUC of the policy's watch score (threshold-free; 0.5 for the random policy).
Users without a held-out item are skipped. The sample depends on ``(seed, m)`` only, so every
policy sees the same items. A chat-model policy (``chat``) has no watch probability: its
AUC is that of its 0/1 decisions (one model answer per page).

Example:
    >>> import numpy as np
    >>> binary_metrics(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0]))["accuracy"]
    0.5
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from alignuser.evaluation.chat_baseline import is_chat
from alignuser.evaluation.protocols import StateBuilder, rng_for, summarise

__all__ = ["binary_metrics", "sample_taste_items", "taste_discrimination", "taste_table"]

METRICS = ("accuracy", "precision", "recall", "f1")


def binary_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of boolean predictions (0 where undefined)."""
    y, p = np.asarray(y_true, dtype=bool), np.asarray(y_pred, dtype=bool)
    tp, fp, fn = int((y & p).sum()), int((~y & p).sum()), int((y & ~p).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    acc = float((y == p).mean()) if len(y) else float("nan")
    return {"accuracy": acc, "precision": precision, "recall": recall, "f1": f1}


def _items_by_user(*parts) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for part in parts:
        if part is None:
            continue
        for u, g in part.df.groupby("user_id")["item_id"]:
            out.setdefault(int(u), set()).update(int(i) for i in g)
    return out


def sample_taste_items(
    split, n_items: int, m: int, seed: int = 0, users: Sequence[int] | None = None
) -> pd.DataFrame:
    """The 1:m sample: columns ``user_id``, ``item_id``, ``label`` (1 positive), in page order.

    Args:
        split: Train / valid / test; positives come from valid ∪ test.
        n_items: Catalog size (negatives are drawn from ``0..n_items-1``).
        m: Negatives per positive.
        seed: Sampling seed (with ``m``).
        users: Restrict to these users (default: every user with a held-out item).
    """
    if m < 1:
        raise ValueError(f"m must be >= 1, got {m}")
    held = _items_by_user(split.valid, split.test)
    known = _items_by_user(split.train, split.valid, split.test)
    rng = rng_for(seed, 101, m)
    rows: list[tuple[int, int, int]] = []
    chosen = sorted(held) if users is None else [int(u) for u in users if int(u) in held]
    for u in chosen:
        pos_pool = np.array(sorted(held[u]), dtype=np.int64)
        n_pos = min(len(pos_pool), 20 // (m + 1))
        if n_pos == 0:
            continue
        pos = rng.choice(pos_pool, n_pos, replace=False)
        mask = np.ones(n_items, dtype=bool)
        mask[np.fromiter(known[u], dtype=np.int64)] = False
        neg_pool = np.flatnonzero(mask)
        neg = rng.choice(neg_pool, min(m * n_pos, len(neg_pool)), replace=False)
        items = np.concatenate([pos, neg])
        labels = np.r_[np.ones(len(pos), int), np.zeros(len(neg), int)]
        order = rng.permutation(len(items))
        rows.extend((u, int(items[k]), int(labels[k])) for k in order)
    return pd.DataFrame(rows, columns=["user_id", "item_id", "label"])


def taste_discrimination(
    dataset,
    split,
    policies: dict[str, Any],
    ms: Sequence[int] = (1, 2, 3, 9),
    seeds: Sequence[int] = (0, 1, 2),
    page_size: int = 4,
    users: Sequence[int] | None = None,
    builder: StateBuilder | None = None,
    mode: str = "sample",
) -> pd.DataFrame:
    """Run the 1:m protocol for every policy, ``m`` and seed.

    Args:
        dataset: The dataset (catalog, personas).
        split: Train / valid / test (states use ``split.train`` only).
        policies: Name -> fitted policy (see
            :func:`~alignuser.evaluation.protocols.build_policies`).
        ms: Negative ratios.
        seeds: Seeds of the sample and of sampled policies.
        page_size: Items per page.
        users: Subsample of users (default: all with held-out items).
        builder: Prebuilt :class:`StateBuilder` on ``split.train``.
        mode: ``"sample"`` or ``"greedy"`` watch decisions (see
            :func:`~alignuser.evaluation.baselines.decide_watch`).

    Returns:
        One row per (policy, m, seed): ``users``, ``pairs``, ``watch_rate``, the metrics and
        ``auc`` (of the watch score against the label, threshold-free).
    """
    from alignuser.evaluation.baselines import decide_watch, watch_probabilities
    from alignuser.training.evaluate import auc

    builder = builder or StateBuilder(dataset, split.train)
    rows = []
    for m in ms:
        for seed in seeds:
            sample = sample_taste_items(split, dataset.n_items, m, seed, users)
            states = []
            for u, g in sample.groupby("user_id", sort=True):
                states.extend(builder.pages(int(u), g["item_id"].tolist(), page_size))
            order = np.concatenate(
                [g.index.to_numpy() for _, g in sample.groupby("user_id", sort=True)]
            )
            y = sample["label"].to_numpy()[order]
            for k, (name, policy) in enumerate(policies.items()):
                rng = rng_for(seed, 202, m, k)
                if is_chat(policy):  # no probabilities: AUC of its one set of decisions
                    pred = decide_watch(policy, states, rng, mode)
                    score = pred.astype(float)
                else:
                    score = watch_probabilities(policy, states, rng)
                    pred = decide_watch(policy, states, rng, mode)
                rows.append({
                    "policy": name, "m": m, "seed": seed,
                    "users": sample["user_id"].nunique(), "pairs": len(y),
                    "watch_rate": float(pred.mean()) if len(pred) else float("nan"),
                    **binary_metrics(y, pred), "auc": auc(score, y),
                })  # fmt: skip
    return pd.DataFrame(rows)


def taste_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per (policy, m)."""
    return summarise(raw, ["policy", "m"], [*METRICS, "auc", "watch_rate"])
