"""Episodic memory: per-agent memories retrieved by item similarity ("similar items you rated").

* :class:`InMemoryMemory`: numpy, in process; the fast path and the unit-test double.
* :class:`ChromaMemory`: a real Chroma collection (embedded folder or ``chroma run`` server)
  as the durable store, with the same in-process index serving retrieval.
* Encoders: :class:`HashingTextEncoder`, :class:`CFItemEncoder`, :class:`CombinedEncoder`;
  :func:`default_encoder` picks CF + text when training interactions are given.

Example:
    >>> from alignuser.memory import InMemoryMemory, default_encoder  # doctest: +SKIP
    >>> mem = InMemoryMemory(default_encoder(catalog, split.train))  # doctest: +SKIP
    >>> mem.retrieve(agent_ids=[0, 1], query_item_ids=[10, 20], k=3)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignuser.memory.base import read_manifest
from alignuser.memory.encoders import (
    CFItemEncoder,
    CombinedEncoder,
    HashingTextEncoder,
    MatrixEncoder,
    default_encoder,
)
from alignuser.memory.index import MemoryIndex
from alignuser.memory.inmemory import InMemoryMemory
from alignuser.registry import Registry

if TYPE_CHECKING:
    from alignuser.interfaces import EpisodicMemory, ItemEncoder

__all__ = [
    "CFItemEncoder",
    "ChromaMemory",
    "CombinedEncoder",
    "HashingTextEncoder",
    "InMemoryMemory",
    "MatrixEncoder",
    "MemoryIndex",
    "default_encoder",
    "load_memory",
    "memories",
]

memories: Registry[Any] = Registry("alignuser.memories")
memories.add("inmemory", InMemoryMemory)


def _chroma(*args: Any, **kwargs: Any):
    from alignuser.memory.chroma import ChromaMemory

    return ChromaMemory(*args, **kwargs)


memories.add("chroma", _chroma)


def load_memory(path: str | Path, encoder: ItemEncoder, **kwargs: Any) -> EpisodicMemory:
    """Reopen a memory saved with ``save(path)`` (backend read from ``manifest.json``)."""
    backend = read_manifest(path)["backend"]
    if backend == "chroma":
        from alignuser.memory.chroma import ChromaMemory

        return ChromaMemory.open(path, encoder, **kwargs)
    return InMemoryMemory.load(path, encoder)


def __getattr__(name: str) -> Any:
    if name == "ChromaMemory":  # lazy: keeps chromadb out of `import alignuser.memory`
        from alignuser.memory.chroma import ChromaMemory

        return ChromaMemory
    raise AttributeError(f"module 'alignuser.memory' has no attribute {name!r}")
