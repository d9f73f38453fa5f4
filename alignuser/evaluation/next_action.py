"""Next action on real pages: which shown item is clicked, and does the user leave?

On an impressions dataset (EB-NeRD, the synthetic world), impressions are split in time: the
earliest ``1 - test_fraction`` (by timestamp) train / calibrate the policies (with the
interactions before the cut), the later ones are the test pages. Test states come from
:func:`~alignuser.training.trajectories.from_impressions` (history strictly before each
impression). On every test page with at least one click the items are ranked by the policy's
watch score (:func:`~alignuser.evaluation.baselines.watch_probabilities`, ties broken at
random, seeded): ``top1`` = the top item was clicked, ``mrr`` = mean of ``1 / rank`` of the
best-ranked clicked item. ``exit_accuracy``: over all test pages, predicted exit
(``P(exit) >= 0.5`` for the choice policy with the expected watch fraction, the majority
class otherwise) vs the session's real last page; ``exit_majority`` is that majority baseline.
A chat-model policy (``chat``) answers each page once: its 0/1 watches are its scores (ties,
i.e. every watched or every skipped item, broken at random) and its own EXIT/NEXT answers
are its exit predictions.

Example:
    >>> import numpy as np
    >>> page_ranks(np.array([0.9, 0.1, 0.5]), [False, False, True], np.random.default_rng(0))
    2
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from alignuser.data.splits import impression_time_split  # re-exported: protocols import it here
from alignuser.evaluation.chat_baseline import is_chat
from alignuser.evaluation.protocols import rng_for, summarise

__all__ = ["impression_time_split", "next_action", "next_action_table", "page_ranks"]


def page_ranks(scores: np.ndarray, clicked: Sequence[bool], rng: np.random.Generator) -> int:
    """1-based rank of the best-ranked clicked item (random tie-break)."""
    s = np.asarray(scores, dtype=float)
    order = np.lexsort((rng.random(len(s)), -s))
    hit = np.flatnonzero(np.asarray(clicked, dtype=bool)[order])
    return int(hit[0]) + 1 if len(hit) else 0


def _exit_probs(policy, states, watch_p: np.ndarray) -> np.ndarray | None:
    """P(exit) per page with the expected watches ``watch_p`` (per item); None: no model."""
    from alignuser.evaluation.baselines import is_choice

    if is_choice(policy):
        from alignuser.policy.choice import EXIT_TERMS, batch, sigmoid

        fb = batch(states)
        return sigmoid(fb.exit_design(watch_p) @ policy.params.vector(EXIT_TERMS))
    if hasattr(policy, "scores") and not hasattr(policy, "watch_scores"):
        return np.array([float(sc.exit) for sc in policy.scores(states)])
    return None


def next_action(
    dataset,
    policies_fn,
    test_fraction: float = 0.3,
    seeds: Sequence[int] = (0, 1, 2),
) -> pd.DataFrame:
    """Top-1 accuracy, MRR and exit accuracy of every policy on later impressions.

    Args:
        dataset: An impressions dataset.
        policies_fn: ``(train_dataset, train_interactions) -> {name: policy}``, called once on
            the earlier impressions (e.g. a partial of
            :func:`~alignuser.evaluation.protocols.build_policies`).
        test_fraction: Share of impressions (latest by time) in the test part.
        seeds: Tie-break / sampling seeds.

    Returns:
        One row per (policy, seed): ``pages``, ``click_pages``, ``top1``, ``mrr``,
        ``exit_accuracy``, ``exit_majority``.
    """
    from alignuser.evaluation.baselines import page_sizes, watch_probabilities
    from alignuser.state import StepContext
    from alignuser.training.trajectories import from_impressions

    train_ds, test_ds, train_inter, _ = impression_time_split(dataset, test_fraction)
    policies = policies_fn(train_ds, train_inter)
    ctx = StepContext(dataset, train_inter)
    steps = from_impressions(test_ds, history=train_inter, context=ctx)
    from alignuser.personas.derive import derive_personas

    feats = {
        int(p.user_id): p.to_features()
        for p in derive_personas(train_inter, dataset.catalog, dataset.users, dataset.scale)
    }
    states = [dataclasses.replace(s.state, features=feats.get(int(s.user_id), {})) for s in steps]
    clicked = [[d.watch for d in s.action.decisions] for s in steps]
    exits = np.array([s.action.exit for s in steps], dtype=bool)
    majority = bool(exits.mean() >= 0.5) if len(exits) else False
    sizes = page_sizes(states)
    bounds = np.r_[0, np.cumsum(sizes)]
    rows = []
    for seed in seeds:
        for k, (name, policy) in enumerate(policies.items()):
            rng = rng_for(seed, 505, k)
            chat_exit = None
            if is_chat(policy):  # one answer per page: its 0/1 watches and its exits
                acts = policy.decide(states, rng)
                p = np.array([d.watch for a in acts for d in a.decisions], dtype=float)
                chat_exit = np.array([a.exit for a in acts], dtype=bool)
            else:
                p = watch_probabilities(policy, states, rng)
            ranks = [
                page_ranks(p[bounds[i] : bounds[i + 1]], clicked[i], rng)
                for i in range(len(states))
                if any(clicked[i])
            ]
            ranks_a = np.asarray(ranks, dtype=float)
            px = None if chat_exit is not None else _exit_probs(policy, states, np.clip(p, 0, 1))
            if chat_exit is not None:
                pred_exit = chat_exit
            else:
                pred_exit = px >= 0.5 if px is not None else np.full(len(states), majority)
            rows.append({
                "policy": name, "seed": seed, "pages": len(states), "click_pages": len(ranks),
                "mean_page_size": float(sizes.mean()) if len(sizes) else 0.0,
                "top1": float(np.mean(ranks_a == 1)) if len(ranks) else float("nan"),
                "mrr": float(np.mean(1.0 / ranks_a)) if len(ranks) else float("nan"),
                "exit_accuracy": float(np.mean(pred_exit == exits)),
                "exit_majority": float(np.mean(exits == majority)),
            })  # fmt: skip
    return pd.DataFrame(rows)


def next_action_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per policy."""
    return summarise(raw, ["policy"], ["top1", "mrr", "exit_accuracy", "exit_majority"])
