"""A checkpoint reloads the exact item vectors it was trained with (resume is bit-identical)."""

from __future__ import annotations

import numpy as np

from alignuser.policy.items import ItemSpace


def test_renormalising_unit_vectors_is_not_idempotent():
    """Why the loader must not rebuild the space from its rows: an ulp moves."""
    v = ItemSpace(np.random.default_rng(0).normal(size=(50, 16))).vectors
    assert (ItemSpace(v).vectors != v).any()


def test_loaded_item_space_equals_the_saved_one(small_steps, tmp_path):
    from alignuser.policy.checkpoint import load_policy_model, save_policy_model
    from alignuser.policy.model import PolicyModel
    from alignuser.training.config import TinySpec
    from alignuser.training.run import corpus_texts

    space = ItemSpace(np.random.default_rng(1).normal(size=(30, 8)))
    corpus = [t for s in small_steps[0][:8] for t in corpus_texts(s)]
    tiny = TinySpec(n_layers=1, d_model=32, n_heads=2, ffn_mult=2, min_frequency=1)
    pm = PolicyModel.create("tiny", corpus=corpus, tiny=tiny, seed=0, items=space)
    save_policy_model(pm, tmp_path / "p")
    loaded = load_policy_model(tmp_path / "p")
    np.testing.assert_array_equal(loaded.item_space.vectors, space.vectors)
