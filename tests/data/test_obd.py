"""Open Bandit Dataset loader: one-item pages tagged with slot, propensity and contexts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignuser.data.formats.obd import ObdLoader
from alignuser.data.loaders import LOADERS, detect_loader, load_dataset
from alignuser.errors import DatasetError


def _write_log(root, policy="random", campaign="men", n_items=3):
    folder = root / policy / campaign
    folder.mkdir(parents=True)
    rows = pd.DataFrame({
        "timestamp": ["2019-11-24 00:00:01.5+00:00", "2019-11-24 00:00:03+00:00",
                      "2019-11-24 00:01:00+00:00", "2019-11-24 00:02:00+00:00"],
        "item_id": [2, 0, 1, 2], "position": [1, 3, 2, 1], "click": [0, 1, 0, 1],
        "propensity_score": [1 / n_items] * 4,
        "user_feature_0": ["a", "b", "a", "a"], "user_feature_1": ["x", "x", "x", "y"],
        "user_feature_2": ["p"] * 4, "user_feature_3": ["q"] * 4,
        **{f"user-item_affinity_{i}": [float(i), 0.0, 1.0, 2.0] for i in range(n_items)},
    })  # fmt: skip
    rows.to_csv(folder / f"{campaign}.csv")
    pd.DataFrame({"item_id": range(n_items), "item_feature_0": [0.1, -0.2, 0.3][:n_items],
                  "item_feature_1": ["h1", "h1", "h2"][:n_items],
                  "item_feature_2": ["k"] * n_items, "item_feature_3": ["m"] * n_items}
                 ).to_csv(folder / "item_context.csv")  # fmt: skip
    return folder


def test_registered_and_detected(tmp_path):
    assert "obd" in LOADERS
    folder = _write_log(tmp_path)
    assert detect_loader(folder).name == "obd"
    assert detect_loader(tmp_path).name == "obd"  # the root, with policy / campaign options
    assert not ObdLoader().detect(tmp_path / "random" / "men" / "men.csv")


def test_slots_as_one_item_pages_with_their_tags(tmp_path):
    ds = load_dataset(_write_log(tmp_path))
    imp = ds.impressions.df
    assert ds.name == "obd-random-men" and ds.scale is None and ds.n_items == 3
    assert imp["items"].tolist() == [[2], [0], [1], [2]]
    assert imp["clicked"].tolist() == [[], [0], [], [2]]
    assert imp["position"].tolist() == [1, 3, 2, 1]
    assert np.allclose(imp["propensity"], 1 / 3)
    assert set(imp["policy"]) == {"random"} and set(imp["campaign"]) == {"men"}
    assert np.allclose(imp["affinity"].iloc[0], [0.0, 1.0, 2.0])
    assert imp["timestamp"].tolist() == [1574553601, 1574553603, 1574553660, 1574553720]
    # a user is a user context: rows 0 and 2 share all four hashed features
    u = imp["user_id"].to_numpy()
    assert u[0] == u[2] and len(set(u)) == 3 and ds.n_users == 3
    users = ds.users.df.set_index("user_id")
    assert users.loc[u[1], "user_feature_0"] == "b"
    inter = ds.interactions.df
    assert inter["item_id"].tolist() == [0, 2] and inter["rating"].isna().all()
    cat = ds.catalog.df
    assert cat.loc[0, "genres"] == ["f1:h1", "f2:k", "f3:m"] and cat.loc[2, "popularity"] == 1
    assert np.isclose(cat.loc[1, "item_feature_0"], -0.2)


def test_options_and_errors(tmp_path):
    _write_log(tmp_path, "bts", "all")
    _write_log(tmp_path, "random", "all")
    ds = load_dataset(tmp_path, policy="bts", campaign="all")
    assert ds.meta["policy"] == "bts" and ds.meta["campaign"] == "all"
    assert load_dataset(tmp_path).meta["policy"] == "random"  # default random / all
    with pytest.raises(DatasetError, match="policy='greedy'"):
        load_dataset(tmp_path, policy="greedy")
    with pytest.raises(DatasetError, match="no random/women log"):
        load_dataset(tmp_path, campaign="women")
    with pytest.raises(DatasetError, match="is the 'bts' log"):
        load_dataset(tmp_path / "bts" / "all", policy="random")


@pytest.mark.parametrize("policy", ["random", "bts"])
@pytest.mark.parametrize("campaign,n_items", [("all", 80), ("men", 34), ("women", 46)])
def test_shared_obd_small(shared_data, policy, campaign, n_items):
    root = shared_data / "obd-small"
    if not root.is_dir():
        pytest.skip(f"obd-small not found under {shared_data}")
    ds = load_dataset(root / policy / campaign)
    imp = ds.impressions.df
    raw = pd.read_csv(root / policy / campaign / f"{campaign}.csv", index_col=0)
    assert len(imp) == 10_000 and ds.n_items == n_items
    assert set(imp["position"]) == {1, 2, 3}
    assert imp["clicked"].map(len).sum() == raw["click"].sum() == len(ds.interactions)
    assert np.allclose(imp["propensity"], raw["propensity_score"])
    if policy == "random":
        assert np.allclose(imp["propensity"], 1 / n_items)
    assert imp["affinity"].map(len).eq(n_items).all()
    # item context joined from the item_context.csv beside this log
    ctx = pd.read_csv(root / policy / campaign / "item_context.csv", index_col=0)
    tag = ds.catalog.df.set_index("item_id")["genres"].map(lambda g: g[0][3:])
    assert (tag == ctx.set_index("item_id")["item_feature_1"].str[:8]).all()
    assert 150 < ds.n_users < 300  # user contexts
