"""Book-Crossing as prepared by CaseRecommender: explicit 1..10 ratings, or implicit history.

Files (tab-separated, one header row): ``book_ratings.dat`` (``user item rating``, ratings
written as floats), ``book_history.dat`` (``user item accessed``, always 1), ``items_info.dat``
and ``users_info.dat``.

Source quirks, handled as the dataset README says (not silently "fixed"):

* ``items_info.dat`` was written without quoting and with ``&amp;`` split at ``;``, so some
  rows have extra fields. It is read with ``csv.QUOTE_NONE`` semantics and only columns 0-4
  (id, ISBN, title, author, year) are used, positionally; publisher and URLs are ignored as
  unreliable. A year of 0 becomes unknown.
* ``users_info.dat`` has location and age only (no gender/occupation); the location is kept
  in the extra ``location`` column of ``dataset.users``.

The catalog covers every book in ``items_info.dat`` (statistics on all loaded interactions);
users are those with at least one loaded interaction. Ratings stay on 1..10
(``RatingScale(max=10)``); ``implicit=True`` loads the history instead (``scale=None``).

Example:
    >>> from alignuser.data.formats.bookcrossing import BookCrossingLoader
    >>> ds = BookCrossingLoader().load("../shared/data/bookcrossing-caserec")  # doctest: +SKIP
    >>> ds.scale.max  # doctest: +SKIP
    10
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from alignuser.data.dataset import Dataset, RatingScale
from alignuser.data.formats.common import assemble, require_file
from alignuser.errors import DataFormatError


def read_items(path: Path) -> pd.DataFrame:
    """Columns 0-4 of ``items_info.dat`` (``QUOTE_NONE``, positional), as ``assemble`` takes."""
    rows = []
    with open(path, encoding="utf-8", newline="") as fh:
        next(fh, None)
        for lineno, line in enumerate(fh, 2):
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) < 5:
                if not line.strip():
                    continue
                raise DataFormatError(
                    path, lineno, f"expected at least 5 fields, found {len(fields)}"
                )
            rows.append(fields[:5])
    raw = pd.DataFrame(rows, columns=["item", "isbn", "title", "author", "year"])
    year = pd.to_numeric(raw["year"], errors="coerce").astype("Int64")
    author = raw["author"].str.strip()
    return pd.DataFrame(
        {
            "item": raw["item"].str.strip(),
            "title": raw["title"].str.strip(),
            "year": year.where(year > 0),
            "text": np.where(author != "", "by " + author, ""),
        }
    )


class BookCrossingLoader:
    """Book-Crossing (CaseRecommender subset); see the module docstring for the quirks."""

    name = "bookcrossing"

    def detect(self, path: Path) -> bool:
        """True when ``path`` has ``items_info.dat`` and a ratings or history file."""
        p = Path(path)
        return (p / "items_info.dat").is_file() and (
            (p / "book_ratings.dat").is_file() or (p / "book_history.dat").is_file()
        )

    def load(self, path: Path, implicit: bool = False) -> Dataset:
        """Read the folder: explicit ratings, or the implicit history when ``implicit``."""
        path = Path(path)
        fname = "book_history.dat" if implicit else "book_ratings.dat"
        r = pd.read_csv(require_file(path / fname, "bookcrossing"), sep="\t", dtype=str)
        value = r.columns[2]
        rating = np.nan if implicit else pd.to_numeric(r[value], errors="coerce")
        ratings = pd.DataFrame(
            {"user": r["user"], "item": r["item"], "rating": rating, "timestamp": -1}
        )
        if not implicit and ratings["rating"].isna().any():
            bad = int(np.flatnonzero(ratings["rating"].isna().to_numpy())[0])
            raise DataFormatError(path / fname, bad + 2, f"non-numeric rating {r[value][bad]!r}")
        items = read_items(require_file(path / "items_info.dat", "bookcrossing"))
        users = None
        if (path / "users_info.dat").is_file():
            u = pd.read_csv(path / "users_info.dat", sep="\t", dtype=str, index_col=False)
            u = u.iloc[:, :3].set_axis(["user", "location", "age"], axis=1)
            u = u[u["user"].isin(set(ratings["user"]))]
            users = u.assign(age=u["age"].fillna("").str.strip(), location=u["location"].fillna(""))
        return assemble(
            "bookcrossing" + ("-implicit" if implicit else ""),
            items, ratings, users, None if implicit else RatingScale(10),
            meta={"path": str(path), "source_file": fname},
        )  # fmt: skip
