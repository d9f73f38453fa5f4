"""Checkpoints: what lets a killed run continue and end exactly as an uninterrupted one.

After every step the runner writes ``RUN_DIR/checkpoints/<label>.json`` (atomically) with the
model's state (:meth:`PopulationModel.get_state`: agents, generators, word of mouth, series)
once that step's events, sessions and memories are durable. ``alignuser run --resume RUN_DIR``
then, per recommender not yet complete:

1. rebuilds everything that does not change during a run from the saved scenario (data,
   split, personas, the fitted recommender: all seeded);
2. deletes event/session parts of steps after the checkpoint;
3. restores memories up to the checkpoint: a Chroma store drops the records of later steps
   and rebuilds its in-process index from Chroma; an in-memory store is rebuilt from the
   agents' history and the events written so far (memories are a function of them);
4. restores the model state and goes on.

A recommender that learns during the run (``session.update_recommender``) would need its own
state in the checkpoint; that combination is refused on resume rather than silently diverging.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from alignuser.env.text import memory_line
from alignuser.interfaces import MemoryRecord
from alignuser.simulation.outputs import write_json


def checkpoint_path(run_dir: Path, label: str) -> Path:
    """Where the checkpoint of one recommender's run lives."""
    return Path(run_dir) / "checkpoints" / f"{label}.json"


def save_checkpoint(run_dir: Path, label: str, model, memory) -> None:
    """Make the step durable (memory writes flushed), then write the model state."""
    if hasattr(memory, "flush"):
        memory.flush()
    path = checkpoint_path(run_dir, label)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, model.get_state())


def load_checkpoint(run_dir: Path, label: str) -> dict | None:
    """The last checkpoint of ``label`` (``None`` when the run never got past step 0)."""
    path = checkpoint_path(run_dir, label)
    return json.loads(path.read_text()) if path.exists() else None


def memories_from_events(events, titles: list[str], max_rating: int) -> list[MemoryRecord]:
    """The memories a run wrote, rebuilt from its events (watched items, in write order)."""
    w = events[events["watched"].astype(bool)]
    return [
        MemoryRecord(
            agent_id=int(a),
            item_id=int(i),
            text=memory_line(titles[int(i)], float(r), max_rating),
            rating=float(r),
            page=int(p),
            step=int(s),
        )
        for a, i, r, p, s in zip(
            w["agent_id"].to_numpy(),
            w["item_id"].to_numpy(),
            w["rating"].to_numpy(np.float64),
            w["page"].to_numpy(),
            w["step"].to_numpy(),
        )
    ]
