"""Training the AlignUSER policy: trajectories, world model, counterfactuals, reflections.

* :mod:`~alignuser.training.trajectories`: ``(state, action, next state)`` steps from
  impression logs or rating logs, and :func:`similar_memories` (retrieval shared with the
  simulation).
* :mod:`~alignuser.training.counterfactual`: ``K`` legal alternatives to a human action.
* :mod:`~alignuser.training.reflectors`: template (offline) and chat-model reflectors.
* :mod:`~alignuser.training.losses`: BC, action log-probability, pairwise ranking.
* :mod:`~alignuser.training.worldmodel` / :mod:`~alignuser.training.evaluate`: metrics.
* :mod:`~alignuser.training.trainer`: ``TrainConfig`` and ``train`` (both stages).

Heavy libraries (torch, transformers) load only when training or scoring starts.
"""

from alignuser.training.trainer import TrainConfig, TrainingInterrupted, train, train_on_steps
from alignuser.training.trajectories import Step, from_impressions, from_ratings, similar_memories

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
