"""Small synthetic data and a very small tiny base shared by the training tests."""

from __future__ import annotations

import pytest

from alignuser.training.config import TinySpec

MICRO = TinySpec(n_layers=2, d_model=64, n_heads=2, ffn_mult=2, min_frequency=1)


@pytest.fixture(scope="session")
def world():
    from alignuser.data.synthetic import SyntheticWorld

    return SyntheticWorld(n_users=60, n_items=80, seed=3)


@pytest.fixture(scope="session")
def small_dataset(world):
    return world.dataset(n_sessions_per_user=2, seed=1)


@pytest.fixture(scope="session")
def small_steps(small_dataset):
    from alignuser.training.config import TrainConfig
    from alignuser.training.prepare import prepare_steps

    return prepare_steps(TrainConfig(), small_dataset)


@pytest.fixture(scope="session")
def micro_model(small_steps):
    from alignuser.policy.model import PolicyModel
    from alignuser.training.run import corpus_texts

    train, _ = small_steps
    corpus = [t for s in train for t in corpus_texts(s)]
    return PolicyModel.create("tiny", corpus=corpus, tiny=MICRO, seed=0)
