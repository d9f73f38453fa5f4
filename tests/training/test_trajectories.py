"""Trajectory construction: structure, no future leakage, retrieval."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alignuser.training.trajectories import from_ratings, similar_memories, split_by_time


class _Enc:
    """Items on a line: item i -> angle i (nearby ids are similar)."""

    def encode_items(self, ids):
        a = np.asarray(ids, dtype=float) / 10.0
        return np.stack([np.cos(a), np.sin(a)], 1).astype(np.float32)


def test_similar_memories_ranks_neighbours_and_never_self():
    titles = [f"T{i}" for i in range(30)]
    out = similar_memories(_Enc(), [1, 5, 20, 12], [5.0, 2.0, 3.0, 4.0], [4, 12], titles, k=2)
    assert out[0] == (
        "I disliked T5 based on my review score of 2",
        "I liked T1 based on my review score of 5",
    )
    assert all("T12 " not in line for line in out[1])
    assert similar_memories(_Enc(), [], [], [3], titles) == [()]


def test_impression_steps_follow_the_logs(small_dataset, small_steps):
    train, valid = small_steps
    imp = small_dataset.impressions.df
    assert len(train) + len(valid) == len(imp)
    s = train[0]
    row = imp[(imp["user_id"] == s.user_id) & (imp["timestamp"] == s.timestamp)].iloc[0]
    assert list(s.state.item_ids) == list(row["items"])
    assert sorted(s.action.watched) == sorted(row["clicked"])
    # validation steps are later than the same user's training steps
    last_train = {}
    for t in train:
        last_train[t.user_id] = max(last_train.get(t.user_id, -1), t.timestamp)
    assert all(v.timestamp >= last_train.get(v.user_id, -1) for v in valid)


def test_rating_steps_mix_positives_and_never_leak_the_future(small_dataset):
    inter = small_dataset.interactions
    steps = from_ratings(small_dataset, page_size=4, max_positives=2, max_pages_per_user=None)
    df = inter.df
    titles = small_dataset.catalog.df["title"].tolist()
    for s in steps[:200]:
        assert len(s.state.items) == 4 and 1 <= len(s.action.watched) <= 2
        user = df[df["user_id"] == s.user_id]
        later = user[user["timestamp"] >= s.timestamp]
        future_titles = {titles[i] for i in later["item_id"]}
        for line in s.state.memories + tuple(x for v in s.state.items for x in v.similar):
            assert not any(f" {t} based" in line for t in future_titles), line
        for d in s.action.decisions:
            rated = user[user["item_id"] == d.item_id]
            assert d.watch == (len(rated) > 0 and rated["timestamp"].iloc[0] >= s.timestamp)
    # every session ends with an exit
    last = {}
    for s in steps:
        last[(s.user_id, s.session)] = s
    assert all(s.action.exit for s in last.values())


def test_split_by_time_keeps_each_users_last_steps(small_steps):
    train, valid = small_steps
    tr, va = split_by_time(train + valid, 0.25)
    assert len(tr) + len(va) == len(train) + len(valid)
    assert pd.Series([s.user_id for s in va]).nunique() > 10
