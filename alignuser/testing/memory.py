"""``EpisodicMemoryConformance``: the behaviour every :class:`EpisodicMemory` must show.

Subclass it in a test module and override :meth:`make_memory`; pytest collects the inherited
tests. Override :meth:`reopen` when your backend is not restored by
:func:`alignuser.memory.load_memory`.

Example:
    >>> from alignuser.memory import InMemoryMemory
    >>> class TestMine(EpisodicMemoryConformance):  # doctest: +SKIP
    ...     def make_memory(self, encoder, tmp_path):
    ...         return InMemoryMemory(encoder)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alignuser.env.text import memory_line
from alignuser.interfaces import EpisodicMemory, ItemEncoder, MemoryRecord
from alignuser.memory.encoders import MatrixEncoder

__all__ = ["EpisodicMemoryConformance", "make_records", "random_encoder"]


def random_encoder(n_items: int = 60, dim: int = 16, seed: int = 0) -> MatrixEncoder:
    """An encoder with seeded random unit vectors (distinct similarities almost surely)."""
    return MatrixEncoder(np.random.default_rng(seed).standard_normal((n_items, dim)))


def make_records(
    n_agents: int, per_agent: int, n_items: int, seed: int = 0, step: int = 0
) -> list[MemoryRecord]:
    """Rating memories for agents ``0..n_agents-1``, distinct items per agent, interleaved."""
    rng = np.random.default_rng(seed)
    items = [rng.choice(n_items, size=per_agent, replace=False) for _ in range(n_agents)]
    out = []
    for j in range(per_agent):
        for a in range(n_agents):
            i = int(items[a][j])
            r = int(rng.integers(1, 6))
            out.append(
                MemoryRecord(
                    a,
                    i,
                    memory_line(f"Item {i}", r),
                    float(r),
                    page=1 + j // 5,
                    step=step + j,
                    kind="rating",
                    meta={"session": 0},
                )
            )
    return out


class EpisodicMemoryConformance:
    """Inherited tests for an episodic memory backend.

    Attributes:
        n_items: Catalog size of the test encoder.
    """

    n_items = 60

    def make_memory(self, encoder: ItemEncoder, tmp_path: Path) -> EpisodicMemory:
        """Return a new, empty memory using ``encoder`` (``tmp_path`` is a scratch folder)."""
        raise NotImplementedError

    def reopen(self, memory: Any, path: Path, encoder: ItemEncoder) -> EpisodicMemory:
        """Restore the memory that ``memory.save(path)`` wrote."""
        from alignuser.memory import load_memory

        return load_memory(path, encoder)

    @pytest.fixture
    def encoder(self) -> MatrixEncoder:
        """The test encoder: seeded random unit vectors."""
        return random_encoder(self.n_items)

    @pytest.fixture
    def memory(self, encoder: MatrixEncoder, tmp_path: Path) -> EpisodicMemory:
        """A new, empty memory from :meth:`make_memory`."""
        return self.make_memory(encoder, tmp_path)

    @pytest.fixture
    def filled(self, memory: EpisodicMemory) -> EpisodicMemory:
        """A memory holding 8 rating memories for each of 20 agents."""
        memory.add(make_records(20, 8, self.n_items))
        return memory

    # ------------------------------------------------------------------ tests

    def test_is_episodic_memory(self, memory):
        """The backend satisfies the runtime-checkable protocol."""
        assert isinstance(memory, EpisodicMemory)

    def test_count_many_agents(self, filled):
        """One batch for many agents; counts per agent and in total."""
        assert filled.count() == 160
        assert [filled.count(a) for a in range(20)] == [8] * 20
        assert filled.count(999) == 0

    def test_retrieve_isolation_between_agents(self, filled):
        """Each agent only ever gets its own memories."""
        recs = make_records(20, 8, self.n_items)
        owned = {a: {r.item_id for r in recs if r.agent_id == a} for a in range(20)}
        agents = list(range(20)) * 2
        queries = [(a * 7) % self.n_items for a in agents]
        got = filled.retrieve(agents, queries, k=3)
        assert len(got) == len(agents)
        for a, mems in zip(agents, got):
            assert len(mems) == 3
            assert all(m.agent_id == a and m.item_id in owned[a] for m in mems)

    def test_k_larger_than_count_returns_all(self, filled):
        """``k`` above the count returns every memory once."""
        got = filled.retrieve([3], [0], k=50)[0]
        assert len(got) == 8 == len({(m.item_id, m.step) for m in got})
        assert len(filled.recent([3], k=50)[0]) == 8

    def test_empty_agent_returns_empty(self, filled):
        """Unknown agents and ``k=0`` give empty lists."""
        assert filled.retrieve([999, 1], [0, 0], k=3)[0] == []
        assert filled.recent([999], k=3) == [[]]
        assert filled.retrieve([1], [0], k=0) == [[]]

    def test_similarity_order(self, filled, encoder):
        """The memory about the query item ranks first; similarity never rises."""
        for a in (0, 5, 19):
            own = filled.recent([a], k=100)[0]
            target = own[3].item_id
            got = filled.retrieve([a], [target], k=8)[0]
            assert got[0].item_id == target
            q = encoder.encode_items([target])[0]
            sims = encoder.encode_items([m.item_id for m in got]) @ q
            assert np.all(np.diff(sims) <= 1e-5)
            best_other = max(float(encoder.encode_items([m.item_id])[0] @ q) for m in own[:3])
            assert float(sims[1]) >= best_other - 1e-5

    def test_recency_breaks_ties(self, memory):
        """Equal similarity: higher step first, then later insertion first."""
        line = memory_line("Item 4", 5)
        memory.add([MemoryRecord(1, 4, line, 5.0, page=1, step=1, meta={"v": "old"})])
        memory.add([MemoryRecord(1, 4, line, 5.0, page=2, step=3, meta={"v": "new"})])
        memory.add([MemoryRecord(1, 4, line, 5.0, page=2, step=2, meta={"v": "mid"})])
        memory.add([MemoryRecord(1, 4, line, 5.0, page=3, step=3, meta={"v": "newest"})])
        got = memory.retrieve([1], [4], k=4)[0]
        assert [m.meta["v"] for m in got] == ["newest", "new", "mid", "old"]

    def test_recent_newest_first(self, memory):
        """``recent`` lists newest first, item-less memories included."""
        memory.add(
            [
                MemoryRecord(2, i, memory_line(f"Item {i}", 3), 3.0, step=s)
                for i, s in [(1, 0), (2, 5), (3, 2)]
            ]
        )
        memory.add([MemoryRecord(2, -1, "I left the site", None, step=4, kind="exit")])
        got = memory.recent([2], k=3)[0]
        assert [(m.item_id, m.step) for m in got] == [(2, 5), (-1, 4), (3, 2)]
        assert memory.count(2) == 4

    def test_item_less_memories_not_retrieved_by_item(self, memory):
        """``item_id == -1`` memories are not retrieved by item."""
        memory.add(
            [
                MemoryRecord(5, -1, "I left the site", None, step=1, kind="exit"),
                MemoryRecord(5, 7, memory_line("Item 7", 1), 1.0, step=0),
            ]
        )
        got = memory.retrieve([5], [7], k=5)[0]
        assert [m.item_id for m in got] == [7]
        assert got[0].text == "I disliked Item 7 based on my review score of 1"

    def test_mismatched_lengths_raise(self, filled):
        """Agent and query lists of different length are refused."""
        with pytest.raises(ValueError):
            filled.retrieve([0, 1], [0], k=2)

    def test_save_reopen_round_trip(self, filled, encoder, tmp_path):
        """Saving then reopening gives the same answers; adding continues."""
        agents = list(range(20))
        queries = [(3 * a + 1) % self.n_items for a in agents]
        before = filled.retrieve(agents, queries, k=4)
        filled.save(tmp_path / "saved")
        again = self.reopen(filled, tmp_path / "saved", encoder)
        assert again.count() == filled.count()
        assert again.retrieve(agents, queries, k=4) == before
        assert again.recent(agents, k=5) == filled.recent(agents, k=5)
        assert [m.meta for m in again.recent([0], k=8)[0]] == [{"session": 0}] * 8
        again.add([MemoryRecord(0, 1, memory_line("Item 1", 4), 4.0, step=100)])
        assert again.count(0) == 9 and again.recent([0], k=1)[0][0].step == 100

    def test_deterministic(self, encoder, tmp_path):
        """Same inputs, same results."""
        results = []
        for run in range(2):
            mem = self.make_memory(encoder, tmp_path / f"det{run}")
            mem.add(make_records(6, 10, self.n_items, seed=3))
            results.append(mem.retrieve(list(range(6)), [1, 2, 3, 4, 5, 6], k=5))
        assert results[0] == results[1]
