"""The conformance kit against a REAL ``chroma run`` server subprocess (HttpClient mode)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from alignuser.memory.chroma import ChromaMemory
from alignuser.testing.memory import EpisodicMemoryConformance, make_records, random_encoder


def _chroma_cli() -> str | None:
    exe = Path(sys.executable).parent / "chroma"
    return str(exe) if exe.is_file() else shutil.which("chroma")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    cli = _chroma_cli()
    if cli is None:
        pytest.skip("the `chroma` CLI (shipped with chromadb) is not on this machine")
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    log = open(path / "server.log", "wb")
    proc = subprocess.Popen(
        [cli, "run", "--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            if proc.poll() is not None:
                pytest.skip(
                    f"chroma server exited with {proc.returncode}; see {path / 'server.log'}"
                )
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.skip(f"chroma server did not answer {url}/api/v2/heartbeat within 30 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


class TestChromaServerConformance(EpisodicMemoryConformance):
    @pytest.fixture(autouse=True)
    def _server(self, server_url):
        self.url = server_url

    def make_memory(self, encoder, tmp_path):
        return ChromaMemory(encoder, server_url=self.url, collection=f"t-{uuid.uuid4().hex[:12]}")


def test_server_index_matches_direct_query_and_reopen(server_url):
    enc = random_encoder(100, 16, seed=9)
    name = f"t-{uuid.uuid4().hex[:12]}"
    mem = ChromaMemory(enc, server_url=server_url, collection=name)
    mem.add(make_records(10, 12, 100, seed=9))
    agents, queries = list(range(10)), [3 * a for a in range(10)]
    assert mem.retrieve(agents, queries, k=4) == mem.retrieve_direct(agents, queries, k=4)
    again = ChromaMemory.open(server_url, enc, collection=name)
    assert again.records() == mem.records()
