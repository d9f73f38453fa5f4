"""``InMemoryMemory``: numpy episodic memory, the fast path and the unit-test double.

Saved as a folder: ``records.parquet`` (one row per memory, in insertion order) and
``manifest.json`` (format, backend, count, encoder). No pickle.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignuser.interfaces import MemoryRecord
from alignuser.memory.index import MemoryIndex

if TYPE_CHECKING:
    import pandas as pd

    from alignuser.interfaces import ItemEncoder

__all__ = ["MANIFEST", "InMemoryMemory", "read_manifest", "records_from_frame", "records_to_frame"]

MANIFEST = "manifest.json"
FORMAT = "alignuser-memory"


def records_to_frame(records: Sequence[MemoryRecord]) -> pd.DataFrame:
    """Memories as a DataFrame (``meta`` as a JSON string, ``rating`` NaN when none)."""
    import pandas as pd

    return pd.DataFrame(
        {
            "agent_id": [int(r.agent_id) for r in records],
            "item_id": [int(r.item_id) for r in records],
            "text": [r.text for r in records],
            "rating": [float("nan") if r.rating is None else float(r.rating) for r in records],
            "page": [int(r.page) for r in records],
            "step": [int(r.step) for r in records],
            "kind": [r.kind for r in records],
            "meta": [json.dumps(r.meta, sort_keys=True) for r in records],
        }
    ).astype({"agent_id": "int64", "item_id": "int64", "page": "int64", "step": "int64"})


def records_from_frame(df: pd.DataFrame) -> list[MemoryRecord]:
    """Inverse of :func:`records_to_frame`."""
    out = []
    for a, i, t, r, p, s, kd, m in zip(
        df["agent_id"],
        df["item_id"],
        df["text"],
        df["rating"],
        df["page"],
        df["step"],
        df["kind"],
        df["meta"],
    ):
        rating = None if r != r else float(r)
        out.append(
            MemoryRecord(
                int(a), int(i), str(t), rating, int(p), int(s), str(kd), json.loads(m) if m else {}
            )
        )
    return out


def write_manifest(path: Path, backend: str, count: int, encoder: Any, **extra: Any) -> None:
    """Write ``manifest.json`` describing a saved memory folder."""
    info = {
        "format": FORMAT,
        "version": 1,
        "backend": backend,
        "count": count,
        "encoder": getattr(encoder, "name", type(encoder).__name__),
        "encoder_dim": int(encoder.dim),
        **extra,
    }
    (path / MANIFEST).write_text(json.dumps(info, indent=2, sort_keys=True))


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read ``manifest.json`` of a saved memory folder.

    Raises:
        FileNotFoundError: Naming the missing file.
        ValueError: When the file is not an alignuser memory manifest.
    """
    f = Path(path) / MANIFEST
    if not f.is_file():
        raise FileNotFoundError(f"{f}: no memory manifest (not a saved alignuser memory folder)")
    info = json.loads(f.read_text())
    if info.get("format") != FORMAT:
        raise ValueError(f"{f}: 'format' is {info.get('format')!r}, expected {FORMAT!r}")
    return info


class InMemoryMemory:
    """Episodic memory held in process (numpy index), saved as Parquet.

    Args:
        encoder: Item encoder used for similarity (see :mod:`alignuser.memory.encoders`).

    Example:
        >>> from alignuser.interfaces import MemoryRecord
        >>> from alignuser.memory.encoders import MatrixEncoder
        >>> import numpy as np
        >>> mem = InMemoryMemory(MatrixEncoder(np.eye(4, dtype=np.float32)))
        >>> mem.add([MemoryRecord(0, 1, "I liked B", 5.0, page=1, step=0)])
        >>> [m.text for m in mem.retrieve([0], [1], k=3)[0]], mem.count(0)
        (['I liked B'], 1)
    """

    backend = "inmemory"

    def __init__(self, encoder: ItemEncoder):
        self.encoder = encoder
        self.index = MemoryIndex(encoder)

    def add(self, records: Sequence[MemoryRecord]) -> None:
        """Store a batch of memories (many agents at once)."""
        self.index.add(list(records))

    def retrieve(
        self, agent_ids: Sequence[int], query_item_ids: Sequence[int], k: int
    ) -> list[list[MemoryRecord]]:
        """Top-``k`` memories of ``agent_ids[i]`` about items like ``query_item_ids[i]``.

        Memories not about an item (``item_id == -1``) are never retrieved by item; see
        :meth:`recent`. Ties in similarity go to the most recent memory.
        """
        return self.index.retrieve(agent_ids, query_item_ids, k)

    def recent(self, agent_ids: Sequence[int], k: int) -> list[list[MemoryRecord]]:
        """The ``k`` most recent memories of each agent, newest first."""
        return self.index.recent(agent_ids, k)

    def count(self, agent_id: int | None = None) -> int:
        """Number of memories (of one agent, or all)."""
        return self.index.count(agent_id)

    def records(self) -> list[MemoryRecord]:
        """All memories in insertion order."""
        return list(self.index.records)

    def save(self, path: str | Path) -> None:
        """Write ``records.parquet`` and ``manifest.json`` into the folder ``path``."""
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        records_to_frame(self.index.records).to_parquet(p / "records.parquet", index=False)
        write_manifest(p, self.backend, len(self.index), self.encoder)

    @classmethod
    def load(cls, path: str | Path, encoder: ItemEncoder) -> InMemoryMemory:
        """Restore a memory written by :meth:`save`."""
        import pandas as pd

        p = Path(path)
        read_manifest(p)
        mem = cls(encoder)
        mem.add(records_from_frame(pd.read_parquet(p / "records.parquet")))
        return mem

    open = load
