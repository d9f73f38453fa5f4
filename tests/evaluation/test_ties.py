"""Honest comparisons: paired ties in the ranking, and a bootstrap over distinct users."""

import numpy as np
import pandas as pd

from alignuser.evaluation.macro import macro_outcomes, paired_differences, rank_recommenders


def _world(rng, n_users=300, pages=3, k=4, behaviours=None, copies=1):
    """Events and sessions of agents browsing ``pages`` pages of ``k`` items.

    ``behaviours``: recommender -> shift of every user's watch probability (same shift:
    same true behaviour). Each agent draws its own watches (fresh noise per recommender);
    with ``copies`` > 1 each user is played by that many agents.
    """
    behaviours = behaviours or {"a": 0.0, "b": 0.0}
    p_user = rng.beta(2, 5, size=n_users)
    n_agents, per = n_users * copies, pages * k
    agent_user = np.repeat(np.arange(n_users), copies)
    ev, se = [], []
    for label, shift in behaviours.items():
        p = np.clip(p_user[agent_user] + shift, 0, 1)
        watched = rng.random((n_agents, per)) < p[:, None]
        ev.append(
            pd.DataFrame(
                {
                    "recommender": label,
                    "agent_id": np.repeat(np.arange(n_agents), per),
                    "user_id": np.repeat(agent_user, per),
                    "session": 0,
                    "page": np.tile(np.repeat(np.arange(1, pages + 1), k), n_agents),
                    "position": np.tile(np.arange(k), pages * n_agents),
                    "item_id": rng.integers(0, 50, size=n_agents * per),
                    "watched": watched.ravel(),
                    "rating": np.where(watched.ravel(), 4.0, np.nan),
                }
            )
        )
        se.append(
            pd.DataFrame(
                {
                    "recommender": label, "agent_id": np.arange(n_agents), "user_id": agent_user,
                    "session": 0, "pages": pages, "exited": True, "satisfaction": 5.0,
                }
            )
        )  # fmt: skip
    return pd.concat(ev, ignore_index=True), pd.concat(se, ignore_index=True)


def _rank(events, sessions, seed=0, n_boot=500):
    table = macro_outcomes(events, sessions, n_items=50, n_boot=n_boot, seed=seed)
    paired = paired_differences(events, sessions, "watch_rate", n_boot=n_boot, seed=seed)
    return rank_recommenders(table, "watch_rate", paired=paired), table


def test_same_true_behaviour_is_reported_tied():
    tied = 0
    for seed in range(20):
        events, sessions = _world(np.random.default_rng(seed), n_users=150)
        ranking, _ = _rank(events, sessions, seed=seed)
        r = ranking.set_index("recommender")
        if list(r["rank"]) == [1, 1]:
            assert r.loc["a", "tied_with"] == "b" and r.loc["b", "tied_with"] == "a"
            assert not ranking.iloc[0]["separated"]
            tied += 1
    assert tied >= 17  # a 95% CI: about 1 false separation in 20 worlds (19 here)


def test_a_real_difference_is_separated_and_ranks_follow_it():
    rng = np.random.default_rng(1)
    events, sessions = _world(rng, behaviours={"good": 0.12, "same1": 0.0, "same2": 0.0})
    ranking, _ = _rank(events, sessions)
    r = ranking.set_index("recommender")
    assert r.loc["good", "rank"] == 1 and r.loc["good", "tied_with"] == ""
    assert ranking.iloc[0]["separated"] and ranking.iloc[0]["vs_next_ci_low"] > 0
    assert list(r.loc[["same1", "same2"], "rank"]) == [2, 2]  # one better than each
    # the paired CI is much tighter than the two separate ones: same agents, same users
    vs = ranking.iloc[1]
    separate = (vs["ci_high"] - vs["ci_low"]) + (
        ranking.iloc[2]["ci_high"] - ranking.iloc[2]["ci_low"]
    )
    assert vs["vs_next_ci_high"] - vs["vs_next_ci_low"] < separate


def _width(table, label="a"):
    row = table[(table.metric == "watch_rate") & (table.recommender == label)].iloc[0]
    return row["ci_high"] - row["ci_low"]


def test_copied_agents_give_no_narrower_interval():
    events, sessions = _world(np.random.default_rng(2), n_users=200)
    # the same agents twice more, under new agent ids but the same users (exact copies)
    ev2, se2 = [events], [sessions]
    for c in (1, 2):
        shift = c * (sessions["agent_id"].max() + 1)
        ev2.append(events.assign(agent_id=events["agent_id"] + shift))
        se2.append(sessions.assign(agent_id=sessions["agent_id"] + shift))
    ev3, se3 = pd.concat(ev2, ignore_index=True), pd.concat(se2, ignore_index=True)
    base = macro_outcomes(events, sessions, n_items=50, n_boot=500)
    copied = macro_outcomes(ev3, se3, n_items=50, n_boot=500)
    assert copied["n_agents"].iloc[0] == 3 * base["n_agents"].iloc[0]
    assert copied["n_users"].iloc[0] == base["n_users"].iloc[0] == 200
    assert _width(copied) >= _width(base) * 0.999
    pb = paired_differences(events, sessions, n_boot=500).iloc[0]
    pc = paired_differences(ev3, se3, n_boot=500).iloc[0]
    assert pc["ci_high"] - pc["ci_low"] >= (pb["ci_high"] - pb["ci_low"]) * 0.999
    # control: were the copies independent users, the interval would narrow (~1/sqrt(3))
    naive = macro_outcomes(ev3, se3.assign(user_id=se3["agent_id"]), n_items=50, n_boot=500)
    assert _width(naive) < 0.7 * _width(base)


def test_agents_without_user_ids_are_their_own_clusters():
    events, sessions = _world(np.random.default_rng(3), n_users=50)
    t = macro_outcomes(events, sessions.drop(columns="user_id"), n_items=50, n_boot=100)
    assert (t["n_users"] == 50).all()
