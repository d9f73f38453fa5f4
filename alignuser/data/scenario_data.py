"""A scenario's data: its dataset, the training part of its split, what training reads.

The functions the runner, ``alignuser train``, the evaluation data sources and
``policy.checkpoint: auto`` share, below all of them (they read the scenario's ``dataset``
and ``split`` sections and nothing else).

Example:
    >>> from alignuser.data.scenario_data import load_data, split_train  # doctest: +SKIP
    >>> train = split_train(scenario, load_data(scenario))  # doctest: +SKIP
"""

from __future__ import annotations

from alignuser.data.dataset import Dataset
from alignuser.data.tables import Interactions

__all__ = ["load_data", "split_train", "training_data"]


def load_data(scenario) -> Dataset:
    """The scenario's dataset (synthetic world or a loader)."""
    spec = scenario.dataset
    if spec.source == "synthetic":
        from alignuser.data.synthetic import SyntheticWorld

        syn = spec.synthetic
        world = SyntheticWorld(
            n_users=syn.n_users, n_items=syn.n_items, n_genres=syn.n_genres, seed=syn.seed
        )
        return world.dataset(n_sessions_per_user=syn.sessions_per_user, seed=syn.seed)
    from alignuser.data.loaders import load_dataset

    return load_dataset(scenario.resolve(spec.path), format=spec.format, **spec.options)


def split_train(scenario, dataset: Dataset) -> Interactions:
    """The training part of the interactions under the scenario's split."""
    from alignuser.data import splits

    sp = scenario.split
    inter = dataset.interactions
    if sp.method == "none":
        return inter
    if sp.method == "random":
        return splits.random_split(
            inter, sp.test_fraction, sp.valid_fraction, seed=scenario.seed
        ).train
    if sp.method == "temporal":
        return splits.temporal_split(inter, sp.test_fraction, sp.valid_fraction).train
    if sp.method == "leave_last_n":
        return splits.leave_last_n(inter, n_test=sp.n_test).train
    return splits.provided_split(dataset, sp.name).train


def training_data(scenario, dataset):
    """``(dataset, interactions)`` that policy training reads: the split's training part.

    ``interactions`` is ``None`` for ``split: {method: none}`` (everything trains). An
    impression log under a temporal split is cut at one time, as the next-action, replay and
    fidelity protocols cut it (pages and interactions before the cut only).
    """
    if scenario.split.method == "temporal" and dataset.impressions is not None:
        from alignuser.data.splits import impression_time_split

        dataset, _, part, _ = impression_time_split(dataset, scenario.split.test_fraction)
        return dataset, part
    return dataset, None if scenario.split.method == "none" else split_train(scenario, dataset)
