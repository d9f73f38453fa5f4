"""Torch intra-op threads for one block of work, restored afterwards.

Example:
    >>> from alignuser.threads import torch_threads  # doctest: +SKIP
    >>> with torch_threads(1):  # doctest: +SKIP
    ...     model(batch)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["torch_threads"]


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[int]:
    """Run a block with ``n`` torch threads (``None``: as they are); yields the count."""
    import torch

    before = torch.get_num_threads()
    if n is not None and int(n) != before:
        torch.set_num_threads(int(n))
    try:
        yield torch.get_num_threads()
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
