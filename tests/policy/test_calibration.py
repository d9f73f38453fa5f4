"""Calibrating the choice policy on the synthetic world's logs brings simulated outcomes
close to the world's true online outcomes."""

import numpy as np

from alignuser.data.synthetic import SyntheticWorld
from alignuser.scenario import Scenario
from alignuser.simulation.outputs import read_events, read_sessions
from alignuser.simulation.runner import run


def _scenario(tmp_path, calibrate: bool) -> Scenario:
    return Scenario.model_validate(
        {
            "seed": 0,
            "dataset": {
                "synthetic": {"n_users": 200, "n_items": 200, "seed": 5, "sessions_per_user": 3}
            },
            "split": {"method": "none"},
            "population": {"n_agents": 200},
            "memory": {"backend": "inmemory"},
            "policy": {"name": "choice", "params": {"calibrate": calibrate}},
            "recommenders": [{"name": "random"}],
            "output": {"dir": str(tmp_path), "report": False},
        }
    )


def test_calibration_matches_the_true_world(tmp_path):
    world = SyntheticWorld(n_users=200, n_items=200, seed=5)
    ds = world.dataset(n_sessions_per_user=3, seed=5)
    seen = [
        ds.interactions.df.groupby("user_id")["item_id"].apply(np.array).get(u, np.array([], int))
        for u in range(200)
    ]

    def random_rec(user_ids, k, exclude):
        rng = np.random.default_rng(int(user_ids.sum()) + len(exclude[0]))
        out = []
        for u, ex in zip(user_ids, exclude):
            pool = np.setdiff1d(np.arange(200), np.concatenate([ex, seen[u]]))
            out.append(rng.choice(pool, k, replace=False))
        return np.array(out)

    truth = world.simulate_online(random_rec, sessions_per_user=1, seed=1)
    got = {}
    for calibrate in (False, True):
        run_dir = run(_scenario(tmp_path, calibrate), tmp_path / str(calibrate))
        ev, se = read_events(run_dir), read_sessions(run_dir)
        got[calibrate] = (ev["watched"].mean(), se["pages"].mean())
    err = {c: abs(v[0] - truth["click_rate"]) for c, v in got.items()}
    assert err[True] < 0.04, (got, truth)
    assert err[True] < err[False]
    assert abs(got[True][1] - truth["pages_per_session"]) < 0.5


def test_implicit_logs_do_not_collapse_the_rating_model():
    from alignuser.data.dataset import Dataset
    from alignuser.data.tables import Interactions
    from alignuser.policy.choice import ChoiceModelPolicy
    from alignuser.training.calibration import calibrate_choice

    world = SyntheticWorld(n_users=60, n_items=80, seed=2)
    ds = world.dataset(n_sessions_per_user=2, seed=2)
    implicit = Interactions(ds.interactions.df.assign(rating=float("nan")))
    ds2 = Dataset("implicit", ds.catalog, implicit, ds.users, None, ds.scale)
    policy = ChoiceModelPolicy()
    before = policy.params
    calibrate_choice(policy, ds2, implicit)
    assert policy.params.r_sigma == before.r_sigma and policy.params.r0 == before.r0
    assert policy.params.b_aff != before.b_aff  # the watch model was fitted
