"""Replay protocol: hand-computed CTRs, no test page in fitting, the real ebnerd-sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignuser.data.tables import Impressions
from alignuser.evaluation.replay import (
    impressions_dataset,
    position_ctr,
    replay_ctr,
    replay_positions,
    replay_table,
    run_replay,
)
from alignuser.policy.random import assemble_actions


class FirstItem:
    """Watches exactly the first item of every page (rating 3)."""

    name = "first"

    def decide(self, states, rng):
        n = [len(s.items) for s in states]
        watch = np.concatenate([np.arange(k) == 0 for k in n])
        return assemble_actions(states, watch, np.full(len(watch), 3), np.zeros(len(states), bool))


def hand_log() -> Impressions:
    """Ten pages of two users at t = 0..9 (raw ids are large, renumbered on load).

    With ``test_fraction=0.3`` the cut is ``int(quantile(0..9, 0.7)) = 6``: pages at t >= 6
    are replayed. Those four pages (3, 2, 4 and 1 items) have clicks at positions
    (2), (1), (1, 3), () : real CTR by position 2/4, 1/3, 1/2, 0/1; overall 4/10.
    """
    items = [[100, 200, 300]] * 6 + [[100, 200, 300], [400, 500], [100, 500, 600, 700], [800]]
    clicked = [[100]] * 6 + [[200], [400], [100, 600], []]
    return Impressions.from_frame(
        pd.DataFrame(
            {
                "impression_id": np.arange(10),
                "user_id": [7, 9] * 5,
                "timestamp": np.arange(10),
                "items": items,
                "clicked": clicked,
            }
        )
    )


def test_position_ctr_by_hand():
    t = position_ctr([np.array([0.5, 1.0]), np.array([0.0]), np.array([1.0, 0.0, 1.0])], 4)
    assert t["n_items"].tolist() == [3, 2, 1, 0, 6]
    np.testing.assert_allclose(t["ctr"].to_numpy()[[0, 1, 2, 4]], [0.5, 0.5, 1.0, 3.5 / 6])
    assert np.isnan(t["ctr"].iloc[3]) and t["position"].isna().tolist() == [False] * 4 + [True]


def test_impressions_dataset_renumbers_ids():
    ds = impressions_dataset(hand_log())
    assert ds.catalog.n_items == 8 and ds.catalog.df["external_id"].tolist()[:2] == ["100", "200"]
    assert ds.impressions.df["items"].iloc[7] == [3, 4] and ds.impressions.df["clicked"][7] == [3]
    assert ds.users.df["external_id"].tolist() == ["7", "9"]
    assert len(ds.interactions) == 6 + 4  # one interaction per click


def test_hand_computed_ctr_and_no_test_page_in_fitting():
    ds = impressions_dataset(hand_log())
    seen = {}

    def fit(train_ds, train_inter):
        seen.update(train=train_ds, inter=train_inter)
        return {"first": FirstItem()}

    raw = replay_ctr(ds, fit, test_fraction=0.3, seeds=(0, 1), max_position=3)
    # the policies saw only pages and clicks before the cut (t < 6), statistics included
    assert seen["train"].impressions.df["timestamp"].max() == 5
    assert seen["inter"].df["timestamp"].max() == 5
    assert seen["train"].interactions.df["timestamp"].max() == 5
    assert seen["train"].catalog.df["popularity"].sum() == 6
    one = raw[raw["seed"] == 0]
    np.testing.assert_allclose(one["real_ctr"].to_numpy(), [2 / 4, 1 / 3, 1 / 2, 4 / 10])
    np.testing.assert_allclose(one["pred_ctr"].to_numpy(), [1.0, 0.0, 0.0, 4 / 10])
    np.testing.assert_allclose(one["abs_error"].to_numpy(), [0.5, 1 / 3, 0.5, 0.0])
    assert one["n_items"].tolist() == [4, 3, 2, 10] and one["pages"].tolist()[-1] == 4
    over = one[one["position"].isna()].iloc[0]
    real, pred = np.array([0.5, 1 / 3, 0.5]), np.array([1.0, 0.0, 0.0])
    assert over["position_corr"] == pytest.approx(np.corrcoef(real, pred)[0, 1])
    assert over["position_mae"] == pytest.approx(np.mean(np.abs(real - pred)))
    table = replay_table(raw)
    assert table["policy"].tolist() == ["first"] and table["n_seeds"].tolist() == [2]
    assert table["pred_ctr_std"].tolist() == [0.0]  # deterministic policy
    pos = replay_positions(raw)
    assert pos["position"].tolist() == [1, 2, 3] and pos["n_items"].tolist() == [4, 3, 2]


def test_synthetic_world_line_up():
    from alignuser.data.synthetic import SyntheticWorld
    from alignuser.evaluation.protocols import build_policies

    ds = SyntheticWorld(n_users=40, n_items=60, seed=1).dataset(n_sessions_per_user=2)
    raw = replay_ctr(
        ds, lambda d, t: build_policies(d, t, ["random", "popularity"]), seeds=(0, 1, 2)
    )
    table = replay_table(raw).set_index("policy")
    imp = ds.impressions.df
    cut = int(np.quantile(imp["timestamp"], 0.7))
    test = imp[imp["timestamp"] >= cut]
    real = test["clicked"].map(len).sum() / test["items"].map(len).sum()
    assert table.loc["random", "real_ctr"] == pytest.approx(real)
    assert table.loc["random", "pred_ctr"] == pytest.approx(0.5, abs=0.05)
    assert table.loc["popularity", "pred_ctr"] == pytest.approx(0.5, abs=0.01)  # top half
    assert table.loc["random", "pred_ctr_std"] > 0
    assert (table["pages"] == len(test)).all()


def test_ebnerd_sample(shared_data):
    out = run_replay(
        shared_data / "ebnerd-sample", seeds=(0,), policies=("popularity", "mf", "alignuser")
    )
    s = out["summary"].set_index("policy")
    assert s.loc["alignuser", "status"].startswith("not run")
    imp = pd.read_parquet(shared_data / "ebnerd-sample" / "behaviors.parquet")
    ts = (imp["impression_time"] - pd.Timestamp(0)) // pd.Timedelta(seconds=1)
    later = imp[ts >= int(np.quantile(ts, 0.7))]
    shown = later["article_ids_inview"].map(len).sum()
    real = later["article_ids_clicked"].map(len).sum() / shown
    assert s.loc["mf", "real_ctr"] == pytest.approx(real)
    assert s.loc["mf", "pages"] == len(later)
    assert 0 <= s.loc["mf", "pred_ctr"] < s.loc["popularity", "pred_ctr"]
    pos = out["positions"]
    assert set(pos["policy"]) == {"popularity", "mf"} and pos["position"].max() == 10


def test_example_on_a_user_parquet_with_arms(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    df = hand_log().df.assign(arm="B")
    other = df.assign(arm="A", impression_id=df["impression_id"] + 100, clicked=[[]] * 10)
    pd.concat([df, other]).to_parquet(tmp_path / "ab.parquet")
    path = Path(__file__).resolve().parents[2] / "examples" / "replay_ab_logs.py"
    spec = importlib.util.spec_from_file_location("replay_ab_logs", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    argv = ["--data", str(tmp_path / "ab.parquet"), "--policies", "random,popularity",
            "--seeds", "0", "--out", str(tmp_path)]  # fmt: skip
    out = mod.main([*argv, "--arm", "B"])
    assert out["summary"]["real_ctr"].tolist() == pytest.approx([0.4, 0.4])  # hand_log's
    assert "CTR by position" in capsys.readouterr().out
    assert (tmp_path / "replay_ab_logs.png").stat().st_size > 1000
    assert mod.main([*argv, "--arm", "A"])["summary"]["real_ctr"].tolist() == [0.0, 0.0]
