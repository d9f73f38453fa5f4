"""Bring your own data: a CSV/TSV/Parquet interactions file with a column mapping.

The mapping names which of your columns hold the user, item, rating and timestamp
(``rating`` and ``timestamp`` are optional). An optional items file gives titles, genres, year
and text. Timestamps may be Unix seconds or ISO-8601 strings.

Malformed rows (wrong field count, empty user/item, non-numeric rating, unreadable timestamp)
raise :class:`~alignuser.errors.DataFormatError` naming the file and the 1-based line (for
Parquet, the 1-based row), unless ``on_bad_rows="skip"``: then they are dropped, the count is
logged at WARNING and stored in ``dataset.meta["dropped_rows"]``. Interactions whose item is
not in the items file are handled the same way (``meta["unknown_item_rows"]``).
Catalog statistics are computed on all interactions.

**Items file columns.** Without ``item_columns`` the items file's columns are found by name:
the id column is the one named like the interactions' item column (``columns["item"]``),
else ``item_id``, ``item``, ``id``, ``itemId`` or ``movieId``; ``title`` (or ``name``),
``genres`` (or ``genre``, ``tags``, ``categories``), ``year`` and ``text`` (or
``description``) are read when present. ``item_columns`` overrides any of them
(``{"item": "iid", "title": "name", "genres": "tags", "genre_sep": "|"}``).

**Impressions (pages shown).** With ``columns={"page": ..., "click": ...}`` (and
optionally ``"position"``, and ``"arm"``: the A/B variant that served the page, kept as
the pages' ``arm`` column) each row is one item shown on a page: rows with the same page id
form one page of ``dataset.impressions`` (items in position order, else row order; the
page's time its earliest row's), clicked rows (``click`` 1, else 0) are the interactions.
Such a log serves the page protocols (next action, replay, A/B arms); the page's rows must
belong to one user.

**A split by a column's values.** ``split_column="fold"`` reads that column of the
interactions file: rows whose value is ``test`` form the test part, ``valid`` (or
``validation``) the validation part, ``train`` the training part (case-insensitive; any
other value is an error naming it). The split ships with the dataset as ``column:fold``
(``make_split(ds, "column")``, ``alignuser eval ... --split column:fold``).

Example:
    >>> from alignuser.data.formats.generic import GenericLoader
    >>> ds = GenericLoader().load(  # doctest: +SKIP
    ...     "ratings.csv",
    ...     columns={"user": "uid", "item": "iid", "rating": "stars", "timestamp": "ts"},
    ...     items="movies.csv",
    ...     item_columns={"item": "iid", "title": "name", "genres": "tags", "genre_sep": "|"},
    ... )
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from alignuser.data.dataset import Dataset, RatingScale
from alignuser.data.formats.common import assemble, index_of, year_from_title
from alignuser.data.formats.table_file import parse_timestamps, read_header, read_table
from alignuser.errors import DataFormatError, DatasetError

logger = logging.getLogger(__name__)
DEFAULT_COLUMNS = {
    "user": "user_id",
    "item": "item_id",
    "rating": "rating",
    "timestamp": "timestamp",
}
PAGE_ROLES = ("page", "click", "position", "arm")
"""Roles that make the rows slots of shown pages (impressions); only when ``page`` is mapped."""
_SUFFIXES = {".csv", ".tsv", ".parquet", ".pq"}


class GenericLoader:
    """Interactions from one CSV/TSV/Parquet file with a column mapping (see module docs)."""

    name = "generic"

    def detect(self, path: Path) -> bool:
        """True when ``path`` is a single ``.csv``, ``.tsv`` or ``.parquet`` file."""
        return Path(path).is_file() and Path(path).suffix.lower() in _SUFFIXES

    def load(
        self,
        path: Path,
        columns: dict[str, str] | None = None,
        items: str | Path | None = None,
        item_columns: dict[str, str] | None = None,
        sep: str | None = None,
        on_bad_rows: str = "error",
        scale_max: int | None = None,
        encoding: str = "utf-8",
        name: str | None = None,
        split_column: str | None = None,
    ) -> Dataset:
        """Read the interactions (and optional items) file.

        Args:
            path: Interactions file.
            columns: Role -> column: ``user``, ``item`` (required), ``rating``, ``timestamp``.
                Unset roles default to ``user_id``/``item_id``/``rating``/``timestamp``;
                the last two are skipped when the file lacks them.
            items: Optional items file (same formats).
            item_columns: ``item``, ``title``, ``genres``, ``year``, ``text`` columns and
                ``genre_sep`` (default ``"|"``); unset ones are found by name (module docs).
            sep: Field separator (default ``","``; a tab for ``.tsv``).
            on_bad_rows: ``"error"`` (default) or ``"skip"`` (drop, count, log).
            scale_max: Top of the rating scale (default: 5 when ratings are <= 5, else 10,
                else the ceiling of the largest rating).
            encoding: Text encoding of CSV files.
            name: Dataset name (default: the file stem).
            split_column: Column whose values (``train`` / ``valid`` / ``test``) give the
                shipped split ``column:<split_column>``.
        """
        if on_bad_rows not in ("error", "skip"):
            raise DatasetError(f"on_bad_rows must be 'error' or 'skip', not {on_bad_rows!r}")
        if columns is not None and not isinstance(columns, dict):
            raise DatasetError(f"columns must map roles to column names, got {columns!r}")
        path = Path(path)
        wanted = self._wanted(path, dict(columns or {}), sep, encoding)
        if split_column is not None:
            wanted["split"] = split_column
        frame, lines, bad = read_table(path, wanted, sep, encoding)
        if not len(frame) and not bad:
            raise DatasetError(f"{path}: no interactions (the file has no data rows)")
        where = lines if lines is not None else np.arange(1, len(frame) + 1)
        reasons = _parse_rows(frame, wanted, where, dict(bad))
        self._report(path, lines is None, reasons, on_bad_rows)
        keep = ~np.isin(where, list(reasons))
        frame = frame[keep].reset_index(drop=True)
        meta: dict[str, object] = {"path": str(path), "dropped_rows": len(reasons)}
        if not len(frame):
            raise DatasetError(f"{path}: no interactions left to load")

        item_frame = self._items(frame, items, item_columns, sep, encoding, wanted["item"])
        if items is not None:
            frame = _drop_unknown_items(path, frame, item_frame, items, on_bad_rows, meta)
        scale = _scale(frame, scale_max)
        raw_splits = None
        if "page" in frame:
            return _pages_dataset(name or path.stem, path, frame, item_frame, scale, meta)
        if split_column is not None:
            raw_splits = {f"column:{split_column}": _column_parts(path, frame, split_column)}
            frame = frame.drop(columns="split")
        return assemble(
            name or path.stem, item_frame, frame, None, scale, raw_splits=raw_splits, meta=meta
        )

    @staticmethod
    def _wanted(path: Path, columns: dict[str, str], sep: str | None, enc: str) -> dict[str, str]:
        unknown = set(columns) - set(DEFAULT_COLUMNS) - set(PAGE_ROLES)
        if unknown:
            raise DatasetError(
                f"unknown column role(s) {sorted(unknown)}; use {list(DEFAULT_COLUMNS)} "
                f"(and {list(PAGE_ROLES)} for an impressions log)"
            )
        if set(columns) & {"click", "position", "arm"} and "page" not in columns:
            raise DatasetError("columns click / position / arm need columns.page (the page id)")
        wanted = {**DEFAULT_COLUMNS, **columns}
        optional = [r for r in ("rating", "timestamp") if r not in columns]
        if optional:
            have = read_header(path, sep, enc)
            wanted = {r: c for r, c in wanted.items() if r not in optional or c in have}
        return wanted

    @staticmethod
    def _report(path: Path, parquet: bool, reasons: dict[int, str], mode: str) -> None:
        if not reasons:
            return
        first = min(reasons)
        if mode == "error":
            line, msg = (
                (None, f"row {first}: {reasons[first]}") if parquet else (first, reasons[first])
            )
            raise DataFormatError(path, line, msg + " (pass on_bad_rows='skip' to drop bad rows)")
        logger.warning(
            "%s: dropped %d malformed row(s); first at %s %d: %s",
            path, len(reasons), "row" if parquet else "line", first, reasons[first],
        )  # fmt: skip

    @staticmethod
    def _items(frame, items, item_columns, sep, encoding, item_key="item_id") -> pd.DataFrame:
        if items is None:
            uniq = pd.unique(frame["item"])
            return pd.DataFrame({"item": uniq, "title": [f"Item {i}" for i in uniq]})
        spec = dict(item_columns or {})
        genre_sep = spec.pop("genre_sep", "|")
        spec = {**_item_spec(Path(items), spec, item_key, sep, encoding), **spec}
        df, _, bad = read_table(Path(items), spec, sep, encoding, "item_columns")
        if bad:
            raise DataFormatError(items, bad[0][0], bad[0][1])
        out = pd.DataFrame({"item": df["item"].astype("string").str.strip()})
        out["title"] = (
            df["title"].fillna("").astype(str) if "title" in df else "Item " + out["item"]
        )
        if "genres" in df:
            out["genres"] = [
                [g.strip() for g in str(s).split(genre_sep) if g.strip()] if pd.notna(s) else []
                for s in df["genres"]
            ]
        out["year"] = (
            pd.to_numeric(df["year"], errors="coerce").astype("Int64")
            if "year" in df
            else year_from_title(out["title"])
        )
        if "text" in df:
            out["text"] = df["text"].fillna("").astype(str)
        return out.drop_duplicates("item")


def _parse_rows(
    frame: pd.DataFrame, wanted: dict[str, str], where: np.ndarray, reasons: dict[int, str]
) -> dict[int, str]:
    """Strip the ids and parse ratings and timestamps of ``frame`` in place.

    Returns:
        ``reasons`` (line -> why the row is bad) with the rows found bad here added.
    """
    for role in ("user", "item"):
        val = frame[role].astype("string").str.strip()
        for i in np.flatnonzero((val.isna() | (val == "")).to_numpy()):
            reasons.setdefault(int(where[i]), f"empty {role} ({wanted[role]!r})")
        frame[role] = val
    if "rating" in frame:
        txt = frame["rating"].astype("string").str.strip()
        num = pd.to_numeric(txt, errors="coerce")
        for i in np.flatnonzero((num.isna() & txt.notna() & (txt != "")).to_numpy()):
            reasons.setdefault(int(where[i]), f"non-numeric rating {txt.iloc[i]!r}")
        frame["rating"] = num.astype(np.float64)
    else:
        frame["rating"] = np.nan
    if "timestamp" in frame:
        ts, bad_ts = parse_timestamps(frame["timestamp"])
        for i in np.flatnonzero(bad_ts):
            val = frame["timestamp"].iloc[i]
            reasons.setdefault(int(where[i]), f"unreadable timestamp {val!r}")
        frame["timestamp"] = ts
    else:
        frame["timestamp"] = -1
    return reasons


def _drop_unknown_items(path, frame, item_frame, items, on_bad_rows, meta) -> pd.DataFrame:
    """``frame`` without rows whose item the items file lacks (or an error); counts in ``meta``."""
    unknown = index_of(frame["item"], item_frame["item"].to_numpy()) < 0
    if unknown.any():
        ex = frame["item"][unknown].unique()[:5].tolist()
        msg = f"{path}: {int(unknown.sum())} row(s) name items absent from {items}, e.g. {ex}"
        if on_bad_rows == "error":
            raise DatasetError(msg + " (pass on_bad_rows='skip' to drop them)")
        logger.warning("%s; dropped", msg)
        frame = frame[~unknown].reset_index(drop=True)
    meta["unknown_item_rows"] = int(unknown.sum())
    return frame


def _scale(frame: pd.DataFrame, scale_max: int | None) -> RatingScale | None:
    """The rating scale: ``scale_max``, else 5 / 10 / the ceiling of the top rating."""
    rated = frame["rating"].dropna()
    scale = None
    if len(rated):
        top = float(rated.max())
        scale = RatingScale(scale_max or (5 if top <= 5 else 10 if top <= 10 else math.ceil(top)))
    return scale


_ITEM_NAMES = {
    "item": ("item_id", "item", "id", "itemId", "movieId"),
    "title": ("title", "name"),
    "genres": ("genres", "genre", "tags", "categories"),
    "year": ("year",),
    "text": ("text", "description"),
}


def _item_spec(path: Path, given: dict, item_key: str, sep, encoding) -> dict[str, str]:
    """Role -> column of the items file for the roles ``given`` leaves unset (found by name)."""
    header = read_header(path, sep, encoding)
    if not header:
        raise DatasetError(f"{path}: the items file is missing or empty")
    found = {}
    for role, names in _ITEM_NAMES.items():
        if role in given:
            continue
        cands = (item_key, *names) if role == "item" else names
        hit = next((c for c in cands if c in header), None)
        if hit is not None:
            found[role] = hit
    if "item" not in given and "item" not in found:
        raise DatasetError(
            f"{path}: no item id column found (looked for {[item_key, *_ITEM_NAMES['item']]}); "
            f"columns are {header}; name it with item_columns={{'item': COLUMN}}"
        )
    return found


def _pages_dataset(name, path, frame, item_frame, scale, meta) -> Dataset:
    """Rows as slots of pages: impressions grouped by ``page``, clicked rows as interactions."""
    import dataclasses

    from alignuser.data.tables import Impressions

    if "click" not in frame:
        raise DatasetError(f"{path}: columns.page needs columns.click (1 = clicked, 0 = shown)")
    click = pd.to_numeric(frame["click"].astype("string").str.strip(), errors="coerce")
    if click.isna().any() or not click.isin([0, 1]).all():
        bad = frame["click"][click.isna() | ~click.isin([0, 1])].iloc[0]
        raise DatasetError(f"{path}: click column has value {bad!r}; use 0 or 1")
    frame = frame.assign(click=click.astype(int))
    if "position" in frame:
        pos = pd.to_numeric(frame["position"], errors="coerce")
        if pos.isna().any():
            raise DatasetError(f"{path}: position column has non-numeric values")
        frame = frame.assign(position=pos)
    else:
        frame = frame.assign(position=np.arange(len(frame)))
    clicks = frame[frame["click"] == 1]
    if not len(clicks):
        raise DatasetError(f"{path}: no clicked row (click = 1): nothing to learn from")
    users = pd.DataFrame({"user": pd.unique(frame["user"])})
    ds = assemble(name, item_frame, clicks, users, scale, meta={**meta, "pages": True})
    user_vocab = ds.users.df.sort_values("user_id")["external_id"].to_numpy()
    item_vocab = ds.catalog.df.sort_values("item_id")["external_id"].to_numpy()
    frame = frame.assign(uid=index_of(frame["user"], user_vocab),
                         iid=index_of(frame["item"], item_vocab))  # fmt: skip
    rows = []
    for k, (page, g) in enumerate(frame.groupby("page", sort=False)):
        g = g.sort_values("position", kind="stable")
        if g["uid"].nunique() > 1:
            raise DatasetError(f"{path}: page {page!r} has rows of more than one user")
        items = g["iid"].tolist()
        clicked = [i for i, c in zip(items, g["click"]) if c]
        row = {"impression_id": k, "user_id": int(g["uid"].iloc[0]),
               "timestamp": int(g["timestamp"].min()), "items": items, "clicked": clicked,
               "page_id": str(page)}  # fmt: skip
        if "arm" in g:
            if g["arm"].nunique() > 1:
                raise DatasetError(f"{path}: page {page!r} has rows of more than one arm")
            row["arm"] = str(g["arm"].iloc[0])
        rows.append(row)
    return dataclasses.replace(ds, impressions=Impressions.from_frame(pd.DataFrame(rows)))


def _column_parts(path: Path, frame: pd.DataFrame, column: str):
    """``(train, valid, test)`` frames of the rows by the ``column`` values."""
    value = frame["split"].astype("string").str.strip().str.lower()
    part = value.map({"train": 0, "valid": 1, "validation": 1, "test": 2})
    if part.isna().any():
        bad = sorted(set(value[part.isna()].fillna("<empty>")))[:5]
        raise DatasetError(
            f"{path}: split column {column!r} has value(s) {bad}; use train, valid or test"
        )
    if not (part == 2).any():
        raise DatasetError(f"{path}: split column {column!r} has no 'test' row")
    return tuple(frame[part == k].drop(columns="split") for k in (0, 1, 2))
