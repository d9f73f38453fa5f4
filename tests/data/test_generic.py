"""Generic CSV/Parquet loader: column mapping, items file, malformed rows, unknown items."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from alignuser.data.formats.generic import GenericLoader
from alignuser.data.loaders import load_dataset
from alignuser.errors import DataFormatError, DatasetError

COLUMNS = {"user": "uid", "item": "iid", "rating": "stars", "timestamp": "ts"}
GOOD = "uid,iid,stars,ts\nu1,m9,4,100\nu1,m3,2.5,200\nu2,m9,5,150\n"


def _write(tmp_path, text, name="ratings.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_column_mapping_and_ids(tmp_path):
    ds = GenericLoader().load(_write(tmp_path, GOOD), columns=COLUMNS)
    df = ds.interactions.df
    assert df["user_id"].tolist() == [0, 0, 1] and df["rating"].tolist() == [4.0, 2.5, 5.0]
    assert df["timestamp"].tolist() == [100, 200, 150]
    ext = ds.catalog.df["external_id"].tolist()
    assert sorted(ext) == ["m3", "m9"] and ext[df["item_id"][0]] == "m9"
    assert ds.scale.max == 5 and ds.meta["dropped_rows"] == 0
    assert ds.catalog.df.set_index("external_id").loc["m9", "popularity"] == 2


def test_items_file_and_genres(tmp_path):
    items = _write(
        tmp_path,
        "iid;name;tags\nm9;Heat (1995);Action|Crime\nm3;Up;\nm7;Unseen;Drama\n",
        "items.csv",
    )
    ds = GenericLoader().load(
        _write(tmp_path, GOOD.replace(",", ";")),
        columns=COLUMNS,
        items=items,
        item_columns={"item": "iid", "title": "name", "genres": "tags", "genre_sep": "|"},
        sep=";",
    )
    cat = ds.catalog.df.set_index("external_id")
    assert ds.n_items == 3 and cat.loc["m7", "popularity"] == 0
    assert cat.loc["m9", "genres"] == ["Action", "Crime"] and cat.loc["m3", "genres"] == []
    assert cat.loc["m9", "year"] == 1995 and pd.isna(cat.loc["m3", "year"])


def test_defaults_implicit_without_rating_or_time(tmp_path):
    ds = load_dataset(_write(tmp_path, "user_id,item_id\n1,2\n1,3\n2,2\n"))
    assert ds.name == "ratings" and ds.scale is None
    assert ds.interactions.df["rating"].isna().all() and not ds.interactions.has_time


@pytest.mark.parametrize(
    ("bad_row", "reason"),
    [
        ("u3,m9,4\n", "expected 4 fields"),
        ("u3,m9,4,100,extra\n", "expected 4 fields"),
        ("u3,m9,four,100\n", "non-numeric rating"),
        ("u3,m9,4,yesterday\n", "unreadable timestamp"),
        (",m9,4,100\n", "empty user"),
    ],
)
def test_malformed_row_names_file_and_line(tmp_path, bad_row, reason):
    path = _write(tmp_path, GOOD + "u3,m3,1,300\n" + bad_row)
    with pytest.raises(DataFormatError, match=reason) as err:
        GenericLoader().load(path, columns=COLUMNS)
    assert err.value.line == 6 and err.value.path == str(path)
    assert f"{path}:6" in str(err.value)


def test_skip_bad_rows_counts_and_logs(tmp_path, caplog):
    text = GOOD + "u3,m9\nu3,m9,x,1\n\nu4,m3,3,400\n"
    with caplog.at_level(logging.WARNING, logger="alignuser.data.formats.generic"):
        ds = GenericLoader().load(_write(tmp_path, text), columns=COLUMNS, on_bad_rows="skip")
    assert ds.meta["dropped_rows"] == 2 and len(ds.interactions) == 4
    assert any("dropped 2 malformed" in r.getMessage() for r in caplog.records)
    assert "line 5" in caplog.records[0].getMessage()


def test_iso_timestamps(tmp_path):
    text = "uid,iid,stars,ts\na,x,1,2023-02-27T03:23:27\na,y,2,1970-01-01T00:01:40Z\n"
    ds = GenericLoader().load(_write(tmp_path, text), columns=COLUMNS)
    assert ds.interactions.df["timestamp"].tolist() == [1677468207, 100]


def test_unknown_items_error_or_skip(tmp_path):
    items = _write(tmp_path, "iid,name\nm9,Heat\n", "items.csv")
    spec = {"columns": COLUMNS, "items": items, "item_columns": {"item": "iid", "title": "name"}}
    with pytest.raises(DatasetError, match=r"1 row\(s\) name items absent.*m3"):
        GenericLoader().load(_write(tmp_path, GOOD), **spec)
    ds = GenericLoader().load(_write(tmp_path, GOOD), on_bad_rows="skip", **spec)
    assert ds.meta["unknown_item_rows"] == 1 and len(ds.interactions) == 2 and ds.n_items == 1


def test_empty_and_header_only_files(tmp_path):
    with pytest.raises(DatasetError, match="empty"):
        GenericLoader().load(_write(tmp_path, ""), columns=COLUMNS)
    with pytest.raises(DatasetError, match="no interactions"):
        GenericLoader().load(_write(tmp_path, "uid,iid,stars,ts\n"), columns=COLUMNS)


def test_missing_column_is_named(tmp_path):
    with pytest.raises(DatasetError, match=r"user='userId'.*columns are"):
        GenericLoader().load(_write(tmp_path, GOOD), columns={**COLUMNS, "user": "userId"})
    with pytest.raises(ValueError, match="unknown column role"):
        GenericLoader().load(_write(tmp_path, GOOD), columns={"usr": "uid"})


def test_parquet_and_bad_parquet_row(tmp_path):
    frame = pd.DataFrame({"uid": [1, 1, 2], "iid": [10, 11, 10], "stars": [7.0, 9.0, 10.0]})
    frame.to_parquet(tmp_path / "r.parquet")
    ds = load_dataset(
        tmp_path / "r.parquet", columns={"user": "uid", "item": "iid", "rating": "stars"}
    )
    assert ds.scale.max == 10 and np.allclose(ds.interactions.df["rating"], [7, 9, 10])
    frame.astype({"stars": object}).assign(stars=["7", "bad", "10"]).to_parquet(
        tmp_path / "b.parquet"
    )
    with pytest.raises(DataFormatError, match="row 2: non-numeric rating"):
        GenericLoader().load(
            tmp_path / "b.parquet", columns={"user": "uid", "item": "iid", "rating": "stars"}
        )


def test_quoted_fields_with_commas(tmp_path):
    items = _write(tmp_path, 'iid,name\nm9,"Heat, The (1995)"\nm3,"Up"\n', "items.csv")
    ds = GenericLoader().load(
        _write(tmp_path, GOOD),
        columns=COLUMNS,
        items=items,
        item_columns={"item": "iid", "title": "name"},
    )
    assert "Heat, The (1995)" in ds.catalog.df["title"].tolist()
