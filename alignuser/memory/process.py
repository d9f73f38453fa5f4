"""``ChromaProcess``: an embedded Chroma client living in a child process.

Chroma's embedded (Rust) client holds the GIL while it adds records (measured: a Python loop
on the main thread runs at ~3% of its speed while a background thread adds), so a
write-behind *thread* does not overlap the simulation. A child process does: the simulation
keeps one core, Chroma gets the other. The child owns the store folder; every collection
call goes to it over a pipe (request, then reply, under a lock, so a write-behind thread and
the main thread can share one :class:`ChromaProcess`), and the calling thread waits with the
GIL released.

The child exits when the pipe closes or the parent process dies (a watchdog checks the
parent's pid), so a killed run leaves no writer behind. Like Chroma's own clients, one
child serves every collection of a folder in this process (:meth:`ChromaProcess.shared`,
reference-counted), so two processes never write one store.

Example:
    >>> proc = ChromaProcess("memory/run-1")  # doctest: +SKIP
    >>> col = proc.get_or_create_collection("mem", embedding_function=None)  # doctest: +SKIP
    >>> col.add(ids=["0:0"], embeddings=[[1.0, 0.0]])  # doctest: +SKIP
    >>> col.count()  # doctest: +SKIP
    1
    >>> proc.close()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

__all__ = ["ChromaProcess", "RemoteCollection"]

logger = logging.getLogger(__name__)

_SHARED: dict[str, ChromaProcess] = {}
_SHARED_LOCK = threading.Lock()


def _watch_parent(ppid: int) -> None:
    import time

    while os.getppid() == ppid:
        time.sleep(0.25)
    os._exit(1)


def _serve(conn, path: str) -> None:
    """Child main loop: run collection calls sent by the parent until the pipe closes."""
    import chromadb
    from chromadb.config import Settings

    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    client = chromadb.PersistentClient(path=path, settings=Settings(anonymized_telemetry=False))
    collections: dict[str, Any] = {}
    while True:
        try:
            op, name, args, kwargs = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if op == "client":
                result = getattr(client, name)(*args, **kwargs)
                if name in ("get_or_create_collection", "get_collection", "create_collection"):
                    collections[result.name] = result
                    result = result.name
            elif op == "attr":
                result = getattr(collections[args[0]], name)
            elif op == "close":
                conn.send((True, None))
                return
            else:
                result = getattr(collections[op], name)(*args, **kwargs)
            reply = (True, result)
        except BaseException as exc:  # sent back and re-raised in the parent
            reply = (False, exc)
        try:
            conn.send(reply)
        except Exception as exc:  # an unpicklable result or error
            conn.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))


class ChromaProcess:
    """A ``chromadb.PersistentClient`` for the folder ``path``, run in a child process.

    Args:
        path: Store folder.
    """

    def __init__(self, path: str):
        import socket
        import subprocess
        import sys
        from multiprocessing.connection import Connection

        # a plain subprocess (not multiprocessing's spawn, which re-imports the caller's
        # __main__ and fails in scripts without a main guard) on one end of a socket pair
        mine, theirs = socket.socketpair()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "alignuser.memory.process", str(theirs.fileno()), str(path)],
            pass_fds=(theirs.fileno(),),
        )
        theirs.close()
        self._conn = Connection(mine.detach())
        self._lock = threading.Lock()
        self.path = str(path)
        self._users = 1

    @classmethod
    def shared(cls, path) -> ChromaProcess:
        """The live process of the folder ``path`` (started when none); :meth:`close` it."""
        key = os.path.realpath(str(path))
        with _SHARED_LOCK:
            proc = _SHARED.get(key)
            if proc is not None and proc._conn is not None and proc._proc.poll() is None:
                proc._users += 1
                return proc
            proc = _SHARED[key] = cls(key)
            return proc

    def call(self, op: str, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``name(*args, **kwargs)`` on the client (``op="client"``) or a collection."""
        with self._lock:
            if self._conn is None:
                raise RuntimeError(f"Chroma process for {self.path} is closed")
            try:
                self._conn.send((op, name, args, kwargs))
                ok, result = self._conn.recv()
            except (EOFError, OSError) as exc:
                raise RuntimeError(
                    f"Chroma process for {self.path} died (exit code {self._proc.poll()})"
                ) from exc
        if not ok:
            raise result
        return result

    def cpu_seconds(self) -> float | None:
        """CPU time the child used so far (Linux ``/proc``; ``None`` elsewhere or when gone)."""
        try:
            with open(f"/proc/{self._proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def peak_rss_bytes(self) -> int | None:
        """The child's peak resident memory so far (Linux ``VmHWM``; ``None`` elsewhere)."""
        try:
            with open(f"/proc/{self._proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError):
            pass
        return None

    def get_or_create_collection(self, name: str, **kwargs: Any) -> RemoteCollection:
        """The collection ``name`` (created with ``kwargs`` when missing)."""
        return RemoteCollection(
            self, self.call("client", "get_or_create_collection", name, **kwargs)
        )

    def get_max_batch_size(self) -> int:
        """The client's largest ``add`` batch."""
        return int(self.call("client", "get_max_batch_size"))

    def close(self) -> None:
        """Release this user; the last one stops the child (the store stays on disk)."""
        with _SHARED_LOCK:
            self._users -= 1
            if self._users > 0:
                return
            if _SHARED.get(os.path.realpath(self.path)) is self:
                del _SHARED[os.path.realpath(self.path)]
        with self._lock:
            if self._conn is None:
                return
            try:
                self._conn.send(("close", "", (), {}))
                self._conn.recv()
            except (EOFError, OSError):
                pass
            self._conn.close()
            self._conn = None
        try:
            self._proc.wait(timeout=30)
        except Exception:  # pragma: no cover - a hung child
            self._proc.kill()

    def __del__(self):  # pragma: no cover - best effort at interpreter exit
        try:
            self._users = 1
            self.close()
        except Exception:
            pass


class RemoteCollection:
    """The subset of ``chromadb.Collection`` that :class:`ChromaMemory` uses, over the pipe."""

    def __init__(self, proc: ChromaProcess, name: str):
        self._proc = proc
        self.name = name

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._proc.call(self.name, method, *args, **kwargs)

    @property
    def metadata(self) -> dict | None:
        """The collection's metadata."""
        return self._proc.call("attr", "metadata", self.name)

    @property
    def configuration(self) -> dict:
        """The collection's configuration (HNSW settings)."""
        return self._proc.call("attr", "configuration", self.name)

    def add(self, **kwargs: Any) -> None:
        """``Collection.add``."""
        self._call("add", **kwargs)

    def upsert(self, **kwargs: Any) -> None:
        """``Collection.upsert``."""
        self._call("upsert", **kwargs)

    def get(self, **kwargs: Any) -> dict:
        """``Collection.get``."""
        return self._call("get", **kwargs)

    def query(self, **kwargs: Any) -> dict:
        """``Collection.query``."""
        return self._call("query", **kwargs)

    def delete(self, **kwargs: Any) -> None:
        """``Collection.delete``."""
        self._call("delete", **kwargs)

    def count(self) -> int:
        """``Collection.count``."""
        return int(self._call("count"))


if __name__ == "__main__":  # the child: python -m alignuser.memory.process FD PATH
    import sys
    from multiprocessing.connection import Connection

    _serve(Connection(int(sys.argv[1])), sys.argv[2])
