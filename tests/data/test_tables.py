"""Typed tables: schema checks, clear errors, Parquet round trip."""

import numpy as np
import pandas as pd
import pytest

from alignuser.data.dataset import Dataset
from alignuser.data.tables import Catalog, Impressions, Interactions, Users
from alignuser.errors import DatasetError


def _catalog():
    return Catalog.from_frame(
        pd.DataFrame(
            {
                "item_id": [1, 0, 2],
                "title": [
                    'Brother, Can\'t You "Spare" a Dime?',
                    "Misérables, Les (1995)",
                    "東京物語",
                ],
                "genres": [["Drama"], ["Drama", "War"], []],
                "year": [1975, 1995, None],
            }
        )
    )


def test_round_trip_every_table(tmp_path):
    cat = _catalog()
    inter = Interactions.from_frame(
        pd.DataFrame(
            {
                "user_id": [0, 0, 1],
                "item_id": [0, 2, 1],
                "rating": [4.5, np.nan, 2.0],
                "timestamp": [5, 6, 7],
            }
        )
    )
    users = Users.from_frame(
        pd.DataFrame({"user_id": [0, 1], "gender": ["F", ""], "age": ["25-34", ""]})
    )
    imp = Impressions.from_frame(
        pd.DataFrame(
            {
                "impression_id": [9],
                "user_id": [1],
                "timestamp": [7],
                "items": [[1, 2, 0]],
                "clicked": [[1]],
            }
        )
    )
    for table in (cat, inter, users, imp):
        path = tmp_path / f"{type(table).__name__}.parquet"
        table.to_parquet(path)
        back = type(table).read_parquet(path)
        pd.testing.assert_frame_equal(back.df, table.df)
    assert cat.df["item_id"].tolist() == [0, 1, 2]  # sorted by id
    assert cat.df.loc[2, "title"] == "東京物語" and pd.isna(cat.df.loc[2, "year"])
    assert imp.df.loc[0, "items"] == [1, 2, 0]  # order as shown is kept


def test_statistics_come_from_the_given_interactions():
    cat = _catalog()
    inter = Interactions.from_frame(
        pd.DataFrame({"user_id": [0, 1, 1], "item_id": [0, 0, 2], "rating": [4.0, 2.0, 5.0]})
    )
    stats = cat.with_statistics(inter).df
    assert stats["popularity"].tolist() == [2, 0, 1]
    assert stats.loc[0, "mean_rating"] == 3.0 and np.isnan(stats.loc[1, "mean_rating"])


def test_clear_errors():
    with pytest.raises(DatasetError, match="empty"):
        Catalog.from_frame(pd.DataFrame({"item_id": []}))
    with pytest.raises(DatasetError, match="contiguous"):
        Catalog.from_frame(pd.DataFrame({"item_id": [0, 5]}))
    with pytest.raises(DatasetError, match="missing column"):
        Interactions.from_frame(pd.DataFrame({"user": [0]}))
    with pytest.raises(DatasetError, match="rating"):
        Interactions.from_frame(pd.DataFrame({"user_id": [0], "item_id": [0], "rating": ["five"]}))
    with pytest.raises(DatasetError, match="not shown"):
        Impressions.from_frame(
            pd.DataFrame(
                {"impression_id": [1], "user_id": [0], "items": [[1, 2]], "clicked": [[3]]}
            )
        )
    inter = Interactions.from_frame(pd.DataFrame({"user_id": [0], "item_id": [7]}))
    with pytest.raises(DatasetError, match="unknown item"):
        Dataset("x", _catalog(), inter)
    with pytest.raises(DatasetError, match="no interactions"):
        Dataset(
            "x", _catalog(), Interactions.from_frame(pd.DataFrame({"user_id": [], "item_id": []}))
        )
