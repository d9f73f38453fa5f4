"""Discriminator human-likeness: known answers (same / different distributions), the session
pipeline on a synthetic world (a policy replaying the humans is indistinguishable), the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from alignuser.data.synthetic import SyntheticWorld
from alignuser.env.actions import ItemDecision, PageAction
from alignuser.evaluation.likeness import likeness, likeness_table, two_sample_auc
from alignuser.evaluation.likeness.sessions import (
    RATING_FEATURES,
    likeness_sessions,
    session_features,
    simulate,
)
from alignuser.policy.registry import make_policy


def _gauss(n, shift=0.0, seed=0, d=3):
    x = np.random.default_rng(seed).normal(size=(n, d))
    x[:, 1] += shift
    return x


def test_same_distribution_twice_is_near_half():
    out = two_sample_auc(_gauss(300, seed=1), _gauss(300, seed=2), np.arange(300) // 2,
                         np.arange(300) // 2, n_boot=300)  # fmt: skip
    assert abs(out["auc"] - 0.5) < 0.08
    assert out["ci_low"] < 0.5 < out["ci_high"]
    assert out["n_real"] == out["n_sim"] == 300 and out["folds"] == 5


def test_clearly_different_distributions_are_near_one_and_the_feature_is_named():
    out = two_sample_auc(pd.DataFrame(_gauss(200, seed=1), columns=["a", "b", "c"]),
                         pd.DataFrame(_gauss(200, 3.0, seed=2), columns=["a", "b", "c"]),
                         np.arange(200), np.arange(200), n_boot=200)  # fmt: skip
    assert out["auc"] > 0.95 and out["ci_low"] > 0.9
    imp = out["importance"]
    assert imp.iloc[0]["feature"] == "b" and imp.iloc[0]["importance"] > 0.05
    assert imp.set_index("feature").loc["b", "feature_auc"] > 0.95  # sim has larger values


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="both sides"):
        two_sample_auc(np.zeros((0, 2)), np.ones((5, 2)), [], range(5))
    with pytest.raises(ValueError, match="same columns"):
        two_sample_auc(np.zeros((5, 2)), np.ones((5, 3)), range(5), range(5))
    with pytest.raises(ValueError, match="at least 2 users"):
        two_sample_auc(np.zeros((5, 2)), np.ones((5, 2)), [0] * 5, [0] * 5)


def test_all_missing_feature_does_not_break_the_classifier():
    a, b = _gauss(60, seed=1), _gauss(60, 3.0, seed=2)
    a[:, 0] = b[:, 0] = np.nan
    assert two_sample_auc(a, b, np.arange(60), np.arange(60), n_boot=0)["auc"] > 0.9


@pytest.fixture(scope="module")
def world():
    return SyntheticWorld(n_users=40, n_items=80, seed=1).dataset(n_sessions_per_user=3)


class ReplayHuman:
    """Does exactly what the human did on each held-out page (and exits on the last)."""

    def __init__(self, sessions):
        self.truth = {}
        for h in sessions.human:
            for k, (st, w, r) in enumerate(zip(h.states, h.watched, h.ratings)):
                self.truth[self.key(st)] = (w, r, k + 1 == len(h.states))

    @staticmethod
    def key(s):
        return s.agent_id, s.session, s.page, s.item_ids

    def decide(self, states, rng):
        out = []
        for s in states:
            w, r, last = self.truth[self.key(s)]
            ds = [ItemDecision(i, bool(x), int(y) if x else None)
                  for i, x, y in zip(s.item_ids, w, r)]  # fmt: skip
            out.append(PageAction(tuple(ds), exit=last))
        return out


def test_sessions_features_and_replayed_humans(world):
    held = likeness_sessions(world, max_users=30)
    assert held.kind == "impressions" and held.explicit and len(held.human) > 20
    human = session_features(held.human, held.encoder, held.max_rating)
    h0 = held.human[0]
    assert human.loc[0, "pages"] == len(h0.states)
    assert human.loc[0, "watches"] == sum(int(w.sum()) for w in h0.watched)
    replay = session_features(simulate(held, ReplayHuman(held)), held.encoder, held.max_rating)
    pd.testing.assert_frame_equal(human, replay)
    out = likeness(world, {"replay": ReplayHuman(held), "random": make_policy("random")},
                   max_users=30, n_boot=100)  # fmt: skip
    raw = out["raw"].set_index("policy")
    assert abs(raw.loc["replay", "auc"] - 0.5) < 0.05
    assert raw.loc["random", "auc"] > 0.75
    summary = likeness_table(out["raw"], out["importance"])
    assert list(summary["policy"]) == ["replay", "random"]


def test_rating_features_are_left_out_on_implicit_logs(shared_data):
    from alignuser.data.loaders import load_dataset

    held = likeness_sessions(load_dataset(shared_data / "ebnerd-sample"), max_users=10)
    assert not held.explicit and not set(RATING_FEATURES) & set(held.features)
    # EB-NeRD logs a page with its click: every human page has one
    assert all(w.any() for h in held.human for w in h.watched)


def test_cli_writes_the_table(world, tmp_path):
    from typer.testing import CliRunner

    from alignuser.evaluation.cli import eval_app

    world.impressions.to_parquet(tmp_path / "log.parquet")
    argv = ["likeness", "--data", str(tmp_path / "log.parquet"), "--policies",
            "random,popularity,alignuser", "--max-users", "25", "--n-boot", "50",
            "--out", str(tmp_path / "e")]  # fmt: skip
    res = CliRunner().invoke(eval_app, argv)
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "e" / "likeness.json").read_text())
    rows = {r["policy"]: r for r in doc["summary"]}
    assert set(rows) == {"random", "popularity", "alignuser"}
    assert 0.5 < rows["random"]["auc"] <= 1 and rows["random"]["ci_low"] <= rows["random"]["auc"]
    assert rows["alignuser"]["status"] == "not run: no --alignuser-checkpoint"
    assert {"feature", "feature_auc"} <= set(doc["importance"][0])
    assert "gives_away" in (tmp_path / "e" / "likeness.md").read_text()
    bad = CliRunner().invoke(eval_app, ["likeness", "--data", str(tmp_path / "nope")])
    assert bad.exit_code == 2 and "error" in bad.output


def test_checkpoint_rows_one_per_folder(world, tmp_path):
    from alignuser.evaluation.fidelity.checkpoints import checkpoint_variants
    from alignuser.evaluation.likeness import run_likeness

    got, why = checkpoint_variants({"w": "r/s0/policy+r/s1/policy"}, ["w"])
    assert got == {"alignuser:s0": "r/s0/policy", "alignuser:s1": "r/s1/policy"} and not why
    assert checkpoint_variants("c1", ["w"]) == ({"alignuser": "c1"}, "")
    assert checkpoint_variants({"other": "c"}, ["w"])[0] == {}
    bad = f"{tmp_path}/a/policy+{tmp_path}/b/policy"
    out = run_likeness(world, checkpoint=bad, policies=("random", "alignuser"), max_users=15,
                       n_boot=0)  # fmt: skip
    s = out["summary"].set_index("policy")
    assert s.loc["alignuser:a", "status"].startswith("not run: checkpoint failed to load")
    assert set(s.index) == {"random", "alignuser:a", "alignuser:b"}
    assert np.isnan(s.loc["random", "ci_low"])  # n_boot=0: no interval
