"""Errors users see. Each names what was wrong and where (file, line, key)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


def did_you_mean(name: object, choices: Iterable[str]) -> str:
    """``" (did you mean 'ease'?)"`` when a choice is close to ``name``, else ``""``."""
    choices = [str(c) for c in choices]
    by_lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(str(name).lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""


class AlignUserError(Exception):
    """Base class of every error alignuser raises on purpose."""


class DataFormatError(AlignUserError, ValueError):
    """A dataset file could not be parsed.

    Args:
        path: The file that was being read.
        line: 1-based line number of the bad row (``None`` when not line-based).
        message: What was wrong.
    """

    def __init__(self, path: str | Path, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class DatasetError(AlignUserError, ValueError):
    """A dataset is unusable as a whole (empty, unknown ids, missing files)."""


class ScenarioError(AlignUserError, ValueError):
    """A scenario file or override is invalid. The message names file, key and expected type."""


class UnknownNameError(AlignUserError, KeyError):
    """A name is not in a registry (recommender, policy, memory backend, loader).

    Args:
        kind: What was looked up (``"recommender"``).
        name: The unknown name.
        known: The registered names (listed, and used for "did you mean").
    """

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        self.kind, self.name, self.known = kind, name, sorted(known)
        super().__init__(
            f"unknown {kind} {name!r}{did_you_mean(name, self.known)}; "
            f"known: {', '.join(self.known)}"
        )

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class RunOutputError(AlignUserError, RuntimeError):
    """A run folder's outputs are damaged or incomplete; the message names the part and the fix."""


class RunFailedError(AlignUserError, RuntimeError):
    """A run finished, but a recommender's sessions mostly failed (see ``manifest.json``)."""


class MissingExtraError(AlignUserError, ImportError):
    """An optional dependency is missing; the message says which extra to install."""

    def __init__(self, package: str, extra: str, purpose: str):
        super().__init__(
            f"{purpose} needs the optional package {package!r}. "
            f"Install it with: pip install 'alignuser[{extra}]'"
        )


def require(module: str, extra: str, purpose: str):
    """Import an optional module or raise :class:`MissingExtraError` with an install hint.

    Args:
        module: Importable module name, e.g. ``"ray"``.
        extra: The alignuser extra that provides it, e.g. ``"ray"``.
        purpose: Short description of the feature, for the message.

    Returns:
        The imported module.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on environment
        raise MissingExtraError(module, extra, purpose) from exc
