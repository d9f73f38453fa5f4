"""Offline metrics against examples computed by hand (arithmetic in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from alignuser.data.dataset import Split
from alignuser.data.tables import Catalog, Interactions
from alignuser.evaluation.offline import (
    coverage_at_k,
    evaluate_offline,
    hit_matrix,
    hit_rate_at_k,
    metrics_table,
    mrr_at_k,
    ndcg_at_k,
    novelty_at_k,
    recall_at_k,
)
from alignuser.recommenders import PopularRecommender

# Two users, lists of length 4 over a catalog of 8 items.
#   user 0: recs [2, 5, 1, 7], relevant {5, 7, 3}  -> hits at ranks 2 and 4 (1-based)
#   user 1: recs [0, 4, 6, -1], relevant {6}        -> hit at rank 3
RECS = np.array([[2, 5, 1, 7], [0, 4, 6, -1]])
RELEVANT = [np.array([5, 7, 3]), np.array([6])]
N_REL = np.array([3, 1])


def test_hit_matrix():
    hits = hit_matrix(RECS, RELEVANT)
    assert hits.tolist() == [[False, True, False, True], [False, False, True, False]]
    # -1 padding never counts, even when -1 is "relevant"
    assert not hit_matrix(np.array([[-1]]), [np.array([-1])]).any()


def test_recall():
    hits = hit_matrix(RECS, RELEVANT)
    # @2: user 0 has 1 hit of 3 -> 1/3; user 1 has 0 of 1 -> 0
    np.testing.assert_allclose(recall_at_k(hits, N_REL, 2), [1 / 3, 0.0])
    # @4: user 0: 2/3; user 1: 1/1
    np.testing.assert_allclose(recall_at_k(hits, N_REL, 4), [2 / 3, 1.0])


def test_ndcg():
    hits = hit_matrix(RECS, RELEVANT)
    # user 0 @4: DCG = 1/log2(3) + 1/log2(5) = 0.63093 + 0.43068 = 1.06161
    #            IDCG (3 relevant, k=4 -> 3 ideal hits) = 1 + 1/log2(3) + 1/log2(4)
    #                 = 1 + 0.63093 + 0.5 = 2.13093 ; NDCG = 0.49819
    # user 1 @4: DCG = 1/log2(4) = 0.5 ; IDCG = 1 ; NDCG = 0.5
    expected0 = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3) + 0.5)
    np.testing.assert_allclose(ndcg_at_k(hits, N_REL, 4), [expected0, 0.5])
    assert expected0 == pytest.approx(0.49819, abs=1e-5)
    # user 0 @2: DCG = 1/log2(3) = 0.63093 ; IDCG = 1 + 0.63093 ; NDCG = 0.38685
    np.testing.assert_allclose(ndcg_at_k(hits, N_REL, 2)[0], 0.63093 / 1.63093, atol=1e-5)


def test_hit_rate_and_mrr():
    hits = hit_matrix(RECS, RELEVANT)
    # @2: user 0 hit at rank 2 -> 1; user 1 first hit at rank 3 -> 0
    assert hit_rate_at_k(hits, 2).tolist() == [1.0, 0.0]
    # MRR@4: user 0 first hit rank 2 -> 1/2; user 1 rank 3 -> 1/3
    np.testing.assert_allclose(mrr_at_k(hits, 4), [0.5, 1 / 3])
    np.testing.assert_allclose(mrr_at_k(hits, 2), [0.5, 0.0])


def test_coverage():
    # @2: items {2, 5, 0, 4} -> 4 of 8 = 0.5 ; @4: {2,5,1,7,0,4,6} (padding ignored) -> 7/8
    assert coverage_at_k(RECS, 8, 2) == 0.5
    assert coverage_at_k(RECS, 8, 4) == 7 / 8


def test_novelty():
    # 4 training users; items 2 and 5 seen by 2 users (share 1/2 -> 1 bit),
    # item 0 by 1 user (share 1/4 -> 2 bits), item 4 never (counted as 1 user -> 2 bits).
    popularity = np.array([1, 0, 2, 0, 0, 2, 0, 0])
    # @2 recommended: 2, 5, 0, 4 -> bits 1, 1, 2, 2 -> mean 1.5
    assert novelty_at_k(RECS, popularity, 4, 2) == pytest.approx(1.5)


def test_metrics_table_skips_users_without_heldout_in_accuracy():
    recs = np.vstack([RECS, [[1, 2, 3, 4]]])
    relevant = [*RELEVANT, np.array([], dtype=np.int64)]
    popularity = np.array([1, 0, 2, 0, 0, 2, 0, 0])
    table = metrics_table(recs, relevant, popularity, 4, k_values=(4,))
    # mean over the 2 users with held-out items: recall (2/3 + 1)/2, hit rate (1 + 1)/2
    assert table["Recall@4"] == pytest.approx((2 / 3 + 1) / 2)
    assert table["HitRate@4"] == 1.0
    assert table["MRR@4"] == pytest.approx((0.5 + 1 / 3) / 2)
    # coverage counts the third user's list too: {0,1,2,3,4,5,6,7} = 8/8
    assert table["Coverage@4"] == 1.0


def test_evaluate_offline_excludes_train_and_valid():
    # 3 users, 6 items. Popularity in train: item 0 (3 users) > item 1 (2) > item 2 (1).
    train = Interactions.from_frame(
        pd.DataFrame({"user_id": [0, 1, 2, 0, 1, 0], "item_id": [0, 0, 0, 1, 1, 2]})
    )
    valid = Interactions.from_frame(pd.DataFrame({"user_id": [1], "item_id": [2]}))
    test = Interactions.from_frame(pd.DataFrame({"user_id": [1, 2], "item_id": [3, 1]}))
    catalog = Catalog.from_frame(pd.DataFrame({"item_id": np.arange(6)}))
    split = Split(train=train, valid=valid, test=test, name="toy")
    rec = PopularRecommender()
    df = evaluate_offline(rec, split, k_values=(1, 2), catalog=catalog, fit=True)
    # user 1: train {0,1}, valid {2} excluded -> list [3, 4] (ties by id); test {3}: hit at 1
    # user 2: train {0} excluded -> list [1, 2]; test {1}: hit at 1
    assert df.loc["popular", "users"] == 2
    assert df.loc["popular", "Recall@1"] == 1.0
    assert df.loc["popular", "MRR@2"] == 1.0
    # coverage@2 = {3, 4, 1, 2} / 6
    assert df.loc["popular", "Coverage@2"] == pytest.approx(4 / 6)
    both = evaluate_offline(rec, split, k_values=(2,), catalog=catalog, heldout="valid+test")
    # user 1 now has held-out {2, 3}; list [2, 3] -> recall 1 ; user 2 unchanged
    assert both.loc["popular", "Recall@2"] == 1.0
    with pytest.raises(ValueError, match="heldout"):
        evaluate_offline(rec, split, catalog=catalog, heldout="train")
