"""The dataset-loader registry, format detection, and helpers shared by the built-in loaders.

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

Example:
    >>> from alignuser.data.loaders import LOADERS, load_dataset
    >>> "ml-100k" in LOADERS
    True
    >>> ds = load_dataset("../shared/data/ml-100k")  # doctest: +SKIP
    >>> cols = {"user": "uid", "item": "iid"}
    >>> ds = load_dataset("ratings.csv", format="generic", columns=cols)  # doctest: +SKIP
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alignuser.data.dataset import Dataset, RatingScale, Split
from alignuser.data.tables import Catalog, Interactions, Users
from alignuser.errors import DatasetError
from alignuser.registry import Registry

BUILTINS = {
    "agent4rec": "alignuser.data.agent4rec:Agent4RecLoader",
    "bookcrossing": "alignuser.data.bookcrossing:BookCrossingLoader",
    "ebnerd": "alignuser.data.ebnerd:EbnerdLoader",
    "generic": "alignuser.data.generic:GenericLoader",
    "ml-100k": "alignuser.data.movielens:MovieLens100K",
    "ml-1m": "alignuser.data.movielens:MovieLens1M",
    "ml-latest": "alignuser.data.movielens:MovieLensLatest",
    "obd": "alignuser.data.obd:ObdLoader",
}
"""The built-in loaders, ``format -> "module:attr"``, imported when first asked for."""

LOADERS: Registry = Registry("alignuser.loaders", BUILTINS)
"""Loader classes by format name; instantiate and call ``load(path, **options)``."""

_YEAR = re.compile(r"\((\d{4})(?:[-–]\d{0,4})?\)\s*$")


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


def year_from_title(titles: pd.Series) -> pd.Series:
    """Years written at the end of titles as ``"(1995)"`` (nullable Int64; NA when absent)."""
    years = titles.astype(str).str.extract(_YEAR, expand=False)
    return pd.to_numeric(years, errors="coerce").astype("Int64")


def sort_ids(values: pd.Series | np.ndarray) -> np.ndarray:
    """Unique external ids sorted numerically when they are all integers, else as strings."""
    uniq = pd.unique(pd.Series(values).astype(str))
    as_num = pd.to_numeric(pd.Series(uniq), errors="coerce")
    if not as_num.isna().any():
        return uniq[np.argsort(as_num.to_numpy(), kind="stable")]
    return np.sort(uniq.astype(str))


def index_of(external: pd.Series | np.ndarray, vocabulary: np.ndarray) -> np.ndarray:
    """Internal id of each external id (position in ``vocabulary``), ``-1`` when unknown."""
    idx = pd.Index(np.asarray(vocabulary).astype(str))
    return idx.get_indexer(pd.Series(external).astype(str).to_numpy())


def require_file(path: Path, what: str, hint: str = "") -> Path:
    """Return ``path`` or raise :class:`DatasetError` saying which file is missing."""
    if not path.is_file():
        raise DatasetError(f"{what}: missing file {path}" + (f". {hint}" if hint else ""))
    return path


def assemble(
    name: str,
    items: pd.DataFrame,
    ratings: pd.DataFrame,
    users: pd.DataFrame | None = None,
    scale: RatingScale | None = None,
    raw_splits: dict[str, tuple[pd.DataFrame, pd.DataFrame]] | None = None,
    statistics: str | None = None,
    meta: dict | None = None,
) -> Dataset:
    """Build a :class:`Dataset` from frames keyed by external ids.

    Args:
        name: Dataset name.
        items: ``item`` (external id), ``title``, ``genres`` (list), optional ``year``, ``text``.
        ratings: ``user``, ``item``, ``rating``, ``timestamp`` (external ids).
        users: ``user`` plus ``gender``/``age``/``occupation``/extra columns, or ``None``.
        scale: Rating scale.
        raw_splits: Split name -> ``(train, test)`` or ``(train, valid, test)`` frames shaped
            like ``ratings``.
        statistics: ``None`` for all interactions, or a split name (its train part).
        meta: Extra provenance.
    """
    item_vocab = sort_ids(items["item"])
    user_ids = ratings["user"] if users is None else pd.concat([ratings["user"], users["user"]])
    user_vocab = sort_ids(user_ids)

    def to_inter(frame: pd.DataFrame) -> Interactions:
        iid = index_of(frame["item"], item_vocab)
        if (iid < 0).any():
            bad = frame["item"].to_numpy()[iid < 0][:5].tolist()
            raise DatasetError(f"{name}: {(iid < 0).sum()} rating(s) of unknown items, e.g. {bad}")
        return Interactions.from_frame(
            pd.DataFrame(
                {
                    "user_id": index_of(frame["user"], user_vocab),
                    "item_id": iid,
                    "rating": frame["rating"].to_numpy(np.float64),
                    "timestamp": frame["timestamp"].to_numpy(np.int64),
                }
            )
        )

    inter = to_inter(ratings)
    splits = {
        k: Split(
            to_inter(parts[0]),
            to_inter(parts[1]) if len(parts) == 3 and len(parts[1]) else None,
            to_inter(parts[-1]),
            name=k,
        )
        for k, parts in (raw_splits or {}).items()
    }
    items = items.assign(
        item_id=index_of(items["item"], item_vocab), external_id=items["item"].astype(str)
    )
    catalog = Catalog.from_frame(items.drop(columns="item").drop_duplicates("item_id"))
    if statistics is None:
        catalog = catalog.with_statistics(inter)
        stats_from = "all interactions"
    elif statistics in splits:
        catalog = catalog.with_statistics(splits[statistics].train)
        stats_from = f"train part of split {statistics!r}"
    else:
        raise DatasetError(
            f"{name}: statistics={statistics!r} is not a split; have {sorted(splits)}"
        )
    users_table = None
    if users is not None:
        u = users.assign(
            user_id=index_of(users["user"], user_vocab), external_id=users["user"].astype(str)
        )
        users_table = Users.from_frame(u.drop(columns="user").sort_values("user_id"))
    return Dataset(
        name=name,
        catalog=catalog,
        interactions=inter,
        users=users_table,
        scale=scale,
        splits=splits,
        meta={"statistics_from": stats_from, **(meta or {})},
    )


def read_separated(path: Path, sep: str, names: list[str], encoding: str, **kw) -> pd.DataFrame:
    """Read a header-less file with a multi-character separator through the fast C parser."""
    raw = path.read_bytes().decode(encoding).replace(sep, "\t")
    return pd.read_csv(io.StringIO(raw), sep="\t", header=None, names=names, quoting=3, **kw)
