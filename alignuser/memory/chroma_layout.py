"""How memories sit in a Chroma collection: the record layout, direct queries, copies.

One record per memory, id ``"<agent_id>:<n>"``; its metadata is compact
(:func:`metadata`): ``agent_id``, ``item_id`` and ``step`` as filterable keys, the text in
``text`` and the other fields packed in ``r``. :func:`unpack` and :func:`record_of` read
it back (stores written with one key per field and documents too). :func:`query_direct`
answers retrieval with one filtered Chroma query per (agent, item) pair, in the index's
order; :func:`copy_collection` copies a collection's records to another.

Example:
    >>> from alignuser.interfaces import MemoryRecord
    >>> md = metadata(MemoryRecord(3, 7, "I liked G", 4.0, page=2, step=5), seq=10, n=0)
    >>> md["r"], record_of(md, None).rating
    ('2|10|0|4.0|rating', 4.0)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from alignuser.interfaces import MemoryRecord
from alignuser.memory.index import sim_key

if TYPE_CHECKING:
    from alignuser.memory.index import ItemVectors

__all__ = ["copy_collection", "metadata", "nearest_stored", "query_direct", "record_of", "unpack"]


def metadata(r: MemoryRecord, seq: int, n: int) -> dict[str, Any]:
    """Compact metadata: the filterable keys, the rest packed in ``r``, the text in ``text``.

    Every metadata key is a row in Chroma's SQLite tables and a document is full-text
    indexed, so fewer keys and no document make adds ~1.3x cheaper; ``agent_id``,
    ``item_id`` and ``step`` stay separate keys so ``where`` filters can use them.
    ``r`` is ``"page|seq|n|rating|kind"`` (``rating`` empty when ``None``).
    """
    rating = "" if r.rating is None else repr(float(r.rating))
    md: dict[str, Any] = {
        "agent_id": int(r.agent_id),
        "item_id": int(r.item_id),
        "step": int(r.step),
        "r": f"{int(r.page)}|{seq}|{n}|{rating}|{r.kind}",
        "text": r.text,
    }
    if r.meta:
        md["meta"] = json.dumps(r.meta, sort_keys=True)
    return md


def unpack(md: dict[str, Any]) -> dict[str, Any]:
    """The fields of a record's metadata (the compact layout or the older one key each)."""
    if "r" not in md:
        return md
    page, seq, n, rating, kind = md["r"].split("|", 4)
    out = {**md, "page": int(page), "seq": int(seq), "n": int(n), "kind": kind}
    if rating:
        out["rating"] = float(rating)
    return out


def record_of(md: dict[str, Any], text: str | None) -> MemoryRecord:
    """The memory of a stored record (its metadata, and its document in older stores)."""
    md = unpack(md)
    rating = md.get("rating")
    return MemoryRecord(
        int(md["agent_id"]),
        int(md["item_id"]),
        md.get("text", text),
        None if rating is None else float(rating),
        int(md["page"]),
        int(md["step"]),
        str(md["kind"]),
        json.loads(md["meta"]) if "meta" in md else {},
    )


def query_direct(
    collection, vectors: ItemVectors, base: Sequence[MemoryRecord], agent_ids: Sequence[int],
    query_item_ids: Sequence[int], k: int, slack: int = 16,
) -> list[list[MemoryRecord]]:  # fmt: skip
    """Top-``k`` memories of ``agent_ids[i]`` about items like ``query_item_ids[i]``.

    One Chroma query per pair (:func:`nearest_stored`); ``base`` memories (not in Chroma)
    are scored here and merged. Ordered as the index orders them: similarity (rounded),
    then recency.
    """
    mat, idx = vectors.lookup(np.asarray(query_item_ids, dtype=np.int64))
    by_agent: dict[int, list[tuple[int, MemoryRecord]]] = {}  # not in Chroma: scored here
    for seq, r in enumerate(base):
        if r.item_id >= 0:
            by_agent.setdefault(int(r.agent_id), []).append((seq, r))
    out: list[list[MemoryRecord]] = []
    for a, q, qv in zip(agent_ids, query_item_ids, mat[idx]):
        if k <= 0:
            out.append([])
            continue
        got = nearest_stored(collection, qv, int(a), k + slack)
        keys = sim_key(1.0 - np.array([d for _, _, d in got], np.float64)).tolist()
        hits = [
            (-key, -int(md["step"]), -int(unpack(md)["seq"]), record_of(md, doc))
            for key, (md, doc, _) in zip(keys, got)
        ]
        own = by_agent.get(int(a), [])
        if own:
            items = np.array([r.item_id for _, r in own], dtype=np.int64)
            sims = vectors.similarity(items, np.array([q]), np.zeros(len(own), np.int64))
            hits += [
                (-key, -int(r.step), -seq, r)
                for key, (seq, r) in zip(sim_key(sims).tolist(), own)
            ]
        hits.sort(key=lambda t: t[:3])
        out.append([h[3] for h in hits[:k]])
    return out


def nearest_stored(collection, qv: np.ndarray, agent_id: int, want: int) -> list[tuple]:
    """The agent's stored memories about items nearest to ``qv``, nearest first.

    ``(metadata, document, distance)`` of at least ``want`` of them (all when it has
    fewer).
    """
    n = want
    while True:  # a plain agent filter is ~4x faster than adding item_id >= 0
        res = collection.query(
            query_embeddings=qv[None, :],
            n_results=n,
            where={"agent_id": agent_id},
            include=["metadatas", "documents", "distances"],
        )
        got = [
            (md, doc, d)
            for md, doc, d in zip(res["metadatas"][0], res["documents"][0], res["distances"][0])
            if int(md["item_id"]) >= 0
        ]
        if len(got) >= want or len(res["ids"][0]) < n:
            return got
        n *= 2


def copy_collection(source, target, batch_size: int) -> None:
    """Copy every record of ``source`` (ids, embeddings, metadata) into ``target``."""
    total = source.count()
    for off in range(0, total, batch_size):
        got = source.get(
            include=["metadatas", "documents", "embeddings"],
            limit=batch_size,
            offset=off,
        )
        docs = got["documents"]
        target.upsert(
            ids=got["ids"],
            embeddings=got["embeddings"],
            metadatas=got["metadatas"],
            # stores written before the compact layout keep their documents
            documents=docs if docs and any(d is not None for d in docs) else None,
        )
