"""The taste cue: hand-computed values, one code path for training and simulation."""

import numpy as np
import pytest

from alignuser.env.page import ItemView, PageState
from alignuser.env.taste import GenreTaste
from alignuser.env.text import (
    compact_memory,
    parse_state,
    render_state,
    render_state_compact,
)
from alignuser.policy.tokenizer import words

GENRES = [("Drama",), ("Comedy",), ("Drama", "Comedy"), (), ("Horror",)]


def test_hand_computed_taste():
    t = GenreTaste(GENRES, max_rating=5)
    # ratings 5, 1, 4 -> x = 1, -1, 0.5; user mean m = 1/6
    # Drama: items 0 (x=1), 2 (x=0.5): (1.5 - 2m) / 3 = 0.3889; Comedy: items 1, 2:
    # (-0.5 - 2m) / 3 = -0.2778; item 2 = mean of both = 0.0556
    got = t.for_history([0, 1, 2], [5, 1, 4], [0, 1, 2, 3, 4, -1])
    assert got == [0.4, -0.3, 0.1, None, 0.0, None]
    # unrated history (None / NaN) carries no evidence
    assert t.for_history([0, 1], [None, float("nan")], [0, 1]) == [0.0, 0.0]


def test_hand_computed_rater_bias():
    t = GenreTaste(GENRES, max_rating=5, item_means=[3.0, 4.0, None, 2.0, 5.0])
    # item 0: 5 vs 3 (+2); item 1: 2 vs 4 (-2); item 2: unknown mean (no evidence);
    # item 4: 4 vs 5 (-1): (2 - 2 + 0 - 1) / (4 + 1) = -0.2 points
    assert t.bias_for_history([0, 1, 2, 4], [5, 2, 4, 4]) == -0.2
    assert t.bias_for_history([], []) is None
    assert t.bias_for_history([0], [None]) is None  # unrated history is not a rating
    # without genres the taste cue is off, the bias is not
    plain = GenreTaste([(), ()], max_rating=5, item_means=[3.0, 3.0])
    assert plain.for_history([0], [5], [1]) is None and plain.bias_for_history([0], [5]) == 1.0


def test_clipped_to_unit_range():
    t = GenreTaste([("A",), ("B",)], max_rating=5)
    hist = [0] * 50 + [1] * 50
    assert t.for_history(hist, [5] * 50 + [1] * 50, [0, 1]) == [1.0, -1.0]


def test_incremental_table_matches_history_function():
    rng = np.random.default_rng(0)
    genres = [tuple(rng.choice(["A", "B", "C", "D"], rng.integers(0, 3), False)) for _ in range(30)]
    means = rng.uniform(1, 5, 30).tolist()
    t = GenreTaste(genres, max_rating=5, n_users=4, item_means=means)
    hist = {u: ([], []) for u in range(4)}
    for _ in range(3):  # several add calls, as steps of a run
        rows = rng.integers(0, 4, 12).tolist()
        items = rng.integers(0, 30, 12).tolist()
        ratings = rng.integers(1, 6, 12).astype(float).tolist()
        t.add(rows, items, ratings)
        for r, i, x in zip(rows, items, ratings):
            hist[r][0].append(i)
            hist[r][1].append(x)
    pages = [rng.integers(0, 30, 4).tolist() for _ in range(4)]
    table = t.scores(range(4), pages)
    assert table == [GenreTaste(genres, 5).for_history(*hist[u], pages[u]) for u in range(4)]
    fresh = GenreTaste(genres, 5, item_means=means)
    assert t.bias(range(4)) == [fresh.bias_for_history(*hist[u]) for u in range(4)]
    assert any(b not in (None, 0.0) for b in t.bias(range(4)))
    assert any(v not in (None, 0.0) for row in table for v in row)


def test_cue_off_without_genres():
    t = GenreTaste([(), ()], max_rating=5, n_users=1)
    assert not t.enabled
    assert t.for_history([0], [5], [1]) is None and t.scores([0], [[1]]) is None


def _state(taste):
    item = ItemView(
        3, 'Heat, "the" film', ("Action",), 1995, 3.9, 0.8,
        ("I liked Fargo (1996) based on my review score of 5",), taste,
    )  # fmt: skip
    return PageState(7, "A viewer.", 2, (item,), ("I skipped Up (2009)",))


@pytest.mark.parametrize("taste", [None, 0.4, -1.0, 0.0])
def test_taste_round_trips_through_text(taste):
    st = _state(taste)
    text = render_state(st)
    assert ("| taste" in text) is (taste is not None)
    assert parse_state(text, agent_id=7).items[0].taste == taste


@pytest.mark.parametrize("rater", [None, 0.3, -1.2])
def test_rater_round_trips_through_text(rater):
    st = PageState(7, "A viewer.", 2, _state(None).items, rater=rater)
    text = render_state(st)
    assert ("| rater" in text) is (rater is not None)
    assert parse_state(text, agent_id=7).rater == rater
    short = render_state_compact(st).split("\n")[1]
    assert short == (
        "PAGE 2 max 5" if rater is None else f"PAGE 2 max 5 rater {round(rater * 10):+d}"
    )


def test_compact_state_is_shorter_and_keeps_the_evidence():
    st = _state(-0.3)
    full, short = render_state(st), render_state_compact(st)
    assert len(words(short)) < 0.5 * len(words(full))
    lines = short.split("\n")
    assert lines == [
        "PERSONA: viewer",
        "MEMORIES: skipped",
        "PAGE 2 max 5",
        "1. Action similar liked 5 mean 3.9 popularity 8 taste -3",
    ]
    assert "Heat" not in short  # titles are left out: a small model would memorise them
    assert compact_memory("I skipped Up (2009)") == "I skipped Up (2009)"
    assert compact_memory("I skipped Up (2009)", title=False) == "skipped"
    assert compact_memory("I disliked Up (2009) based on my review score of 1.5") == (
        'disliked "Up (2009)" 1.5'
    )


def test_hand_computed_long_run_offset():
    """Every rating counts, against the item means, damped by pseudo-ratings at offset 0."""
    from alignuser.env.taste import RaterOffsets

    ro = RaterOffsets([3.0, 4.0, None, 2.0], n_users=3, damping=5.0)
    # user 0: +2, -2, unknown mean (skipped), +2 -> 2 / (3 + 5); user 1: +1 -> 1 / 6
    ro.add([0, 0, 0, 0, 1, 9], [0, 1, 2, 3, 1, 0], [5, 2, 4, 4, 5, 5])  # row 9: ignored
    assert ro.offsets([0, 1, 2]) == [0.25, 0.17, None]
    assert ro.for_history([0, 1, 2, 3], [5, 2, 4, 4]) == 0.25
    assert ro.for_history([0, 1], [None, float("nan")]) is None  # unrated is not a rating
    ro.add([2], [0], [1.0])
    assert ro.offsets([2]) == [-0.33]


def test_states_carry_the_window_and_the_long_run_offset():
    """``rater`` reads the last ``n_history`` ratings, ``rater_all`` every one before the step."""
    from alignuser.data.synthetic import SyntheticWorld
    from alignuser.state import StepContext

    ds = SyntheticWorld(n_users=30, n_items=40, seed=0).dataset(n_sessions_per_user=2, seed=1)
    ctx = StepContext(ds, ds.interactions, n_history=3)
    user = int(ds.interactions.df["user_id"].value_counts().index[0])
    g = ds.interactions.df[ds.interactions.df["user_id"] == user].sort_values("timestamp")
    items, ratings = g["item_id"].tolist(), g["rating"].tolist()
    assert len(items) > 6
    st = ctx.state(user, 1, [0, 1], items, ratings)
    means = np.array(ctx.view.damped_means, dtype=float)
    diffs = np.asarray(ratings) - means[items]
    assert st.rater_all == pytest.approx(diffs.sum() / (len(diffs) + 5.0), abs=0.006)
    assert st.rater == ctx.taste.bias_for_history(items[-3:], ratings[-3:])
    assert st.rater_all != pytest.approx(ctx.offsets.for_history(items[-3:], ratings[-3:]))
    assert ctx.state(user, 1, [0], [], []).rater_all is None
