"""Episodic-memory layouts: add and query throughput at a few sizes.

Layouts:
  (a) one Chroma collection, ``where={"agent_id": a}`` filter per query;
  (b) one Chroma collection per agent (small sizes only: it does not scale);
  (c) the in-process ``MemoryIndex`` (what ``ChromaMemory`` serves retrieval from);
  plus ``ChromaMemory.open`` (rebuild the index from the collection on resume).

Run:  python benchmarks/memory_layout.py            (~4 min on 2 cores)
      python benchmarks/memory_layout.py --quick    (seconds; smoke test)
Writes benchmarks/results/memory_layout.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from alignuser.interfaces import MemoryRecord
from alignuser.memory.chroma import ChromaMemory
from alignuser.memory.encoders import MatrixEncoder
from alignuser.memory.index import MemoryIndex

CHEAP_HNSW = {"ef_construction": 32, "max_neighbors": 8}
N_ITEMS, DIM, PAGE = 3700, 320, 10  # ML-1M-sized catalog, default encoder size (64 CF + 256 text)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def records(n_mem: int, n_agents: int, seed: int = 0) -> list[MemoryRecord]:
    rng = np.random.default_rng(seed)
    items = rng.integers(0, N_ITEMS, n_mem)
    return [
        MemoryRecord(
            j % n_agents,
            int(items[j]),
            f"I liked Item {items[j]} based on my review score of 4",
            4.0,
            page=1,
            step=j // n_agents,
        )
        for j in range(n_mem)
    ]


def client(path: Path):
    import chromadb
    from chromadb.config import Settings

    return chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))


def bench_one_collection(enc, recs, n_agents, path: Path, n_queries: int, rng, hnsw=None) -> dict:
    mem = ChromaMemory(enc, path=path, serve="chroma", hnsw=hnsw)
    t0 = time.perf_counter()
    step = 5000
    for s in range(0, len(recs), step):
        mem.add(recs[s : s + step])
    add_s = time.perf_counter() - t0
    agents = rng.integers(0, n_agents, n_queries)
    items = rng.integers(0, N_ITEMS, n_queries)
    t0 = time.perf_counter()
    mem.retrieve_direct(agents.tolist(), items.tolist(), k=5, slack=0)
    q_ms = (time.perf_counter() - t0) / n_queries * 1e3
    t0 = time.perf_counter()
    again = ChromaMemory.open(path, enc)
    open_s = time.perf_counter() - t0
    assert again.count() == len(recs)
    disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20
    return {"add_per_s": len(recs) / add_s, "query_ms": q_ms, "open_s": open_s, "disk_mb": disk}


def bench_per_agent(enc, recs, n_agents, tmp: Path, n_queries: int, rng) -> dict:
    c = client(tmp / "per-agent")
    r0 = rss_mb()
    by_agent: dict[int, list[MemoryRecord]] = {}
    for r in recs:
        by_agent.setdefault(r.agent_id, []).append(r)
    t0 = time.perf_counter()
    cols = {}
    for a, rs in by_agent.items():
        col = c.get_or_create_collection(
            f"agent-{a}", embedding_function=None, configuration={"hnsw": {"space": "ip"}}
        )
        col.add(
            ids=[str(j) for j in range(len(rs))],
            embeddings=enc.encode_items([r.item_id for r in rs]),
            documents=[r.text for r in rs],
        )
        cols[a] = col
    add_s = time.perf_counter() - t0
    agents = rng.integers(0, n_agents, n_queries)
    items = rng.integers(0, N_ITEMS, n_queries)
    t0 = time.perf_counter()
    for a, i in zip(agents, items):
        cols[int(a)].query(query_embeddings=enc.encode_items([i]), n_results=5)
    q_ms = (time.perf_counter() - t0) / n_queries * 1e3
    return {"add_per_s": len(recs) / add_s, "query_ms": q_ms, "rss_mb": rss_mb() - r0}


def bench_index(enc, recs, n_agents, n_pairs: int, rng) -> dict:
    r0 = rss_mb()
    idx = MemoryIndex(enc)
    t0 = time.perf_counter()
    step = max(n_agents, 5000)
    for s in range(0, len(recs), step):
        idx.add(recs[s : s + step])
    add_s = time.perf_counter() - t0
    agents = np.repeat(rng.permutation(n_agents)[: max(1, n_pairs // PAGE)], PAGE)
    items = rng.integers(0, N_ITEMS, len(agents))
    idx.retrieve(agents[:1], items[:1], k=5)  # builds the item-item similarity cache once
    t0 = time.perf_counter()
    idx.retrieve(agents, items, k=5)
    batch_s = time.perf_counter() - t0
    return {
        "add_per_s": len(recs) / add_s,
        "query_ms": batch_s / len(agents) * 1e3,
        "batch_s": batch_s,
        "pairs": len(agents),
        "rss_mb": rss_mb() - r0,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "memory_layout.md"))
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    enc = MatrixEncoder(rng.standard_normal((N_ITEMS, DIM)))
    sizes = [(1_000, 100), (10_000, 1_000), (100_000, 10_000)]
    per_agent_max, cheap_at, index_big = 1_000, 10_000, (1_000_000, 100_000)
    if args.quick:
        sizes, cheap_at, index_big = [(1_000, 100)], 1_000, (20_000, 2_000)
    rows: list[tuple] = []
    total0 = time.perf_counter()
    for n_mem, n_agents in sizes:
        recs = records(n_mem, n_agents)
        n_q = 200 if n_mem <= 10_000 else 30
        tmp = Path(tempfile.mkdtemp(prefix="memlayout-"))
        try:
            a = bench_one_collection(enc, recs, n_agents, tmp / "a", n_q, rng)
            note = f"open (rebuild index) {a['open_s']:.1f} s, disk {a['disk_mb']:.0f} MB"
            rows.append(
                ("(a) one collection + where", n_mem, n_agents, a["add_per_s"], a["query_ms"], note)
            )
            if n_mem == cheap_at:
                a2 = bench_one_collection(enc, recs, n_agents, tmp / "a2", n_q, rng, CHEAP_HNSW)
                rows.append(
                    (
                        "(a') same, cheap HNSW",
                        n_mem,
                        n_agents,
                        a2["add_per_s"],
                        a2["query_ms"],
                        f"hnsw {CHEAP_HNSW}",
                    )
                )
            if n_agents <= per_agent_max:
                b = bench_per_agent(enc, recs, n_agents, tmp, n_q, rng)
                rows.append(
                    (
                        "(b) collection per agent",
                        n_mem,
                        n_agents,
                        b["add_per_s"],
                        b["query_ms"],
                        f"RSS +{b['rss_mb']:.0f} MB",
                    )
                )
            else:
                rows.append(
                    (
                        "(b) collection per agent",
                        n_mem,
                        n_agents,
                        None,
                        None,
                        "not run (does not scale)",
                    )
                )
            c = bench_index(enc, recs, n_agents, min(10 * n_agents, 10_000), rng)
            rows.append(
                (
                    "(c) in-process index",
                    n_mem,
                    n_agents,
                    c["add_per_s"],
                    c["query_ms"],
                    f"batch of {c['pairs']:,} pairs in {c['batch_s'] * 1e3:.0f} ms",
                )
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"done {n_mem} memories ({time.perf_counter() - total0:.0f} s)", flush=True)
    n_mem, n_agents = index_big
    c = bench_index(enc, records(n_mem, n_agents), n_agents, n_agents * PAGE, rng)
    note = f"batch of {c['pairs']:,} pairs in {c['batch_s']:.1f} s, RSS +{c['rss_mb']:.0f} MB"
    rows.append(("(c) in-process index", n_mem, n_agents, c["add_per_s"], c["query_ms"], note))
    total = time.perf_counter() - total0

    import chromadb

    versions = f"Python {platform.python_version()}, chromadb {chromadb.__version__}"
    lines = [
        "# Episodic-memory layouts: add and query throughput",
        "",
        f"Command: `python benchmarks/memory_layout.py{' --quick' if args.quick else ''}`  ",
        f"Machine: {cpu_name()}, {os.cpu_count()} CPUs, {platform.system()}, {versions}  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; total {total:.0f} s; single runs.  ",
        f"Embeddings {DIM}-d (default encoder size), {N_ITEMS} items; Chroma adds in batches",
        "of 5,000; query = top-5 memories of one agent about one item ((a), (b): one Chroma",
        f"query each; (c): one vectorised call for a batch of pairs, {PAGE} page items per",
        "agent, cost per pair, after a one-off item-item similarity cache of ~0.3 s).",
        "",
        "| layout | memories | agents | add (memories/s) | query (ms per pair) | notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, n, ag, add, q, note in rows:
        add_s = "-" if add is None else f"{add:,.0f}"
        q_s = "-" if q is None else f"{q:.3f}"
        lines.append(f"| {name} | {n:,} | {ag:,} | {add_s} | {q_s} | {note} |")
    text = "\n".join(lines) + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
