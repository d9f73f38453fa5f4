"""What the built-in memories share: the saved-folder format and the index-backed reads.

* :class:`IndexedMemory`: the base of :class:`~alignuser.memory.inmemory.InMemoryMemory`
  and :class:`~alignuser.memory.chroma.ChromaMemory`, whose in-process
  :class:`~alignuser.memory.index.MemoryIndex` answers ``retrieve``, ``recent``, ``count``
  and ``records`` the same way for both.
* A saved memory folder: ``manifest.json`` (:func:`write_manifest`, :func:`read_manifest`)
  and records as Parquet rows (:func:`records_to_frame`, :func:`records_from_frame`).

Example:
    >>> from alignuser.interfaces import MemoryRecord
    >>> frame = records_to_frame([MemoryRecord(0, 1, "I liked B", 5.0, page=1, step=0)])
    >>> records_from_frame(frame)[0].text
    'I liked B'
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignuser.interfaces import MemoryRecord

if TYPE_CHECKING:
    import pandas as pd

    from alignuser.interfaces import ItemEncoder
    from alignuser.memory.index import MemoryIndex

__all__ = [
    "FORMAT",
    "MANIFEST",
    "IndexedMemory",
    "read_manifest",
    "records_from_frame",
    "records_to_frame",
    "write_manifest",
]

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


class IndexedMemory:
    """An episodic memory whose reads come from its in-process ``index``.

    A subclass sets ``encoder`` (the item encoder) and ``index`` (a
    :class:`~alignuser.memory.index.MemoryIndex` over it) and stores what it is given.
    """

    backend = ""
    encoder: ItemEncoder
    index: MemoryIndex

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
