"""Items as identities inside the policy: the item tower and the history it attends to.

A language model that reads items only as words (genres, a popularity decile) can learn no
more than popularity and genre overlap. With an item tower the policy reads each item as a
learned vector, shared between the page and the user's remembered history, the way
transformer sequential recommenders (SASRec, BERT4Rec) read items:

* **item vector** = ``P · content(item) + id(item)``: ``content`` is the retrieval encoder's
  unit vector of the item (collaborative SVD + hashed title / genre words, fixed, fitted on
  the training history: :func:`alignuser.memory.encoders.default_encoder`), ``P`` a learned
  projection to the LM width, ``id`` a learned per-item offset that starts at zero. An item
  never seen in training keeps ``id = 0`` and is read by its content alone (the fallback);
  an id outside the catalog reads as a zero vector.
* **history tokens**: the state's remembered history (:attr:`PageState.history`, the same
  window as the memories, oldest first) is one placeholder token per item after the page
  header, each carrying its item vector plus the embedding of the rating given (or
  "watched, unrated").
* **page items**: each item's decision slots carry its item vector, so the slot's query
  holds the item and attention from it to the history tokens can learn collaborative taste.
* **user state**: the LM's hidden state at the last history token is the user's taste
  after reading persona, memories and history. Its affinity to each page item,
  ``out(h_user) · v_item / sqrt(d)``, is added to the item's watch logit (the SASRec
  prediction layer inside the LM), and the world model is trained to predict, from the
  hidden state at each history token, the **next consumed item** (the next history item,
  and at the last one the items the user watches on this page): a target the action
  cannot copy, learned from every interaction of the training history.

The vectors are *added* to the input embeddings of placeholder tokens, so the same model
runs on any Hugging Face causal LM (``inputs_embeds``). The tower is saved as
``items.safetensors`` beside the weights; ``policy.json`` records its sizes.

:class:`ItemSpace` is the numpy side of the same content vectors: the similarity cues of
:mod:`alignuser.policy.cues` (max / top-2 / mean cosine of a page item to the history, the
similarity-weighted rating) are computed from it and the state's history, one code path in
training, evaluation and simulation.

Example:
    >>> import numpy as np
    >>> space = ItemSpace(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))
    >>> space.sims([0, 2], [1, 2]).astype(float).round(2).tolist()  # itself: 0
    [[0.71, 0.0], [0.71, 0.0]]
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from alignuser.env.actions import scale_rating

__all__ = ["ItemSpace", "check_catalog", "history_role", "make_item_tower"]


class ItemSpace:
    """Fixed unit item vectors (rows of ``vectors``) and cosine look-ups on them.

    Args:
        vectors: ``(n_items, dim)`` float array; rows are normalised here (zero rows stay 0).
    """

    def __init__(self, vectors: np.ndarray):
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim != 2 or not len(v):
            raise ValueError(
                f"item vectors must be a non-empty (n_items, dim) array, got {v.shape}"
            )
        norm = np.linalg.norm(v, axis=1, keepdims=True)
        self.vectors = np.where(norm > 0, v / np.maximum(norm, 1e-12), 0.0).astype(np.float32)
        self.n_items, self.dim = self.vectors.shape

    @classmethod
    def from_encoder(cls, encoder, n_items: int) -> ItemSpace:
        """The space of a retrieval encoder's vectors for items ``0..n_items-1``."""
        return cls(encoder.encode_items(np.arange(n_items, dtype=np.int64)))

    def rows(self, item_ids: Sequence[int]) -> np.ndarray:
        """``(len(item_ids), dim)`` vectors; ids outside ``0..n_items-1`` give zero rows."""
        ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        ok = (ids >= 0) & (ids < self.n_items)
        if ok.all():
            return self.vectors[ids]
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        out[ok] = self.vectors[ids[ok]]
        return out

    def sims(self, page_items: Sequence[int], hist_items: Sequence[int]) -> np.ndarray:
        """Cosines ``(n_page, n_hist)``; an item paired with itself counts 0 (not evidence)."""
        p, h = np.asarray(page_items, dtype=np.int64), np.asarray(hist_items, dtype=np.int64)
        s = self.rows(p) @ self.rows(h).T
        s[p[:, None] == h[None, :]] = 0.0
        return s


def check_catalog(policy, n_items: int, where: str = "this data") -> None:
    """Refuse a policy whose item tower was built for another catalog.

    Item ids are catalog rows: a tower trained on one dataset would read another dataset's
    ids as different items. ``policy`` is a policy with a ``model`` (or a model itself).

    Raises:
        ValueError: When the sizes differ (naming both and what to do).
    """
    model = getattr(policy, "model", policy)
    items = (getattr(model, "info", None) or {}).get("items")
    if items and int(items["n_items"]) != int(n_items):
        raise ValueError(
            f"the policy's item tower was trained on a catalog of {items['n_items']} items, "
            f"{where} has {n_items}: train a checkpoint on it (`alignuser train`), or train "
            "with `train: {item_tower: false}` for a policy that transfers across catalogs"
        )


def history_role(rating: float | None, max_rating: int) -> int:
    """Role index of a history token: 1 watched unrated, ``1 + r`` rated ``r`` (half up)."""
    if rating is None or rating != rating:  # None or NaN: watched, unrated
        return 1
    return _rated_role(float(rating), max_rating)


@functools.lru_cache(maxsize=4096)  # a scale has a handful of ratings; history tokens recur
def _rated_role(rating: float, max_rating: int) -> int:
    return 1 + scale_rating(rating, max_rating)


def make_item_tower(space: ItemSpace, d_model: int, max_rating: int, seed: int = 0) -> Any:
    """A fresh :class:`torch.nn.Module` item tower over ``space`` (see the module doc)."""
    import torch

    class ItemTower(torch.nn.Module):
        """``forward(item_ids, roles) -> (M, d_model)``: item vector + role embedding.

        Roles: 0 a page item, 1 a watched (unrated) history item, ``1 + r`` rated ``r``.
        """

        def __init__(self):
            super().__init__()
            n, c = space.n_items, space.dim
            self.register_buffer("content", torch.from_numpy(space.vectors.copy()))
            self.proj = torch.nn.Linear(c, d_model, bias=False)
            self.ids = torch.nn.Embedding(n + 1, d_model)  # row n: outside the catalog
            self.roles = torch.nn.Embedding(2 + max_rating, d_model)
            self.out = torch.nn.Linear(d_model, d_model, bias=False)  # user state -> item space
            g = torch.Generator().manual_seed(seed)
            with torch.no_grad():
                self.proj.weight.normal_(0.0, 0.05, generator=g)
                self.ids.weight.zero_()
                self.roles.weight.normal_(0.0, 0.02, generator=g)
                self.out.weight.normal_(0.0, 0.02, generator=g)

        def forward(self, item_ids, roles):
            n = self.content.shape[0]
            ok = (item_ids >= 0) & (item_ids < n)
            idx = torch.where(ok, item_ids, torch.full_like(item_ids, n))
            content = self.content[idx.clamp(max=n - 1)] * ok[:, None].to(self.content.dtype)
            return self.proj(content) + self.ids(idx) * ok[:, None] + self.roles(roles)

        def catalog(self):
            """``(n_items, d_model)`` vectors of every catalog item (as page items)."""
            n = self.content.shape[0]
            ids = torch.arange(n, device=self.content.device)
            return self.forward(ids, torch.zeros_like(ids))

        def affinity(self, user, items):
            """Scaled dot products of user states ``(..., d)`` with item vectors ``(..., d)``."""
            return (self.out(user) * items).sum(-1) / math.sqrt(user.shape[-1])

        def next_item_logits(self, user):
            """Logits ``(M, n_items)`` over the catalog of the item after each user state."""
            return self.out(user) @ self.catalog().T / math.sqrt(user.shape[-1])

    return ItemTower()
