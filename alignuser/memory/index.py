"""``MemoryIndex``: the in-process per-agent index that answers retrieval in one vectorised pass.

Rows are memories in insertion order (row number == sequence number). Per agent the index
keeps its row numbers; per row it keeps the item, the step and the record itself. Item
vectors come from the encoder once per item, so the index stores no per-memory vector.

Ordering rules (shared by every memory backend):

* ``retrieve``: memories about items (``item_id >= 0``), by cosine similarity of their item
  to the query item, rounded to 5 decimals, highest first; ties by recency.
* recency: higher ``step`` first, then later insertion first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from alignuser.interfaces import ItemEncoder, MemoryRecord

__all__ = ["ItemVectors", "MemoryIndex"]

SIM_DECIMALS = 5
SIM_SCALE = 10**SIM_DECIMALS


def sim_key(sims: np.ndarray) -> np.ndarray:
    """Similarities as integers in ``0..2*SIM_SCALE`` (rounded to ``SIM_DECIMALS``), int64."""
    return (
        np.clip(np.rint(np.asarray(sims, np.float64) * SIM_SCALE), -SIM_SCALE, SIM_SCALE).astype(
            np.int64
        )
        + SIM_SCALE
    )


class ItemVectors:
    """Caches item vectors of an encoder; unknown or negative ids map to a zero row.

    Args:
        encoder: The item encoder.
        max_pair_cache: Largest item-item similarity matrix (entries, float32) to keep;
            the default (64 Mi entries, 256 MB) covers catalogs up to ~8,000 items.
    """

    def __init__(self, encoder: ItemEncoder, max_pair_cache: int = 64 * 2**20):
        self.encoder = encoder
        self.max_pair_cache = max_pair_cache
        self._pairs: np.ndarray | None = None
        full = getattr(encoder, "matrix", None)
        self._full = full is not None
        if self._full:
            self._mat = np.vstack([full, np.zeros((1, full.shape[1]), np.float32)])
            self._n = full.shape[0]
        else:
            self._mat = np.zeros((1, encoder.dim), np.float32)
            self._pos: dict[int, int] = {}

    def similarity(self, items: np.ndarray, queries: np.ndarray, seg: np.ndarray) -> np.ndarray:
        """Cosine of ``items[j]`` with ``queries[seg[j]]`` for every ``j`` (float64).

        With a full item matrix of at most ``max_pair_cache`` entries, the item-item
        similarity matrix is computed once and similarities are gathered from it; otherwise
        vectors are gathered and multiplied in chunks.
        """
        mat, m_idx = self.lookup(items)
        _, q_idx = self.lookup(queries)
        if self._full and len(mat) ** 2 <= self.max_pair_cache:
            if self._pairs is None:
                self._pairs = mat @ mat.T
            return self._pairs[m_idx, q_idx[seg]].astype(np.float64)
        out = np.empty(len(items), np.float64)
        chunk = max(1, (1 << 22) // max(1, mat.shape[1]))
        for s in range(0, len(items), chunk):
            e = min(len(items), s + chunk)
            out[s:e] = np.einsum("ij,ij->i", mat[m_idx[s:e]], mat[q_idx[seg[s:e]]])
        return out

    def lookup(self, item_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(matrix, idx)`` with ``matrix[idx[i]]`` the vector of ``item_ids[i]``."""
        ids = np.asarray(item_ids, dtype=np.int64)
        if self._full:
            return self._mat, np.where((ids >= 0) & (ids < self._n), ids, self._n)
        new = [int(i) for i in np.unique(ids) if i >= 0 and int(i) not in self._pos]
        if new:
            vecs = np.asarray(self.encoder.encode_items(np.array(new)), np.float32)
            base = len(self._mat)
            self._mat = np.vstack([self._mat, vecs])
            self._pos.update({i: base + j for j, i in enumerate(new)})
        return self._mat, np.array([self._pos.get(int(i), 0) for i in ids], dtype=np.int64)


class MemoryIndex:
    """Per-agent memories with batched item-similarity retrieval (numpy, exact).

    Args:
        encoder: The item encoder used for similarity.

    Example:
        >>> from alignuser.interfaces import MemoryRecord
        >>> from alignuser.memory.encoders import MatrixEncoder
        >>> idx = MemoryIndex(MatrixEncoder(np.eye(3, dtype=np.float32)))
        >>> idx.add([MemoryRecord(7, 1, "I liked B"), MemoryRecord(7, 2, "I liked C")])
        >>> [m.text for m in idx.retrieve([7], [2], k=1)[0]]
        ['I liked C']
    """

    def __init__(self, encoder: ItemEncoder):
        self.vectors = ItemVectors(encoder)
        self.records: list[MemoryRecord] = []
        self._item = np.zeros(1024, np.int64)
        self._step = np.zeros(1024, np.int64)
        self._rows: dict[int, list[int]] = {}
        self._cache: dict[tuple[int, bool], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.records)

    def add(self, records: Sequence[MemoryRecord]) -> None:
        """Append records (their row numbers continue the sequence)."""
        n0, n = len(self.records), len(records)
        if not n:
            return
        while len(self._item) < n0 + n:
            self._item = np.concatenate([self._item, np.zeros_like(self._item)])
            self._step = np.concatenate([self._step, np.zeros_like(self._step)])
        self._item[n0 : n0 + n] = [r.item_id for r in records]
        self._step[n0 : n0 + n] = [r.step for r in records]
        self.records.extend(records)
        for row, r in enumerate(records, start=n0):
            self._rows.setdefault(int(r.agent_id), []).append(row)
            self._cache.pop((int(r.agent_id), True), None)
            self._cache.pop((int(r.agent_id), False), None)

    def count(self, agent_id: int | None = None) -> int:
        """Number of memories (of one agent, or all)."""
        if agent_id is None:
            return len(self.records)
        return len(self._rows.get(int(agent_id), ()))

    def agent_ids(self) -> list[int]:
        """Agents with at least one memory, sorted."""
        return sorted(self._rows)

    def _agent_rows(self, agent_id: int, items_only: bool) -> np.ndarray:
        key = (int(agent_id), items_only)
        rows = self._cache.get(key)
        if rows is None:
            rows = np.asarray(self._rows.get(key[0], ()), dtype=np.int64)
            rows = rows[np.lexsort((-rows, -self._step[rows]))]
            if items_only:
                rows = rows[self._item[rows] >= 0]
            self._cache[key] = rows
        return rows

    def _retrieve_flat(
        self, agent_ids: Sequence[int], query_item_ids: Sequence[int], k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Kept rows of all pairs, concatenated, and the ``len(pairs) + 1`` boundaries."""
        a = np.asarray(agent_ids, dtype=np.int64).reshape(-1)
        q = np.asarray(query_item_ids, dtype=np.int64).reshape(-1)
        if len(a) != len(q):
            raise ValueError(f"{len(a)} agent ids but {len(q)} query item ids")
        if k <= 0 or not len(a):
            return np.zeros(0, np.int64), np.zeros(len(a) + 1, np.int64)
        uniq, inv = np.unique(a, return_inverse=True)
        per_agent = [self._agent_rows(int(u), True) for u in uniq]
        lens = np.array([len(r) for r in per_agent], dtype=np.int64)
        flat = np.concatenate(per_agent) if per_agent else np.zeros(0, np.int64)
        offsets = np.concatenate([[0], np.cumsum(lens)[:-1]])
        pair_len = lens[inv]
        total = int(pair_len.sum())
        seg = np.repeat(np.arange(len(a)), pair_len)
        seg_start = np.concatenate([[0], np.cumsum(pair_len)[:-1]])
        pos = np.arange(total) - seg_start[seg]
        rows = flat[offsets[inv][seg] + pos]
        # rows of each agent come newest first, so a stable sort on (pair, -similarity)
        # leaves ties in recency order
        sims = sim_key(self.vectors.similarity(self._item[rows], q, seg))
        order = np.argsort((seg << 20) | (SIM_SCALE * 2 - sims), kind="stable")
        rank = np.arange(total) - seg_start[seg[order]]
        keep = order[rank < k]
        bounds = np.concatenate([[0], np.cumsum(np.minimum(pair_len, k))])
        return rows[keep], bounds

    def retrieve_rows(
        self, agent_ids: Sequence[int], query_item_ids: Sequence[int], k: int
    ) -> list[np.ndarray]:
        """Row numbers of the top-``k`` memories for each (agent, query item) pair."""
        rows, bounds = self._retrieve_flat(agent_ids, query_item_ids, k)
        return [rows[bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)]

    def retrieve(
        self, agent_ids: Sequence[int], query_item_ids: Sequence[int], k: int
    ) -> list[list[MemoryRecord]]:
        """Top-``k`` memories of each agent about items most similar to its query item."""
        rows, bounds = self._retrieve_flat(agent_ids, query_item_ids, k)
        recs = self.records
        got = [recs[r] for r in rows.tolist()]
        b = bounds.tolist()
        return [got[b[i] : b[i + 1]] for i in range(len(b) - 1)]

    def recent(self, agent_ids: Sequence[int], k: int) -> list[list[MemoryRecord]]:
        """The ``k`` most recent memories of each agent, newest first."""
        out = []
        for a in agent_ids:
            rows = self._agent_rows(int(a), False)
            if k <= 0 or not len(rows):
                out.append([])
                continue
            out.append([self.records[r] for r in rows[:k].tolist()])
        return out
