"""``InMemoryMemory``: numpy episodic memory, the fast path and the unit-test double.

Saved as a folder: ``records.parquet`` (one row per memory, in insertion order) and
``manifest.json`` (format, backend, count, encoder; see :mod:`alignuser.memory.base`). No
pickle.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from alignuser.memory.base import (
    IndexedMemory,
    read_manifest,
    records_from_frame,
    records_to_frame,
    write_manifest,
)
from alignuser.memory.index import MemoryIndex

if TYPE_CHECKING:
    from alignuser.interfaces import ItemEncoder, MemoryRecord

__all__ = ["InMemoryMemory"]


class InMemoryMemory(IndexedMemory):
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
