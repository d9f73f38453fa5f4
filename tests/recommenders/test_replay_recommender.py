"""The replay recommender: recorded pages in order, exhaustion, scenario params, a full run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignuser.data.tables import Catalog, Impressions
from alignuser.errors import DatasetError, ScenarioError
from alignuser.recommenders.registry import RECOMMENDERS, make_recommender
from alignuser.recommenders.replay import ReplayRecommender
from alignuser.testing.recommenders import N_ITEMS, RecommenderConformance

CONFORMANCE_USERS = [*range(61), 75, 500]


def conformance_log(n_pages: int = 30, page_size: int = 12) -> Impressions:
    """``n_pages`` pages of ``page_size`` distinct items for every user the kit asks about."""
    rng = np.random.default_rng(7)
    rows = []
    for u in CONFORMANCE_USERS:
        for t in range(n_pages):
            items = rng.choice(N_ITEMS, size=page_size, replace=False).tolist()
            rows.append((len(rows), u, 1000 * t + u, items, items[:1]))
    return Impressions.from_frame(
        pd.DataFrame(rows, columns=["impression_id", "user_id", "timestamp", "items", "clicked"])
    )


def small_log() -> Impressions:
    """User 3: three pages (given out of time order, one with a repeat); user 9: one page."""
    return Impressions.from_frame(
        pd.DataFrame(
            {
                "impression_id": [10, 11, 12, 13],
                "user_id": [3, 3, 9, 3],
                "timestamp": [300, 100, 150, 200],
                "items": [[7, 8], [1, 2, 3, 4, 5], [6], [9, 2, 9, 0]],
                "clicked": [[8], [2], [], [0]],
            }
        )
    )


def catalog(n: int = N_ITEMS) -> Catalog:
    return Catalog.from_frame(pd.DataFrame({"item_id": np.arange(n)}))


class TestReplayConformance(RecommenderConformance):
    """The kit, with exclusions honoured (``respect_exclude``); overrides say why."""

    excludes_seen = False  # a log may show an item the user already saw; it is replayed

    def make_recommender(self):
        return ReplayRecommender(conformance_log(), respect_exclude=True)

    def test_padding_when_catalog_nearly_exhausted(self, data):
        """A replay cannot add items: what is left of the recorded page, then ``-1``."""
        rec = self.make_recommender().fit(*data)
        page = rec.pages_of(56)[0]
        keep = page[[1, 4, 7]]
        row = rec.recommend(np.array([56]), self.k, [np.setdiff1d(np.arange(N_ITEMS), keep)])[0]
        assert row[:3].tolist() == keep.tolist() and (row[3:] == -1).all()
        wide = rec.recommend(np.array([57]), N_ITEMS + 5)[0]
        assert wide[:12].tolist() == rec.pages_of(57)[0].tolist() and (wide[12:] == -1).all()

    def test_batch_equals_one_by_one(self, data, users):
        """Stateful: compared between two fresh replays (one batch vs one user at a time)."""
        batch = self.make_recommender().fit(*data).recommend(users, self.k)
        rec = self.make_recommender().fit(*data)
        single = np.vstack([rec.recommend(users[i : i + 1], self.k) for i in range(len(users))])
        np.testing.assert_array_equal(batch, single)
        rev = self.make_recommender().fit(*data).recommend(users[::-1], self.k)
        np.testing.assert_array_equal(rev, batch[::-1])


def test_recorded_pages_in_time_order_truncated_padded_then_exhausted():
    rec = ReplayRecommender(small_log()).fit(None, catalog())
    users = np.array([3, 9])
    assert rec.recommend(users, 4).tolist() == [[1, 2, 3, 4], [6, -1, -1, -1]]
    # repeats inside a recorded page are shown once; user 9 is used up
    assert rec.recommend(users, 4).tolist() == [[9, 2, 0, -1], [-1, -1, -1, -1]]
    assert rec.recommend(users, 4).tolist() == [[7, 8, -1, -1], [-1] * 4]
    assert rec.remaining(users).tolist() == [0, 0]
    assert (rec.recommend(np.array([3, 4]), 4) == -1).all()  # used up / never logged
    rec.fit(None, catalog())  # fitting rewinds
    assert rec.recommend(np.array([3]), 2).tolist() == [[1, 2]]


def test_exclusions_ignored_by_default_and_same_user_twice():
    rec = ReplayRecommender(small_log()).fit(None, catalog())
    out = rec.recommend(np.array([3, 3]), 5, [np.array([1, 2]), np.array([9])])
    assert out.tolist() == [[1, 2, 3, 4, 5], [9, 2, 0, -1, -1]]
    honour = ReplayRecommender(small_log(), respect_exclude=True).fit(None, catalog())
    out = honour.recommend(np.array([3, 3]), 5, [np.array([1, 2]), np.array([9])])
    assert out.tolist() == [[3, 4, 5, -1, -1], [2, 0, -1, -1, -1]]


def test_time_window_and_state_round_trip():
    rec = ReplayRecommender(small_log(), start=150, end=300).fit(None, catalog())
    assert rec.n_pages == 2
    assert rec.recommend(np.array([3, 9]), 3).tolist() == [[9, 2, 0], [6, -1, -1]]
    state = rec.get_state()
    again = ReplayRecommender(small_log(), start=150, end=300).fit(None, catalog())
    again.set_state(state)
    assert (again.recommend(np.array([3, 9]), 3) == -1).all()


def test_registry_builds_it_from_a_parquet_source(tmp_path):
    path = tmp_path / "log.parquet"
    small_log().to_parquet(path)
    assert RECOMMENDERS.get("replay") is ReplayRecommender
    rec = make_recommender("replay", source=str(path), seed=3, name="arm-b")
    assert rec.name == "arm-b" and rec.n_pages == 4
    assert rec.fit(None, catalog()).recommend(np.array([9]), 2).tolist() == [[6, -1]]


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"sorce": "x.parquet"}, "params.sorce"),
        ({}, "params.source"),
        ({"source": "LOG", "start": "yesterday"}, "params.start"),
        ({"source": "missing.parquet"}, "params.source"),
        ({"source": "LOG", "start": 10**9}, "params.start"),
        ({"source": "INTER"}, "params.source"),
    ],
)
def test_bad_params_name_the_key(tmp_path, params, key):
    small_log().to_parquet(tmp_path / "log.parquet")
    pd.DataFrame({"user_id": [0], "item_id": [1]}).to_csv(tmp_path / "inter.csv", index=False)
    subst = {"LOG": tmp_path / "log.parquet", "INTER": tmp_path / "inter.csv",
             "missing.parquet": tmp_path / "missing.parquet"}  # fmt: skip
    params = {k: str(subst.get(v, v)) if k == "source" else v for k, v in params.items()}
    with pytest.raises(ScenarioError, match=key.replace(".", r"\.")):
        make_recommender("replay", **params)


def test_ids_outside_the_catalog_are_refused():
    with pytest.raises(DatasetError, match="outside the catalog"):
        ReplayRecommender(small_log()).fit(None, catalog(5))


def _scenario(tmp_path, recommenders):
    from alignuser.scenario import Scenario

    return Scenario.model_validate(
        {
            "name": "replay",
            "seed": 3,
            "dataset": {"synthetic": {"n_users": 30, "n_items": 60, "sessions_per_user": 1,
                                      "seed": 2}},
            "population": {"n_agents": 12},
            "memory": {"backend": "inmemory", "top_k": 2, "recent_k": 2},
            "policy": {"name": "choice"},
            "recommenders": recommenders,
            "session": {"items_per_page": 4, "max_pages": 3, "sessions_per_agent": 3},
            "output": {"dir": str(tmp_path), "report": False},
        }
    )  # fmt: skip


def test_population_run_replays_the_log(tmp_path):
    """A whole scenario run: every agent is shown its user's recorded pages, in order."""
    from alignuser.simulation.outputs import read_events, read_sessions
    from alignuser.simulation.runner import load_data, run

    log = load_data(_scenario(tmp_path, [{"name": "popular"}])).impressions
    log.to_parquet(tmp_path / "log.parquet")
    spec = {
        "name": "replay",
        "label": "logged",
        "params": {"source": str(tmp_path / "log.parquet")},
    }
    run_dir = run(_scenario(tmp_path, [spec]), tmp_path / "run")
    ev, se = read_events(run_dir), read_sessions(run_dir)
    assert set(ev["recommender"]) == {"logged"}
    truth = ReplayRecommender(log)
    exhausted = 0
    for (agent, user), g in ev.groupby(["agent_id", "user_id"]):
        shown = [p["item_id"].tolist() for _, p in g.groupby("step", sort=True)]
        recorded = [p[:4].tolist() for p in truth.pages_of(user)]
        assert shown == recorded[: len(shown)], f"agent {agent}"
        s = se[se["agent_id"] == agent]
        if len(shown) < min(len(recorded), 9):
            assert s["exited"].any()  # the simulated user left before the log ran out
        if (s["pages"] == 0).any():  # a session that found no page left
            assert len(shown) == len(recorded) and not s.loc[s["pages"] == 0, "exited"].any()
            exhausted += 1
    assert exhausted > 0
    assert len(se) == 12 * 3
