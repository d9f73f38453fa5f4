"""Built-in dataset loaders: real shared datasets (skipped when absent) and tiny tmp folders."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from alignuser.data.formats.common import year_from_title
from alignuser.data.loaders import LOADERS, detect_loader, load_dataset
from alignuser.errors import DataFormatError, DatasetError


def _folder(shared_data, name):
    p = shared_data / name
    if not p.is_dir():
        pytest.skip(f"shared dataset {name} absent")
    return p


def _contiguous(ds):
    assert np.array_equal(ds.catalog.df["item_id"].to_numpy(), np.arange(ds.n_items))
    users = np.unique(ds.interactions.df["user_id"].to_numpy())
    assert users.min() == 0 and users.max() < ds.n_users
    assert ds.catalog.df["external_id"].str.len().gt(0).all()


def test_registry_names_and_protocol():
    from alignuser.interfaces import DatasetLoader

    expected = {"ml-100k", "ml-1m", "ml-latest", "agent4rec", "ebnerd", "bookcrossing", "generic"}
    assert expected <= set(LOADERS.names())
    for name in expected:
        loader = LOADERS.get(name)()
        assert loader.name == name
        assert isinstance(loader, DatasetLoader)


def test_year_from_title():
    years = year_from_title(pd.Series(["Toy Story (1995)", "Babylon 5", "X (2007-)", "Y (1999) "]))
    assert years.tolist()[0] == 1995 and pd.isna(years.iloc[1])
    assert years.iloc[2] == 2007 and years.iloc[3] == 1999


def test_unknown_folder_and_path(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="no loader recognises"):
        load_dataset(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(KeyError, match="known"):
        load_dataset(tmp_path, format="no-such-format")


def _write_ml1m(folder, with_ratings=True):
    folder.mkdir()
    movies = "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Misérables, Les (1995)::Drama\n"
    (folder / "movies.dat").write_bytes(movies.encode("latin-1"))
    (folder / "users.dat").write_text("10::F::25::20::12345\n20::M::1::10::54321\n")
    if with_ratings:
        (folder / "ratings.dat").write_text(
            "10::1::5::978300760\n10::2::3::978302109\n20::2::4::978301968\n"
        )


def test_ml1m_full_loader_on_tmp_folder(tmp_path):
    _write_ml1m(tmp_path / "ml1m")
    ds = load_dataset(tmp_path / "ml1m")
    assert ds.name == "ml-1m" and len(ds.interactions) == 3 and ds.n_items == 2
    cat = ds.catalog.df
    assert cat["title"].tolist() == ["Toy Story (1995)", "Misérables, Les (1995)"]
    assert cat["year"].tolist() == [1995, 1995]
    assert cat["genres"][0] == ["Animation", "Children's", "Comedy"]
    assert cat["popularity"].tolist() == [1, 2] and cat["mean_rating"].tolist() == [5.0, 3.5]
    users = ds.users.df.set_index("external_id")
    assert users.loc["10", "age"] == "25-34" and users.loc["10", "occupation"] == "writer"
    assert users.loc["20", "gender"] == "Male" and users.loc["20", "age"] == "Under 18"
    assert ds.interactions.df["user_id"].tolist() == [0, 0, 1]


def test_ml1m_without_ratings_points_to_agent4rec(tmp_path):
    _write_ml1m(tmp_path / "ml1m", with_ratings=False)
    with pytest.raises(DatasetError, match=r"ratings\.dat.*agent4rec"):
        load_dataset(tmp_path / "ml1m")


def test_shared_ml1m_partial_raises(shared_data):
    with pytest.raises(DatasetError, match=r"ratings\.dat.*agent4rec"):
        load_dataset(_folder(shared_data, "ml-1m"))


def test_ml100k(shared_data):
    ds = load_dataset(_folder(shared_data, "ml-100k"))
    assert (len(ds.interactions), ds.n_users, ds.n_items) == (100_000, 943, 1_682)
    _contiguous(ds)
    assert sorted(ds.splits) == ["u1", "u2", "u3", "u4", "u5", "ua", "ub"]
    assert ds.splits["u1"].summary() == {"train": 80_000, "valid": 0, "test": 20_000}
    assert ds.splits["ua"].summary()["test"] == 9_430
    cat = ds.catalog.df
    assert cat["title"].str.contains("Misérables").any()
    toy = cat.iloc[0]
    assert toy["title"] == "Toy Story (1995)" and toy["year"] == 1995
    assert toy["genres"] == ["Animation", "Children's", "Comedy"]
    assert cat["popularity"].sum() == 100_000 and ds.interactions.is_explicit
    assert set(ds.users.df["gender"]) == {"Female", "Male"} and len(ds.users) == 943


def test_ml100k_statistics_on_split_train(shared_data):
    ds = LOADERS.get("ml-100k")().load(_folder(shared_data, "ml-100k"), statistics="u1")
    assert ds.catalog.df["popularity"].sum() == 80_000
    assert "u1" in ds.meta["statistics_from"]


def test_ml_latest_small(shared_data):
    ds = load_dataset(_folder(shared_data, "ml-latest-small"))
    assert (len(ds.interactions), ds.n_users, ds.n_items) == (100_836, 610, 9_742)
    _contiguous(ds)
    ratings = ds.interactions.df["rating"]
    assert ratings.min() == 0.5 and ratings.max() == 5.0 and (ratings % 1 == 0.5).any()
    assert ds.scale.max == 5
    cat = ds.catalog.df.set_index("external_id")
    assert "pixar" in cat.loc["1", "text"] and cat.loc["1", "year"] == 1995
    assert cat["title"].str.contains("Misérables, Les (1995)", regex=False).any()
    assert (cat["text"] != "").sum() > 1_000


def test_agent4rec(shared_data):
    ds = load_dataset(_folder(shared_data, "agent4rec-ml1m"))
    split = ds.splits["provided"]
    assert split.summary() == {"train": 74_271, "valid": 55_486, "test": 55_492}
    assert ds.n_users == 1_000 and ds.n_items == 3_292
    assert int(ds.interactions.df["item_id"].max()) == 3_291
    assert not ds.interactions.is_explicit
    cat = ds.catalog.df
    assert cat["popularity"].sum() == 74_271  # train part only
    assert cat["mean_rating"].between(1, 5).all() and (cat["text"] != "").all()
    assert "LLM" in ds.meta["text_source"]
    profile = ds.meta["profile_ratings"]
    assert profile.is_explicit and profile.df["rating"].between(1, 5).all()
    assert profile.df["user_id"].nunique() == 1_000
    assert profile.df.groupby("user_id").size().max() <= 25
    train_pairs = set(zip(split.train.df["user_id"], split.train.df["item_id"]))
    assert set(zip(profile.df["user_id"], profile.df["item_id"])) <= train_pairs
    assert len(ds.users) == 1_000 and set(ds.users.df["gender"]) == {"Female", "Male"}


def test_agent4rec_demographics_fallback_to_agg(shared_data, tmp_path):
    ds = LOADERS.get("agent4rec")().load(
        _folder(shared_data, "agent4rec-ml1m"), ml1m_path=tmp_path / "none"
    )
    assert ds.meta["demographics_from"].endswith("agg_top_25.csv")
    assert ds.users.df.loc[0, "gender"] in {"Female", "Male"}


def test_ebnerd(shared_data):
    ds = load_dataset(_folder(shared_data, "ebnerd-sample"))
    imp = ds.impressions.df
    assert len(imp) == 1_046 and imp["session_id"].nunique() == 485
    assert all(set(c) <= set(i) for i, c in zip(imp["items"], imp["clicked"]))
    assert ds.interactions.has_time and not ds.interactions.is_explicit
    assert (
        ds.meta["has_titles"] is False and ds.catalog.df["title"].str.startswith("Article ").all()
    )
    assert ds.meta["impression_clicks"] == 1_047
    assert len(ds.interactions) == ds.meta["history_clicks"] + 1_047
    jsonl = LOADERS.get("ebnerd")().load(_folder(shared_data, "ebnerd-sample"), prefer="jsonl")
    assert jsonl.impressions.df["items"].tolist() == imp["items"].tolist()
    assert jsonl.impressions.df["timestamp"].tolist() == imp["timestamp"].tolist()


def test_ebnerd_order_kept_and_bad_jsonl(tmp_path):
    row = {
        "impression_id": 1, "impression_time": "2023-02-27T03:23:27", "read_time": 17.0,
        "article_ids_inview": [30, 10, 20], "article_ids_clicked": [20], "user_id": 7,
        "session_id": 4,
    }  # fmt: skip
    (tmp_path / "behaviors.jsonl").write_text(json.dumps(row) + "\n")
    ds = load_dataset(tmp_path)
    imp = ds.impressions.df.iloc[0]
    ext = ds.catalog.df["external_id"].to_numpy()
    assert ext[imp["items"]].tolist() == ["30", "10", "20"] and ext[imp["clicked"]].tolist() == [
        "20"
    ]
    assert imp["timestamp"] == 1677468207 and imp["dwell"] == 17.0 and imp["session_id"] == 4
    (tmp_path / "behaviors.jsonl").write_text(json.dumps(row) + "\n{not json\n")
    with pytest.raises(DataFormatError, match=r"behaviors\.jsonl:2") as err:
        load_dataset(tmp_path)
    assert err.value.line == 2


def test_bookcrossing(shared_data):
    folder = _folder(shared_data, "bookcrossing-caserec")
    ds = load_dataset(folder)
    assert len(ds.interactions) == 62_656 and ds.n_users == 1_295 and ds.scale.max == 10
    assert ds.interactions.df["rating"].between(1, 10).all()
    _contiguous(ds)
    assert ds.n_items == 17_384 and "location" in ds.users.df.columns
    implicit = LOADERS.get("bookcrossing")().load(folder, implicit=True)
    assert len(implicit.interactions) == 272_678 and implicit.n_users == 2_946
    assert implicit.scale is None and implicit.interactions.df["rating"].isna().all()


def test_bookcrossing_amp_quirk(tmp_path):
    header = "Book_ID\tISBN\tBook-Title\tBook-Author\tYear-Of-Publication\tPublisher\tS\tM\tL\n"
    rows = [
        '1\t0060973129\tDecision "in" Normandy\tCarlo D\'Este\t1991\tHarper\ts\tm\tl\t\n',
        "2\t0393045218\tThe Mummies\tE. Barber\t0\tW. W. Norton &amp\t Company\ts\tm\tl\t\n",
    ]
    (tmp_path / "items_info.dat").write_text(header + "".join(rows))
    (tmp_path / "book_ratings.dat").write_text("user\titem\trating\n5\t1\t7.000000\n5\t2\t9.0\n")
    ds = load_dataset(tmp_path)
    cat = ds.catalog.df
    assert cat["title"].tolist() == ['Decision "in" Normandy', "The Mummies"]
    assert cat["year"][0] == 1991 and pd.isna(cat["year"][1])
    assert cat["text"][1] == "by E. Barber" and ds.interactions.df["rating"].tolist() == [7.0, 9.0]


def test_detect_picks_each_format(shared_data):
    expected = {
        "ml-100k": "ml-100k", "ml-latest-small": "ml-latest", "ml-1m": "ml-1m",
        "agent4rec-ml1m": "agent4rec", "ebnerd-sample": "ebnerd",
        "bookcrossing-caserec": "bookcrossing",
    }  # fmt: skip
    for folder, name in expected.items():
        assert detect_loader(_folder(shared_data, folder)).name == name


def test_logging_is_silent_by_default(caplog, tmp_path):
    _write_ml1m(tmp_path / "ml1m")
    with caplog.at_level(logging.WARNING):
        load_dataset(tmp_path / "ml1m")
    assert not caplog.records
