"""A scripted local recommender service: the HTTP plug point's fake, shipped for tests.

:class:`FakeRecommenderService` serves the protocol of
:class:`~alignuser.recommenders.HTTPRecommender` (``POST /recommend`` with ``user_ids``,
``k`` and ``exclude``; ``POST /feedback``) from ``http.server`` in a thread on 127.0.0.1,
answering from a real in-process recommender, or badly on purpose. Each call's answer is
chosen by ``script``:

* a mode name (every call answers so);
* a list of modes (consumed one per call, then ``"ok"``; append to :attr:`script` to plan
  the next calls);
* a callable ``(call number from 1, request body) -> mode or tuple of modes``.

Modes: ``ok`` (the backend's items), ``500`` / ``404`` (that status), ``badjson`` (HTML),
``short`` (one user's list fewer), ``empty`` (no lists), ``dup`` (a repeated item),
``excluded`` (an excluded item first), ``unknown`` (ids outside any catalog), ``slow`` /
``stall`` (wait :attr:`delay` seconds, then go on with the next mode of the tuple, else
``ok``), ``drop`` (close the connection without an answer). :attr:`requests`,
:attr:`feedback`, :attr:`calls` and :attr:`served` (count per mode) record what happened.

Example:
    >>> from alignuser.recommenders import PopularRecommender  # doctest: +SKIP
    >>> svc = FakeRecommenderService(PopularRecommender().fit(train, catalog), "500")
    >>> HTTPRecommender(svc.url).recommend(...)  # RecommenderServiceError  # doctest: +SKIP
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

__all__ = ["FakeRecommenderService", "free_port_url"]

Script = str | list[str] | Callable[[int, dict], "str | tuple[str, ...]"]


def free_port_url(path: str = "/recommend") -> str:
    """A URL on 127.0.0.1 where nobody listens (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # an answer written after the client gave up (slow, drop): a broken pipe


class FakeRecommenderService:
    """A local HTTP recommender whose answers follow ``script`` (see the module docstring).

    Args:
        backend: A fitted recommender for ``ok`` answers (``None``: every ``ok`` is a 500).
        script: What each call answers.
        delay: Seconds a ``slow`` / ``stall`` answer waits.
    """

    def __init__(self, backend=None, script: Script = "ok", delay: float = 1.5):
        self.backend = backend
        self.script: Any = list(script) if isinstance(script, list | tuple) else script
        self.delay = float(delay)
        self.requests: list[dict] = []
        self.feedback: list[dict] = []
        self.calls = 0
        self.served: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = self.base_url + "/recommend"

    def _modes(self, body: dict) -> tuple[str, ...]:
        with self._lock:
            self.calls += 1
            self.requests.append(body)
            s = self.script
            if callable(s):
                mode = s(self.calls, body)
            elif isinstance(s, list):
                mode = s.pop(0) if s else "ok"
            else:
                mode = s
        modes = (mode,) if isinstance(mode, str) else tuple(mode)
        with self._lock:
            self.served.update(modes)
        return modes

    def _items(self, body: dict) -> list[list[int]]:
        users = np.asarray(body.get("user_ids", []), dtype=np.int64)
        exclude = [np.asarray(e, dtype=np.int64) for e in body.get("exclude", [[]] * len(users))]
        return self.backend.recommend(users, int(body.get("k", 4)), exclude).tolist()

    def answer(self, modes: tuple[str, ...], body: dict) -> tuple[int, bytes] | None:
        """``(status, payload)`` for one call, or ``None`` to drop the connection."""
        for mode in modes:
            if mode in ("slow", "stall"):
                time.sleep(self.delay)
                continue
            if mode == "drop":
                return None
            if mode in ("500", "404"):
                return int(mode), (
                    b"internal error: model not loaded" if mode == "500" else b"no such route"
                )
            if mode == "badjson":
                return 200, b"<html>not json</html>"
            if mode == "unknown":
                return 200, json.dumps({"items": [[10**6] * int(body.get("k", 4))]}).encode()
            if mode == "empty":
                return 200, json.dumps({"items": []}).encode()
            if mode not in ("ok", "short", "dup", "excluded"):
                raise ValueError(f"unknown fake service mode {mode!r}")
            if self.backend is None:
                return 500, b"no backend"
            items = self._items(body)
            if mode == "short":
                items = items[:-1]
            elif mode == "dup":
                items[0][1] = items[0][0]
            elif mode == "excluded":
                items[0][0] = body["exclude"][0][0]
            return 200, json.dumps({"items": items}).encode()
        return self.answer(("ok",), body)

    def _handler(self):
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {}
                if self.path == "/feedback":
                    service.feedback.append(body)
                    return self._send(200, b"{}")
                out = service.answer(service._modes(body), body)
                if out is None:
                    self.connection.shutdown(2)  # close without an answer
                    return None
                return self._send(*out)

            def _send(self, status: int, payload: bytes):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeRecommenderService:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
