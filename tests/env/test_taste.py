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


def test_clipped_to_unit_range():
    t = GenreTaste([("A",), ("B",)], max_rating=5)
    hist = [0] * 50 + [1] * 50
    assert t.for_history(hist, [5] * 50 + [1] * 50, [0, 1]) == [1.0, -1.0]


def test_incremental_table_matches_history_function():
    rng = np.random.default_rng(0)
    genres = [tuple(rng.choice(["A", "B", "C", "D"], rng.integers(0, 3), False)) for _ in range(30)]
    t = GenreTaste(genres, max_rating=5, n_users=4)
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


def test_compact_state_is_shorter_and_keeps_the_evidence():
    st = _state(-0.3)
    full, short = render_state(st), render_state_compact(st)
    assert len(words(short)) < 0.8 * len(words(full))
    lines = short.split("\n")
    assert lines[-1].startswith('1. "Heat, \\"the\\" film"') and lines[-1].endswith("taste -3")
    assert "| similar liked 5 |" in lines[-1]
    assert compact_memory("I skipped Up (2009)") == "I skipped Up (2009)"
    assert compact_memory("I skipped Up (2009)", title=False) == "skipped"
    assert compact_memory("I disliked Up (2009) based on my review score of 1.5") == (
        'disliked "Up (2009)" 1.5'
    )
