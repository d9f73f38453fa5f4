"""Checks of a run folder's Parquet parts before they are read (``report``, ``--resume``).

When a recommender finishes, the runner records what it wrote in its manifest entry
(:func:`count_outputs`: parts and rows per table). :func:`verify_run` then checks, from the
Parquet footers only (cheap), that every part opens, has the table's columns, and that the
parts and rows of each finished recommender match that record, so a truncated, damaged,
missing or extra part is named instead of surfacing as an ``ArrowInvalid`` traceback or
passing silently.

Example:
    >>> from alignuser.simulation.integrity import verify_run  # doctest: +SKIP
    >>> verify_run("runs/quickstart")  # doctest: +SKIP
    Traceback (most recent call last):
    alignuser.errors.RunOutputError: runs/quickstart/events/ease/part-000012.parquet: ...
"""

from __future__ import annotations

from glob import escape
from pathlib import Path

from alignuser.errors import RunOutputError
from alignuser.simulation.outputs import EVENT_COLUMNS, SESSION_COLUMNS, THOUGHT_COLUMNS

__all__ = ["count_outputs", "verify_run"]

TABLES = {"events": EVENT_COLUMNS, "sessions": SESSION_COLUMNS, "thoughts": THOUGHT_COLUMNS}
#: Columns every model series has (the DataCollector's reporters vary).
SERIES_COLUMNS = ["step", "pages"]


def _parts(run_dir: Path, label: str) -> dict[str, list[Path]]:
    out = {kind: sorted((run_dir / kind / label).glob("part-*.parquet")) for kind in TABLES}
    series, stem = run_dir / "series", escape(label)
    out["series"] = sorted(
        [*series.glob(f"{stem}.parquet"), *series.glob(f"{stem}.s[0-9][0-9][0-9][0-9].parquet")]
    )
    return out


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def count_outputs(run_dir: str | Path, label: str) -> dict[str, dict[str, int]]:
    """Parts and rows of one recommender's tables, as the manifest records them."""
    run_dir = Path(run_dir)
    return {
        kind: {"parts": len(files), "rows": sum(_rows(f) for f in files)}
        for kind, files in _parts(run_dir, label).items()
    }


def _check_part(path: Path, columns: list[str]) -> tuple[int | None, str | None]:
    """``(rows, problem)`` of one part, from its footer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, f"damaged, not a complete Parquet file ({first})"
    missing = [c for c in columns if c not in pf.schema_arrow.names]
    if missing:
        return None, f"wrong schema: missing column(s) {missing}"
    return pf.metadata.num_rows, None


def verify_run(run_dir: str | Path, fix: str | None = None) -> None:
    """Check every Parquet part of a run folder and the finished recommenders' row counts.

    Args:
        run_dir: The run folder.
        fix: What the user should do about a problem (appended to the message); the default
            says to run the scenario again into a new folder.

    Raises:
        RunOutputError: One line per damaged part or mismatched count, then the fix.
    """
    from alignuser.simulation.outputs import read_manifest

    run_dir = Path(run_dir)
    entries = read_manifest(run_dir).get("recommenders", {})
    labels = set(entries)
    for kind in TABLES:
        if (run_dir / kind).is_dir():
            labels |= {p.name for p in (run_dir / kind).iterdir() if p.is_dir()}
    problems: list[str] = []
    for label in sorted(labels):
        recorded = entries.get(label, {}).get("outputs")
        for kind, files in _parts(run_dir, label).items():
            columns = TABLES.get(kind, SERIES_COLUMNS)
            rows, bad = 0, False
            for f in files:
                n, problem = _check_part(f, columns)
                if problem:
                    problems.append(f"{f}: {problem}")
                    bad = True
                else:
                    rows += n
            want = (recorded or {}).get(kind)
            if want is None or bad:
                continue
            if (len(files), rows) != (want["parts"], want["rows"]):
                problems.append(
                    f"{run_dir / kind / label}: {len(files)} part(s) with {rows} rows, the "
                    f"manifest records {want['parts']} with {want['rows']} (a part is missing, "
                    "extra or rewritten)"
                )
    if problems:
        fix = fix or (
            f"the run folder is damaged; run the scenario again into a new folder: "
            f"alignuser run {run_dir / 'scenario.yaml'} --out NEW_RUN_DIR"
        )
        raise RunOutputError("\n".join([*problems, fix]))
