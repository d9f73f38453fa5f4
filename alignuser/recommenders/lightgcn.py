"""``LightGCN``: graph convolution without transforms, trained with BPR (He et al., SIGIR 2020)."""

from __future__ import annotations

import logging

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from alignuser.recommenders.base import ScoringRecommender
from alignuser.threads import torch_threads

logger = logging.getLogger(__name__)


class LightGCNParams(BaseModel):
    """Parameters of :class:`LightGCN`.

    Attributes:
        factors: Embedding dimensions.
        layers: Propagation layers (the final embedding averages layers ``0..layers``).
        epochs: Passes over the training interactions.
        batch_size: (user, positive, negative) triples per gradient step.
        lr: Adam learning rate.
        reg: L2 weight on the layer-0 embeddings of each batch.
        threads: torch CPU threads while fitting (restored afterwards); ``None`` keeps
            torch's setting.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    factors: int = Field(64, ge=1)
    layers: int = Field(3, ge=0)
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(4096, ge=1)
    lr: float = Field(1e-2, gt=0.0)
    reg: float = Field(1e-4, ge=0.0)
    threads: int | None = Field(None, ge=1)


def _normalized_adjacency(matrix):
    """``D^-1/2 A D^-1/2`` of the bipartite graph ``[[0, R], [Rᵀ, 0]]`` as a torch tensor."""
    import scipy.sparse as sp
    import torch

    adj = sp.bmat([[None, matrix], [matrix.T, None]], format="coo", dtype=np.float32)
    deg = np.asarray(adj.sum(axis=1)).ravel()
    inv_sqrt = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1e-12)), 0.0)
    vals = (inv_sqrt[adj.row] * adj.data * inv_sqrt[adj.col]).astype(np.float32)
    idx = torch.from_numpy(np.vstack([adj.row, adj.col]).astype(np.int64))
    tensor = torch.sparse_coo_tensor(idx, torch.from_numpy(vals), adj.shape, check_invariants=True)
    return tensor.coalesce()


class LightGCN(ScoringRecommender):
    """LightGCN on the user-item graph of the training data, seeded, on CPU.

    Negatives are sampled uniformly from the catalog. Training forks torch's global RNG.
    Scores are dot products of the layer-averaged user and item embeddings.

    Example:
        >>> rec = LightGCN(factors=32, epochs=20, seed=0)
        >>> rec.fit(interactions, catalog).recommend(np.array([0]), k=10)  # doctest: +SKIP
    """

    name = "lightgcn"
    Params = LightGCNParams

    def _fit(self, matrix, interactions, catalog) -> None:
        import torch

        p = self.params
        n_users, n_items = matrix.shape
        coo = matrix.tocoo()
        pos_u, pos_i = coo.row.astype(np.int64), coo.col.astype(np.int64)
        with torch.random.fork_rng(devices=[]), torch_threads(p.threads):
            torch.manual_seed(self.seed)
            rng = np.random.default_rng(self.seed)
            adj = _normalized_adjacency(matrix)
            emb = torch.nn.Parameter(torch.randn(n_users + n_items, p.factors) * 0.1)
            opt = torch.optim.Adam([emb], lr=p.lr)

            def propagate():
                layers, h = [emb], emb
                for _ in range(p.layers):
                    h = torch.sparse.mm(adj, h)
                    layers.append(h)
                return torch.stack(layers).mean(dim=0)

            for epoch in range(p.epochs):
                order = rng.permutation(len(pos_u))
                negs = rng.integers(0, n_items, size=len(pos_u))
                total = 0.0
                for start in range(0, len(order), p.batch_size):
                    b = order[start : start + p.batch_size]
                    u = torch.from_numpy(pos_u[b])
                    i = torch.from_numpy(pos_i[b] + n_users)
                    j = torch.from_numpy(negs[b] + n_users)
                    out = propagate()
                    diff = (out[u] * (out[i] - out[j])).sum(dim=1)
                    reg = (emb[u].pow(2) + emb[i].pow(2) + emb[j].pow(2)).sum() / (2 * len(b))
                    loss = -torch.nn.functional.logsigmoid(diff).mean() + p.reg * reg
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(b)
                logger.debug("lightgcn epoch %d loss %.4f", epoch, total / max(len(pos_u), 1))
            with torch.no_grad():
                final = propagate().numpy()
        self._users = np.ascontiguousarray(final[:n_users], dtype=np.float32)
        self._items = np.ascontiguousarray(final[n_users:], dtype=np.float32)

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """Dot products of user and item embeddings (zeros for users beyond training)."""
        user_ids = np.asarray(user_ids, dtype=np.int64)
        vecs = np.zeros((len(user_ids), self._users.shape[1]), dtype=np.float32)
        known = user_ids < len(self._users)
        vecs[known] = self._users[user_ids[known]]
        return vecs @ self._items.T
