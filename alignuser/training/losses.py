"""Loss terms of AlignUSER training over the slot logits of :class:`PolicyModel.forward`.

* :func:`bc_loss`: behaviour cloning, cross-entropy of the human decisions (watch/skip per
  item, rating of watched items, next/exit), each averaged over its slots, plus (weight
  ``rating_mse``) the squared error of the expected rating (:func:`rating_sq_error`): a
  simulation and the rating protocol read the expectation, which cross-entropy alone
  does not fit.
* :func:`action_logp`: log-probability of whole actions under the slot factorisation
  (``sum log P(watch_i) + sum_watched log P(rating_i) + log P(exit)``).
* :func:`pairwise_loss`: ``-log sigmoid(beta * (log P(human) - log P(alternative)))``
  averaged over the alternatives, ranking the human action above each counterfactual.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alignuser.env.actions import PageAction
from alignuser.policy.cues import rating_sq_error

__all__ = ["action_logp", "action_targets", "bc_loss", "pairwise_loss", "rating_sq_error"]


def bc_loss(out: dict[str, Any], batch, rating_values=None, rating_mse: float = 0.0) -> Any:
    """Behaviour-cloning loss (watch + rating + exit cross-entropies).

    With ``rating_values`` (the class values, a tensor) and ``rating_mse > 0`` it adds
    ``rating_mse`` times :func:`rating_sq_error` of the watched items.
    """
    import torch.nn.functional as F

    t = batch.targets
    dev = out["watch"].device
    mask = batch.item_mask.to(dev)
    loss = F.cross_entropy(out["exit"], t["exit"].to(dev))
    if mask.any():
        loss = loss + F.cross_entropy(out["watch"][mask], t["watch"].to(dev)[mask])
    rt = t["rating"].to(dev)
    rm = rt >= 0
    if rm.any():
        loss = loss + F.cross_entropy(out["rating"][rm], rt[rm])
        if rating_mse and rating_values is not None:
            loss = loss + rating_mse * rating_sq_error(out["rating"][rm], rt[rm], rating_values)
    return loss


def action_targets(actions: Sequence[Sequence[PageAction]], n_items: int, max_rating: int):
    """Tensors ``(watch (B,K,N), rating (B,K,N), exit (B,K), valid (B,K))`` for alternatives."""
    import torch

    b = len(actions)
    k = max((len(a) for a in actions), default=0)
    w = torch.zeros((b, k, n_items), dtype=torch.long)
    r = torch.full((b, k, n_items), -1, dtype=torch.long)
    x = torch.zeros((b, k), dtype=torch.long)
    v = torch.zeros((b, k), dtype=torch.bool)
    for i, alts in enumerate(actions):
        for j, a in enumerate(alts):
            v[i, j] = True
            x[i, j] = int(a.exit)
            for n, d in enumerate(a.decisions):
                w[i, j, n] = int(d.watch)
                if d.watch:
                    r[i, j, n] = min(max(int(d.rating), 1), max_rating) - 1
    return w, r, x, v


def action_logp(out: dict[str, Any], item_mask, watch, rating, exit_) -> Any:
    """Log-probability ``(B, K)`` of actions given as target tensors (``K`` per page)."""
    import torch

    dev = out["watch"].device
    lw = torch.log_softmax(out["watch"], -1)  # (B,N,2)
    lr = torch.log_softmax(out["rating"], -1)  # (B,N,R)
    lx = torch.log_softmax(out["exit"], -1)  # (B,2)
    watch, rating, exit_ = watch.to(dev), rating.to(dev), exit_.to(dev)
    k = watch.shape[1]
    mask = item_mask.to(dev)[:, None, :].expand(-1, k, -1)
    gw = torch.gather(lw[:, None].expand(-1, k, -1, -1), 3, watch[..., None])[..., 0]
    rr = rating.clamp(min=0)
    gr = torch.gather(lr[:, None].expand(-1, k, -1, -1), 3, rr[..., None])[..., 0]
    gr = gr * (rating >= 0)
    gx = torch.gather(lx[:, None].expand(-1, k, -1), 2, exit_[..., None])[..., 0]
    return ((gw + gr) * mask).sum(-1) + gx


def pairwise_loss(
    out: dict[str, Any],
    batch,
    alternatives: Sequence[Sequence[PageAction]],
    max_rating: int,
    beta: float = 1.0,
) -> Any:
    """Rank each human action above its counterfactual alternatives."""
    import torch.nn.functional as F

    n = batch.item_mask.shape[1]
    w, r, x, v = action_targets(alternatives, n, max_rating)
    if not v.any():
        return out["exit"].sum() * 0.0
    t = batch.targets
    human = action_logp(
        out, batch.item_mask, t["watch"][:, None], t["rating"][:, None], t["exit"][:, None]
    )  # (B,1)
    alts = action_logp(out, batch.item_mask, w, r, x)  # (B,K)
    margin = beta * (human - alts)
    return -F.logsigmoid(margin)[v.to(margin.device)].mean()
