"""Numeric item cues and the linear *cue head* that reads them beside the language model.

A page state carries numbers a recommender user weighs: the item's mean rating, its
popularity, the user's genre taste for it, the user's rater bias, where it sits on the page.
The language model reads them as digit tokens; a model trained from scratch on a few thousand
pages learns those number-to-logit maps slowly and noisily (on the synthetic world a tiny
model reached a held-out watch AUC of 0.59-0.62 where a logistic regression on the same
numbers reaches 0.67). The cue head is that regression, learned jointly with the model (the
"wide" part of a wide-and-deep model)::

    watch logit(item)    = LM logit + w · cues(item)
    rating logits(item)  = LM logits + W · cues(item)      (one row of W per rating)

It starts at zero (a fresh model scores as the LM alone). Training fits it alone to the human
decisions at the start of stage 2 (:func:`fit_cue_head`, a convex fit), then trains it with
the LM by every loss that reads the decision slots (behaviour cloning, the counterfactual
pairwise term), so the LM learns what the numbers leave unexplained. It is saved beside
the weights (``cue_head.safetensors``; ``policy.json`` records the cue names). The LM keeps
what the numbers cannot say: persona text, memories, interactions between them.
``TrainConfig.cue_head: false`` trains the LM alone (an ablation).

Cues (:data:`CUE_NAMES`), each about unit scale, 0 where unknown (with a flag):

* ``mean``: the item's mean rating, ``(mean - mid) / half`` of the scale; ``mean_missing``.
* ``popularity``: catalog percentile ``0..1``.
* ``taste``: the user's genre taste for the item (:mod:`alignuser.env.taste`);
  ``taste_missing``.
* ``loved`` / ``disliked``: the share of the item's genres the persona text names as loved /
  disliked (:func:`~alignuser.personas.text.persona_genres`).
* ``rater``: the user's rater bias in half-scale units.
* ``position``: 0-based slot on the page / 10 (capped at 3), ``page``: ``(page - 1) / 5``
  (capped at 4).
* ``mean_damped``: the item's mean shrunk towards the catalog mean by its training count
  (:attr:`ItemView.damped_mean`, the damped-bias model's item term), in half-scale units;
  ``log_count``: ``log(1 + count) / log(1001)`` of the item's training interactions. With
  ``rater`` (the user's damped offset) they let the rating head start from the damped-bias
  prediction, which the head alone did not reach with the raw mean (RMSE 0.994 against
  0.983 on ml-latest-small).
* ``rater_all``: the user's long-run offset over every rating they gave
  (:attr:`PageState.rater_all`), in half-scale units; ``rater`` reads the state's recent
  window, which a temporal split favours, ``rater_all`` the whole record, which a random
  split (ml-100k ``u1``) favours.

With an item space (a model with an item tower, :mod:`alignuser.policy.items`) the history
cues :data:`HISTORY_CUES` follow, computed from the state's remembered history
(:attr:`PageState.history`) and the same item vectors the tower reads:

* ``sim_max`` / ``sim_top2`` / ``sim_mean``: the largest, the mean of the two largest and
  the mean cosine of the item to the history items (0 without history).
* ``sim_rating``: the rating of the 5 most similar rated history items, weighted by their
  (positive) similarity, in half-scale units.
* ``history_size``: ``log(1 + n) / log(51)`` of the history length.

The **exit** slot has its own linear head on page-level evidence: the mean and the maximum
over the page's items of every item cue (page number, how good the page looks, how close it
is to the history).

Example:
    >>> from alignuser.env.page import ItemView, PageState
    >>> st = PageState(0, "A viewer. Loves Drama.", 2, (ItemView(1, "Heat", ("Drama",),
    ...     mean_rating=4.0, popularity=0.8, taste=0.5),), max_rating=5)
    >>> dict(zip(CUE_NAMES, page_cues(st)[0].round(2).tolist()))["mean"]
    0.5
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from alignuser.env.page import PageState

__all__ = [
    "CUE_NAMES",
    "CUE_VERSION",
    "HISTORY_CUES",
    "base_cue_rows",
    "cue_names",
    "fit_cue_head",
    "make_cue_head",
    "page_cues",
    "rating_sq_error",
]

CUE_NAMES = (
    "mean",
    "mean_missing",
    "popularity",
    "taste",
    "taste_missing",
    "loved",
    "disliked",
    "rater",
    "position",
    "page",
    "mean_damped",
    "log_count",
    "rater_all",
)
HISTORY_CUES = ("sim_max", "sim_top2", "sim_mean", "sim_rating", "history_size")
CUE_VERSION = 4


def cue_names(space=None) -> tuple[str, ...]:
    """The item cues computed with (or without) an item space."""
    return CUE_NAMES + HISTORY_CUES if space is not None else CUE_NAMES


def history_cues(state: PageState, space) -> np.ndarray:
    """``(n_items, len(HISTORY_CUES))`` similarity cues of a page to the state's history."""
    out = np.zeros((len(state.items), len(HISTORY_CUES)), dtype=np.float32)
    hist = np.asarray(state.history, dtype=np.int64)
    if not len(hist) or not len(state.items):
        return out
    sims = space.sims(state.item_ids, hist)  # (n, H)
    top = max(int(state.max_rating), 2)
    mid, half = (top + 1) / 2, (top - 1) / 2
    ratings = np.asarray(state.history_ratings, dtype=np.float64)
    if len(ratings) != len(hist):
        ratings = np.full(len(hist), np.nan)
    rated = ~np.isnan(ratings)
    srt = -np.sort(-sims, axis=1)
    out[:, 0] = srt[:, 0]
    out[:, 1] = srt[:, : min(2, srt.shape[1])].mean(axis=1)
    out[:, 2] = sims.mean(axis=1)
    if rated.any():
        s_r = sims[:, rated]
        r = (ratings[rated] - mid) / half
        k = min(5, s_r.shape[1])
        idx = np.argsort(-s_r, axis=1, kind="stable")[:, :k]
        w = np.maximum(np.take_along_axis(s_r, idx, 1), 0.0)
        tot = w.sum(axis=1)
        out[:, 3] = np.where(tot > 0, (w * r[idx]).sum(axis=1) / np.maximum(tot, 1e-9), 0.0)
    out[:, 4] = np.log1p(len(hist)) / np.log(51)
    return out


def base_cue_rows(state: PageState) -> list[tuple[float, ...]]:
    """The :data:`CUE_NAMES` values of each item of ``state``, as Python floats (page order)."""
    from alignuser.personas.text import persona_genres

    liked, disliked = persona_genres(state.persona)
    top = max(int(state.max_rating), 2)
    mid, half = (top + 1) / 2, (top - 1) / 2
    rater = 0.0 if state.rater is None else float(state.rater) / half
    rater_all = 0.0 if state.rater_all is None else float(state.rater_all) / half
    page = min(max(state.page - 1, 0), 20) / 5
    log_top = np.log(1001)
    return [
        (
            0.0 if it.mean_rating is None else (float(it.mean_rating) - mid) / half,
            float(it.mean_rating is None),
            float(it.popularity),
            0.0 if it.taste is None else float(it.taste),
            float(it.taste is None),
            sum(g in liked for g in it.genres) / max(len(it.genres), 1),
            sum(g in disliked for g in it.genres) / max(len(it.genres), 1),
            rater,
            min(j, 30) / 10,
            page,
            0.0 if it.damped_mean is None else (float(it.damped_mean) - mid) / half,
            np.log1p(max(it.count, 0)) / log_top,
            rater_all,
        )
        for j, it in enumerate(state.items)
    ]


def page_cues(state: PageState, space=None) -> np.ndarray:
    """``(n_items, n_cues)`` float32 cues of one page (see the module doc).

    Args:
        state: The page.
        space: An :class:`~alignuser.policy.items.ItemSpace`: adds the history cues.
    """
    rows = base_cue_rows(state)
    out = np.asarray(rows, dtype=np.float32).reshape(len(rows), len(CUE_NAMES))
    if space is not None:
        out = np.concatenate([out, history_cues(state, space)], axis=1)
    return out


def exit_cues(item_cues: np.ndarray) -> np.ndarray:
    """Page-level cues of the exit slot: mean then max over the items of each item cue."""
    if not len(item_cues):
        return np.zeros(2 * item_cues.shape[1], dtype=np.float32)
    return np.concatenate([item_cues.mean(axis=0), item_cues.max(axis=0)]).astype(np.float32)


def make_cue_head(n_ratings: int, n_cues: int = len(CUE_NAMES), inputs: int = 0) -> Any:
    """A zero-initialised cue head: ``items`` (watch, then ratings) and ``exit`` linear maps.

    ``inputs`` > 0 (the LM width) adds the *cue inputs* of the lean state text
    (:func:`~alignuser.env.text.render_state_lean`): ``inputs`` maps an item's cues to two
    vectors added to the input embeddings of its watch and rating slots, ``exit_inputs`` the
    page's exit cues to one added at the exit slot. They belong to the deep part: the LM
    reads the numbers there instead of as digit tokens, and can combine them with the
    persona, the history and the item's identity.
    """
    import torch

    class CueHead(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.items = torch.nn.Linear(n_cues, 1 + n_ratings)
            self.exit = torch.nn.Linear(2 * n_cues, 1)
            for lin in (self.items, self.exit):
                torch.nn.init.zeros_(lin.weight)
                torch.nn.init.zeros_(lin.bias)
            if inputs:
                g = torch.Generator().manual_seed(0)
                self.inputs = torch.nn.Linear(n_cues, 2 * inputs)
                self.exit_inputs = torch.nn.Linear(2 * n_cues, inputs)
                with torch.no_grad():
                    for lin in (self.inputs, self.exit_inputs):
                        lin.weight.normal_(0.0, 0.05, generator=g)
                        lin.bias.zero_()

        def forward(self, x):
            """Item cues ``(..., n_cues)`` -> watch and rating logit offsets ``(..., 1 + R)``."""
            return self.items(x)

        @property
        def n_ratings(self) -> int:
            return self.items.out_features - 1

        @property
        def has_inputs(self) -> bool:
            return hasattr(self, "inputs")

    return CueHead()


def rating_sq_error(logits, target, values) -> Any:
    """Mean squared error of the expected rating, in half-scale units.

    Args:
        logits: ``(n, R)`` rating logits of watched items.
        target: ``(n,)`` class indices ``0..R-1`` of the human ratings.
        values: ``(R,)`` rating of each class (``policy.json``'s ``rating_values``), so the
            expectation is on the dataset's own scale.

    Example:
        >>> import torch
        >>> v = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
        >>> round(float(rating_sq_error(torch.zeros(1, 5), torch.tensor([4]), v)), 3)
        1.0
    """
    import torch

    v = values.to(logits.device, logits.dtype)
    half = max(float(v[-1] - v[0]) / 2, 1e-6)
    expected = torch.softmax(logits, -1) @ v
    return ((expected - v[target]) / half).pow(2).mean()


def _fit_tensors(states: Sequence[PageState], actions: Sequence, space, n_r: int, dev):
    """``(item cues, exit cues, watch, rating class or -1, exit)`` tensors of a cue-head fit."""
    import torch

    per = [page_cues(s, space) for s in states]
    x = np.concatenate(per) if states else np.zeros((0, 1))
    xe = np.stack([exit_cues(c) for c in per]) if states else np.zeros((0, 2))
    dec = [d for a in actions for d in a.decisions]
    if len(dec) != len(x) or not len(x):
        raise ValueError(f"{len(x)} item cues but {len(dec)} decisions")
    w = torch.tensor([d.watch for d in dec], dtype=torch.float32)
    r = torch.tensor(
        [
            min(max(int(d.rating), 1), n_r) - 1 if d.watch and d.rating is not None else -1
            for d in dec
        ]
    )
    ex = torch.tensor([float(a.exit) for a in actions], dtype=torch.float32)
    xt, w, r = torch.from_numpy(x).to(dev), w.to(dev), r.to(dev)
    return xt, torch.from_numpy(xe).to(dev), w, r, ex.to(dev)


def fit_cue_head(
    head,
    states: Sequence[PageState],
    actions: Sequence,
    l2: float = 1e-3,
    space=None,
    rating_values: Sequence[float] | None = None,
    rating_mse: float = 0.0,
) -> dict:
    """Fit ``head`` alone to the human decisions (logistic + multinomial regression).

    Training starts stage 2 from this convex fit, so the LM learns what the cues leave
    unexplained instead of racing a zero-initialised head (deterministic: full-batch L-BFGS).

    Args:
        head: A head from :func:`make_cue_head` (updated in place).
        states: Page states.
        actions: The human action of each state (watch and rating targets).
        l2: Ridge penalty on the weights.
        space: The model's :class:`~alignuser.policy.items.ItemSpace` (adds history cues).
        rating_values: Rating of each class (default ``1..R``).
        rating_mse: Weight of the squared error of the expected rating
            (:func:`rating_sq_error`), the same term stage 2 trains with.

    Returns:
        ``{"watch_nll": ..., "rating_nll": ..., "exit_nll": ..., "rating_mse": ...}`` of
        the fit, per decision (``rating_mse`` in half-scale units, without the weight).
    """
    import torch
    import torch.nn.functional as F

    n_r = head.n_ratings
    xt, xet, w, r, ex = _fit_tensors(states, actions, space, n_r, head.items.weight.device)
    rated = r >= 0
    opt = torch.optim.LBFGS(head.parameters(), max_iter=200, line_search_fn="strong_wolfe")
    values = torch.tensor(
        list(rating_values) if rating_values is not None else range(1, n_r + 1),
        dtype=torch.float32,
    )

    def losses():
        out = head.items(xt)
        lw = F.binary_cross_entropy_with_logits(out[:, 0], w)
        lr_ = F.cross_entropy(out[rated, 1:], r[rated]) if rated.any() else out.sum() * 0
        sq = rating_sq_error(out[rated, 1:], r[rated], values) if rated.any() else lr_ * 0
        lx = F.binary_cross_entropy_with_logits(head.exit(xet)[:, 0], ex)
        return lw, lr_, lx, sq

    def closure():
        opt.zero_grad()
        lw, lr_, lx, sq = losses()
        pen = head.items.weight.pow(2).sum() + head.exit.weight.pow(2).sum()
        loss = lw + lr_ + lx + rating_mse * sq + l2 * pen
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        lw, lr_, lx, sq = losses()
    return {
        "watch_nll": float(lw),
        "rating_nll": float(lr_),
        "exit_nll": float(lx),
        "rating_mse": float(sq),
    }
