"""The linear cue head beside the LM: cue values, scoring, checkpoints, its convex fit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alignuser.env.page import ItemView, PageState
from alignuser.policy.cues import CUE_NAMES, fit_cue_head, make_cue_head, page_cues
from alignuser.training.config import TinySpec

MICRO = TinySpec(n_layers=2, d_model=64, n_heads=2, ffn_mult=2, min_frequency=1)


def _state(**kw) -> PageState:
    items = (
        ItemView(1, "A", ("Drama", "Horror"), mean_rating=4.0, popularity=0.8, taste=0.5),
        ItemView(2, "B", ("Comedy",), mean_rating=None, popularity=0.1, taste=None),
    )
    base = dict(
        agent_id=0,
        persona="A viewer. Loves Drama; dislikes Horror and Comedy. A picky rater.",
        page=3,
        items=items,
        max_rating=5,
        rater=-0.4,
    )
    base.update(kw)
    return PageState(**base)


def test_page_cues_by_hand():
    c = {n: page_cues(_state())[:, k].tolist() for k, n in enumerate(CUE_NAMES)}
    assert c["mean"] == pytest.approx([0.5, 0.0])  # (4 - 3) / 2; unknown -> 0 plus a flag
    assert c["mean_missing"] == [0.0, 1.0]
    assert c["popularity"] == pytest.approx([0.8, 0.1])
    assert c["taste"] == [0.5, 0.0] and c["taste_missing"] == [0.0, 1.0]
    assert c["loved"] == [0.5, 0.0] and c["disliked"] == [0.5, 1.0]  # share of the genres
    assert c["rater"] == pytest.approx([-0.2, -0.2])  # rating points / half the scale
    assert c["position"] == pytest.approx([0.0, 0.1]) and c["page"] == pytest.approx([0.4, 0.4])
    assert page_cues(_state(rater=None))[:, CUE_NAMES.index("rater")].tolist() == [0.0, 0.0]
    assert c["rater_all"] == [0.0, 0.0]  # unknown long-run offset
    long_run = page_cues(_state(rater_all=0.6))[:, CUE_NAMES.index("rater_all")]
    assert long_run.tolist() == pytest.approx([0.3, 0.3])


@pytest.fixture(scope="module")
def pair(small_steps):
    """The same seeded tiny LM with and without a cue head."""
    from alignuser.policy.model import PolicyModel
    from alignuser.training.run import corpus_texts

    corpus = [t for s in small_steps[0] for t in corpus_texts(s)]
    with_cues = PolicyModel.create("tiny", corpus=corpus, tiny=MICRO, seed=0)
    without = PolicyModel.create("tiny", corpus=corpus, tiny=MICRO, seed=0, cues=False)
    return with_cues, without


def test_a_fresh_head_scores_as_the_lm_alone(pair, small_steps):
    with_cues, without = pair
    assert with_cues.info["cues"]["names"] == list(CUE_NAMES) and without.cue_head is None
    assert "cues" not in without.info
    states = [s.state for s in small_steps[1][:8]]
    for a, b in zip(with_cues.score(states), without.score(states)):
        np.testing.assert_allclose(a.watch, b.watch, atol=1e-6)
        np.testing.assert_allclose(a.rating, b.rating, atol=1e-6)


def test_head_shifts_scores_and_survives_a_checkpoint(pair, small_steps, tmp_path):
    import torch

    from alignuser.policy.checkpoint import load_policy_model, save_policy_model

    with_cues, without = pair
    states = [s.state for s in small_steps[1][:8]]
    head = make_cue_head(with_cues.max_rating)
    with torch.no_grad():
        head.items.weight[0, CUE_NAMES.index("popularity")] = 3.0  # watch: + 3 x popularity
        head.items.weight[5, CUE_NAMES.index("mean")] = 2.0  # rating 5: + 2 x mean cue
    with_cues.cue_head = head
    try:
        logit = lambda p: np.log(p) - np.log1p(-p)  # noqa: E731
        for s, a, b in zip(states, with_cues.score(states), without.score(states)):
            pop = np.array([v.popularity for v in s.items])
            np.testing.assert_allclose(logit(a.watch) - logit(b.watch), 3.0 * pop, atol=1e-4)
        save_policy_model(with_cues, tmp_path / "ck")
        assert (tmp_path / "ck" / "cue_head.safetensors").is_file()
        back = load_policy_model(tmp_path / "ck")
        for a, b in zip(with_cues.score(states), back.score(states)):
            np.testing.assert_array_equal(a.watch, b.watch)
            np.testing.assert_array_equal(a.rating, b.rating)
    finally:
        with_cues.cue_head = make_cue_head(with_cues.max_rating)
    (tmp_path / "ck" / "cue_head.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="cue_head.safetensors"):
        load_policy_model(tmp_path / "ck")
    doc = json.loads((tmp_path / "ck" / "policy.json").read_text())
    doc["info"]["cues"]["names"] = ["mean", "popularity"]
    (tmp_path / "ck" / "policy.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="retrain"):
        load_policy_model(tmp_path / "ck")


def _pages_of_means(rng, n_pages: int):
    """Pages of 4 Drama items with item means drawn uniformly in 1..5: ``(state, means)``."""
    for k in range(n_pages):
        means = rng.uniform(1, 5, 4)
        items = tuple(
            ItemView(10 * k + j, "t", ("Drama",), mean_rating=float(m), popularity=0.5)
            for j, m in enumerate(means)
        )
        yield PageState(k, "A viewer.", 1, items, max_rating=5), means


def test_fit_recovers_a_known_logistic_rule():
    """Watch ~ sigmoid(2.5 mean - 1.5 position - 0.5): the fit finds those signs and sizes."""
    from alignuser.env.actions import ItemDecision, PageAction

    rng = np.random.default_rng(0)
    states, actions = [], []
    for st, means in _pages_of_means(rng, 600):
        items = st.items
        c = page_cues(st)
        p = 1 / (1 + np.exp(-(2.5 * c[:, 0] - 1.5 * c[:, CUE_NAMES.index("position")] - 0.5)))
        watch = rng.random(4) < p
        rating = np.clip(np.round(means), 1, 5).astype(int)  # the mean decides the rating
        decisions = tuple(
            ItemDecision(it.item_id, bool(w), int(r) if w else None)
            for it, w, r in zip(items, watch, rating)
        )
        states.append(st)
        actions.append(PageAction(decisions, exit=False))
    head = make_cue_head(5)
    fit = fit_cue_head(head, states, actions)
    w = dict(zip(CUE_NAMES, head.items.weight[0].detach().numpy()))
    assert w["mean"] == pytest.approx(2.5, abs=0.4)
    assert w["position"] == pytest.approx(-1.5, abs=0.7)
    assert fit["rating_nll"] < 0.8 * np.log(5)  # well below the uniform rating guess
    with pytest.raises(ValueError, match="decisions"):
        fit_cue_head(head, states[:2], actions[:1])


def test_training_fits_the_head_and_the_ablation_has_none(small_steps, tmp_path):
    from alignuser.training.config import TrainConfig
    from alignuser.training.trainer import train_on_steps

    train, valid = small_steps[0][:32], small_steps[1][:8]
    kw = dict(
        tiny=MICRO,
        wm_epochs=0,
        align_epochs=1,
        use_cf=False,
        eval_every=1000,
        max_valid_steps=8,
        max_steps_per_stage=1,
    )
    m = train_on_steps(TrainConfig(**kw), train, valid, tmp_path / "on")
    fits = [h["cue_fit"] for h in m["history"] if "cue_fit" in h]
    assert len(fits) == 1 and fits[0]["watch_nll"] < np.log(2)
    assert (tmp_path / "on" / "policy" / "cue_head.safetensors").is_file()
    train_on_steps(TrainConfig(**kw, cue_head=False), train, valid, tmp_path / "off")
    assert not (tmp_path / "off" / "policy" / "cue_head.safetensors").exists()
    doc = json.loads((tmp_path / "off" / "policy" / "policy.json").read_text())
    assert "cues" not in doc["info"]


def test_damped_mean_and_count_cues():
    """One 5-star rating counts for little, a thousand for nearly all; counts on a log scale.

    The rater bias is measured against the damped means: a 5 for the once-rated item is
    well above its damped mean, not 0 points above its raw one.
    """
    import pandas as pd

    from alignuser.data.tables import Catalog
    from alignuser.env.views import RATING_DAMPING, CatalogView

    cat = Catalog.from_frame(
        pd.DataFrame(
            {
                "item_id": [0, 1, 2],
                "title": ["once", "often", "never"],
                "genres": [["Drama"], ["Drama"], ["Drama"]],
                "popularity": [1, 1000, 0],
                "mean_rating": [5.0, 3.0, np.nan],
            }
        )
    )
    view = CatalogView(cat)
    centre = (5.0 * 1 + 3.0 * 1000) / 1001  # count-weighted catalog mean
    once = (5.0 + RATING_DAMPING * centre) / (1 + RATING_DAMPING)
    assert view.damped_means[0] == pytest.approx(once, abs=1e-3) and once < 3.4
    assert view.damped_means[1] == pytest.approx(3.0, abs=2e-3)
    # nobody rated item 2: it sits at the catalog mean, as in the damped-bias model
    assert view.damped_means[2] == pytest.approx(centre, abs=1e-3) and view.counts == [1, 1000, 0]
    state = _state(items=tuple(view.view(i) for i in range(3)))
    c = {n: page_cues(state)[:, k] for k, n in enumerate(CUE_NAMES)}
    assert c["mean"][0] == pytest.approx(1.0)  # the raw mean of one rating: top of the scale
    assert c["mean"][2] == 0.0 and c["mean_missing"][2] == 1.0
    assert c["mean_damped"] == pytest.approx([(once - 3) / 2, 0.0, (centre - 3) / 2], abs=1e-3)
    assert c["log_count"] == pytest.approx([np.log(2) / np.log(1001), 1.0, 0.0])
    taste = view.taste_model(5)
    assert taste.bias_for_history([0], [5.0]) == pytest.approx(round((5.0 - once) / 2, 1))


def test_squared_error_term_fits_the_expected_rating():
    """Ratings skewed by a cue no class logit is linear in: the squared-error term moves the
    head's expected rating towards the truth, at some cost in likelihood."""
    from alignuser.env.actions import ItemDecision, PageAction

    rng = np.random.default_rng(1)
    states, actions = [], []
    for st, means in _pages_of_means(rng, 400):
        items = st.items
        # mostly the mean, a fifth of the time a 1 or a 5 at random: a heavy-tailed spread
        wild = rng.random(4) < 0.2
        r = np.where(wild, rng.choice([1, 5], 4), np.clip(np.round(means), 1, 5)).astype(int)
        decisions = tuple(ItemDecision(it.item_id, True, int(x)) for it, x in zip(items, r))
        states.append(st)
        actions.append(PageAction(decisions, exit=False))
    plain = fit_cue_head(make_cue_head(5), states, actions)
    sq = fit_cue_head(make_cue_head(5), states, actions, rating_mse=20.0)
    assert sq["rating_mse"] < plain["rating_mse"] - 1e-3
    assert sq["rating_nll"] >= plain["rating_nll"] - 1e-4  # the CE-only fit has the best NLL


def test_bc_loss_adds_the_weighted_squared_error_of_watched_items():
    from types import SimpleNamespace

    import torch

    from alignuser.policy.cues import rating_sq_error
    from alignuser.training.losses import bc_loss

    g = torch.Generator().manual_seed(0)
    out = {
        "watch": torch.randn(2, 3, 2, generator=g),
        "rating": torch.randn(2, 3, 5, generator=g),
        "exit": torch.randn(2, 2, generator=g),
    }
    rating = torch.tensor([[4, -1, 0], [2, 3, -1]])  # -1: skipped, no rating
    batch = SimpleNamespace(
        item_mask=torch.ones(2, 3, dtype=torch.bool),
        targets={"watch": (rating >= 0).long(), "rating": rating, "exit": torch.tensor([0, 1])},
    )
    v = torch.tensor([1.0, 2.0, 3.0, 3.8, 5.0])
    extra = bc_loss(out, batch, v, 2.0) - bc_loss(out, batch)
    want = 2.0 * rating_sq_error(out["rating"][rating >= 0], rating[rating >= 0], v)
    assert float(extra) == pytest.approx(float(want), rel=1e-5) and float(want) > 0
    assert float(bc_loss(out, batch, None, 2.0)) == pytest.approx(float(bc_loss(out, batch)))
