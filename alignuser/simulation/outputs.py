"""The run folder: what a run writes, as it goes, and how to read it back.

Layout of ``RUN_DIR`` (documented in the README, "Where results land")::

    scenario.yaml            the fully resolved scenario
    manifest.json            versions, seed, status, timings per recommender
    events/<label>/part-*.parquet     one row per item shown (written every step)
    sessions/<label>/part-*.parquet   one row per finished session
    thoughts/<label>/part-*.parquet   one row per page the policy explained (only with a
                             policy that writes rationales, e.g. ``alignuser`` with
                             ``thoughts: true``)
    series/<label>.parquet   Mesa DataCollector model series (per step)
    metrics.json, metrics.md macro outcomes with bootstrap 95% CIs, ranking
    report.html              tables and plots
    memory/                  Chroma store of the run's episodic memories

Event columns: ``recommender, seed, step, agent_id, user_id, session, page, position,
item_id, watched, rating, exit``. Session columns: ``recommender, seed, agent_id, user_id,
session, start_step, end_step, pages, shown, watches, likes, mean_rating, exit_page,
exited, satisfaction``. Thought columns: ``recommender, seed, step, agent_id, user_id,
session, page, thought``.

Parts are named by step (``part-000012.parquet`` holds step 12) and written atomically
(temporary name, then rename), so a killed run leaves only complete files; a resumed run
first removes the parts of steps after its last checkpoint (``checkpoints/<label>.json``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

EVENT_COLUMNS = [
    "recommender", "seed", "step", "agent_id", "user_id", "session", "page",
    "position", "item_id", "watched", "rating", "exit",
]  # fmt: skip
SESSION_COLUMNS = [
    "recommender", "seed", "agent_id", "user_id", "session", "start_step", "end_step",
    "pages", "shown", "watches", "likes", "mean_rating", "exit_page", "exited", "satisfaction",
]  # fmt: skip
THOUGHT_COLUMNS = [
    "recommender", "seed", "step", "agent_id", "user_id", "session", "page", "thought",
]  # fmt: skip


def _atomic_parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


class RunWriter:
    """Appends events and sessions of one recommender's run (or one shard of it) as Parquet.

    Args:
        run_dir: The run folder.
        label: Recommender label (sub-folder name).
        shard: Shard number; its parts are ``part-s0003-000012.parquet`` and its series
            ``series/<label>.s0003.parquet`` (``None``: ``part-000012.parquet``).
    """

    def __init__(self, run_dir: str | Path, label: str, shard: int | None = None):
        self.run_dir = Path(run_dir)
        self.label = label
        self.shard = shard
        self.prefix = "part-" if shard is None else f"part-s{shard:04d}-"
        self._events: list[dict] = []
        self._sessions: list[dict] = []
        self._thoughts: list[dict] = []

    def add_events(self, rows: list[dict]) -> None:
        """Buffer event rows (flushed by :meth:`flush`)."""
        self._events.extend(rows)

    def add_sessions(self, rows: list[dict]) -> None:
        """Buffer session rows."""
        self._sessions.extend(rows)

    def add_thoughts(self, rows: list[dict]) -> None:
        """Buffer thought rows (pages a policy explained)."""
        self._thoughts.extend(rows)

    def flush(self, step: int) -> None:
        """Write the buffered rows of ``step`` as its part files."""
        name = f"{self.prefix}{step:06d}.parquet"
        if self._events:
            frame = pd.DataFrame(self._events, columns=EVENT_COLUMNS)
            _atomic_parquet(frame, self.run_dir / "events" / self.label / name)
        if self._sessions:
            frame = pd.DataFrame(self._sessions, columns=SESSION_COLUMNS)
            _atomic_parquet(frame, self.run_dir / "sessions" / self.label / name)
        if self._thoughts:
            frame = pd.DataFrame(self._thoughts, columns=THOUGHT_COLUMNS)
            _atomic_parquet(frame, self.run_dir / "thoughts" / self.label / name)
        self._events, self._sessions, self._thoughts = [], [], []

    def _own(self, name: str) -> bool:
        return name.startswith(self.prefix) and (self.shard is not None or name[5] != "s")

    def truncate_after(self, step: int) -> int:
        """Delete this writer's part files of steps after ``step`` (and stray temporary files).

        Returns:
            The number of files removed.
        """
        removed = 0
        for kind in ("events", "sessions", "thoughts"):
            for f in (self.run_dir / kind / self.label).glob(self.prefix + "*"):
                if not self._own(f.name):
                    continue
                stem = f.name.split(".")[0]
                if f.name.endswith(".tmp") or int(stem.rsplit("-", 1)[1]) > step:
                    f.unlink()
                    removed += 1
        return removed

    def write_series(self, frame: pd.DataFrame) -> None:
        """Write the DataCollector model series."""
        name = self.label if self.shard is None else f"{self.label}.s{self.shard:04d}"
        _atomic_parquet(frame, self.run_dir / "series" / f"{name}.parquet")


def _read_parts(folder: Path, columns: list[str]) -> pd.DataFrame:
    parts = sorted(folder.glob("*/part-*.parquet"))
    if not parts:
        return pd.DataFrame(columns=columns)
    frame = pd.concat([_read_part(p) for p in parts], ignore_index=True)
    return frame


def _read_part(path: Path) -> pd.DataFrame:
    import pyarrow as pa

    try:
        return pd.read_parquet(path)
    except (pa.ArrowException, OSError) as exc:
        from alignuser.errors import RunOutputError

        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunOutputError(
            f"{path}: damaged, cannot be read ({first}); run the scenario again into a new "
            "folder (alignuser run RUN_DIR/scenario.yaml --out NEW_RUN_DIR)"
        ) from None


def read_events(run_dir: str | Path) -> pd.DataFrame:
    """All events of a run (every recommender), in write order."""
    return _read_parts(Path(run_dir) / "events", EVENT_COLUMNS)


def read_sessions(run_dir: str | Path) -> pd.DataFrame:
    """All finished sessions of a run."""
    return _read_parts(Path(run_dir) / "sessions", SESSION_COLUMNS)


def read_thoughts(run_dir: str | Path) -> pd.DataFrame:
    """The rationales a run's policy wrote (empty when it wrote none)."""
    return _read_parts(Path(run_dir) / "thoughts", THOUGHT_COLUMNS)


#: Packages whose versions a run records (those that change what a run computes).
KEY_PACKAGES = (
    "numpy", "scipy", "pandas", "pyarrow", "pydantic", "mesa", "chromadb", "langchain-core",
    "torch", "transformers", "peft", "implicit", "networkx", "ray",
)  # fmt: skip


def provenance() -> dict:
    """Key package versions (``None``: not installed) and alignuser's git commit.

    Versions come from the installed metadata (nothing is imported). ``git_commit`` is the
    checkout's ``HEAD`` with ``-dirty`` when tracked files changed, ``None`` outside a git
    checkout.
    """
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    root = Path(__file__).resolve().parents[2]
    commit = None
    if (root / ".git").exists():
        try:
            git = ["git", "-C", str(root)]
            head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True,
                                  timeout=10, check=True).stdout.strip()  # fmt: skip
            dirty = subprocess.run([*git, "diff", "--quiet", "HEAD"], timeout=20).returncode
            commit = head + ("-dirty" if dirty else "")
        except (OSError, subprocess.SubprocessError):
            commit = None
    return {"versions": versions, "git_commit": commit}


def read_manifest(run_dir: str | Path) -> dict:
    """The run's manifest (``{}`` when absent)."""
    p = Path(run_dir) / "manifest.json"
    return json.loads(p.read_text()) if p.exists() else {}


def write_json(path: str | Path, obj: object) -> None:
    """Write JSON atomically (sorted keys, UTF-8)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, path)
