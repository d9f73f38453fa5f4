"""Sessionization with hand-made timestamps, and session statistics."""

from __future__ import annotations

import pandas as pd
import pytest

from alignuser.data.sessions import session_stats, sessionize
from alignuser.data.tables import Interactions
from alignuser.errors import DatasetError


def _inter(rows):
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]))


def test_gaps_cut_sessions_per_user():
    inter = _inter(
        [
            (1, 10, 5_000),  # user 1, out of order on purpose
            (0, 1, 0),
            (0, 2, 1_800),  # gap == 1800: same session
            (0, 3, 3_601),  # gap 1801: new session
            (1, 11, 5_100),
            (0, 4, 3_700),
        ]
    )
    out = sessionize(inter, gap_seconds=1800)
    assert out["user_id"].tolist() == [0, 0, 0, 0, 1, 1]
    assert out["item_id"].tolist() == [1, 2, 3, 4, 10, 11]
    assert out["session_id"].tolist() == [0, 0, 1, 1, 2, 2]
    assert out["position"].tolist() == [0, 1, 0, 1, 0, 1]
    assert len(out) == len(inter) and "rating" in out.columns


def test_user_change_starts_new_session_even_without_gap():
    out = sessionize(_inter([(0, 1, 100), (1, 2, 100), (1, 3, 101)]))
    assert out["session_id"].tolist() == [0, 1, 1]


def test_smaller_gap_gives_more_sessions():
    inter = _inter([(0, i, t) for i, t in enumerate([0, 100, 250, 500, 900])])
    assert sessionize(inter, gap_seconds=1_000)["session_id"].nunique() == 1
    assert sessionize(inter, gap_seconds=200)["session_id"].nunique() == 3


def test_stats():
    inter = _inter([(0, 1, 0), (0, 2, 10), (0, 3, 20), (0, 4, 99_999), (1, 5, 0)])
    stats = session_stats(sessionize(inter))
    assert stats["count"] == 3 and stats["users"] == 2 and stats["events"] == 5
    assert stats["mean"] == pytest.approx(5 / 3) and stats["median"] == 1.0
    assert stats["histogram"] == {"1": 2, "3": 1}
    assert stats["mean_duration_s"] == pytest.approx(20 / 3)
    capped = session_stats(sessionize(inter), max_bin=2)
    assert capped["histogram"] == {"1": 2, "2+": 1}


def test_no_timestamps_is_an_error():
    inter = Interactions.from_frame(pd.DataFrame({"user_id": [0, 0], "item_id": [1, 2]}))
    with pytest.raises(DatasetError, match="timestamps"):
        sessionize(inter)
    with pytest.raises(DatasetError, match="session_id"):
        session_stats(inter.df)
