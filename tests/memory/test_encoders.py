from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignuser.data.tables import Catalog, Interactions
from alignuser.memory.encoders import (
    CFItemEncoder,
    CombinedEncoder,
    HashingTextEncoder,
    MatrixEncoder,
    default_encoder,
)


@pytest.fixture
def catalog():
    return Catalog.from_frame(
        pd.DataFrame(
            {
                "item_id": range(6),
                "title": [
                    "Heat (1995)",
                    "Heat Wave",
                    "Fargo (1996)",
                    "Toy Story",
                    "Toy Story 2",
                    "Alien",
                ],
                "genres": [
                    ["Action", "Crime"],
                    ["Action"],
                    ["Crime"],
                    ["Animation"],
                    ["Animation"],
                    ["Horror"],
                ],
                "year": [1995, None, 1996, 1995, 1999, 1979],
            }
        )
    )


@pytest.fixture
def interactions(rng):
    # two taste groups: users 0-19 watch items 0-2, users 20-39 watch items 3-4; item 5 unseen
    rows = [(u, i) for u in range(20) for i in (0, 1, 2) if rng.random() < 0.8]
    rows += [(u, i) for u in range(20, 40) for i in (3, 4) if rng.random() < 0.8]
    rows += [(0, 3), (25, 1)]
    u, i = zip(*rows)
    return Interactions.from_frame(pd.DataFrame({"user_id": u, "item_id": i, "rating": 4.0}))


def _unit(m):
    return np.allclose(np.linalg.norm(m, axis=1), 1, atol=1e-5)


def test_hashing_text_encoder(catalog):
    a, b = HashingTextEncoder(catalog, dim=64), HashingTextEncoder(catalog, dim=64)
    m = a.encode_items(np.arange(6))
    assert m.dtype == np.float32 and m.shape == (6, 64) and _unit(m)
    assert np.array_equal(m, b.encode_items(np.arange(6)))
    sims = m @ m.T
    assert sims[3, 4] > sims[3, 5] and sims[0, 1] > sims[0, 5]
    assert not a.encode_items([-1, 99]).any()


def test_cf_encoder_separates_taste_groups(interactions):
    enc = CFItemEncoder(interactions, n_items=6, dim=4, seed=0)
    m = enc.encode_items(np.arange(6))
    assert m.shape == (6, 4) and _unit(m[:5])
    assert not m[5].any()
    sims = m @ m.T
    assert min(sims[0, 1], sims[0, 2], sims[3, 4]) > max(sims[0, 3], sims[2, 4])
    again = CFItemEncoder(interactions, n_items=6, dim=4, seed=0)
    assert np.array_equal(m, again.matrix)


def test_cf_encoder_sparse_path_is_deterministic(rng):
    u = rng.integers(0, 300, 4000)
    i = (u % 10) * 20 + rng.integers(0, 20, 4000)
    inter = Interactions.from_frame(pd.DataFrame({"user_id": u, "item_id": i}))
    a = CFItemEncoder(inter, n_items=220, dim=16, seed=1)
    b = CFItemEncoder(inter, n_items=220, dim=16, seed=1)
    assert np.allclose(a.matrix, b.matrix, atol=1e-5)
    assert not a.matrix[200:].any() and _unit(a.matrix[:200])
    sims = a.matrix[:200] @ a.matrix[:200].T
    same = (np.arange(200)[:, None] // 20) == (np.arange(200)[None, :] // 20)
    assert sims[same].mean() > sims[~same].mean() + 0.3


def test_combined_encoder_weights():
    e1 = MatrixEncoder(np.array([[1, 0], [0, 1], [1, 0]], np.float32))
    e2 = MatrixEncoder(np.array([[1, 0], [1, 0], [0, 1]], np.float32))
    enc = CombinedEncoder([e1, e2], [1.0, 0.5])
    m = enc.encode_items([0, 1, 2])
    assert enc.dim == 4 and _unit(m)
    assert m[0] @ m[1] == pytest.approx(0.2) and m[0] @ m[2] == pytest.approx(0.8)
    with pytest.raises(ValueError):
        CombinedEncoder([e1], [1.0, 2.0])


def test_default_encoder_choice(catalog, interactions):
    assert isinstance(default_encoder(catalog), HashingTextEncoder)
    enc = default_encoder(catalog, interactions, text_dim=32, cf_dim=4)
    assert isinstance(enc, CombinedEncoder) and enc.dim == 36
    assert _unit(enc.encode_items(np.arange(6)))
