"""Registries for plug points: a dict, a ``register`` decorator, and entry points.

Built-ins are named ``"module:attr"`` when the registry is made (``builtins=``) and imported
the first time they are asked for, so a plug-in module never imports its registry and
importing a package stays cheap; ``register`` / ``add`` serve code that registers at run
time.

Outside packages extend a registry without touching alignuser by declaring an entry point
in their ``pyproject.toml``::

    [project.entry-points."alignuser.recommenders"]
    my_model = "my_package.module:MyRecommender"

Example:
    >>> from alignuser.registry import Registry
    >>> shapes = Registry("example.shapes")
    >>> @shapes.register("square")
    ... class Square:
    ...     pass
    >>> shapes.get("square") is Square
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> factory mapping with entry-point discovery.

    Args:
        group: Entry-point group name (e.g. ``"alignuser.recommenders"``).
    """

    def __init__(self, group: str, builtins: dict[str, str] | None = None):
        self.group = group
        self._items: dict[str, T] = {}
        self._lazy: dict[str, str] = {k.lower(): v for k, v in (builtins or {}).items()}
        self._loaded_entry_points = False

    def _resolve(self, key: str) -> bool:
        """Import the built-in named ``key`` (``"module:attr"``) on first use."""
        spec = self._lazy.get(key)
        if spec is None:
            return False
        import importlib

        module, _, attr = spec.partition(":")
        obj = getattr(importlib.import_module(module), attr)
        self._lazy.pop(key, None)
        self._items.setdefault(key, obj)
        return True

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name`` (case-insensitive)."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        """Register ``obj`` under ``name``; re-registering the same object is a no-op."""
        key = name.lower()
        self._resolve(key)
        if key in self._items and self._items[key] is not obj:
            raise ValueError(f"{self.group}: name {name!r} is already registered")
        self._items[key] = obj

    def _load_entry_points(self) -> None:
        if self._loaded_entry_points:
            return
        self._loaded_entry_points = True
        for ep in entry_points(group=self.group):
            if ep.name.lower() not in self._items and ep.name.lower() not in self._lazy:
                self._items[ep.name.lower()] = ep.load()

    def get(self, name: str) -> T:
        """Return the object registered as ``name``.

        Raises:
            UnknownNameError: A ``KeyError`` listing the known names (and the closest one)
                when ``name`` is unknown.
        """
        from alignuser.errors import UnknownNameError

        key = str(name).lower()
        if key not in self._items and not self._resolve(key):
            self._load_entry_points()
        if key not in self._items:
            raise UnknownNameError(self.kind, name, self.names())
        return self._items[key]

    @property
    def kind(self) -> str:
        """What the registry holds, singular (``"alignuser.policies"`` -> ``"policy"``)."""
        last = self.group.split(".")[-1]
        if last.endswith("ies"):
            return last[:-3] + "y"
        return last[:-1] if last.endswith("s") else last

    def names(self) -> list[str]:
        """All registered names, built-ins (imported or not) and entry points."""
        self._load_entry_points()
        return sorted(set(self._items) | set(self._lazy))

    def __contains__(self, name: str) -> bool:
        return name.lower() in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
