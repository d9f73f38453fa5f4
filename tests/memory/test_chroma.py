from __future__ import annotations

import numpy as np
import pytest

from alignuser.interfaces import MemoryRecord
from alignuser.memory.chroma import ChromaMemory
from alignuser.memory.encoders import MatrixEncoder
from alignuser.testing.memory import EpisodicMemoryConformance, make_records, random_encoder


class TestChromaEmbeddedConformance(EpisodicMemoryConformance):
    def make_memory(self, encoder, tmp_path):
        return ChromaMemory(encoder, path=tmp_path / "store")


@pytest.fixture
def store(tmp_path):
    enc = random_encoder(200, 16, seed=5)
    mem = ChromaMemory(enc, path=tmp_path / "store")
    mem.add(make_records(25, 24, 200, seed=6))
    return enc, mem


def test_index_and_direct_chroma_query_agree(store):
    enc, mem = store
    rng = np.random.default_rng(7)
    agents = rng.integers(0, 25, size=40).tolist()
    queries = rng.integers(0, 200, size=40).tolist()
    # some queries are items the agent rated twice (ties broken by recency)
    mem.add(
        [MemoryRecord(a, q, f"again {q}", 3.0, step=50) for a, q in zip(agents[:5], queries[:5])]
    )
    via_index = mem.retrieve(agents, queries, k=5)
    via_chroma = mem.retrieve_direct(agents, queries, k=5)
    assert via_index == via_chroma
    assert all(len(m) == 5 for m in via_index)
    assert [m[0].text for m in via_index[:5]] == [f"again {q}" for q in queries[:5]]
    served = ChromaMemory.open(mem.path, enc, serve="chroma")
    assert served.retrieve(agents, queries, k=5) == via_index


def test_open_rebuilds_index_from_collection(store):
    enc, mem = store
    again = ChromaMemory.open(mem.path, enc)
    assert again.count() == mem.count() == 600
    assert again.records() == mem.records()
    assert again.collection.count() == 600


def test_adds_are_chunked_to_batch_size(tmp_path):
    enc = random_encoder(50, 8)
    mem = ChromaMemory(enc, path=tmp_path / "s")
    mem.batch_size = 7
    mem.add(make_records(10, 5, 50))
    assert mem.collection.count() == 50
    got = mem.collection.get(ids=["3:4"], include=["metadatas", "documents"])
    md = got["metadatas"][0]
    assert md["agent_id"] == 3 and md["r"].split("|")[2] == "4"  # n, in the packed fields


def test_settings_and_embeddings(tmp_path):
    enc = MatrixEncoder(np.eye(4, dtype=np.float32))
    mem = ChromaMemory(enc, path=tmp_path / "s", collection="mem.run-1")
    assert mem.client.get_settings().anonymized_telemetry is False
    mem.add([MemoryRecord(0, 2, "I liked C", 5.0), MemoryRecord(0, -1, "I left", kind="exit")])
    got = mem.collection.get(include=["embeddings"])
    emb = dict(zip(got["ids"], np.asarray(got["embeddings"]).tolist()))
    assert emb == {"0:0": [0.0, 0.0, 1.0, 0.0], "0:1": [0.0, 0.0, 0.0, 0.0]}


def test_encoder_dimension_mismatch_is_refused(store):
    _, mem = store
    with pytest.raises(ValueError, match="16-d embeddings"):
        ChromaMemory.open(mem.path, random_encoder(200, 8))


def test_save_to_other_folder_copies_store(store, tmp_path):
    enc, mem = store
    mem.save(tmp_path / "copy")
    copy = ChromaMemory.open(tmp_path / "copy", enc)
    assert copy.records() == mem.records()
    assert copy.path != mem.path


def test_write_behind_and_hnsw_settings(tmp_path):
    enc = random_encoder(80, 8)
    cheap = {"ef_construction": 32, "max_neighbors": 8}
    mem = ChromaMemory(enc, path=tmp_path / "s", hnsw=cheap, write_behind=True)
    mem.batch_size = 64
    recs = make_records(30, 10, 80)
    for s in range(0, 300, 100):
        mem.add(recs[s : s + 100])
    assert mem.count() == 300  # the index answers at once
    mem.flush()
    assert mem.collection.count() == 300
    assert mem.collection.configuration["hnsw"]["max_neighbors"] == 8
    agents, queries = list(range(30)), [a % 80 for a in range(30)]
    assert mem.retrieve_direct(agents, queries, k=3) == mem.retrieve(agents, queries, k=3)
    mem.close()
    assert ChromaMemory.open(mem.path, enc).records() == mem.records()


def test_write_behind_errors_surface(tmp_path, monkeypatch):
    mem = ChromaMemory(random_encoder(10, 4), path=tmp_path / "s", write_behind=True)
    mem.add([MemoryRecord(0, 1, "a")])
    mem.flush()

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(mem.collection, "add", broken)
    mem.add([MemoryRecord(0, 2, "b")])
    with pytest.raises(RuntimeError, match="disk full"):
        mem.flush()
    assert mem.collection.count() == 1


def test_direct_query_skips_item_less_memories(tmp_path):
    enc = random_encoder(40, 8)
    mem = ChromaMemory(enc, path=tmp_path / "s")
    exits = [MemoryRecord(0, -1, f"exit {j}", step=j, kind="exit") for j in range(30)]
    # item-less memories are nearest to nothing, but there are many of them
    mem.add(exits + [MemoryRecord(0, i, f"rated {i}", 4.0, step=40) for i in range(5)])
    assert mem.retrieve_direct([0], [3], k=5, slack=0) == mem.retrieve([0], [3], k=5)
    assert len(mem.retrieve_direct([0], [3], k=5, slack=0)[0]) == 5


def test_open_uses_snapshot_only_while_current(store, caplog):
    enc, mem = store
    mem.save(mem.path)
    with caplog.at_level("INFO", logger="alignuser.memory.chroma"):
        assert ChromaMemory.open(mem.path, enc).records() == mem.records()
    assert "snapshot" in caplog.text
    mem.add([MemoryRecord(3, 7, "later", 2.0, step=99)])
    caplog.clear()
    with caplog.at_level("INFO", logger="alignuser.memory.chroma"):
        again = ChromaMemory.open(mem.path, enc)
    assert "rebuilt memory index" in caplog.text
    assert again.records() == mem.records() and again.recent([3], 1)[0][0].text == "later"


def test_two_collections_share_a_folder(tmp_path):
    enc = random_encoder(50, 8)
    a = ChromaMemory(enc, path=tmp_path / "m", collection="mem-pop")
    b = ChromaMemory(enc, path=tmp_path / "m", collection="mem-ease")
    a.add(make_records(4, 5, 50, seed=1))
    b.add(make_records(3, 2, 50, seed=2))
    a.save(tmp_path / "m")
    b.save(tmp_path / "m")
    assert ChromaMemory.open(tmp_path / "m", enc, collection="mem-pop").records() == a.records()
    assert ChromaMemory.open(tmp_path / "m", enc, collection="mem-ease").records() == b.records()
    assert ChromaMemory.open(tmp_path / "m", enc).collection_name == "mem-ease"  # manifest


class TestChromaProcessConformance(EpisodicMemoryConformance):
    def make_memory(self, encoder, tmp_path):
        return ChromaMemory(encoder, path=tmp_path / "store", write_behind="process")


def test_base_memories_are_served_but_never_written(tmp_path):
    """``base`` (the seeded history): in every answer, not in Chroma, kept on truncate/reopen."""
    import dataclasses

    from alignuser.memory.inmemory import InMemoryMemory

    enc = random_encoder(120, 16, seed=3)
    base = [dataclasses.replace(r, step=-1) for r in make_records(10, 6, 120, seed=4)]
    run = make_records(10, 8, 120, seed=5, step=0)
    mem = ChromaMemory(enc, path=tmp_path / "store", base=base)
    mem.add(run)
    ref = InMemoryMemory(enc)
    ref.add(base + run)  # what storing the history too would serve
    rng = np.random.default_rng(1)
    agents = rng.integers(0, 10, 60).tolist()
    queries = rng.integers(0, 120, 60).tolist()
    assert mem.collection.count() == len(run)
    assert mem.records() == ref.records()
    want = ref.retrieve(agents, queries, k=4)
    assert mem.retrieve(agents, queries, k=4) == want
    assert mem.retrieve_direct(agents, queries, k=4) == want  # Chroma query + base merged
    assert any(r.step == -1 for m in want for r in m)  # the base really competes
    assert mem.recent(list(range(10)), 20) == ref.recent(list(range(10)), 20)
    # resume: drop later steps, keep the base
    assert mem.truncate_after(3) == sum(r.step > 3 for r in run)
    kept = base + [r for r in run if r.step <= 3]
    assert mem.records() == kept
    mem.save(tmp_path / "store")
    again = ChromaMemory.open(tmp_path / "store", enc, base=base)
    assert again.records() == kept and again.collection.count() == len(kept) - len(base)
