"""Helpers the built-in format loaders share: ids, required files, fast reads, ``assemble``.

:func:`assemble` turns frames keyed by a dataset's own ids into a
:class:`~alignuser.data.dataset.Dataset` with contiguous integer ids (the own ids kept as
strings in ``external_id``); the rest read files and map ids.

Example:
    >>> import pandas as pd
    >>> from alignuser.data.formats.common import year_from_title
    >>> year_from_title(pd.Series(["Toy Story (1995)", "Babylon 5"])).tolist()
    [1995, <NA>]
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from alignuser.data.dataset import Dataset, RatingScale, Split
from alignuser.data.tables import Catalog, Interactions, Users
from alignuser.errors import DatasetError

__all__ = ["assemble", "index_of", "read_separated", "require_file", "sort_ids", "year_from_title"]

_YEAR = re.compile(r"\((\d{4})(?:[-–]\d{0,4})?\)\s*$")


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
        return _interactions(name, frame, user_vocab, item_vocab)

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
    catalog, stats_from = _with_statistics(name, catalog, inter, splits, statistics)
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


def _interactions(name: str, frame: pd.DataFrame, user_vocab, item_vocab) -> Interactions:
    """``frame`` (external ids) as :class:`Interactions`; unknown items are an error."""
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


def _with_statistics(name, catalog, inter, splits, statistics) -> tuple[Catalog, str]:
    """``(catalog with statistics, where they come from)``: all interactions or a split's train."""
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
    return catalog, stats_from


def read_separated(path: Path, sep: str, names: list[str], encoding: str, **kw) -> pd.DataFrame:
    """Read a header-less file with a multi-character separator through the fast C parser."""
    raw = path.read_bytes().decode(encoding).replace(sep, "\t")
    return pd.read_csv(io.StringIO(raw), sep="\t", header=None, names=names, quoting=3, **kw)
