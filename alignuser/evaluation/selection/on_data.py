"""System selection on your own data: which recommender would the simulated users pick?

On a dataset without a known online truth (your CSV, MovieLens...) the recommenders are
fitted on the split's training part and ranked

* by **simulated** click rate, one session per test user with each user policy
  (:func:`~alignuser.evaluation.selection.synthetic.simulate_click_rate`: the same light loop as the
  synthetic-world protocol, states from the training history only);
* **offline**, by NDCG@10 and Recall@10 on the test part
  (:func:`~alignuser.evaluation.offline.evaluate_offline`).

There is no truth to score either ranking against here (that needs an online experiment:
the synthetic world's ``alignuser eval selection``, or logged A/B arms); the agreement table
says how far each simulated ranking agrees with the offline NDCG@10 ranking (Kendall tau)
and which recommender each method picks.

Example:
    >>> raw = dataset_selection(ds, split, recommenders=("popular", "ease"))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DATA_RECOMMENDERS", "dataset_selection", "offline_agreement"]

DATA_RECOMMENDERS = ("random", "popular", "itemknn", "ease")


def dataset_selection(
    dataset,
    split,
    recommenders: Sequence[str] = DATA_RECOMMENDERS,
    policies: dict[str, Any] | None = None,
    seed: int = 0,
    max_users: int | None = 300,
    items_per_page: int = 4,
    max_pages: int = 5,
) -> pd.DataFrame:
    """Offline metrics and simulated click rate of each recommender on ``split``.

    Args:
        dataset: The dataset (catalog, users).
        split: Train / valid / test; recommenders and policies see ``split.train`` only.
        recommenders: Registered recommender names.
        policies: ``{name: policy}`` fitted on ``split.train`` (default: random, popularity,
            choice via :func:`~alignuser.evaluation.protocols.build_policies`).
        seed: Seed of the recommenders, the user subsample and the policies' sampling.
        max_users: Simulate at most this many test users (seeded subsample; ``None``: all).
        items_per_page: Items per simulated page.
        max_pages: Pages per simulated session at most.

    Returns:
        One row per recommender: ``recommender``, ``users``, ``NDCG@10``, ``Recall@10`` and
        ``sim_<policy>`` (simulated click rate).
    """
    from alignuser.evaluation.offline import evaluate_offline
    from alignuser.evaluation.protocols import StateBuilder, build_policies, rng_for
    from alignuser.evaluation.selection.synthetic import simulate_click_rate
    from alignuser.recommenders.registry import make_recommender

    if policies is None:
        policies = build_policies(dataset, split.train, ["random", "popularity", "choice"], seed)
    users = np.unique(split.test.df["user_id"].to_numpy())
    if max_users is not None and len(users) > max_users:
        users = np.sort(rng_for(seed, 707).choice(users, max_users, replace=False))
    builder = StateBuilder(dataset, split.train)
    rows = []
    for name in recommenders:
        rec = make_recommender(name, seed=seed).fit(split.train, dataset.catalog)
        off = evaluate_offline(rec, split, (10,), catalog=dataset.catalog).iloc[0]
        row = {"recommender": name, "users": len(users), "NDCG@10": float(off["NDCG@10"]),
               "Recall@10": float(off["Recall@10"])}  # fmt: skip
        for j, (pname, pol) in enumerate(policies.items()):
            sim = simulate_click_rate(
                pol, rec, builder, users, rng_for(seed, 808, j), items_per_page, max_pages
            )
            row[f"sim_{pname}"] = sim["click_rate"]
        rows.append(row)
    return pd.DataFrame(rows)


def offline_agreement(raw: pd.DataFrame, reference: str = "NDCG@10") -> pd.DataFrame:
    """Per method: the recommender it picks and Kendall tau of its ranking with ``reference``."""
    from scipy.stats import kendalltau

    ref = raw[reference].to_numpy()
    rows = []
    for m in ["NDCG@10", "Recall@10", *[c for c in raw.columns if c.startswith("sim_")]]:
        est = raw[m].to_numpy()
        tau = kendalltau(ref, est).statistic if len(raw) > 1 else float("nan")
        rows.append({
            "method": m, "picked": raw["recommender"].iloc[int(np.argmax(est))],
            f"kendall_tau_vs_{reference}": 0.0 if np.isnan(tau) else float(tau),
        })  # fmt: skip
    return pd.DataFrame(rows)
