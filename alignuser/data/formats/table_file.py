"""Reading a CSV/TSV/Parquet file's columns by role, for the generic loader.

:func:`read_table` reads the columns a role mapping names (as strings), keeping each row's
1-based line and the rows with the wrong number of fields; :func:`read_header` reads only the
column names, :func:`parse_timestamps` turns Unix seconds or ISO-8601 strings into seconds.

Example:
    >>> import pandas as pd
    >>> from alignuser.data.formats.table_file import parse_timestamps
    >>> seconds, bad = parse_timestamps(pd.Series(["10", "", "x"]))
    >>> seconds.tolist(), bad.tolist()
    ([10, -1, -1], [False, False, True])
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from alignuser.errors import DatasetError

__all__ = ["parse_timestamps", "read_header", "read_table"]


def read_table(
    path: Path, wanted: dict[str, str], sep: str | None, encoding: str, option: str = "columns"
):
    """Read the ``wanted`` columns (role -> column) as strings.

    Returns:
        ``(frame, lines, bad)``: frame with one column per role; the 1-based line of each row
        (``None`` for Parquet, where the row index is used); ``bad`` = list of
        ``(line, reason)`` for rows with the wrong number of fields.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"missing file {path}")
    if path.stat().st_size == 0:
        raise DatasetError(f"{path} is empty")
    if path.suffix.lower() in {".parquet", ".pq"}:
        df = pd.read_parquet(path)
        _check_columns(path, wanted, list(df.columns), option)
        out = pd.DataFrame({r: df[c] for r, c in wanted.items()})
        return out, None, []
    sep = sep or ("\t" if path.suffix.lower() == ".tsv" else ",")
    with open(path, encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=sep)
        header = next(reader, None)
        if not header:
            raise DatasetError(f"{path} is empty (no header row)")
        header = [h.strip().lstrip("\ufeff") for h in header]
        _check_columns(path, wanted, header, option)
        pos = [header.index(c) for c in wanted.values()]
        cols: list[list[str]] = [[] for _ in pos]
        lines: list[int] = []
        bad: list[tuple[int, str]] = []
        start, n = 2, len(header)
        for row in reader:
            line, start = start, reader.line_num + 1
            if not row:
                continue
            if len(row) != n:
                bad.append((line, f"expected {n} fields ({sep!r}-separated), found {len(row)}"))
                continue
            for c, p in zip(cols, pos):
                c.append(row[p])
            lines.append(line)
    return pd.DataFrame(dict(zip(wanted, cols)), dtype=object), np.array(lines), bad


def _check_columns(path: Path, wanted: dict[str, str], have: list[str], option: str) -> None:
    missing = [f"{role}={col!r}" for role, col in wanted.items() if col not in have]
    if missing:
        role = next(r for r, c in wanted.items() if c not in have)
        hint = "split_column=COLUMN" if role == "split" else f"{option}={{'{role}': COLUMN}}"
        raise DatasetError(
            f"{path}: column(s) {', '.join(missing)} not found; columns are {have}; "
            f"name yours with {hint}"
        )


def parse_timestamps(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Seconds (``-1`` when empty) and a mask of unreadable values."""
    text = values.astype("string").str.strip()
    empty = text.isna() | (text == "")
    num = pd.to_numeric(text, errors="coerce")
    unreadable = (num.isna() & ~empty).to_numpy(bool)
    if len(unreadable) and unreadable.mean() > 0.5:
        dt = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
        num = pd.Series((dt - pd.Timestamp(0, tz="UTC")).dt.total_seconds(), index=text.index)
    bad = (num.isna() & ~empty).to_numpy(bool)
    return num.fillna(-1).to_numpy(np.int64), bad


def read_header(path: Path, sep: str | None, encoding: str) -> list[str]:
    """The column names of a CSV/TSV/Parquet file (``[]`` when missing or empty)."""
    if path.suffix.lower() in {".parquet", ".pq"}:
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    if not path.is_file() or path.stat().st_size == 0:
        return []
    with open(path, encoding=encoding, newline="") as fh:
        row = next(csv.reader(fh, delimiter=sep or ("\t" if path.suffix == ".tsv" else ",")), [])
    return [h.strip().lstrip("\ufeff") for h in row]
