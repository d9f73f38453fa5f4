"""Typed in-memory tables: ``Catalog``, ``Interactions``, ``Users``, ``Impressions``.

Each table wraps a :class:`pandas.DataFrame` with a fixed schema (checked on construction)
and round-trips through Parquet. Ids are **contiguous integers** inside alignuser
(``item_id`` in ``0..n_items-1``, ``user_id`` in ``0..n_users-1``); the dataset's own ids are
kept as strings in ``external_id`` so results can be mapped back.

Schemas:

* ``Catalog``: ``item_id`` int64, ``external_id`` str, ``title`` str, ``genres`` list[str],
  ``year`` Int64 (nullable), ``text`` str, ``popularity`` int64 (interactions in the training
  data), ``mean_rating`` float64 (NaN when unknown).
* ``Interactions``: ``user_id`` int64, ``item_id`` int64, ``rating`` float64 (NaN = implicit),
  ``timestamp`` int64 (Unix seconds; ``-1`` when the dataset has no time).
* ``Users``: ``user_id`` int64, ``external_id`` str, ``gender`` str, ``age`` str,
  ``occupation`` str (empty string when unknown) plus any extra columns.
* ``Impressions``: ``impression_id`` int64, ``user_id`` int64, ``timestamp`` int64,
  ``items`` list[int] (ordered, as shown), ``clicked`` list[int] (subset of ``items``),
  ``dwell`` float64 (NaN when unknown), ``session_id`` int64 (``-1`` when unknown).

Example:
    >>> import pandas as pd
    >>> from alignuser.data.tables import Interactions
    >>> inter = Interactions.from_frame(pd.DataFrame(
    ...     {"user_id": [0, 0, 1], "item_id": [1, 2, 1], "rating": [5.0, 3.0, 4.0]}))
    >>> inter.n_users, len(inter)
    (2, 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from alignuser.errors import DatasetError

_LIST = "list"


def _coerce(frame: pd.DataFrame, schema: dict[str, object], name: str) -> pd.DataFrame:
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise DatasetError(f"{name}: missing column(s) {missing}; have {list(frame.columns)}")
    out = frame.copy()
    for col, dtype in schema.items():
        if dtype == _LIST:
            out[col] = [list(v) if v is not None else [] for v in out[col]]
        elif dtype is str:
            out[col] = out[col].fillna("").astype(str)
        else:
            try:
                out[col] = out[col].astype(dtype)
            except (TypeError, ValueError) as exc:
                raise DatasetError(
                    f"{name}: column {col!r} cannot be read as {dtype}: {exc}"
                ) from exc
    return out.reset_index(drop=True)


class _Table:
    """Shared behaviour: schema check, Parquet round trip, length."""

    SCHEMA: ClassVar[dict[str, object]] = {}
    DEFAULTS: ClassVar[dict[str, object]] = {}
    df: pd.DataFrame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, **kwargs):
        """Build the table from a DataFrame, filling optional columns with their defaults."""
        frame = frame.copy()
        for col, default in cls.DEFAULTS.items():
            if col not in frame.columns:
                frame[col] = [default() if callable(default) else default] * len(frame)
        return cls(_coerce(frame, cls.SCHEMA, cls.__name__), **kwargs)

    def to_parquet(self, path: str | Path) -> None:
        """Write the table to a Parquet file."""
        self.df.to_parquet(path, index=False)

    @classmethod
    def read_parquet(cls, path: str | Path, **kwargs):
        """Read a table written by :meth:`to_parquet`."""
        return cls.from_frame(pd.read_parquet(path), **kwargs)

    def __len__(self) -> int:
        return len(self.df)


@dataclass(eq=False)
class Catalog(_Table):
    """The items: one row per item, ``item_id`` equal to the row index."""

    df: pd.DataFrame
    SCHEMA: ClassVar = {
        "item_id": "int64",
        "external_id": str,
        "title": str,
        "genres": _LIST,
        "year": "Int64",
        "text": str,
        "popularity": "int64",
        "mean_rating": "float64",
    }
    DEFAULTS: ClassVar = {
        "external_id": "",
        "title": "",
        "genres": list,
        "year": pd.NA,
        "text": "",
        "popularity": 0,
        "mean_rating": np.nan,
    }

    def __post_init__(self):
        if len(self.df) == 0:
            raise DatasetError("Catalog is empty")
        self.df = self.df.sort_values("item_id").reset_index(drop=True)
        if not np.array_equal(self.df["item_id"].to_numpy(), np.arange(len(self.df))):
            raise DatasetError("Catalog item_id must be contiguous 0..n-1")

    @property
    def n_items(self) -> int:
        """Number of items."""
        return len(self.df)

    @property
    def genre_vocabulary(self) -> list[str]:
        """Sorted list of all genres/tags in the catalog."""
        return sorted({g for gs in self.df["genres"] for g in gs})

    def with_statistics(self, interactions: Interactions) -> Catalog:
        """Return a copy whose popularity and mean rating come from ``interactions``."""
        df = self.df.copy()
        counts = np.bincount(interactions.df["item_id"].to_numpy(), minlength=self.n_items)
        df["popularity"] = counts[: self.n_items]
        rated = interactions.df.dropna(subset=["rating"])
        if len(rated):
            means = rated.groupby("item_id")["rating"].mean()
            mr = np.full(self.n_items, np.nan)
            mr[means.index.to_numpy()] = means.to_numpy()
            df["mean_rating"] = mr
        return Catalog(df)

    def check_ids(self, item_ids: np.ndarray, what: str = "item") -> None:
        """Raise :class:`DatasetError` if any id is outside the catalog."""
        ids = np.asarray(item_ids)
        bad = ids[(ids < 0) | (ids >= self.n_items)]
        if bad.size:
            raise DatasetError(f"{bad.size} unknown {what} id(s), e.g. {bad[:5].tolist()}")


@dataclass(eq=False)
class Interactions(_Table):
    """User-item events (ratings or implicit), one row each."""

    df: pd.DataFrame
    SCHEMA: ClassVar = {
        "user_id": "int64",
        "item_id": "int64",
        "rating": "float64",
        "timestamp": "int64",
    }
    DEFAULTS: ClassVar = {"rating": np.nan, "timestamp": -1}

    @property
    def n_users(self) -> int:
        """``max(user_id) + 1`` (ids are contiguous)."""
        return int(self.df["user_id"].max()) + 1 if len(self.df) else 0

    @property
    def is_explicit(self) -> bool:
        """True when every row has a rating."""
        return bool(len(self.df)) and not self.df["rating"].isna().any()

    @property
    def has_time(self) -> bool:
        """True when timestamps are known."""
        return bool(len(self.df)) and bool((self.df["timestamp"] >= 0).all())

    def to_csr(self, n_users: int | None = None, n_items: int | None = None, binary: bool = True):
        """Return a ``scipy.sparse.csr_matrix`` users x items (1.0, or the rating)."""
        import scipy.sparse as sp

        n_users = n_users or self.n_users
        n_items = n_items or (int(self.df["item_id"].max()) + 1 if len(self.df) else 0)
        vals = (
            np.ones(len(self.df), dtype=np.float32)
            if binary or not self.is_explicit
            else self.df["rating"].to_numpy(np.float32)
        )
        m = sp.csr_matrix(
            (vals, (self.df["user_id"].to_numpy(), self.df["item_id"].to_numpy())),
            shape=(n_users, n_items),
            dtype=np.float32,
        )
        m.sum_duplicates()
        if binary:
            m.data[:] = 1.0
        return m

    def items_by_user(self) -> dict[int, np.ndarray]:
        """Map user id -> array of item ids (in row order)."""
        return {int(u): g.to_numpy() for u, g in self.df.groupby("user_id", sort=True)["item_id"]}

    def subset(self, mask: np.ndarray | pd.Series) -> Interactions:
        """Rows where ``mask`` is true, as a new table."""
        return Interactions(self.df[np.asarray(mask)].reset_index(drop=True))

    def concat(self, other: Interactions) -> Interactions:
        """Rows of both tables."""
        return Interactions(pd.concat([self.df, other.df], ignore_index=True))


@dataclass(eq=False)
class Users(_Table):
    """Optional user attributes (demographics)."""

    df: pd.DataFrame
    SCHEMA: ClassVar = {
        "user_id": "int64",
        "external_id": str,
        "gender": str,
        "age": str,
        "occupation": str,
    }
    DEFAULTS: ClassVar = {"external_id": "", "gender": "", "age": "", "occupation": ""}


@dataclass(eq=False)
class Impressions(_Table):
    """Pages really shown to users, in order, with what was clicked."""

    df: pd.DataFrame
    SCHEMA: ClassVar = {
        "impression_id": "int64",
        "user_id": "int64",
        "timestamp": "int64",
        "items": _LIST,
        "clicked": _LIST,
        "dwell": "float64",
        "session_id": "int64",
    }
    DEFAULTS: ClassVar = {"dwell": np.nan, "session_id": -1, "timestamp": -1}

    def __post_init__(self):
        for row, (items, clicked) in enumerate(zip(self.df["items"], self.df["clicked"])):
            extra = set(clicked) - set(items)
            if extra:
                raise DatasetError(
                    f"Impressions row {row}: clicked items {sorted(extra)} were not shown"
                )
