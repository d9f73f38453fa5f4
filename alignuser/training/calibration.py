"""Calibrate a :class:`~alignuser.policy.choice.ChoiceModelPolicy` on a dataset's human logs.

The states are the same ones the learned policy trains on
(:class:`~alignuser.state.StepContext`, :mod:`alignuser.training.trajectories`), with
each user's persona features attached:

* with impression logs (real pages: synthetic world, EB-NeRD) the fit learns real watch,
  position and exit behaviour;
* with rating logs only, pages are built UserMirrorer-style, so the watch rate per page and
  the exits are set by the construction, not observed (see that module): the calibration
  then mainly learns taste, popularity and memory weights and the rating model;
* with implicit logs (no ratings, e.g. Agent4Rec's split) the rating model keeps its
  coefficients (the trajectories would give every watch the same rating).

Scenario use: ``policy: {name: choice, params: {calibrate: true}}``.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

log = logging.getLogger(__name__)


def calibration_steps(dataset, train, max_steps: int = 20000, seed: int = 0):
    """``(states, actions)`` of human steps on ``train`` with persona features attached."""
    from alignuser.personas.derive import derive_personas
    from alignuser.state import StepContext
    from alignuser.training.trajectories import from_impressions, from_ratings

    ctx = StepContext(dataset, train)
    if dataset.impressions is not None and len(dataset.impressions):
        steps = from_impressions(dataset, history=train, context=ctx)
    else:
        steps = from_ratings(dataset, targets=train, context=ctx, seed=seed)
    if len(steps) > max_steps:
        keep = np.sort(np.random.default_rng(seed).choice(len(steps), max_steps, replace=False))
        steps = [steps[i] for i in keep]
    feats = {
        int(p.user_id): p.to_features()
        for p in derive_personas(train, dataset.catalog, dataset.users, dataset.scale)
    }
    states = [dataclasses.replace(s.state, features=feats.get(int(s.user_id), {})) for s in steps]
    return states, [s.action for s in steps]


def calibrate_choice(policy, dataset, train, max_steps: int = 20000, seed: int = 0) -> dict:
    """Fit ``policy`` (a ChoiceModelPolicy) to the human steps; returns fit diagnostics."""
    states, actions = calibration_steps(dataset, train, max_steps, seed)
    if not states:
        raise ValueError(f"no human steps to calibrate on in dataset {dataset.name!r}")
    before = policy.log_likelihood(states, actions)
    kept = policy.params
    policy.fit(states, actions)
    if not train.is_explicit:
        # implicit logs carry no ratings (trajectories fill a constant): fitting the rating
        # model would collapse it onto that constant, so keep its coefficients
        from alignuser.policy.choice import RATING_TERMS

        keep = {t: getattr(kept, t) for t in (*RATING_TERMS, "r_sigma")}
        policy.params = policy.params.model_copy(update=keep)
    after = policy.log_likelihood(states, actions)
    log.info("calibrated choice policy on %d steps: %s -> %s", len(states), before, after)
    return {"steps": len(states), "loglik_before": before, "loglik_after": after}
