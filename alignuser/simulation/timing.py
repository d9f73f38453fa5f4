"""``timed``: the wall time of a block, added to one named part of a timings dict.

The population model keeps its per-part seconds (recommender, memory, policy, Mesa, total)
this way, and the runtime the wall time of each ``model.step()`` (``outer``).

Example:
    >>> from alignuser.simulation.timing import timed
    >>> timings = {"policy": 0.0}
    >>> with timed(timings, "policy"):
    ...     pass
    >>> with timed(timings, "memory"):  # a part not there yet starts at 0
    ...     pass
    >>> sorted(timings)
    ['memory', 'policy']
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

__all__ = ["timed"]


@contextlib.contextmanager
def timed(timings: dict[str, float], part: str) -> Iterator[None]:
    """Add the wall seconds of the ``with`` block to ``timings[part]`` (not when it raises)."""
    t0 = time.perf_counter()
    yield
    timings[part] = timings.get(part, 0.0) + (time.perf_counter() - t0)
