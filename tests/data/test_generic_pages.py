"""Generic CSV as an impressions log: columns page / click / position group rows into pages."""

from __future__ import annotations

import pandas as pd
import pytest

from alignuser.data.formats.generic import GenericLoader
from alignuser.errors import DatasetError

COLS = {"user": "uid", "item": "sku", "timestamp": "ts", "page": "view", "click": "clicked",
        "position": "slot"}  # fmt: skip


def _csv(tmp_path, rows):
    path = tmp_path / "pages.csv"
    pd.DataFrame(rows, columns=["uid", "sku", "ts", "view", "clicked", "slot"]).to_csv(
        path, index=False
    )
    return path


def test_rows_become_pages_and_clicks_interactions(tmp_path):
    path = _csv(tmp_path, [("u1", "a", 10, "p1", 0, 2), ("u1", "b", 10, "p1", 1, 1),
                           ("u2", "c", 20, "p2", 0, 1), ("u1", "a", 30, "p3", 1, 1)])  # fmt: skip
    ds = GenericLoader().load(path, columns=COLS)
    ext = ds.catalog.df.set_index("item_id")["external_id"]
    imp = ds.impressions.df
    assert [[ext[i] for i in items] for items in imp["items"]] == [["b", "a"], ["c"], ["a"]]
    assert [[ext[i] for i in c] for c in imp["clicked"]] == [["b"], [], ["a"]]
    assert imp["timestamp"].tolist() == [10, 20, 30]
    assert imp["page_id"].tolist() == ["p1", "p2", "p3"]
    assert len(ds.interactions) == 2 and ds.n_users == 2  # u2 never clicked but is a user
    assert ds.catalog.df.set_index("external_id").loc["a", "popularity"] == 1


def test_page_errors(tmp_path):
    path = _csv(tmp_path, [("u1", "a", 10, "p1", 0, 1), ("u2", "b", 10, "p1", 1, 2)])
    with pytest.raises(DatasetError, match="page 'p1' has rows of more than one user"):
        GenericLoader().load(path, columns=COLS)
    with pytest.raises(DatasetError, match="need columns.page"):
        GenericLoader().load(path, columns={"user": "uid", "item": "sku", "click": "clicked"})
    with pytest.raises(DatasetError, match="needs columns.click"):
        GenericLoader().load(path, columns={"user": "uid", "item": "sku", "page": "view"})
    bad = _csv(tmp_path, [("u1", "a", 10, "p1", "yes", 1)])
    with pytest.raises(DatasetError, match="click column has value 'yes'"):
        GenericLoader().load(bad, columns=COLS)
    none = _csv(tmp_path, [("u1", "a", 10, "p1", 0, 1)])
    with pytest.raises(DatasetError, match="no clicked row"):
        GenericLoader().load(none, columns=COLS)
    with pytest.raises(DatasetError, match="unknown column role"):
        GenericLoader().load(none, columns={"usr": "uid"})
