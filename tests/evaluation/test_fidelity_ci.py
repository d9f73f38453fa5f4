"""Macro fidelity: bootstrap intervals of the Wasserstein distance, per-dataset checkpoints."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from alignuser.data.synthetic import SyntheticWorld
from alignuser.evaluation.fidelity import (
    STATISTICS,
    checkpoint_for,
    compare,
    fidelity_samples,
    fidelity_table,
    held_out,
    parse_checkpoints,
    run_fidelity,
)
from alignuser.evaluation.protocols import build_policies


def _sample(values, users=None, stat: str = "click_position") -> pd.DataFrame:
    df = pd.DataFrame({"statistic": stat, "value": np.asarray(values, dtype=float)})
    return df if users is None else df.assign(user_id=users, session=0)


@pytest.fixture(scope="module")
def world():
    return SyntheticWorld(n_users=30, n_items=60, seed=2).dataset(n_sessions_per_user=2)


# --------------------------------------------------------------------------- bootstrap


def test_constant_samples_give_exact_intervals():
    # every resample of a constant sample is the same sample: the interval is the point
    same = compare(_sample([3] * 6, [0, 0, 1, 1, 2, 2]), _sample([3] * 4, [7, 7, 8, 9])).iloc[0]
    assert (same["wasserstein"], same["wasserstein_lo"], same["wasserstein_hi"]) == (0, 0, 0)
    moved = compare(_sample([1] * 5, range(5)), _sample([3] * 5, range(5))).iloc[0]
    assert (moved["wasserstein"], moved["wasserstein_lo"], moved["wasserstein_hi"]) == (2, 2, 2)


def test_users_are_resampled_whole():
    # human: user 0 has nine 0s, user 1 one 1; simulated: all 0. W = share of 1s drawn.
    human = _sample([0] * 9 + [1], [0] * 9 + [1])
    sim = _sample([0] * 6, [5, 5, 6, 6, 7, 7])
    row = compare(human, sim, n_boot=400).iloc[0]
    assert row["wasserstein"] == pytest.approx(0.1)
    # drawing 2 users: {0, 0} (W 0, p 1/4), {0, 1} (W 0.1, p 1/2), {1, 1} (W 1, p 1/4)
    assert row["wasserstein_lo"] == 0 and row["wasserstein_hi"] == 1
    # the same values as 10 independent rows: W = k / 10, k ~ Binomial(10, 0.1)
    rows = compare(human[["statistic", "value"]], sim[["statistic", "value"]], n_boot=400)
    assert rows.iloc[0]["wasserstein_lo"] == 0 and 0.2 <= rows.iloc[0]["wasserstein_hi"] <= 0.4


def test_same_distribution_is_narrow_and_a_shift_is_excluded():
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(100), 5)
    a, b = rng.normal(size=500), rng.normal(size=500)
    same = compare(_sample(a, users), _sample(b, users + 1000)).iloc[0]
    shifted = compare(_sample(a, users), _sample(b + 1.0, users + 1000)).iloc[0]
    assert 0 <= same["wasserstein_lo"] <= same["wasserstein"] + 0.05
    assert same["wasserstein_hi"] - same["wasserstein_lo"] < 0.2  # narrow, near 0
    assert same["wasserstein_hi"] < 0.25
    assert shifted["wasserstein_lo"] > same["wasserstein_hi"]  # the shift's CI excludes 0
    assert shifted["wasserstein_lo"] <= 1.0 <= shifted["wasserstein_hi"] + 0.05


def test_bootstrap_is_seeded_and_can_be_disabled():
    rng = np.random.default_rng(1)
    h = _sample(rng.poisson(2, 200), rng.integers(0, 40, 200))
    s = _sample(rng.poisson(3, 150), rng.integers(0, 30, 150))
    a, b = compare(h, s, seed=5), compare(h, s, seed=5)
    pd.testing.assert_frame_equal(a, b)
    c = compare(h, s, seed=6)
    lohi = ["wasserstein_lo", "wasserstein_hi"]
    assert not np.array_equal(a[lohi].to_numpy(), c[lohi].to_numpy())
    assert a.iloc[0]["wasserstein_lo"] < a.iloc[0]["wasserstein_hi"]
    off = compare(h, s, n_boot=0)
    assert np.isnan(off.iloc[0]["wasserstein_lo"]) and np.isnan(off.iloc[0]["wasserstein_hi"])
    assert off.iloc[0]["wasserstein"] == a.iloc[0]["wasserstein"]
    with pytest.raises(ValueError, match="level"):
        compare(h, s, level=1.0)


def test_fidelity_table_rows_carry_the_interval(world):
    held = held_out(world, test_fraction=0.3)
    fs = fidelity_samples(held, build_policies(world, held.train, ["random"]), seed=0)
    t = fidelity_table(fs, n_boot=50, seed=0).set_index("statistic")
    ok = t[t["status"] == "ok"]
    assert len(ok) >= 4
    assert (ok["wasserstein_lo"] <= ok["wasserstein_hi"]).all() and (
        ok["wasserstein_lo"] >= 0
    ).all()
    off = fidelity_table(fs, n_boot=0)
    assert off["wasserstein_lo"].isna().all()
    assert np.allclose(off["wasserstein"], t["wasserstein"].to_numpy(), equal_nan=True)


# --------------------------------------------------------------------------- checkpoints


def test_checkpoint_for_a_dataset():
    assert checkpoint_for("ckpt", ["ebnerd"]) == ("ckpt", "")
    assert checkpoint_for(None, ["ebnerd"]) == (None, "no --alignuser-checkpoint")
    by_name = {"ebnerd-sample": "a", "ml-latest-small": "b"}
    assert checkpoint_for(by_name, ["ebnerd", "ebnerd-sample"]) == ("a", "")
    assert checkpoint_for(by_name, ["ml-latest-small"]) == ("b", "")
    ckpt, why = checkpoint_for({"ml-latest-small": "b"}, ["ebnerd", "ebnerd-sample"])
    assert ckpt is None and why.startswith("no checkpoint for this dataset")
    assert "ml-latest-small" in why


def test_parse_checkpoints(tmp_path):
    assert parse_checkpoints(None) is None and parse_checkpoints("") is None
    assert parse_checkpoints("runs/ckpt") == "runs/ckpt"
    assert parse_checkpoints("ebnerd=a/b, ml-latest-small = c") == {
        "ebnerd": "a/b",
        "ml-latest-small": "c",
    }
    odd = tmp_path / "x=1,y"
    odd.mkdir()
    assert parse_checkpoints(str(odd)) == str(odd)  # an existing folder is taken as is
    with pytest.raises(ValueError, match="'ebnerd' is not NAME=DIR"):
        parse_checkpoints("ml=a,ebnerd")
    with pytest.raises(ValueError, match="given twice"):
        parse_checkpoints("ml=a,ml=b")


def test_run_fidelity_routes_one_checkpoint_per_dataset(world, monkeypatch):
    import alignuser.evaluation.protocols as protocols

    seen = {}

    def fake_build(data, train, names, seed=0, ckpt=None):
        seen[len(seen)] = ckpt
        return build_policies(data, train, [n for n in names if n != "alignuser"], seed)

    monkeypatch.setattr(protocols, "build_policies", fake_build)
    other = dataclasses.replace(world, name="other")
    out = run_fidelity(
        [world, other],
        checkpoint={"other": "ckpt/other", "ml-latest-small": "ckpt/ml"},
        policies=("random", "alignuser"),
        max_users=8,
        n_boot=20,
    )
    assert seen == {0: None, 1: "ckpt/other"}
    s = out["summary"]
    status = s[s["policy"] == "alignuser"].set_index("dataset")["status"]
    assert status["synthetic"].startswith("not run: no checkpoint for this dataset")
    assert status["other"] == "not run: checkpoint failed to load: ckpt/other"
    rnd = s[(s["policy"] == "random") & (s["status"] == "ok")]
    assert len(rnd) == 2 * len(STATISTICS)
    assert rnd["wasserstein_lo"].notna().all() and rnd["wasserstein_hi"].notna().all()
