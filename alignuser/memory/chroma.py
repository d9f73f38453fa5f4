"""``ChromaMemory``: Chroma as the durable store, an in-process index for per-step retrieval.

Layout, chosen from ``benchmarks/memory_layout.py`` (``benchmarks/results/memory_layout.md``,
2 CPUs, 320-d embeddings):

* **One collection** for all agents, each memory carrying ``agent_id`` metadata, written with
  one batched ``add`` per step (chunked to the client's maximum batch size): ~800-1,700
  memories/s. One collection per agent does not scale: +2.6 GB RSS at 1,000 agents,
  ~160 memories/s.
* **An in-process** :class:`~alignuser.memory.index.MemoryIndex` (the same as
  :class:`~alignuser.memory.inmemory.InMemoryMemory`) answers ``retrieve`` and ``recent``:
  ~8 us per (agent, query item) pair, 1M pairs (100k agents x 10 page items) in ~8 s, and
  ~470 bytes of RAM per memory. A query filtered by ``where={"agent_id": a}`` costs 7.7 ms
  at 10k memories and 134 ms at 100k, far too slow for one query per pair per step.
  ``serve="chroma"`` (or :meth:`ChromaMemory.retrieve_direct`) answers with those
  filtered queries instead; both give the same memories (tested).
* **Resume**: :meth:`ChromaMemory.open` rebuilds the index from the collection (~6-7k
  memories/s), or loads the ``records-<collection>.parquet`` snapshot written by
  :meth:`save` while the collection is unchanged.

At 100k agents Chroma writes, not retrieval, bound a step. The embedded client holds the
GIL while it adds, so ``write_behind=True`` runs an embedded store in a child process
(:class:`~alignuser.memory.process.ChromaProcess`) fed by one background thread: writes
overlap the simulation on another core. ``hnsw={"ef_construction": 16, "max_neighbors": 4}``
(the scenario default) makes them cheaper; beyond that, give each shard (Ray worker) its
own collection or server.

Embeddings are the encoder's item vectors (passed explicitly: Chroma's default embedding
function downloads a model and fails offline) in an inner-product space, so
``similarity = 1 - distance``. Memories not about an item store a zero vector.

Metadata is compact (see :mod:`~alignuser.memory.chroma_layout`): ``agent_id``,
``item_id``, ``step`` (filterable), the text in ``text`` (not a full-text-indexed document)
and the other fields packed in ``r``; stores written with one key per field and documents
are still read.

Record ids are ``"<agent_id>:<n>"`` (``n`` = the agent's ordinal), so shards that own
disjoint agents can write to one Chroma server without clashing.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from alignuser.memory.base import (
    IndexedMemory,
    read_manifest,
    records_from_frame,
    records_to_frame,
    write_manifest,
)
from alignuser.memory.chroma_layout import (
    copy_collection,
    metadata,
    query_direct,
    record_of,
    unpack,
)
from alignuser.memory.index import MemoryIndex

if TYPE_CHECKING:
    from alignuser.interfaces import ItemEncoder, MemoryRecord

__all__ = ["ChromaMemory", "default_store_dir"]

logger = logging.getLogger(__name__)


def default_store_dir(collection: str = "memories") -> Path:
    """A fresh folder under ``$ALIGNUSER_MEMORY_DIR`` (default ``./memory``) for a store."""
    root = Path(os.environ.get("ALIGNUSER_MEMORY_DIR", "memory"))
    return root / f"{collection}-{uuid.uuid4().hex[:12]}"


def _settings():
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False)


class ChromaMemory(IndexedMemory):
    """Episodic memory stored in a real Chroma collection (embedded or server).

    Args:
        encoder: Item encoder (its vectors are the embeddings).
        path: Folder of an embedded ``chromadb.PersistentClient`` (default: a fresh folder
            under ``memory/``). Ignored when ``server_url`` is given.
        server_url: ``http://host:port`` of a ``chroma run`` server (``chromadb.HttpClient``).
        collection: Collection name (3-512 chars of ``[a-zA-Z0-9._-]``).
        serve: ``"index"`` (default) answers retrieval from the in-process index,
            ``"chroma"`` from filtered Chroma queries.
        hnsw: Extra HNSW settings for a new collection, e.g.
            ``{"ef_construction": 32, "max_neighbors": 8}`` (about 3x faster adds here).
        write_behind: Queue Chroma writes on one background thread; the index is updated
            at once. :meth:`flush`, :meth:`save` and :meth:`close` wait for the queue.
            ``True`` is ``"process"`` for a local folder (the store lives in a child
            process, so writes really overlap: the embedded client holds the GIL while it
            adds) and ``"thread"`` for a server; ``"thread"`` keeps a local store in this
            process.
        base: Memories that precede everything stored and are **never written to Chroma**,
            for memories a run derives from its dataset (the agents' seeded history, about
            two thirds of a population run's writes). They are served from the index like
            the others, come first in every agent's order and survive
            :meth:`truncate_after`; whoever reopens the store passes the same records again.

    Example:
        >>> mem = ChromaMemory(encoder, path="memory/run-1")  # doctest: +SKIP
        >>> mem.add(records)  # doctest: +SKIP
        >>> mem.retrieve([0, 1], [42, 7], k=3)  # doctest: +SKIP
        >>> again = ChromaMemory.open("memory/run-1", encoder)  # doctest: +SKIP
    """

    backend = "chroma"

    def __init__(
        self,
        encoder: ItemEncoder,
        path: str | Path | None = None,
        server_url: str | None = None,
        collection: str = "memories",
        serve: str = "index",
        hnsw: dict[str, Any] | None = None,
        write_behind: bool | str = False,
        base: Sequence[MemoryRecord] = (),
    ):
        import chromadb

        if serve not in ("index", "chroma"):
            raise ValueError(f"serve must be 'index' or 'chroma', got {serve!r}")
        self.encoder = encoder
        self.serve = serve
        self.server_url = server_url
        self.collection_name = collection
        self.hnsw = {"space": "ip", **(hnsw or {})}
        if write_behind not in (False, True, "thread", "process"):
            raise ValueError(
                f"write_behind must be a bool, 'thread' or 'process', got {write_behind!r}"
            )
        if write_behind is True:
            write_behind = "thread" if server_url else "process"
        if write_behind == "process" and server_url:
            raise ValueError("write_behind='process' needs a local store folder, not a server")
        self.write_behind = write_behind
        self._pending: list[tuple[int, Future]] = []  # (ordinal, write) in queue order
        self._submitted = 0
        self._writer: ThreadPoolExecutor | None = None
        if server_url:
            u = urlparse(server_url if "://" in server_url else f"http://{server_url}")
            self.path = None
            self.client = chromadb.HttpClient(
                host=u.hostname or "localhost",
                port=u.port or 8000,
                ssl=u.scheme == "https",
                settings=_settings(),
            )
        else:
            self.path = Path(path) if path is not None else default_store_dir(collection)
            self.path.mkdir(parents=True, exist_ok=True)
            if write_behind == "process":
                from alignuser.memory.process import ChromaProcess

                self.client = ChromaProcess.shared(self.path)
            else:
                self.client = chromadb.PersistentClient(path=str(self.path), settings=_settings())
        self.collection = self.client.get_or_create_collection(
            collection,
            embedding_function=None,
            configuration={"hnsw": self.hnsw},
            metadata={"alignuser": "episodic-memory", "encoder_dim": int(encoder.dim)},
        )
        stored_dim = (self.collection.metadata or {}).get("encoder_dim")
        if stored_dim is not None and int(stored_dim) != int(encoder.dim):
            raise ValueError(
                f"collection {collection!r} at {self.location} holds {stored_dim}-d embeddings "
                f"but the encoder gives {encoder.dim}-d vectors"
            )
        self.batch_size = int(self.client.get_max_batch_size())
        self.index = MemoryIndex(encoder)
        self.base = list(base)
        self._rebuild()

    @property
    def location(self) -> str:
        """The server URL or the store folder."""
        return self.server_url or str(self.path)

    @classmethod
    def open(
        cls, location: str | Path, encoder: ItemEncoder, collection: str | None = None, **kw: Any
    ) -> ChromaMemory:
        """Open a stored collection (folder or ``http://`` URL) and rebuild the index from it."""
        loc = str(location)
        if loc.startswith(("http://", "https://")):
            return cls(encoder, server_url=loc, collection=collection or "memories", **kw)
        if collection is None:
            try:
                collection = read_manifest(loc).get("collection", "memories")
            except FileNotFoundError:
                collection = "memories"
        return cls(encoder, path=loc, collection=collection, **kw)

    load = open

    def _rebuild(self) -> None:
        self.index.add(self.base)
        total = self.collection.count()
        if not total or self._load_snapshot(total):
            return
        rows: list[tuple[int, int, int, MemoryRecord]] = []
        for off in range(0, total, self.batch_size):
            got = self.collection.get(
                include=["metadatas", "documents"], limit=self.batch_size, offset=off
            )
            for md, doc in zip(got["metadatas"], got["documents"]):
                u = unpack(md)
                rows.append((int(u["seq"]), int(u["agent_id"]), int(u["n"]), record_of(md, doc)))
        rows.sort(key=lambda t: t[:3])
        self.index.add([t[3] for t in rows])
        logger.info("rebuilt memory index from %s: %d memories", self.location, len(rows))

    @property
    def snapshot_name(self) -> str:
        """File name of this collection's index snapshot inside the store folder."""
        return f"records-{self.collection_name}.parquet"

    def _load_snapshot(self, total: int) -> bool:
        """Fill the index from the snapshot written by :meth:`save`, if still current.

        The snapshot is used only when it holds as many memories as the collection
        (memories are only ever added); otherwise the index is rebuilt from Chroma.
        """
        f = None if self.path is None else self.path / self.snapshot_name
        if f is None or not f.is_file():
            return False
        import pandas as pd
        import pyarrow.parquet as pq

        if pq.ParquetFile(f).metadata.num_rows != total:
            return False
        self.index.add(records_from_frame(pd.read_parquet(f)))
        logger.info("loaded memory index snapshot %s: %d memories", f, total)
        return True

    def add(self, records: Sequence[MemoryRecord]) -> None:
        """Store a batch of memories: one chunked Chroma ``add``, then the index."""
        records = list(records)
        if not records:
            return
        seq0 = len(self.index)
        seen: dict[int, int] = {}
        ids, metas = [], []
        for j, r in enumerate(records):
            a = int(r.agent_id)
            n = seen.get(a, self.index.count(a))
            seen[a] = n + 1
            ids.append(f"{a}:{n}")
            metas.append(metadata(r, seq0 + j, n))
        mat, idx = self.index.vectors.lookup(np.array([r.item_id for r in records]))
        emb = mat[idx]
        self._raise_failed()
        for s in range(0, len(records), self.batch_size):
            e = s + self.batch_size
            chunk = {"ids": ids[s:e], "embeddings": emb[s:e], "metadatas": metas[s:e]}
            if self.write_behind:
                if self._writer is None:
                    self._writer = ThreadPoolExecutor(1, thread_name_prefix="chroma-writer")
                future = self._writer.submit(self.collection.add, **chunk)
                self._pending.append((self._submitted, future))
                self._submitted += 1
            else:
                self.collection.add(**chunk)
        self.index.add(records)

    def _raise_failed(self) -> None:
        done = [f for _, f in self._pending if f.done()]
        self._pending = [p for p in self._pending if not p[1].done()]
        for f in done:
            f.result()  # re-raises a failed background write

    def mark(self) -> int:
        """A token for the writes queued so far, for :meth:`flush` ``(upto=token)``."""
        return self._submitted

    def flush(self, upto: int | None = None) -> None:
        """Wait until queued writes reached Chroma (no-op without ``write_behind``).

        Args:
            upto: Only the writes queued before :meth:`mark` returned this token (later
                ones keep going in the background); ``None``: all.

        Raises:
            Exception: The first error of a background write.
        """
        if upto is None:
            pending, self._pending = self._pending, []
        else:
            pending = [p for p in self._pending if p[0] < upto]
            self._pending = [p for p in self._pending if p[0] >= upto]
        for _, f in pending:
            f.result()

    def truncate_after(self, step: int) -> int:
        """Delete the memories written after ``step`` and rebuild the index (resume).

        ``truncate_after(-2)`` empties the store (history memories have step -1).

        Returns:
            How many memories were deleted.
        """
        self.flush()
        before = self.collection.count()
        if before:
            self.collection.delete(where={"step": {"$gt": int(step)}})
        after = self.collection.count()
        if after != before or len(self.index) != after + len(self.base):
            self.index = MemoryIndex(self.encoder)
            if self.path is not None:  # a snapshot of the longer store is stale now
                (self.path / self.snapshot_name).unlink(missing_ok=True)
            self._rebuild()
        return before - after

    def close(self) -> None:
        """Flush pending writes and stop the writer thread (the store stays on disk)."""
        self.flush()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        if self.write_behind == "process" and self.client is not None:
            self.client.close()
            self.client = None

    def retrieve(
        self, agent_ids: Sequence[int], query_item_ids: Sequence[int], k: int
    ) -> list[list[MemoryRecord]]:
        """Top-``k`` memories of ``agent_ids[i]`` about items like ``query_item_ids[i]``."""
        if self.serve == "chroma":
            return self.retrieve_direct(agent_ids, query_item_ids, k)
        return self.index.retrieve(agent_ids, query_item_ids, k)

    def retrieve_direct(
        self, agent_ids: Sequence[int], query_item_ids: Sequence[int], k: int, slack: int = 16
    ) -> list[list[MemoryRecord]]:
        """Like :meth:`retrieve` but with one Chroma query per pair, filtered by agent.

        Fetches ``k + slack`` nearest memories so that ties at the cut are ordered by
        recency exactly as the index does; ``base`` memories (not in Chroma) are scored
        here and merged (:func:`~alignuser.memory.chroma_layout.query_direct`).
        """
        if len(agent_ids) != len(query_item_ids):
            raise ValueError(f"{len(agent_ids)} agent ids but {len(query_item_ids)} query items")
        self.flush()
        return query_direct(
            self.collection, self.index.vectors, self.base, agent_ids, query_item_ids, k, slack
        )

    def save(self, path: str | Path) -> None:
        """Persist to the folder ``path`` as an embedded Chroma store plus ``manifest.json``.

        When ``path`` is this store's own folder, the data is already durable; otherwise the
        collection is copied there. Either way a ``records-<collection>.parquet`` snapshot
        of the index is written, so that :meth:`open` skips the rebuild while the
        collection is unchanged.
        """
        import chromadb

        self.flush()
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        if self.path is None or p.resolve() != self.path.resolve():
            client = chromadb.PersistentClient(path=str(p), settings=_settings())
            target = client.get_or_create_collection(
                self.collection_name,
                embedding_function=None,
                configuration={"hnsw": self.hnsw},
                metadata={"alignuser": "episodic-memory", "encoder_dim": int(self.encoder.dim)},
            )
            copy_collection(self.collection, target, self.batch_size)
        stored = self.index.records[len(self.base) :]
        records_to_frame(stored).to_parquet(p / self.snapshot_name, index=False)
        write_manifest(p, self.backend, len(stored), self.encoder, collection=self.collection_name)
