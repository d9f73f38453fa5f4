"""Splits: no overlap, time order, sizes, seeded determinism, provided-split errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignuser.data.dataset import Dataset
from alignuser.data.splits import leave_last_n, provided_split, random_split, temporal_split
from alignuser.data.tables import Catalog, Interactions
from alignuser.errors import DatasetError


@pytest.fixture
def inter(rng) -> Interactions:
    n = 1_000
    return Interactions.from_frame(
        pd.DataFrame(
            {
                "user_id": rng.integers(0, 50, n),
                "item_id": rng.integers(0, 200, n),
                "rating": rng.integers(1, 6, n).astype(float),
                "timestamp": rng.integers(0, 10_000, n),
            }
        )
    )


def _check_partition(inter, split):
    parts = [split.train, split.test] + ([split.valid] if split.valid is not None else [])
    assert sum(len(p) for p in parts) == len(inter)
    merged = pd.concat([p.df for p in parts]).sort_values(list(inter.df.columns))
    expected = inter.df.sort_values(list(inter.df.columns))
    assert merged.reset_index(drop=True).equals(expected.reset_index(drop=True))


def test_temporal_split_global_cut(inter):
    split = temporal_split(inter, test_fraction=0.2, valid_fraction=0.1)
    assert split.summary() == {"train": 700, "valid": 100, "test": 200}
    _check_partition(inter, split)
    train_max = split.train.df["timestamp"].max()
    assert split.valid.df["timestamp"].min() >= train_max
    assert split.test.df["timestamp"].min() >= split.valid.df["timestamp"].max()
    assert temporal_split(inter, 0.2).valid is None


def test_leave_last_n_per_user_order(inter):
    split = leave_last_n(inter, n_test=2, n_valid=1)
    _check_partition(inter, split)
    sizes = inter.df.groupby("user_id").size()
    test_sizes = split.test.df.groupby("user_id").size()
    assert (test_sizes == np.minimum(sizes - 1, 2)).all()
    train_last = split.train.df.groupby("user_id")["timestamp"].max()
    valid_first = split.valid.df.groupby("user_id")["timestamp"].min()
    test_first = split.test.df.groupby("user_id")["timestamp"].min()
    assert (valid_first >= train_last.reindex(valid_first.index)).all()
    assert (test_first >= train_last.reindex(test_first.index)).all()


def test_leave_last_keeps_one_train_event_and_handles_ties():
    df = pd.DataFrame({"user_id": [0, 1, 1, 1], "item_id": [5, 1, 2, 3], "timestamp": [7, 3, 3, 1]})
    split = leave_last_n(Interactions.from_frame(df), n_test=1)
    assert split.train.df["user_id"].tolist() == [0, 1, 1]
    # ties keep row order: item 2 is the later of the two events at t=3
    assert split.test.df["item_id"].tolist() == [2]


def test_time_splits_need_timestamps():
    inter = Interactions.from_frame(pd.DataFrame({"user_id": [0, 0, 0], "item_id": [0, 1, 2]}))
    with pytest.raises(DatasetError, match="timestamps"):
        temporal_split(inter)
    with pytest.raises(DatasetError, match="timestamps"):
        leave_last_n(inter)
    split = leave_last_n(inter, by_row_order=True)
    assert split.test.df["item_id"].tolist() == [2]


def test_random_split_sizes_and_seed(inter):
    a = random_split(inter, test_fraction=0.25, valid_fraction=0.1, seed=3)
    b = random_split(inter, test_fraction=0.25, valid_fraction=0.1, seed=3)
    c = random_split(inter, test_fraction=0.25, valid_fraction=0.1, seed=4)
    assert a.summary() == {"train": 650, "valid": 100, "test": 250}
    _check_partition(inter, a)
    assert a.test.df.equals(b.test.df) and not a.test.df.equals(c.test.df)


def test_bad_fractions(inter):
    with pytest.raises(ValueError, match="no train"):
        random_split(inter, 0.6, 0.5)
    with pytest.raises(ValueError):
        temporal_split(inter, 0.0)


def test_provided_split_lists_names(inter):
    cat = Catalog.from_frame(pd.DataFrame({"item_id": np.arange(200)}))
    split = random_split(inter, 0.2)
    ds = Dataset("toy", cat, inter, splits={"u1": split, "ua": split})
    assert provided_split(ds, "u1") is split
    with pytest.raises(DatasetError, match="no split 'provided'; available: u1, ua"):
        provided_split(ds)
