"""``EASE``: Steck's closed-form linear item-item model (WWW 2019)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from alignuser.recommenders.base import ScoringRecommender


class EASEParams(BaseModel):
    """Parameters of :class:`EASE`.

    Attributes:
        l2: L2 regularisation added to the Gram matrix diagonal.
        float64_below: Invert in float64 up to this many items, float32 above (speed, memory).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    l2: float = Field(500.0, gt=0.0)
    float64_below: int = Field(4096, ge=0)


class EASE(ScoringRecommender):
    """EASE: ``B = I - P / diag(P)``, ``P = (XᵀX + λI)⁻¹``, scores ``X_u B``.

    ``P`` is dense (``n_items²`` float32: about 0.4 GB for 10k items). With fewer training
    users than items it is computed through the Woodbury identity (a users x users solve),
    otherwise by a Cholesky inverse of the Gram matrix.

    Example:
        >>> rec = EASE(EASE.Params(l2=500.0))
        >>> rec.fit(interactions, catalog).recommend(np.array([0]), k=10)  # doctest: +SKIP
    """

    name = "ease"
    Params = EASEParams

    def _fit(self, matrix, interactions, catalog) -> None:
        n_users = int((np.diff(matrix.indptr) > 0).sum())
        if n_users < self.n_items:
            inv = self._inverse_woodbury(matrix)
        else:
            inv = self._inverse_cholesky(matrix)
        diag = np.diag(inv).copy()
        inv /= -diag[None, :]
        inv[np.diag_indices(self.n_items)] = 0.0
        self._weights = np.ascontiguousarray(inv, dtype=np.float32)

    def _inverse_cholesky(self, matrix) -> np.ndarray:
        """``(XᵀX + λI)⁻¹`` by Cholesky (LAPACK potrf/potri): ``n_items³`` flops."""
        from scipy.linalg import lapack

        n = self.n_items
        dtype = np.float64 if n < self.params.float64_below else np.float32
        gram = np.asarray((matrix.T @ matrix).todense(), dtype=dtype, order="F")
        gram[np.diag_indices(n)] += dtype(self.params.l2)
        potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (gram,))
        chol, info = potrf(gram, lower=True, overwrite_a=True, clean=False)
        if info != 0:
            raise RuntimeError(f"EASE: Cholesky failed (info={info}); increase l2")
        inv, info = potri(chol, lower=True, overwrite_c=True)
        if info != 0:
            raise RuntimeError(f"EASE: inversion failed (info={info}); increase l2")
        inv = np.tril(inv)
        inv += np.tril(inv, -1).T  # potri fills one triangle only
        return inv

    def _inverse_woodbury(self, matrix) -> np.ndarray:
        """``(XᵀX + λI)⁻¹ = (I - Xᵀ(λI + XXᵀ)⁻¹X) / λ``: cheap when users < items."""
        import scipy.linalg

        x = matrix[np.diff(matrix.indptr) > 0].astype(np.float64)
        lam = self.params.l2
        small = (x @ x.T).toarray()
        small[np.diag_indices_from(small)] += lam
        w = scipy.linalg.solve(small, x.toarray(), assume_a="pos")  # (users, items)
        inv = np.asarray(x.T.astype(np.float32) @ w.astype(np.float32), dtype=np.float32)
        inv *= np.float32(-1.0 / lam)
        inv[np.diag_indices(self.n_items)] += np.float32(1.0 / lam)
        return inv

    def score(self, user_ids: np.ndarray) -> np.ndarray:
        """``X_u B`` for the users' training rows (zeros for cold users)."""
        hist = self._history(np.asarray(user_ids, dtype=np.int64))
        return np.asarray(hist @ self._weights, dtype=np.float32)
