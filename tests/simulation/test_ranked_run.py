"""A run's ranking marks recommenders that cannot be told apart as tied."""

import json

from typer.testing import CliRunner

from alignuser.cli import app

from .conftest import small_scenario


def test_identical_recommenders_in_a_run_are_tied(tmp_path):
    s = small_scenario(
        tmp_path,
        recommenders=[{"name": "popular", "label": "p1"}, {"name": "popular", "label": "p2"},
                      {"name": "random"}],
        **{"population.n_agents": 30},
    )  # fmt: skip
    (tmp_path / "s.yaml").write_text(s.to_yaml())
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["run", str(tmp_path / "s.yaml"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    ranking = {
        row["recommender"]: row for row in json.loads((out / "metrics.json").read_text())["ranking"]
    }
    assert ranking["p1"]["rank"] == ranking["p2"]["rank"]
    assert "p2" in ranking["p1"]["tied_with"] and "p1" in ranking["p2"]["tied_with"]
    assert f"{ranking['p1']['rank']}=" in r.output and "vs next" in r.output
    assert "paired 95% CI" in (out / "metrics.md").read_text()


def test_agents_beyond_users_cover_every_user_once_before_copies(tmp_path):
    from alignuser.simulation.runner import prepare

    prep = prepare(small_scenario(tmp_path, **{"population.n_agents": 200}))  # 80 users
    with_data = set(prep.train.df["user_id"].unique().tolist())
    assert len(prep.agent_users) == 200
    assert set(prep.agent_users.tolist()) == with_data  # every user, then copies
