"""Training the AlignUSER policy: trajectories, world model, counterfactuals, reflections.

* :mod:`~alignuser.training.config`: ``TrainConfig`` (the scenario's ``train:`` section).
* :mod:`~alignuser.training.prepare`: train / validation steps from a dataset.
* :mod:`~alignuser.training.trajectories`: ``(state, action, next state)`` steps from
  impression logs or rating logs (states by :class:`alignuser.state.StepContext`);
  :mod:`~alignuser.training.targets`: their world-model targets.
* :mod:`~alignuser.policy.counterfactual`: ``K`` legal alternatives to a human action.
* :mod:`~alignuser.training.reflectors`: template (offline) and chat-model reflectors.
* :mod:`~alignuser.training.losses`: BC, action log-probability, pairwise ranking.
* :mod:`~alignuser.training.calibration`: the choice baseline calibrated on training pages.
* :mod:`~alignuser.training.worldmodel` / :mod:`~alignuser.training.evaluate`: metrics.
* :mod:`~alignuser.training.run` (model, optimizer, resume point) and
  :mod:`~alignuser.training.trainer` (``train``, both stages).

The names below load on first use: importing the package (or ``TrainConfig`` alone, as the
scenario does) loads neither pandas nor torch.
"""

from __future__ import annotations

import importlib

__all__ = [
    "Step",
    "TrainConfig",
    "TrainingInterrupted",
    "from_impressions",
    "from_ratings",
    "similar_memories",
    "train",
    "train_on_steps",
]

_HOMES = {
    "Step": "trajectories",
    "TrainConfig": "config",
    "TrainingInterrupted": "trainer",
    "from_impressions": "trajectories",
    "from_ratings": "trajectories",
    "similar_memories": "trajectories",
    "train": "trainer",
    "train_on_steps": "trainer",
}


def __getattr__(name: str):
    """The public names, imported from their modules on first use."""
    if name in _HOMES:
        return getattr(importlib.import_module(f"alignuser.training.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'alignuser.training' has no attribute {name!r}")
