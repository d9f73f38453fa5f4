"""Rating prediction: RMSE and MAE of the policy's rating for held-out watched items.

Each held-out rated item is shown to its user (pages of ``page_size`` of that user's held-out
items, the state built from the **train** history only); the watch is forced and the policy's
**expected** rating given a watch is compared with the real one
(:func:`~alignuser.evaluation.baselines.expected_ratings`: the choice policy's ordered-probit
expectation, AlignUSER's ``Σ r·P(r)``, the baselines' own predictions, Monte-Carlo for
others). The expectation minimises squared error, so it is each policy's best RMSE; a sampled
rating adds the policy's rating noise (not reported here). A chat-model policy (``chat``)
cannot be forced to watch and has no rating distribution: its prediction is the rating it
gave in one answer per page, the scale's midpoint for the items it skipped; its row adds
``rated_share`` (share of items it rated itself).

Example:
    >>> import numpy as np
    >>> rating_errors(np.array([4.0, 2.0]), np.array([5.0, 2.0]))["rmse"]
    0.7071067811865476
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from alignuser.env.page import PageState
from alignuser.evaluation.chat_baseline import is_chat
from alignuser.evaluation.protocols import StateBuilder, rng_for, summarise

__all__ = [
    "paired_rmse_gap",
    "rating_errors",
    "rating_prediction",
    "rating_states",
    "rating_table",
]


def rating_errors(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """RMSE and MAE of predictions against true ratings."""
    err = np.asarray(pred, dtype=float) - np.asarray(true, dtype=float)
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err)))}


def rating_states(
    dataset,
    split,
    max_ratings: int | None = None,
    seed: int = 0,
    page_size: int = 4,
    builder: StateBuilder | None = None,
) -> tuple[list[PageState], np.ndarray, int]:
    """The pages :func:`rating_prediction` shows, the true ratings and the cold-user count.

    Returns ``(states, true, cold)``: the states of each user's held-out rated items (user
    by user, in time order, pages of ``page_size``), their real ratings in the same item
    order (clipped to the scale) and how many test users had no train history.
    """
    test = split.test.df.dropna(subset=["rating"])
    if not len(test):
        raise ValueError(f"split {split.name!r} has no rated test rows")
    rng = rng_for(seed, 303)
    if max_ratings is not None and len(test) > max_ratings:
        keep = rng.choice(len(test), max_ratings, replace=False)
        test = test.iloc[np.sort(keep)]
    builder = builder or StateBuilder(dataset, split.train)
    test = test.sort_values(["user_id", "timestamp", "item_id"], kind="stable")
    states: list[PageState] = []
    for u, g in test.groupby("user_id", sort=True):
        states.extend(builder.pages(int(u), g["item_id"].tolist(), page_size))
    true = np.concatenate(
        [g["rating"].to_numpy(float) for _, g in test.groupby("user_id", sort=True)]
    )
    true = np.clip(true, 1, builder.ctx.max_rating)
    cold = int(sum(int(u) not in builder.history for u in test["user_id"].unique()))
    return states, true, cold


def paired_rmse_gap(
    pred_a: np.ndarray, pred_b: np.ndarray, true: np.ndarray, n_boot: int = 2000, seed: int = 0
) -> dict[str, float]:
    """``RMSE(a) - RMSE(b)`` on the same ratings, with a paired bootstrap 95 % interval.

    Ratings are resampled with replacement (the same draw for both predictors), so the
    interval is that of the difference, not of two separate RMSEs.

    Example:
        >>> t = np.array([1.0, 2.0, 3.0, 4.0, 5.0] * 20)
        >>> gap = paired_rmse_gap(t + 0.1, t + 0.5, t, n_boot=200)
        >>> round(gap["gap"], 3), gap["high"] < 0
        (-0.4, True)
    """
    a = (np.asarray(pred_a, float) - true) ** 2
    b = (np.asarray(pred_b, float) - true) ** 2
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(true), size=(n_boot, len(true)))
    gaps = np.sqrt(a[idx].mean(axis=1)) - np.sqrt(b[idx].mean(axis=1))
    lo, hi = np.quantile(gaps, [0.025, 0.975])
    return {
        "gap": float(np.sqrt(a.mean()) - np.sqrt(b.mean())),
        "low": float(lo),
        "high": float(hi),
        "n": len(true),
    }


def rating_prediction(
    dataset,
    split,
    policies: dict[str, Any],
    max_ratings: int | None = None,
    seed: int = 0,
    page_size: int = 4,
    builder: StateBuilder | None = None,
    split_name: str = "",
) -> pd.DataFrame:
    """RMSE / MAE of every policy on the rated rows of ``split.test``.

    Args:
        dataset: The dataset.
        split: Train / valid / test; states use ``split.train`` only.
        policies: Name -> fitted policy.
        max_ratings: Evaluate a seeded random subset of at most this many test ratings.
        seed: Seed of the subset and of sampled policies.
        page_size: Held-out items per page.
        builder: Prebuilt :class:`StateBuilder` on ``split.train``.
        split_name: Label of the split in the output.

    Returns:
        One row per policy: ``split``, ``ratings``, ``cold_users`` (users without train
        history), ``rmse``, ``mae`` (chat policy: also ``rated_share``).
    """
    from alignuser.evaluation.baselines import expected_ratings

    states, true, cold = rating_states(dataset, split, max_ratings, seed, page_size, builder)
    rows = []
    for k, (name, policy) in enumerate(policies.items()):
        extra = {}
        if is_chat(policy):  # the watch cannot be forced: skipped items get the midpoint
            acts = policy.decide(states, rng_for(seed, 404, k))
            flat = [d for a in acts for d in a.decisions]
            rated = np.array([d.watch and d.rating is not None for d in flat], dtype=bool)
            got = np.array([d.rating if ok else 0 for d, ok in zip(flat, rated)], dtype=float)
            mid = np.repeat(
                [(s.max_rating + 1) / 2.0 for s in states], [len(s.items) for s in states]
            )
            pred = np.where(rated, got, mid)
            extra["rated_share"] = float(rated.mean()) if len(rated) else float("nan")
        else:
            pred = expected_ratings(policy, states, rng_for(seed, 404, k))
        rows.append({
            "policy": name, "split": split_name or split.name, "seed": seed,
            "ratings": len(true), "cold_users": cold, **rating_errors(pred, true), **extra,
        })  # fmt: skip
    return pd.DataFrame(rows)


def rating_table(raw: pd.DataFrame, over: Sequence[str] = ("split",)) -> pd.DataFrame:
    """Mean and std of RMSE / MAE per policy, over the ``over`` column (e.g. folds u1..u5)."""
    out = summarise(raw, ["policy"], ["rmse", "mae"])
    return out.rename(columns={"n_seeds": "n_" + "_".join(over)})
