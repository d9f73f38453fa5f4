"""Items as identities: the item space, history cues, the item tower inside the model."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from alignuser.env.page import ItemView, PageState
from alignuser.policy.items import ItemSpace, history_role
from alignuser.training.config import TinySpec

MICRO = TinySpec(n_layers=2, d_model=32, n_heads=2, ffn_mult=2, min_frequency=1)


def _space(n=12, dim=6, seed=0):
    return ItemSpace(np.random.default_rng(seed).normal(size=(n, dim)))


def _state(history=(3, 4, 7), ratings=(5.0, float("nan"), 2.0), items=(1, 5)):
    views = tuple(
        ItemView(i, f"t{i}", ("Drama",) if k % 2 == 0 else ("Comedy",), mean_rating=3.5,
                 popularity=0.1 * (k + 1))
        for k, i in enumerate(items)
    )  # fmt: skip
    return PageState(0, "A viewer. Loves Drama.", 1, views, max_rating=5,
                     history=tuple(history), history_ratings=tuple(ratings))  # fmt: skip


def _model(space, cues=True, seed=0):
    from alignuser.env.text import render_state_compact
    from alignuser.policy.model import PolicyModel

    corpus = [render_state_compact(_state()), "HISTORY: WATCH SKIP NEXT EXIT END 1 2 3 4 5"] * 2
    return PolicyModel.create(
        "tiny", corpus=corpus, tiny=MICRO, items=space, history=5, cues=cues, seed=seed
    )


def test_item_space_cosines_unknown_ids_and_self_pairs():
    space = ItemSpace(np.array([[1.0, 0.0], [3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(space.rows([1]), [[0.6, 0.8]])
    np.testing.assert_allclose(space.rows([-1, 99, 2]), np.zeros((3, 2)))  # outside / zero row
    s = space.sims([0, 1], [0, 1, 5])
    np.testing.assert_allclose(s, [[0.0, 0.6, 0.0], [0.6, 0.0, 0.0]])  # itself never counts
    with pytest.raises(ValueError, match="n_items, dim"):
        ItemSpace(np.zeros(3))


def test_history_roles_keep_half_stars_rounding_up():
    assert history_role(float("nan"), 5) == 1 and history_role(None, 5) == 1
    assert [history_role(r, 5) for r in (0.5, 1, 2.5, 4.5, 5, 7)] == [2, 2, 4, 6, 6, 6]


def test_history_cues_by_hand():
    from alignuser.policy.cues import HISTORY_CUES, history_cues

    space = ItemSpace(np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [1.0, 0.0]]))
    st = PageState(0, "p", 1, (ItemView(0, "a"),), max_rating=5, history=(1, 2, 3),
                   history_ratings=(5.0, 1.0, float("nan")))  # fmt: skip
    c = dict(zip(HISTORY_CUES, history_cues(st, space)[0].tolist()))
    # cosines of item 0 to the history: 0.8, 0.0, 1.0
    assert c["sim_max"] == pytest.approx(1.0)
    assert c["sim_top2"] == pytest.approx(0.9)
    assert c["sim_mean"] == pytest.approx(1.8 / 3)
    # rated neighbours: item 1 (5 -> +1, weight 0.8) and item 2 (1 -> -1, weight 0)
    assert c["sim_rating"] == pytest.approx(1.0)
    assert c["history_size"] == pytest.approx(math.log(4) / math.log(51))
    empty = dataclasses.replace(st, history=(), history_ratings=())
    assert not history_cues(empty, space).any()


def test_the_model_reads_history_and_item_identity():
    import torch

    space = _space()
    pm = _model(space)
    with torch.no_grad():  # make identities matter in this untrained model
        pm.item_tower.ids.weight.normal_(0.0, 1.0)
        pm.item_tower.out.weight.normal_(0.0, 1.0)
    base = pm.score([_state()])[0]
    other_history = pm.score([_state(history=(8, 9, 10))])[0]
    no_history = pm.score([_state(history=(), ratings=())])[0]
    assert not np.allclose(base.watch, other_history.watch)
    assert not np.allclose(base.watch, no_history.watch)
    # the same text on the page, other item ids: other scores
    swapped = pm.score([_state(items=(2, 6))])[0]
    assert not np.allclose(base.watch, swapped.watch)
    # only the last `history` (5) items are read: older ones do not change anything
    long = (11, 0, 3, 4, 7, 8, 9)
    a = pm.score([_state(history=long, ratings=(4.0,) * 7)])[0]
    b = pm.score([_state(history=(6, *long[1:]), ratings=(4.0,) * 7)])[0]
    c = pm.score([_state(history=long[2:], ratings=(4.0,) * 5)])[0]
    np.testing.assert_allclose(a.watch, b.watch, atol=1e-6)
    np.testing.assert_allclose(a.watch, c.watch, atol=1e-6)


def test_watch_parts_add_up_and_calibration_applies():
    import torch

    pm = _model(_space())
    with torch.no_grad():
        pm.cue_head.items.weight[0, 2] = 2.0  # popularity
        pm.item_tower.out.weight.normal_(0.0, 1.0)
    states = [_state(), _state(items=(2, 6, 8))]
    parts = pm.watch_parts(states)
    p = np.concatenate([s.watch for s in pm.score(states)])
    np.testing.assert_allclose(1 / (1 + np.exp(-(parts["lm"] + parts["cues"]))), p, atol=1e-5)
    pops = np.array([v.popularity for s in states for v in s.items])
    np.testing.assert_allclose(parts["cues"], 2.0 * pops, atol=1e-5)
    pm.calibration = {"watch_scale": 0.5, "watch_bias": -1.0}
    p2 = np.concatenate([s.watch for s in pm.score(states)])
    z = 0.5 * (parts["lm"] + parts["cues"]) - 1.0
    np.testing.assert_allclose(p2, 1 / (1 + np.exp(-z)), atol=1e-5)
    pm.calibration = {"watch_scale": 0.5, "cue_scale": 2.0, "watch_bias": -1.0}  # stacked
    p3 = np.concatenate([s.watch for s in pm.score(states)])
    z = 0.5 * parts["lm"] + 2.0 * parts["cues"] - 1.0
    np.testing.assert_allclose(p3, 1 / (1 + np.exp(-z)), atol=1e-5)


def test_stacked_calibration_weighs_each_part_by_what_it_predicts():
    """Held-out decisions that follow the cue part only: the LM part's weight goes to ~0."""
    from types import SimpleNamespace

    import torch

    from alignuser.env.actions import ItemDecision, PageAction
    from alignuser.training.evaluate import calibrate_watch

    pm = _model(_space())
    with torch.no_grad():
        pm.cue_head.items.weight[0, 2] = 4.0  # popularity
        pm.item_tower.out.weight.normal_(0.0, 1.0)  # an LM part unrelated to the decisions
    rng = np.random.default_rng(0)
    steps = []
    for k in range(1500):  # the LM part is noise of std 0.2: enough pages to see its 0
        items = tuple(int(i) for i in rng.choice(12, 2, replace=False))
        st = dataclasses.replace(_state(items=items), agent_id=k)
        st = dataclasses.replace(st, items=tuple(
            dataclasses.replace(v, popularity=float(rng.random())) for v in st.items))  # fmt: skip
        watch = [bool(rng.random() < 1 / (1 + math.exp(-(4 * v.popularity - 2))))
                 for v in st.items]  # fmt: skip
        act = PageAction(tuple(ItemDecision(v.item_id, w, 4 if w else None)
                               for v, w in zip(st.items, watch)), exit=False)  # fmt: skip
        steps.append(SimpleNamespace(state=st, action=act))
    cal = calibrate_watch(pm, steps)
    assert abs(cal["cue_scale"] - 1.0) < 0.4, cal  # the cue part is already the right logit
    assert abs(cal["watch_scale"]) < 0.3 * abs(cal["cue_scale"]), cal
    assert abs(cal["watch_bias"] + 2.0) < 0.6, cal


def test_checkpoint_round_trip_keeps_the_tower(tmp_path):
    import torch

    from alignuser.policy.checkpoint import load_policy_model, save_policy_model

    pm = _model(_space())
    with torch.no_grad():
        pm.item_tower.ids.weight.normal_(0.0, 1.0)
    pm.calibration = pm.info["calibration"] = {"watch_scale": 1.5, "watch_bias": 0.2}
    save_policy_model(pm, tmp_path / "ck")
    back = load_policy_model(tmp_path / "ck")
    assert back.history_length == 5 and back.calibration["watch_scale"] == 1.5
    for a, b in zip(
        pm.score([_state(), _state(items=(2,))]), back.score([_state(), _state(items=(2,))])
    ):
        np.testing.assert_array_equal(a.watch, b.watch)
        np.testing.assert_array_equal(a.rating, b.rating)
    (tmp_path / "ck" / "items.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="items.safetensors"):
        load_policy_model(tmp_path / "ck")


def test_next_item_targets_and_loss():
    """History j predicts history j + 1; the last history token predicts the page's watches."""
    from alignuser.env.actions import ItemDecision, PageAction

    pm = _model(_space())
    st = _state()
    act = PageAction((ItemDecision(1, True, 4), ItemDecision(5, False)), exit=False)
    b = pm.encode([st], [act])
    rows = b.targets["next_item"].tolist()
    hist_pos = [p for k, p, _, role in b.item_marks.tolist() if role >= 1]
    assert [r[2] for r in rows] == [4, 7, 1]  # 3 -> 4, 4 -> 7, last -> watched item 1
    assert [r[1] for r in rows] == [hist_pos[0], hist_pos[1], hist_pos[2]]
    assert int(b.user_pos[0]) == hist_pos[-1]
    out = pm.forward(b)
    assert out["next_item_loss"] is not None and float(out["next_item_loss"]) > 0


def test_generation_reads_the_item_vectors():
    """Greedy text generation starts from the same logits as a forward pass with the tower."""
    import torch

    pm = _model(_space())
    with torch.no_grad():  # large vectors on the history tokens, a biased LM head
        pm.item_tower.ids.weight.normal_(0.0, 30.0)
        pm.lm.get_output_embeddings().weight.normal_(0.0, 1.0)
    st = _state()
    head, items = pm._state_ids([st])[0]
    ids = pm.build_sequence(head, items)[0]
    # the history tokens, and one vector on the last prompt token, whose logits are read
    marks = [*pm._marks(st, len(head)), (len(ids) - 1, 3, 0)]
    with torch.no_grad():
        body, lm_head = pm._parts()
        m = torch.tensor([(0, *x) for x in marks])
        emb = pm.embed(torch.tensor([ids]), m)
        with_tower = int(lm_head(body(inputs_embeds=emb).last_hidden_state[0, -1]).argmax())
        plain = int(lm_head(body(input_ids=torch.tensor([ids])).last_hidden_state[0, -1]).argmax())
    assert with_tower != plain  # the vectors matter here, so the check below can fail
    pm.tokenizer.decode = lambda ids, **_: " ".join(str(int(i)) for i in ids)  # raw ids
    assert pm._generate([ids], 1, 8, [], [marks])[0] == str(with_tower)
    assert pm._generate([ids], 1, 8, [], None)[0] == str(plain)


def test_a_tower_refuses_another_catalog():
    from alignuser.policy.items import check_catalog

    pm = _model(_space(n=12))
    check_catalog(pm, 12)
    with pytest.raises(ValueError, match="12 items, dataset 'x' has 30"):
        check_catalog(pm, 30, "dataset 'x'")
    check_catalog(object(), 30)  # policies without a tower pass


def test_rating_parts_add_up_and_calibration_applies():
    import torch

    pm = _model(_space())
    with torch.no_grad():
        pm.cue_head.items.weight[1:, 2] = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0])
    states = [_state(), _state(items=(2, 6, 8))]
    parts = pm.rating_parts(states)

    def soft(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    p = np.concatenate([s.rating for s in pm.score(states)])
    np.testing.assert_allclose(soft(parts["lm"] + parts["cues"]), p, atol=1e-5)
    pops = np.array([v.popularity for s in states for v in s.items])
    np.testing.assert_allclose(parts["cues"][:, 4], 2.0 * pops, atol=1e-5)
    bias = [0.3, 0.0, -0.2, 0.1, 0.0]
    pm.calibration = {"rating_scale": 0.5, "rating_cue_scale": 2.0, "rating_bias": bias}
    p2 = np.concatenate([s.rating for s in pm.score(states)])
    want = soft(0.5 * parts["lm"] + 2.0 * parts["cues"] + np.array(bias))
    np.testing.assert_allclose(p2, want, atol=1e-5)


def test_rating_calibration_weighs_each_part_by_what_it_predicts():
    """Held-out ratings drawn from the cue part alone, an LM part of pure noise: the fit
    keeps the cue part's weight near 1 and weighs the LM part down to near 0."""
    from types import SimpleNamespace

    from alignuser.env.actions import ItemDecision, PageAction
    from alignuser.training.evaluate import calibrate_rating

    rng = np.random.default_rng(0)
    n = 1500
    cues = np.outer(rng.normal(0, 1, n), [-2.0, -1.0, 0.0, 1.0, 2.0])
    noise = rng.normal(0, 1.0, (n, 5))
    pr = np.exp(cues - cues.max(1, keepdims=True))
    pr /= pr.sum(1, keepdims=True)
    ratings = [int(rng.choice(5, p=row)) + 1 for row in pr]
    steps = [
        SimpleNamespace(state=None, action=PageAction((ItemDecision(k, True, r),), exit=False))
        for k, r in enumerate(ratings)
    ]
    parts = {"lm": noise.astype(np.float32), "cues": cues.astype(np.float32)}
    model = SimpleNamespace(rating_parts=lambda states, batch_size=64: parts)
    cal = calibrate_rating(model, steps, [1.0, 2.0, 3.0, 4.0, 5.0], rating_mse=4.0)
    assert abs(cal["rating_cue_scale"] - 1.0) < 0.2, cal
    assert abs(cal["rating_scale"]) < 0.15, cal
    assert cal["rating_rmse_after"] < cal["rating_rmse_before"] - 0.02 and cal["rating_n"] == n
    few = calibrate_rating(model, steps[:10], [1.0, 2.0, 3.0, 4.0, 5.0])
    assert few == {}  # too few ratings to weigh anything
