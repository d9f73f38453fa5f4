"""Write-behind Chroma in a child process: same records, old layout readable, no orphans."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from alignuser.interfaces import MemoryRecord
from alignuser.memory.chroma import ChromaMemory
from alignuser.memory.process import ChromaProcess
from alignuser.testing.memory import make_records, random_encoder


def test_process_store_equals_in_process_store(tmp_path):
    enc = random_encoder(60, 8)
    recs = [*make_records(20, 6, 60), MemoryRecord(3, -1, "friend liked X", None, kind="social")]
    a = ChromaMemory(enc, path=tmp_path / "a", write_behind="process")
    b = ChromaMemory(enc, path=tmp_path / "b")
    assert isinstance(a.client, ChromaProcess) and a.client._proc.poll() is None
    for mem in (a, b):
        mem.batch_size = 25
        mem.add(recs[:70])
        mem.add(recs[70:])
    a.flush()
    assert a.collection.count() == b.collection.count() == len(recs)
    agents, queries = list(range(20)), [a_ % 60 for a_ in range(20)]
    assert a.retrieve_direct(agents, queries, k=3) == b.retrieve_direct(agents, queries, k=3)
    assert a.collection.configuration["hnsw"]["space"] == "ip"
    assert a.client.cpu_seconds() > 0  # the child did the work
    proc = a.client._proc
    a.close()
    assert proc.wait(timeout=30) == 0  # the last user stops the child
    again = ChromaMemory.open(tmp_path / "a", enc)
    assert again.records() == b.records()


def test_one_child_per_folder_and_refcount(tmp_path):
    enc = random_encoder(10, 4)
    m1 = ChromaMemory(enc, path=tmp_path / "s", collection="one", write_behind=True)
    m2 = ChromaMemory(enc, path=tmp_path / "s", collection="two", write_behind=True)
    assert m1.client is m2.client
    m1.add([MemoryRecord(0, 1, "a", 4.0)])
    m2.add([MemoryRecord(0, 2, "b", 2.0), MemoryRecord(1, 3, "c", 5.0)])
    m1.close()
    assert m2.client._proc.poll() is None  # still serving m2
    m2.flush()
    assert (m1.count(), m2.collection.count()) == (1, 2)
    m2.close()


def test_reads_stores_written_with_one_key_per_field(tmp_path):
    import chromadb

    enc = random_encoder(10, 4)
    client = chromadb.PersistentClient(path=str(tmp_path / "old"))
    col = client.get_or_create_collection(
        "memories", embedding_function=None, configuration={"hnsw": {"space": "ip"}}
    )
    md = {"agent_id": 2, "item_id": 5, "page": 1, "step": 3, "kind": "page", "seq": 0, "n": 0}
    col.add(ids=["2:0"], embeddings=[[1.0, 0, 0, 0]], metadatas=[{**md, "rating": 4.0}],
            documents=["I liked E"])  # fmt: skip
    mem = ChromaMemory(enc, path=tmp_path / "old")
    assert mem.records() == [MemoryRecord(2, 5, "I liked E", 4.0, page=1, step=3, kind="page")]


@pytest.mark.skipif(sys.platform != "linux", reason="pid checks")
def test_child_exits_when_parent_is_killed(tmp_path):
    code = textwrap.dedent(
        f"""
        import time
        from alignuser.memory.chroma import ChromaMemory
        from alignuser.memory.encoders import MatrixEncoder
        import numpy as np
        mem = ChromaMemory(MatrixEncoder(np.eye(3, dtype=np.float32)),
                           path={str(tmp_path / "s")!r}, write_behind=True)
        print(mem.client._proc.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the Chroma child outlived its killed parent")
