"""`alignuser eval selection --logs FILE --arm-column COL`: your own A/B test's arms."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from alignuser.data.synthetic import SyntheticWorld
from alignuser.evaluation.cli import eval_app


@pytest.fixture(scope="module")
def ab_log(tmp_path_factory):
    """A user-level A/B test in one world: even users saw random pages, odd users the oracle's."""
    w = SyntheticWorld(n_users=80, n_items=120, seed=5)
    a = w.dataset(n_sessions_per_user=4, logging_policy="random", seed=0).impressions.df
    b = w.dataset(n_sessions_per_user=4, logging_policy="oracle", seed=1).impressions.df
    ab = pd.concat([a[a.user_id % 2 == 0].assign(variant="random"),
                    b[b.user_id % 2 == 1].assign(variant="oracle")], ignore_index=True)  # fmt: skip
    ab["impression_id"] = np.arange(len(ab))
    path = tmp_path_factory.mktemp("ab") / "ab.parquet"
    ab.to_parquet(path)
    return path


def _run(args, out):
    return CliRunner().invoke(eval_app, ["selection", *args, "--out", str(out)])


def test_simulated_users_prefer_the_better_arm(ab_log, tmp_path):
    res = _run(["--logs", str(ab_log), "--arm-column", "variant"], tmp_path)
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "selection.json").read_text())
    arms = pd.DataFrame(out["arms"]).set_index(["arm", "method"])
    real = arms.xs("naive", level="method")["real_ctr"]
    assert real["oracle"] > real["random"] + 0.1  # the oracle arm really is better
    lo, hi = arms.loc[("oracle", "sim_choice"), ["est_lo", "est_hi"]]
    assert lo <= arms.loc[("oracle", "sim_choice"), "estimate"] <= hi
    s = pd.DataFrame(out["summary"]).set_index("method")
    assert s.loc["sim_choice", "picked"] == "oracle" and s.loc["sim_choice", "right"]
    assert s.loc["sim_choice", "decidable"]
    assert s.loc["sim_alignuser", "status"].startswith("not run")
    assert set(s.index) >= {"naive", "sim_random", "sim_choice"}
    # the calibrated policy's CTRs are closer to the real ones than the random policy's
    assert s.loc["sim_choice", "mean_abs_error"] < s.loc["sim_random", "mean_abs_error"]


def test_arm_errors_are_one_line(ab_log, tmp_path):
    res = _run(["--logs", str(ab_log), "--arm-column", "nope"], tmp_path)
    assert res.exit_code == 2 and res.output.startswith("error: --arm-column 'nope'")
    assert "variant" in res.output
    res = _run(["--logs", str(ab_log)], tmp_path)
    assert res.exit_code == 2 and "--arm-column" in res.output
    res = _run(["--logs", str(ab_log), "--arm-column", "session_id"], tmp_path)
    assert res.exit_code in (0, 2) and "Traceback" not in res.output
