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
    "batch_cues",
    "fit_cue_head",
    "make_cue_head",
    "page_cues",
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
)
CUE_VERSION = 1


def page_cues(state: PageState) -> np.ndarray:
    """``(n_items, len(CUE_NAMES))`` float32 cues of one page (see the module doc)."""
    from alignuser.personas.text import persona_genres

    liked, disliked = persona_genres(state.persona)
    top = max(int(state.max_rating), 2)
    mid, half = (top + 1) / 2, (top - 1) / 2
    rater = 0.0 if state.rater is None else float(state.rater) / half
    page = min(max(state.page - 1, 0), 20) / 5
    out = np.zeros((len(state.items), len(CUE_NAMES)), dtype=np.float32)
    for j, it in enumerate(state.items):
        n_g = max(len(it.genres), 1)
        out[j] = (
            0.0 if it.mean_rating is None else (float(it.mean_rating) - mid) / half,
            float(it.mean_rating is None),
            float(it.popularity),
            0.0 if it.taste is None else float(it.taste),
            float(it.taste is None),
            sum(g in liked for g in it.genres) / n_g,
            sum(g in disliked for g in it.genres) / n_g,
            rater,
            min(j, 30) / 10,
            page,
        )
    return out


def batch_cues(states: Sequence[PageState], n_max: int) -> Any:
    """``(len(states), n_max, len(CUE_NAMES))`` float tensor, zero-padded."""
    import torch

    out = np.zeros((len(states), max(n_max, 1), len(CUE_NAMES)), dtype=np.float32)
    for k, s in enumerate(states):
        c = page_cues(s)
        out[k, : len(c)] = c
    return torch.from_numpy(out)


def make_cue_head(n_ratings: int) -> Any:
    """A zero-initialised ``Linear(len(CUE_NAMES), 1 + n_ratings)`` (watch, then ratings)."""
    import torch

    head = torch.nn.Linear(len(CUE_NAMES), 1 + n_ratings)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    return head


def fit_cue_head(head, states: Sequence[PageState], actions: Sequence, l2: float = 1e-3) -> dict:
    """Fit ``head`` alone to the human decisions (logistic + multinomial regression).

    Training starts stage 2 from this convex fit, so the LM learns what the cues leave
    unexplained instead of racing a zero-initialised head (deterministic: full-batch L-BFGS).

    Args:
        head: A head from :func:`make_cue_head` (updated in place).
        states: Page states.
        actions: The human action of each state (watch and rating targets).
        l2: Ridge penalty on the weights.

    Returns:
        ``{"watch_nll": ..., "rating_nll": ...}`` of the fit, per decision.
    """
    import torch
    import torch.nn.functional as F

    x = np.concatenate([page_cues(s) for s in states]) if states else np.zeros((0, 1))
    dec = [d for a in actions for d in a.decisions]
    if len(dec) != len(x) or not len(x):
        raise ValueError(f"{len(x)} item cues but {len(dec)} decisions")
    n_r = head.out_features - 1
    w = torch.tensor([d.watch for d in dec], dtype=torch.float32)
    r = torch.tensor(
        [
            min(max(int(d.rating), 1), n_r) - 1 if d.watch and d.rating is not None else -1
            for d in dec
        ]
    )
    dev = head.weight.device
    xt, w, r = torch.from_numpy(x).to(dev), w.to(dev), r.to(dev)
    rated = r >= 0
    opt = torch.optim.LBFGS(head.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def losses():
        out = head(xt)
        lw = F.binary_cross_entropy_with_logits(out[:, 0], w)
        lr_ = F.cross_entropy(out[rated, 1:], r[rated]) if rated.any() else out.sum() * 0
        return lw, lr_

    def closure():
        opt.zero_grad()
        lw, lr_ = losses()
        loss = lw + lr_ + l2 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        lw, lr_ = losses()
    return {"watch_nll": float(lw), "rating_nll": float(lr_)}
