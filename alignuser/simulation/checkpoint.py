"""Checkpoints: what lets a killed run continue and end exactly as an uninterrupted one.

After every step the runner writes ``RUN_DIR/checkpoints/<label>.json`` (atomically) with the
model's state (:meth:`PopulationModel.get_state`: agents, generators, word of mouth, series)
once that step's events, sessions and memories are durable. ``alignuser run --resume RUN_DIR``
then, per recommender not yet complete:

1. rebuilds everything that does not change during a run from the saved scenario (data,
   split, personas, the fitted recommender: all seeded);
2. deletes event/session parts of steps after the checkpoint;
3. restores memories up to the checkpoint: a Chroma store drops the records of later steps
   and rebuilds its in-process index from the agents' history (derived from the data again,
   unless ``memory.store_history`` wrote it to Chroma too) and Chroma; an in-memory store
   is rebuilt from the agents' history and the events written so far (memories are a
   function of them);
4. restores the model state and goes on.

With a write-behind memory that can mark its queue (``ChromaMemory(write_behind=...)``:
``mark`` and ``flush(upto=...)``), the checkpoint of step ``t`` is written one step late, at
the end of step ``t + 1``, once step ``t``'s memories are durable: Chroma writes step ``t``
while the simulation computes step ``t + 1``. A kill then loses one step more (resume
truncates events and memories after the checkpoint either way); :func:`finish_checkpoints`
writes the last one.

A recommender that learns during the run (``session.update_recommender``) would need its own
state in the checkpoint; that combination is refused on resume rather than silently diverging.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from alignuser.env.text import memory_line
from alignuser.interfaces import MemoryRecord
from alignuser.simulation.outputs import write_json


def checkpoint_path(run_dir: Path, label: str) -> Path:
    """Where the checkpoint of one recommender's run lives."""
    return Path(run_dir) / "checkpoints" / f"{label}.json"


#: Checkpoints held back until their step's memory writes are durable: path -> (JSON, token).
_HELD: dict[Path, tuple[str, int]] = {}


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def save_checkpoint(run_dir: Path, label: str, model, memory) -> None:
    """After a step: make it durable and write the model state (one step late, see above)."""
    path = checkpoint_path(run_dir, label)
    if not (hasattr(memory, "mark") and getattr(memory, "write_behind", False)):
        if hasattr(memory, "flush"):
            memory.flush()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, model.get_state())
        return
    # serialised now (the state holds live lists of the agents); compact: ~100k agents
    text = json.dumps(model.get_state(), sort_keys=True, separators=(",", ":"), default=str)
    held = _HELD.pop(path, None)
    _HELD[path] = (text, memory.mark())
    if held is not None:
        memory.flush(upto=held[1])
        _write_text(path, held[0])


def finish_checkpoints(run_dir: Path, label: str, memory) -> None:
    """Write the held-back checkpoint of ``label`` once every memory write is durable."""
    held = _HELD.pop(checkpoint_path(run_dir, label), None)
    if hasattr(memory, "flush"):
        memory.flush()
    if held is not None:
        _write_text(checkpoint_path(run_dir, label), held[0])


def forget_checkpoints(run_dir: Path, label: str) -> None:
    """Drop a held-back checkpoint of an earlier, interrupted run in this process."""
    _HELD.pop(checkpoint_path(run_dir, label), None)


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
