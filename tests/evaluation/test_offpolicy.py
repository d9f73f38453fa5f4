"""Off-policy estimators (hand-computed values) and the OBD system-selection protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignuser.evaluation.selection.offpolicy import (
    click_model,
    dm,
    dr,
    ipw,
    offpolicy_selection,
    offpolicy_summary,
    snipw,
    target_distribution,
)

R = np.array([1.0, 0.0, 1.0])
P = np.array([0.5, 0.25, 0.5])
PI = np.array([0.25, 0.5, 1.0])  # weights 0.5, 2, 2
Q_ALL = np.array([[0.1, 0.3], [0.2, 0.2], [0.5, 0.0]])
PI_ALL = np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
Q_LOGGED = np.array([0.1, 0.2, 0.0])


def test_estimators_match_hand_computed_values():
    assert ipw(R, P, PI) == pytest.approx((0.5 + 0 + 2) / 3)
    assert snipw(R, P, PI) == pytest.approx(2.5 / 4.5)
    assert dm(Q_ALL, PI_ALL) == pytest.approx((0.2 + 0.2 + 0.0) / 3)
    # DM + mean(w * (r - q)) = 0.1333 + mean(0.45, -0.4, 2.0)
    assert dr(R, P, PI, Q_LOGGED, Q_ALL, PI_ALL) == pytest.approx(0.4 / 3 + 2.05 / 3)
    # on-policy (pi == p): IPW and SNIPW are the mean reward; DR with a perfect q is DM
    assert ipw(R, P, P) == snipw(R, P, P) == pytest.approx(2 / 3)


def test_click_model_and_target_distribution():
    q = click_model(np.array([0, 0, 1]), np.array([1, 1, 1]), np.array([1.0, 0, 0]), 2, 1, 2.0)
    assert q[0] == pytest.approx([(1 + 2 / 3) / 4, (2 / 3) / 3])
    log = pd.DataFrame({"position": [1, 1, 2, 2], "item": [0, 0, 1, 0]})
    assert np.allclose(target_distribution(log, "bts", 2, 2), [[1, 0], [0.5, 0.5]])
    assert np.allclose(target_distribution(log, "random", 4, 3), 0.25)


def _write(root, policy, campaign, dist, ctr, n, seed):
    """A log in the OBD layout: items drawn from ``dist``, clicks with per-item ``ctr``."""
    rng = np.random.default_rng(seed)
    k = len(dist)
    folder = root / policy / campaign
    folder.mkdir(parents=True)
    item = rng.choice(k, n, p=dist)
    ts = pd.Timestamp("2019-11-24", tz="UTC") + pd.to_timedelta(np.sort(rng.random(n)) * 6e5, "s")
    pd.DataFrame({
        "timestamp": ts.astype(str), "item_id": item, "position": rng.integers(1, 4, n),
        "click": (rng.random(n) < np.asarray(ctr)[item]).astype(int),
        "propensity_score": np.asarray(dist)[item],
        **{f"user_feature_{j}": rng.choice(["a", "b", "c"], n) for j in range(4)},
    }).to_csv(folder / f"{campaign}.csv")  # fmt: skip
    pd.DataFrame({"item_id": range(k), "item_feature_0": np.linspace(0, 1, k),
                  **{f"item_feature_{j}": ["h"] * k for j in (1, 2, 3)}}
                 ).to_csv(folder / "item_context.csv")  # fmt: skip


CTR = [0.02, 0.05, 0.10]


@pytest.fixture(scope="module")
def obd_pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("obd")
    _write(root, "random", "men", [1 / 3] * 3, CTR, 20_000, 0)
    _write(root, "bts", "men", [0.1, 0.2, 0.7], CTR, 20_000, 1)
    return root


def test_estimators_recover_the_other_policys_ctr(obd_pair):
    raw = offpolicy_selection(obd_pair, campaigns=("men",), policies=(), n_boot=50)
    assert len(raw) == 2 * 5 and set(raw["status"]) == {"ok"}
    t = raw.set_index(["train_log", "method"])
    true_bts, true_random = 0.1 * 0.02 + 0.2 * 0.05 + 0.7 * 0.10, np.mean(CTR)
    assert t.loc[("random", "IPW"), "truth"] == pytest.approx(true_bts, abs=0.006)
    for m in ("IPW", "SNIPW", "DM", "DR"):
        assert t.loc[("random", m), "estimate"] == pytest.approx(true_bts, abs=0.01), m
        assert t.loc[("bts", m), "estimate"] == pytest.approx(true_random, abs=0.01), m
        assert t.loc[("random", m), "order_right"] and t.loc[("bts", m), "order_right"]
        lo, hi = t.loc[("random", m), ["est_lo", "est_hi"]]
        assert lo <= t.loc[("random", m), "estimate"] <= hi
    # the naive estimate is the training log's CTR: wrong here, and it never orders the two
    assert abs(t.loc[("random", "naive"), "estimate"] - true_bts) > 0.02
    assert t.loc[("random", "naive"), "order_pred"] == "bts = random"
    assert not t.loc[("random", "naive"), "order_right"]
    assert t["decidable"].all()  # 20,000 rows and CTRs far apart
    s = offpolicy_summary(raw).set_index("method")
    assert s.loc["DR", "mean_abs_error"] < s.loc["naive", "mean_abs_error"]
    assert s.loc["IPW", "order_right_decidable"] == 1.0 and s.loc["naive", "order_right"] == 0.0


def test_simulator_rows_and_not_run_learned_policy(tmp_path):
    _write(tmp_path, "random", "all", [1 / 3] * 3, CTR, 600, 2)
    _write(tmp_path, "bts", "all", [0.1, 0.2, 0.7], CTR, 600, 3)
    raw = offpolicy_selection(tmp_path, campaigns=("all",), policies=("choice", "alignuser"),
                              n_boot=20)  # fmt: skip
    sim = raw[raw["method"] == "sim_choice"].set_index("train_log")
    assert ((sim["estimate"] > 0) & (sim["estimate"] < 1)).all()
    assert (sim["est_lo"] <= sim["estimate"]).all() and (sim["estimate"] <= sim["est_hi"]).all()
    learned = raw[raw["method"] == "sim_alignuser"]
    assert len(learned) == 2 and learned["status"].str.startswith("not run").all()
    again = offpolicy_selection(tmp_path, campaigns=("all",), policies=("choice",), n_boot=20)
    assert np.allclose(again.loc[again["method"] == "sim_choice", "estimate"],
                       sim["estimate"].to_numpy())  # fmt: skip


def test_cli_writes_the_table_and_missing_data_is_one_line(obd_pair, tmp_path):
    from typer.testing import CliRunner

    from alignuser.evaluation.cli import eval_app

    out = tmp_path / "res"
    res = CliRunner().invoke(eval_app, ["off-policy", "--data", str(obd_pair), "--campaigns",
                                        "men", "--policies", "", "--n-boot", "20", "--out",
                                        str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "IPW" in (out / "off_policy.md").read_text()
    bad = CliRunner().invoke(eval_app, ["off-policy", "--data", str(obd_pair), "--campaigns",
                                        "women", "--policies", ""])  # fmt: skip
    assert bad.exit_code == 2 and bad.output.startswith("error: obd: no random/women log")


def test_on_shared_obd_small(shared_data):
    root = shared_data / "obd-small"
    if not root.is_dir():
        pytest.skip(f"obd-small not found under {shared_data}")
    raw = offpolicy_selection(root, campaigns=("men",), policies=(), n_boot=50)
    t = raw.set_index(["train_log", "method"])
    assert t.loc[("random", "naive"), "truth"] == pytest.approx(69 / 10_000)
    assert t.loc[("bts", "naive"), "truth"] == pytest.approx(46 / 10_000)
    assert t.loc[("random", "naive"), "estimate"] == pytest.approx(46 / 10_000)
    # uniform logging: IPW of the random log is sum(r * pi_bts) * n_items / n
    assert 0 < t.loc[("random", "IPW"), "estimate"] < 0.02
