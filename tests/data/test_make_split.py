"""make_split (the split names of `alignuser eval --split` and scenarios) and column splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignuser.data.formats.generic import GenericLoader
from alignuser.data.splits import make_split, temporal_split
from alignuser.data.synthetic import SyntheticWorld
from alignuser.errors import DatasetError


@pytest.fixture(scope="module")
def ds():
    return SyntheticWorld(n_users=20, n_items=40, seed=2).dataset(n_sessions_per_user=2)


def test_auto_is_temporal_with_time_and_matches_temporal_split(ds):
    a, b = make_split(ds), temporal_split(ds.interactions, 0.2)
    assert a.name == "temporal" and a.test.df.equals(b.test.df)


def test_auto_prefers_the_shipped_split(ds):
    import dataclasses

    shipped = temporal_split(ds.interactions, 0.5)
    with_split = dataclasses.replace(ds, splits={"provided": shipped})
    assert make_split(with_split) is shipped
    assert make_split(with_split, "random").name == "random_0"


def test_without_time_auto_is_random_and_temporal_says_what_to_do(ds):
    import dataclasses

    from alignuser.data.tables import Interactions

    inter = Interactions(ds.interactions.df.assign(timestamp=-1))
    nots = dataclasses.replace(ds, interactions=inter)
    assert make_split(nots).name == "random_0"
    for method in ("temporal", "leave_last_n", "leave-last-n"):
        with pytest.raises(DatasetError, match=r"needs timestamps.*--split random"):
            make_split(nots, method)


def test_errors_name_the_fix(ds):
    with pytest.raises(DatasetError, match="ships no split"):
        make_split(ds, "provided")
    with pytest.raises(DatasetError, match="split_column=fold"):
        make_split(ds, "column", name="fold")
    with pytest.raises(DatasetError, match="no held-out part"):
        make_split(ds, "none")
    with pytest.raises(DatasetError, match="unknown split method"):
        make_split(ds, "sideways")


def _csv(tmp_path, folds):
    rows = pd.DataFrame({"user_id": [0, 0, 0, 1, 1, 1], "item_id": [1, 2, 3, 1, 4, 5],
                         "rating": [5, 3, 4, 2, 5, 1], "fold": folds})  # fmt: skip
    path = tmp_path / "r.csv"
    rows.to_csv(path, index=False)
    return path


def test_generic_split_column(tmp_path):
    path = _csv(tmp_path, ["train", "valid", "test", "train", "TRAIN", " Test"])
    ds = GenericLoader().load(path, split_column="fold")
    sp = make_split(ds, "column", name="fold")
    assert sp is make_split(ds) is ds.splits["column:fold"]
    assert sp.summary() == {"train": 3, "valid": 1, "test": 2}
    ext = ds.catalog.df["external_id"].to_numpy()
    assert sorted(ext[sp.test.df["item_id"]].tolist()) == ["3", "5"]
    assert np.array_equal(np.sort(ext[sp.valid.df["item_id"]]), ["2"])
    assert len(ds.interactions) == 6


def test_generic_split_column_bad_values(tmp_path):
    with pytest.raises(DatasetError, match=r"value\(s\) \['holdout'\]; use train, valid or test"):
        GenericLoader().load(_csv(tmp_path, ["train"] * 5 + ["holdout"]), split_column="fold")
    with pytest.raises(DatasetError, match="no 'test' row"):
        GenericLoader().load(_csv(tmp_path, ["train"] * 6), split_column="fold")
    with pytest.raises(DatasetError, match="split='nope' not found.*split_column=COLUMN"):
        GenericLoader().load(_csv(tmp_path, ["train"] * 6), split_column="nope")


def test_items_file_columns_found_by_name(tmp_path):
    path = _csv(tmp_path, ["train"] * 6)
    items = tmp_path / "items.csv"
    items.write_text("item_id,name,tags,year\n1,Heat,Crime|Drama,1995\n2,Up,Kids,2009\n"
                     "3,Ran,War,1985\n4,Jaws,Horror,1975\n5,Alien,SF,1979\n")  # fmt: skip
    cat = GenericLoader().load(path, items=items).catalog.df.set_index("external_id")
    assert cat.loc["1", "title"] == "Heat" and cat.loc["1", "genres"] == ["Crime", "Drama"]
    assert cat.loc["2", "year"] == 2009
    # the items' id column named like the interactions' item column
    pd.read_csv(path).rename(columns={"item_id": "sku"}).to_csv(path, index=False)
    items.write_text(items.read_text().replace("item_id", "sku", 1))
    ds = GenericLoader().load(path, columns={"item": "sku"}, items=items)
    assert ds.catalog.df.set_index("external_id").loc["4", "title"] == "Jaws"
    items.write_text(items.read_text().replace("sku", "code", 1))
    with pytest.raises(DatasetError, match=r"no item id column.*'code'.*item_columns="):
        GenericLoader().load(path, columns={"item": "sku"}, items=items)
    ds = GenericLoader().load(path, columns={"item": "sku"}, items=items,
                              item_columns={"item": "code"})  # fmt: skip
    assert ds.n_items == 5
