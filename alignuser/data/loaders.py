"""The dataset-loader registry, format detection and :func:`load_dataset`.

Every loader turns a folder (or file) into a :class:`~alignuser.data.dataset.Dataset` whose
user and item ids are contiguous integers, with the dataset's own ids kept as strings in
``external_id``. Built-in formats (registered in :data:`LOADERS` by name):

============================  ================================================================
name                          detected by
============================  ================================================================
``ml-100k``                   ``u.data``
``ml-1m``                     ``movies.dat`` (and ``ratings.dat``; a clear error when absent)
``ml-latest``                 ``ratings.csv`` + ``movies.csv``
``agent4rec``                 ``cf_data/train.txt``
``ebnerd``                    ``behaviors.parquet`` or ``behaviors.jsonl``
``bookcrossing``              ``book_ratings.dat`` / ``book_history.dat`` + ``items_info.dat``
``obd``                       ``{policy}/{campaign}/{campaign}.csv`` + ``item_context.csv``
                              (Open Bandit Dataset: slot impressions, propensities)
``generic``                   a single ``.csv`` / ``.tsv`` / ``.parquet`` file
============================  ================================================================

Outside packages add formats through the ``alignuser.loaders`` entry-point group; the object
registered is a class whose instances follow :class:`~alignuser.interfaces.DatasetLoader`.
The built-in formats live in :mod:`alignuser.data.formats`, the helpers they share in
:mod:`alignuser.data.formats.common`.

Example:
    >>> from alignuser.data.loaders import LOADERS, load_dataset
    >>> "ml-100k" in LOADERS
    True
    >>> ds = load_dataset("../shared/data/ml-100k")  # doctest: +SKIP
    >>> cols = {"user": "uid", "item": "iid"}
    >>> ds = load_dataset("ratings.csv", format="generic", columns=cols)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alignuser.data.dataset import Dataset
from alignuser.errors import DatasetError
from alignuser.registry import Registry

BUILTINS = {
    "agent4rec": "alignuser.data.formats.agent4rec:Agent4RecLoader",
    "bookcrossing": "alignuser.data.formats.bookcrossing:BookCrossingLoader",
    "ebnerd": "alignuser.data.formats.ebnerd:EbnerdLoader",
    "generic": "alignuser.data.formats.generic:GenericLoader",
    "ml-100k": "alignuser.data.formats.movielens:MovieLens100K",
    "ml-1m": "alignuser.data.formats.movielens:MovieLens1M",
    "ml-latest": "alignuser.data.formats.movielens:MovieLensLatest",
    "obd": "alignuser.data.formats.obd:ObdLoader",
}
"""The built-in loaders, ``format -> "module:attr"``, imported when first asked for."""

LOADERS: Registry = Registry("alignuser.loaders", BUILTINS)
"""Loader classes by format name; instantiate and call ``load(path, **options)``."""


def load_dataset(path: str | Path, format: str | None = None, **options: Any) -> Dataset:
    """Load a dataset folder or file, detecting its format unless ``format`` names one.

    Args:
        path: Dataset folder (or file, for the generic loader).
        format: A registered loader name (see :data:`LOADERS`); ``None`` detects it.
        **options: Passed to the loader's ``load`` (e.g. ``columns=`` for ``generic``).

    Returns:
        The loaded :class:`~alignuser.data.dataset.Dataset`.

    Raises:
        DatasetError: When the path does not exist or no loader recognises it.
        KeyError: When ``format`` is not a registered name (the message lists them).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"dataset path {path} does not exist")
    if format is not None:
        return LOADERS.get(format)().load(path, **options)
    return detect_loader(path).load(path, **options)


def detect_loader(path: str | Path):
    """Return an instance of the first registered loader whose ``detect(path)`` is true.

    Raises:
        DatasetError: When no loader recognises ``path`` (the message lists the formats).
    """
    path = Path(path)
    for name in LOADERS.names():
        loader = LOADERS.get(name)()
        if loader.detect(path):
            return loader
    listing = sorted(p.name for p in path.iterdir())[:20] if path.is_dir() else [path.name]
    raise DatasetError(
        f"no loader recognises {path} (files: {listing}); pass format= one of "
        f"{LOADERS.names()}, or use format='generic' with a column mapping"
    )
