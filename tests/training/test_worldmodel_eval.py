"""The next-consumed-item evaluation: catalog ranking from the user state against popularity."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from alignuser.env.actions import ItemDecision, PageAction
from alignuser.env.page import ItemView, PageState
from alignuser.training.worldmodel import evaluate_next_items


class _Tower:
    """Logits fixed per call: item ``j`` scores ``prefs[j]`` for every user state."""

    def __init__(self, prefs):
        self.prefs = np.asarray(prefs, dtype=np.float32)

    def next_item_logits(self, user):
        import torch

        return torch.from_numpy(np.tile(self.prefs, (user.shape[0], 1)))


def _model(prefs):
    import torch

    return SimpleNamespace(
        item_tower=_Tower(prefs),
        lm=SimpleNamespace(eval=lambda: None),
        encode=lambda states: states,
        forward=lambda states, lm_loss: {"user": torch.zeros((len(states), 2))},
    )


def _step(history, page, watched):
    views = tuple(ItemView(i, f"t{i}", ()) for i in page)
    state = PageState(0, "p", 1, views, history=tuple(history))
    decisions = tuple(ItemDecision(i, i in watched, 4 if i in watched else None) for i in page)
    act = PageAction(decisions, exit=False)
    return SimpleNamespace(state=state, action=act)


def test_next_items_rank_the_catalog_without_the_history_and_beside_popularity():
    prefs = [9.0, 8.0, 1.0, 0.0, 7.0]  # the model's ranking: 0, 1, 4, 2, 3
    pop = [0.0, 1.0, 5.0, 4.0, 0.0]  # popularity's ranking: 2, 3, 1, ...
    steps = [
        _step([0], [1, 3], {1}),  # 0 excluded: model top-1 is 1 (hit), popularity's is 2 (miss)
        _step([1], [2, 4], {2}),  # model top-1 is 0 (miss), popularity's is 2 (hit)
        _step([2], [3], set()),  # no watch: not scored
        _step([], [4], {4}),  # no history: not scored
    ]
    m = evaluate_next_items(_model(prefs), steps, pop, k=1)
    assert m["next_item_n"] == 2
    assert m["next_item_hit@1"] == 0.5 and m["next_item_hit@1_popularity"] == 0.5
    m2 = evaluate_next_items(_model(prefs), steps, pop, k=2)
    assert m2["next_item_hit@2"] == 0.5  # step 2: model top-2 is {0, 4}: still a miss
    assert m2["next_item_recall@2_popularity"] == 0.5  # {2, 3}: miss, then {2, 3}: hit


def test_next_items_need_an_item_tower():
    assert evaluate_next_items(SimpleNamespace(item_tower=None), [], [1.0]) == {}
