"""Item encoders for memory retrieval: hashed text, collaborative filtering, and both combined.

Every encoder computes the vectors of the whole catalog once, at construction, and serves
``encode_items`` by indexing that cached matrix. Rows are float32 and L2-normalised (a row is
all zeros when an item has no signal, e.g. ``item_id == -1`` or an item absent from training),
so a dot product is a cosine similarity.

The design note says text embeddings of titles and genres are weak on their own; item vectors
learned from training interactions carry the taste signal. :func:`default_encoder` therefore
combines both when interactions are given, and falls back to text alone otherwise.

Example:
    >>> import pandas as pd
    >>> from alignuser.data.tables import Catalog, Interactions
    >>> cat = Catalog.from_frame(pd.DataFrame({"item_id": [0, 1, 2],
    ...     "title": ["Heat (1995)", "Fargo (1996)", "Heat Wave"],
    ...     "genres": [["Action"], ["Crime"], ["Action"]]}))
    >>> inter = Interactions.from_frame(pd.DataFrame(
    ...     {"user_id": [0, 0, 1, 1], "item_id": [0, 2, 1, 2], "rating": [5.0, 4, 3, 4]}))
    >>> enc = default_encoder(cat, inter)
    >>> enc.encode_items([0, 1]).shape == (2, enc.dim)
    True
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from alignuser.data.tables import Catalog, Interactions
    from alignuser.interfaces import ItemEncoder

__all__ = [
    "CFItemEncoder",
    "CombinedEncoder",
    "HashingTextEncoder",
    "MatrixEncoder",
    "default_encoder",
]

_WORD = re.compile(r"[a-z0-9]+")


def _normalise(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return np.divide(m, norms, out=np.zeros_like(m), where=norms > 0).astype(np.float32)


class MatrixEncoder:
    """An encoder backed by a fixed ``(n_items, dim)`` matrix (the base of the built-ins).

    ``encode_items`` returns zero rows for ids outside ``0..n_items-1`` (e.g. ``-1``).

    Example:
        >>> enc = MatrixEncoder(np.eye(3, dtype=np.float32))
        >>> enc.encode_items([2, -1]).tolist()
        [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    """

    def __init__(self, matrix: np.ndarray):
        self.matrix = _normalise(np.asarray(matrix, dtype=np.float32))
        self.n_items, self.dim = self.matrix.shape

    def encode_items(self, item_ids: np.ndarray | Sequence[int]) -> np.ndarray:
        """Return ``(len(item_ids), dim)`` float32 L2-normalised vectors (zeros if unknown)."""
        ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        ok = (ids >= 0) & (ids < self.n_items)
        out[ok] = self.matrix[ids[ok]]
        return out


class HashingTextEncoder(MatrixEncoder):
    """Title words and genres hashed into ``dim`` signed buckets (deterministic, offline).

    Tokens are lower-cased title words (``w:heat``), genres (``g:action``, weighted 2x) and
    the decade (``d:1990``). Hashing uses BLAKE2b, so vectors are the same in every process.

    Args:
        catalog: The items.
        dim: Number of hash buckets.

    Example:
        >>> enc = HashingTextEncoder(cat, dim=64)  # doctest: +SKIP
        >>> enc.encode_items(np.array([0, 1]))  # doctest: +SKIP
    """

    def __init__(self, catalog: Catalog, dim: int = 256):
        self.name = f"hashing-text-{dim}"
        m = np.zeros((catalog.n_items, dim), dtype=np.float32)
        df = catalog.df
        cache: dict[str, tuple[int, float]] = {}
        for row, (title, genres, year) in enumerate(zip(df["title"], df["genres"], df["year"])):
            tokens = [(f"w:{w}", 1.0) for w in _WORD.findall(str(title).lower())]
            tokens += [(f"g:{str(g).lower()}", 2.0) for g in genres]
            try:
                tokens.append((f"d:{int(year) // 10 * 10}", 1.0))
            except (TypeError, ValueError):  # NA / unknown year
                pass
            for tok, w in tokens:
                if tok not in cache:
                    h = hashlib.blake2b(tok.encode(), digest_size=8).digest()
                    v = int.from_bytes(h, "little")
                    cache[tok] = (v % dim, 1.0 if (v >> 63) & 1 else -1.0)
                col, sign = cache[tok]
                m[row, col] += sign * w
        super().__init__(m)


class CFItemEncoder(MatrixEncoder):
    """Item vectors learned from training interactions by truncated SVD.

    The (user x item) binary matrix, rows scaled by ``1/sqrt(user degree)`` and columns by
    ``1/sqrt(item degree)``, is factorised with :func:`scipy.sparse.linalg.svds`; item vectors
    are ``V * sqrt(s)``, sign-fixed so results are deterministic. Items without interactions
    get zero vectors. ``dim`` is padded with zeros when the data has fewer dimensions.

    Args:
        interactions: Training interactions (never the test split).
        n_items: Catalog size.
        dim: Vector size.
        seed: Seed of the ARPACK start vector.
    """

    def __init__(self, interactions: Interactions, n_items: int, dim: int = 64, seed: int = 0):
        import scipy.sparse as sp
        from scipy.sparse.linalg import svds

        self.name = f"cf-svd-{dim}"
        df = interactions.df
        m = np.zeros((n_items, dim), dtype=np.float32)
        if len(df):
            x = interactions.to_csr(n_items=n_items).astype(np.float64)
            ud = np.asarray(x.sum(axis=1)).ravel()
            idg = np.asarray(x.sum(axis=0)).ravel()
            x = (
                sp.diags(1 / np.sqrt(np.maximum(ud, 1)))
                @ x
                @ sp.diags(1 / np.sqrt(np.maximum(idg, 1)))
            )
            k = min(dim, min(x.shape) - 1)
            if k >= 1:
                if min(x.shape) <= 2 * dim + 2:
                    _, s, vt = np.linalg.svd(x.toarray(), full_matrices=False)
                    s, vt = s[:k], vt[:k]
                else:
                    v0 = np.random.default_rng(seed).uniform(-1, 1, min(x.shape))
                    _, s, vt = svds(x, k=k, v0=v0)
                    order = np.argsort(-s)
                    s, vt = s[order], vt[order]
                signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
                vt = vt * np.where(signs == 0, 1, signs)[:, None]
                m[:, :k] = (vt.T * np.sqrt(np.maximum(s, 0))).astype(np.float32)
        super().__init__(m)


class CombinedEncoder(MatrixEncoder):
    """Concatenation of encoders, each scaled by its weight, re-normalised.

    With unit-norm parts, the cosine of two items is the weighted mean of the parts'
    cosines (weights squared), so ``weights=[1, 0.5]`` gives the first part 80% of the say.

    Args:
        encoders: Encoders with a ``matrix`` attribute (the built-ins) or ``n_items``.
        weights: One per encoder (default all 1).
    """

    def __init__(self, encoders: Sequence[ItemEncoder], weights: Sequence[float] | None = None):
        weights = list(weights) if weights is not None else [1.0] * len(encoders)
        if len(weights) != len(encoders) or not encoders:
            raise ValueError(f"need one weight per encoder, got {len(weights)} for {len(encoders)}")
        self.parts = list(encoders)
        self.weights = weights
        self.name = "+".join(getattr(e, "name", type(e).__name__) for e in encoders)
        n = max(int(getattr(e, "n_items", 0)) for e in encoders)
        if n == 0:
            raise ValueError("CombinedEncoder needs encoders with an `n_items` attribute")
        mats = [w * e.encode_items(np.arange(n)) for e, w in zip(encoders, weights)]
        super().__init__(np.concatenate(mats, axis=1))


def default_encoder(
    catalog: Catalog,
    interactions: Interactions | None = None,
    text_dim: int = 256,
    cf_dim: int = 64,
    cf_weight: float = 1.0,
    text_weight: float = 0.5,
    seed: int = 0,
) -> MatrixEncoder:
    """The retrieval encoder used by default in training and simulation.

    Args:
        catalog: The items.
        interactions: Training interactions; when given (and non-empty) CF vectors are
            combined with hashed text, else hashed text alone is used.
        text_dim: Size of the hashed text part.
        cf_dim: Size of the CF part.
        cf_weight: Weight of the CF part.
        text_weight: Weight of the text part.
        seed: Seed of the SVD.
    """
    text = HashingTextEncoder(catalog, dim=text_dim)
    if interactions is None or len(interactions) == 0:
        return text
    cf = CFItemEncoder(interactions, catalog.n_items, dim=cf_dim, seed=seed)
    return CombinedEncoder([cf, text], [cf_weight, text_weight])
