"""``ItemKNN``: cosine item-item neighbourhood model with a sparse top-n similarity matrix."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from alignuser.recommenders.base import ScoringRecommender


class ItemKNNParams(BaseModel):
    """Parameters of :class:`ItemKNN`.

    Attributes:
        neighbors: Similar items kept per item.
        shrink: Added to the cosine denominator (damps pairs with little support).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    neighbors: int = Field(100, ge=1)
    shrink: float = Field(0.0, ge=0.0)


def _keep_top_per_row(sim, n: int):
    """Keep the ``n`` largest entries of each row of a CSR matrix (ties: lower column)."""
    import scipy.sparse as sp

    sim = sim.tocsr()
    sim.sort_indices()
    lengths = np.diff(sim.indptr)
    keep = np.ones(sim.nnz, dtype=bool)
    for row in np.nonzero(lengths > n)[0]:
        lo, hi = sim.indptr[row], sim.indptr[row + 1]
        vals = sim.data[lo:hi]
        order = np.lexsort((sim.indices[lo:hi], -vals))
        keep[lo + order[n:]] = False
    rows = np.repeat(np.arange(sim.shape[0]), lengths)[keep]
    return sp.csr_matrix(
        (sim.data[keep], (rows, sim.indices[keep])), shape=sim.shape, dtype=np.float32
    )


class ItemKNN(ScoringRecommender):
    """Item-based collaborative filtering: score(u, j) = sum of sim(i, j) over u's items i.

    ``sim`` is the cosine between item columns of the binary training matrix,
    ``|U_i & U_j| / (sqrt(|U_i| |U_j|) + shrink)``, keeping the ``neighbors`` most similar
    items of each item.

    Example:
        >>> rec = ItemKNN(neighbors=50, shrink=10.0)
        >>> rec.fit(interactions, catalog).recommend(np.array([0]), k=10)  # doctest: +SKIP
    """

    name = "itemknn"
    Params = ItemKNNParams

    def _fit(self, matrix, interactions, catalog) -> None:
        import scipy.sparse as sp

        x = matrix.tocsc()
        norms = np.sqrt(np.asarray(x.sum(axis=0), dtype=np.float64).ravel())
        co = (x.T @ x).tocsr().astype(np.float64)
        co.setdiag(0.0)
        co.eliminate_zeros()
        co = co.tocoo()
        denom = norms[co.row] * norms[co.col] + self.params.shrink
        sim = sp.csr_matrix((co.data / np.maximum(denom, 1e-12), (co.row, co.col)), shape=co.shape)
        # Row i holds the neighbours of item i; scoring needs columns = target items, so
        # transpose after pruning: score = history @ sim_pruned.T
        self._sim = _keep_top_per_row(sim, self.params.neighbors).T.tocsr()

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """Sum of similarities between each candidate item and the user's training items."""
        hist = self._history(np.asarray(user_ids, dtype=np.int64))
        return np.asarray((hist @ self._sim).todense(), dtype=np.float32)
