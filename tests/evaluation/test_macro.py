import numpy as np
import pandas as pd

from alignuser.evaluation.macro import macro_outcomes, rank_recommenders


def _frames():
    # agent 0: one session, 2 pages of 2 items; watched 3 (ratings 5, 2, 4), exited on page 2
    # agent 1: one session, 1 page of 2 items; watched 0, reached the end without exiting
    ev = pd.DataFrame(
        {
            "recommender": "r",
            "agent_id": [0, 0, 0, 0, 1, 1],
            "session": 0,
            "page": [1, 1, 2, 2, 1, 1],
            "position": [0, 1, 0, 1, 0, 1],
            "item_id": [0, 1, 2, 3, 0, 2],
            "watched": [True, True, False, True, False, False],
            "rating": [5.0, 2.0, np.nan, 4.0, np.nan, np.nan],
        }
    )
    se = pd.DataFrame(
        {
            "recommender": "r",
            "agent_id": [0, 1],
            "session": 0,
            "pages": [2, 1],
            "exited": [True, False],
            "satisfaction": [8.0, 3.0],
        }
    )
    return ev, se


def test_macro_values_hand_computed():
    ev, se = _frames()
    pop = np.array([4.0, 2.0, 1.0, 1.0])  # shares .5 .25 .125 .125
    genres = [frozenset({"a"}), frozenset({"a", "b"}), frozenset({"c"}), frozenset({"a"})]
    t = macro_outcomes(ev, se, n_items=8, popularity=pop, genres=genres, n_boot=200)
    v = t.set_index("metric")["value"]
    assert v["pages_per_session"] == 1.5  # (2 + 1) / 2 sessions
    assert v["exit_page"] == 2.0  # only agent 0 exited, on page 2
    assert v["watch_rate"] == 3 / 6
    assert v["watches_per_page"] == 3 / 3
    assert v["likes_per_page"] == 2 / 3  # ratings 5 and 4 are likes
    assert np.isclose(v["mean_rating"], 11 / 3)
    assert v["satisfaction"] == 5.5
    assert v["coverage"] == 3 / 8  # items 0, 1, 3 watched
    # novelty: -log2 of shares of watched items 0 (.5), 1 (.25), 3 (.125) -> (1 + 2 + 3) / 3
    assert np.isclose(v["novelty"], 2.0)
    # diversity: page (0,1): 1 - 1/2; page (2,3): 1 - 0; page (0,2): 1 - 0 -> mean 5/6
    assert np.isclose(v["diversity"], (0.5 + 1 + 1) / 3)
    row = t.set_index("metric").loc["watch_rate"]
    assert row["ci_low"] <= row["value"] <= row["ci_high"]


def test_ranking_orders_and_flags_separation():
    ev, se = _frames()
    ev2, se2 = ev.copy(), se.copy()
    ev2["recommender"], se2["recommender"] = "s", "s"
    ev2["watched"] = False
    ev2["rating"] = np.nan
    t = macro_outcomes(pd.concat([ev, ev2]), pd.concat([se, se2]), n_items=8, n_boot=200)
    r = rank_recommenders(t, "watch_rate")
    assert list(r["recommender"]) == ["r", "s"]
    assert list(r["rank"]) == [1, 2]
