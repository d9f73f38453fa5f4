from __future__ import annotations

import numpy as np
import pytest

from alignuser.interfaces import MemoryRecord
from alignuser.memory import InMemoryMemory, load_memory, memories
from alignuser.memory.encoders import MatrixEncoder
from alignuser.testing.memory import EpisodicMemoryConformance, make_records, random_encoder


class TestInMemoryConformance(EpisodicMemoryConformance):
    def make_memory(self, encoder, tmp_path):
        return InMemoryMemory(encoder)


def test_registry_names():
    assert {"inmemory", "chroma"} <= set(memories.names())
    assert memories.get("inmemory") is InMemoryMemory


@pytest.mark.parametrize("pair_cache", [True, False], ids=["item-pair-cache", "gather-dot"])
def test_matches_brute_force_on_large_batch(pair_cache):
    enc = random_encoder(300, 24, seed=1)
    mem = InMemoryMemory(enc)
    if not pair_cache:
        mem.index.vectors.max_pair_cache = 0
    recs = make_records(50, 30, 300, seed=2)
    mem.add(recs[:700])
    mem.add(recs[700:])
    rng = np.random.default_rng(4)
    agents = rng.integers(0, 52, size=400)
    queries = rng.integers(0, 300, size=400)
    got = mem.retrieve(agents, queries, k=6)
    for a, q, mems in zip(agents, queries, got):
        own = [r for r in recs if r.agent_id == a]
        sims = [round(float(enc.matrix[r.item_id] @ enc.matrix[q]), 5) for r in own]
        want = [own[i] for i in sorted(range(len(own)), key=lambda i: (-sims[i], -own[i].step, -i))]
        assert mems == want[:6]


def test_generic_encoder_without_matrix():
    class Enc:
        dim = 3

        def encode_items(self, ids):
            ids = np.asarray(ids)
            out = np.zeros((len(ids), 3), np.float32)
            out[np.arange(len(ids)), ids % 3] = 1
            return out

    mem = InMemoryMemory(Enc())
    mem.add([MemoryRecord(0, i, f"m{i}", step=i) for i in range(6)])
    assert [m.item_id for m in mem.retrieve([0], [4], k=3)[0]] == [4, 1, 5]


def test_load_memory_dispatches_on_manifest(tmp_path):
    enc = MatrixEncoder(np.eye(4, dtype=np.float32))
    mem = InMemoryMemory(enc)
    mem.add([MemoryRecord(0, 1, "I liked B", 5.0)])
    mem.save(tmp_path)
    assert isinstance(load_memory(tmp_path, enc), InMemoryMemory)
    assert (tmp_path / "records.parquet").is_file()
