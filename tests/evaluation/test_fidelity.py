"""Macro fidelity: distances, human statistics by hand, held-out hygiene, plots, end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alignuser.data.splits import temporal_split
from alignuser.data.synthetic import SyntheticWorld
from alignuser.data.tables import Impressions, Interactions
from alignuser.env.actions import ItemDecision, PageAction
from alignuser.env.views import CatalogView
from alignuser.evaluation.fidelity import (
    PAGE_STATISTICS,
    STATISTICS,
    compare,
    fidelity_plots,
    fidelity_samples,
    fidelity_table,
    held_out,
    human_session_stats,
    macro_fidelity,
    run_fidelity,
    session_pages,
)
from alignuser.evaluation.protocols import build_policies


def _long(stat: str, values) -> pd.DataFrame:
    return pd.DataFrame({"statistic": stat, "value": np.asarray(values, dtype=float)})


def _values(frame: pd.DataFrame, stat: str) -> list[float]:
    return sorted(frame.loc[frame["statistic"] == stat, "value"].tolist())


@pytest.fixture(scope="module")
def world():
    return SyntheticWorld(n_users=40, n_items=80, seed=1).dataset(n_sessions_per_user=3)


class ReplayHuman:
    """Test policy: does exactly what the human did on each held-out page."""

    name = "replay"

    def __init__(self, pages: pd.DataFrame, ratings: dict):
        self.truth = {
            (int(r.user_id), int(r.session), int(r.page)): (set(r.clicked), bool(r.last))
            for r in pages.itertuples()
        }
        self.ratings = ratings

    def decide(self, states, rng):
        out = []
        for s in states:
            clicked, last = self.truth[(s.agent_id, s.session, s.page)]
            out.append(
                PageAction(
                    tuple(
                        ItemDecision(i, True, int(np.rint(self.ratings[(s.agent_id, i)])))
                        if i in clicked
                        else ItemDecision(i, False)
                        for i in s.item_ids
                    ),
                    exit=last,
                )
            )
        return out


# --------------------------------------------------------------------------- distances


def test_identical_samples_have_zero_distance():
    h = _long("rating", [1, 2, 2, 5, 3])
    row = compare(h, h.copy()).iloc[0]
    assert row["wasserstein"] == 0.0 and row["ks"] == 0.0
    assert row["ks_pvalue"] == pytest.approx(1.0)
    assert row["n_human"] == row["n_sim"] == 5


def test_known_shift_and_known_mass_move():
    # shifting every value by 0.5: W = 0.5; the ECDFs differ by 1/4 on [k, k + 0.5)
    row = compare(_long("rating", [0, 1, 2, 3]), _long("rating", [0.5, 1.5, 2.5, 3.5])).iloc[0]
    assert row["wasserstein"] == pytest.approx(0.5)
    assert row["ks"] == pytest.approx(0.25)
    # a quarter of the mass moves from 0 to 1: W = 0.25, KS = 0.25; means 0.5 vs 0.75
    row = compare(_long("exit_page", [0, 0, 1, 1]), _long("exit_page", [0, 1, 1, 1])).iloc[0]
    assert row["wasserstein"] == pytest.approx(0.25) and row["ks"] == pytest.approx(0.25)
    assert (row["human_mean"], row["sim_mean"]) == (0.5, 0.75)


def test_statistic_without_simulated_samples_is_flagged():
    out = compare(_long("exit_page", [1, 2]), _long("rating", [3])).set_index("statistic")
    assert np.isnan(out.loc["exit_page", "wasserstein"])
    assert out.loc["exit_page", "status"] == "no samples: simulated"


# --------------------------------------------------------------------------- human statistics


def _tiny_log(session_ids) -> Impressions:
    return Impressions.from_frame(
        pd.DataFrame(
            {
                "impression_id": [3, 1, 2, 4],
                "user_id": [0, 0, 0, 1],
                "timestamp": [100, 0, 5000, 50],  # row order is not time order
                "items": [[4, 5], [1, 2, 3], [6, 7], [8, 9, 10]],
                "clicked": [[4, 5], [2], [], [10]],
                "session_id": session_ids,
            }
        )
    )


@pytest.mark.parametrize("session_ids", [[10, 10, 11, 12], [-1, -1, -1, -1]])
def test_human_stats_of_a_hand_made_log(session_ids):
    ratings = Interactions.from_frame(
        pd.DataFrame(
            {"user_id": [0, 0, 0, 1], "item_id": [2, 4, 5, 10], "rating": [3.6, 5.0, 1.2, 2.4]}
        )
    )
    # sessions: user 0 {t=0: [1,2,3]->2, t=100: [4,5]->4,5}, {t=5000: [6,7]}; user 1 one page
    h = human_session_stats(_tiny_log(session_ids), ratings=ratings, max_rating=5)
    assert set(h["source"]) == {"human"}
    assert _values(h, "pages_per_session") == [1, 1, 2]
    assert _values(h, "exit_page") == [1, 1, 2]
    assert _values(h, "watches_per_page") == [0, 1, 1, 2]
    assert _values(h, "click_position") == [1, 2, 2, 3]
    assert _values(h, "watches_per_session") == [0, 1, 3]
    assert _values(h, "rating") == [1, 2, 4, 5]
    implicit = human_session_stats(_tiny_log(session_ids))
    assert "rating" not in set(implicit["statistic"])


def test_human_stats_of_a_rating_log():
    log = Interactions.from_frame(
        pd.DataFrame(
            {
                "user_id": [0, 0, 0, 1],
                "item_id": [1, 2, 3, 1],
                "rating": [3.5, 0.5, 4.0, 5.0],
                "timestamp": [0, 60, 10_000, 0],
            }
        )
    )
    h = human_session_stats(log, max_rating=5)
    assert _values(h, "watches_per_session") == [1, 1, 2]
    assert _values(h, "rating") == [1, 4, 4, 5]  # half stars rounded onto 1..5
    assert not set(PAGE_STATISTICS) & set(h["statistic"])


# --------------------------------------------------------------------------- held-out hygiene


def test_held_out_impression_sessions_never_reach_training(world):
    seen = {}

    def policies(policy_data, train):
        seen["data"], seen["train"] = policy_data, train
        return {}

    # a test fraction whose time cut falls inside some session
    pages = session_pages(world.impressions)
    span = pages.groupby("session")["timestamp"].agg(["min", "max"])
    for frac in np.linspace(0.2, 0.45, 26):
        cut = int(np.quantile(world.impressions.df["timestamp"], 1 - frac))
        crossing = span[(span["min"] < cut) & (span["max"] >= cut)].index
        if len(crossing):
            break
    assert len(crossing)
    macro_fidelity(world, None, policies, test_fraction=frac)
    held = held_out(world, test_fraction=frac)
    train_imp = seen["data"].impressions.df
    assert (train_imp["timestamp"] < cut).all() and (seen["train"].df["timestamp"] < cut).all()
    assert (seen["data"].interactions.df["timestamp"] < cut).all()
    assert not set(held.pages["impression_id"]) & set(train_imp["impression_id"])
    assert (held.pages.groupby("session")["timestamp"].min() >= cut).all()
    # the pages of a session crossing the cut after it are on neither side
    late = pages[pages["session"].isin(crossing) & (pages["timestamp"] >= cut)]
    assert not set(late["impression_id"]) & set(held.pages["impression_id"])
    assert len(held.pages) + len(train_imp) + len(late) == len(world.impressions)
    # states are built from evidence before each page only
    titles = CatalogView(world.catalog).titles
    df = world.interactions.df
    for state, t, u in zip(held.states, held.pages["timestamp"], held.pages["user_id"]):
        assert state.agent_id == u
        past = {titles[i] for i in df.loc[(df.user_id == u) & (df.timestamp < t), "item_id"]}
        assert len(state.memories) <= min(3, len(past))
        assert all(any(title in line for title in past) for line in state.memories)
    assert sum(len(s.memories) for s in held.states) > 0


def test_held_out_rating_users_are_test_users_with_training(world):
    split = temporal_split(world.interactions, 0.3)
    held = held_out(world, split)
    assert held.train is split.train
    assert held.policy_data.interactions is split.train and held.policy_data.impressions is None
    assert set(held.users) <= set(split.test.df["user_id"]) & set(split.train.df["user_id"])
    test_rows = set(map(tuple, split.test.df.to_numpy()))
    assert set(map(tuple, held.log.df.to_numpy())) <= test_rows


# --------------------------------------------------------------------------- end to end


def test_replaying_the_human_gives_zero_distance(world):
    held = held_out(world, test_fraction=0.3)
    df = world.interactions.df
    ratings = dict(zip(zip(df["user_id"], df["item_id"]), df["rating"]))
    fs = fidelity_samples(held, {"replay": ReplayHuman(held.pages, ratings)}, seed=0)
    table = fidelity_table(fs).set_index("statistic")
    assert list(table.index) == list(STATISTICS)
    assert (table["status"] == "ok").all()
    assert (table["wasserstein"] == 0).all() and (table["ks"] == 0).all()
    assert (table["n_human"] == table["n_sim"]).all()


def test_impressions_end_to_end_is_seeded(world):
    pols = lambda d, tr: build_policies(d, tr, ["random", "popularity"])  # noqa: E731
    a = macro_fidelity(world, None, pols, seed=3)
    b = macro_fidelity(world, None, pols, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 2 * len(STATISTICS) and (a["status"] == "ok").all()
    # the human side is the same for every policy
    assert a.groupby("statistic")["n_human"].nunique().eq(1).all()
    rnd = a[a["policy"] == "random"].set_index("statistic")
    assert rnd.loc["click_position", "sim_mean"] == pytest.approx(2.5, abs=0.4)  # 4 per page
    c = macro_fidelity(world, None, pols, seed=4)
    assert not a["wasserstein"].equals(c["wasserstein"])


def test_rating_log_simulation_marks_page_statistics_unavailable(world, tmp_path):
    split = temporal_split(world.interactions, 0.3)
    held = held_out(world, split)
    pols = build_policies(world, split.train, ["random", "popularity"])
    fs = fidelity_samples(held, pols, seed=0)
    table = fidelity_table(fs).set_index(["policy", "statistic"])
    for stat in PAGE_STATISTICS:
        row = table.loc[("random", stat)]
        assert row["status"].startswith("not available: rating logs have no pages")
        assert np.isnan(row["wasserstein"]) and np.isnan(row["ks"])
    ok = table.loc[("popularity", "watches_per_session")]
    assert ok["status"] == "ok" and ok["n_sim"] >= len(held.users)
    sim = fs.samples[fs.samples["source"] == "random"]
    assert set(sim["user_id"]) <= set(held.users)  # agents are the held-out users
    assert set(sim.loc[sim["statistic"] == "rating", "value"]) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    again = fidelity_table(fidelity_samples(held, pols, seed=0)).set_index(["policy", "statistic"])
    pd.testing.assert_frame_equal(table, again)
    paths = fidelity_plots(fs, tmp_path, prefix="syn_")
    assert sorted(p.name for p in paths) == ["syn_rating.png", "syn_watches_per_session.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ebnerd_sample_fidelity(shared_data):
    from alignuser.data.loaders import load_dataset

    ds = load_dataset(shared_data / "ebnerd-sample")
    pols = lambda d, tr: build_policies(d, tr, ["random", "popularity"])  # noqa: E731
    table = macro_fidelity(ds, None, pols).set_index(["policy", "statistic"])
    assert table.loc[("random", "rating"), "status"] == "not available: " + (
        "implicit clicks: the log has no ratings"
    )
    row = table.loc[("popularity", "watches_per_page")]
    assert row["status"] == "ok" and row["n_human"] > 100
    # EB-NeRD pages show ~7+ articles and one is clicked: humans click ~1 per page
    assert row["human_mean"] == pytest.approx(1.0, abs=0.05)
    assert table.loc[("random", "watches_per_page"), "sim_mean"] > 2


def test_run_fidelity_summary_over_seeds(world, tmp_path):
    out = run_fidelity(
        [world], seeds=(0, 1), policies=("random", "alignuser"), plots_dir=tmp_path / "plots"
    )
    summary, raw = out["summary"], out["raw"]
    assert len(raw) == 2 * len(STATISTICS) + 1  # two seeds, plus the alignuser "not run" row
    rnd = summary[summary["policy"] == "random"].set_index("statistic")
    assert (rnd["n_seeds"] == 2).all() and (rnd["status"] == "ok").all()
    per_seed = raw[raw["policy"] == "random"].groupby("statistic")["wasserstein"].mean()
    assert np.allclose(rnd.loc[per_seed.index, "wasserstein"], per_seed)
    row = summary[summary["policy"] == "alignuser"].iloc[0]
    assert row["status"] == "not run: no --alignuser-checkpoint"
    assert list(out["plots"]["statistic"]) == list(STATISTICS)
    assert all(Path(p).is_file() for p in out["plots"]["path"])
