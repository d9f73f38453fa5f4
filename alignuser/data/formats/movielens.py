"""MovieLens loaders: ``ml-100k``, ``ml-1m`` and ``ml-latest(-small)``, detected by their files.

Catalog statistics (``popularity``, ``mean_rating``) are computed on **all** interactions:
these datasets ship no single train part (ml-100k's u1..u5/ua/ub are cross-validation folds).
Pass ``statistics="u1"`` (any provided split name) to compute them on that split's train part,
or call ``dataset.catalog.with_statistics(split.train)`` before evaluating on a split, to
avoid test leakage. ``dataset.meta["statistics_from"]`` records which data were used.

Genders are written ``"Female"``/``"Male"``; ml-1m age and occupation codes are spelled out
as in its README (``"25-34"``, ``"K-12 student"``), as Agent4Rec does.

Example:
    >>> from alignuser.data.formats.movielens import MovieLens100K
    >>> ds = MovieLens100K().load("../shared/data/ml-100k")  # doctest: +SKIP
    >>> ds.splits["u1"].summary()  # doctest: +SKIP
    {'train': 80000, 'valid': 0, 'test': 20000}
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alignuser.data.dataset import Dataset, RatingScale
from alignuser.data.formats.common import (
    assemble,
    read_separated,
    require_file,
    year_from_title,
)

ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip
ML1M_AGES = {
    1: "Under 18", 18: "18-24", 25: "25-34", 35: "35-44", 45: "45-49", 50: "50-55", 56: "56+",
}  # fmt: skip
ML1M_OCCUPATIONS = [
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
]  # fmt: skip
GENDERS = {"F": "Female", "M": "Male"}
_RATING_COLS = ["user", "item", "rating", "timestamp"]


def _ratings(path: Path, sep: str = "\t") -> pd.DataFrame:
    if sep == "\t":
        return pd.read_csv(path, sep="\t", header=None, names=_RATING_COLS, dtype={"rating": float})
    return read_separated(path, sep, _RATING_COLS, "latin-1", dtype={"rating": float})


class MovieLens100K:
    """MovieLens 100K (``u.data``, ``u.item``, ``u.user``, splits ``u1..u5``, ``ua``, ``ub``)."""

    name = "ml-100k"

    def detect(self, path: Path) -> bool:
        """True when ``path`` is a folder with ``u.data``."""
        return (Path(path) / "u.data").is_file()

    def load(self, path: Path, statistics: str | None = None) -> Dataset:
        """Read the folder; ``statistics`` names a split whose train part gives item stats."""
        path = Path(path)
        ratings = _ratings(require_file(path / "u.data", "ml-100k"))
        cols = ["item", "title", "release", "video", "url", *ML100K_GENRES]
        raw = pd.read_csv(
            require_file(path / "u.item", "ml-100k"), sep="|", header=None, names=cols,
            encoding="latin-1", quoting=3, dtype={"title": str, "release": str},
        )  # fmt: skip
        flags = raw[ML100K_GENRES].to_numpy(bool)
        genres = [[g for g, f in zip(ML100K_GENRES, row) if f] for row in flags]
        released = pd.to_datetime(raw["release"], format="%d-%b-%Y", errors="coerce").dt.year
        items = pd.DataFrame(
            {
                "item": raw["item"],
                "title": raw["title"].fillna(""),
                "genres": genres,
                "year": released.astype("Int64").fillna(year_from_title(raw["title"].fillna(""))),
            }
        )
        users = None
        if (path / "u.user").is_file():
            u = pd.read_csv(path / "u.user", sep="|", header=None, dtype=str,
                            names=["user", "age", "gender", "occupation", "zip"])  # fmt: skip
            users = u.assign(gender=u["gender"].map(GENDERS).fillna(u["gender"]))
        splits = {}
        for k in ["u1", "u2", "u3", "u4", "u5", "ua", "ub"]:
            base, test = path / f"{k}.base", path / f"{k}.test"
            if base.is_file() and test.is_file():
                splits[k] = (_ratings(base), _ratings(test))
        return assemble(
            "ml-100k", items, ratings, users, RatingScale(5), splits, statistics,
            {"path": str(path)},
        )  # fmt: skip


class MovieLens1M:
    """MovieLens 1M (``ratings.dat``, ``movies.dat``, ``users.dat``; ``::``, Latin-1)."""

    name = "ml-1m"

    def detect(self, path: Path) -> bool:
        """True when ``path`` has ``movies.dat`` next to ``ratings.dat`` or ``users.dat``."""
        p = Path(path)
        return (p / "movies.dat").is_file() and (
            (p / "ratings.dat").is_file() or (p / "users.dat").is_file()
        )

    def load(self, path: Path) -> Dataset:
        """Read the folder (statistics on all ratings)."""
        path = Path(path)
        rfile = require_file(
            path / "ratings.dat", "ml-1m",
            "This copy has no ratings.dat (over the snapshot size limit); for the Agent4Rec / "
            "AlignUSER ML-1M setting load the processed split instead: "
            "load_dataset('.../agent4rec-ml1m') (format 'agent4rec').",
        )  # fmt: skip
        ratings = _ratings(rfile, "::")
        raw = read_separated(require_file(path / "movies.dat", "ml-1m"), "::",
                        ["item", "title", "genres"], "latin-1", dtype=str)  # fmt: skip
        items = movies_frame(raw)
        users = read_ml1m_users(path / "users.dat") if (path / "users.dat").is_file() else None
        return assemble("ml-1m", items, ratings, users, RatingScale(5), meta={"path": str(path)})


def movies_frame(raw: pd.DataFrame, no_genre: str = "(no genres listed)") -> pd.DataFrame:
    """``item, title, genres`` (``|``-joined) -> the frame :func:`assemble` takes."""
    title = raw["title"].fillna("")
    genres = [
        [g for g in str(s).split("|") if g and g != no_genre] for s in raw["genres"].fillna("")
    ]
    return pd.DataFrame(
        {"item": raw["item"], "title": title, "genres": genres, "year": year_from_title(title)}
    )


def read_ml1m_users(path: Path) -> pd.DataFrame:
    """Read ml-1m ``users.dat`` with gender, age and occupation spelled out."""
    u = read_separated(
        path, "::", ["user", "gender", "age", "occupation", "zip"], "latin-1", dtype=str
    )
    return u.assign(
        gender=u["gender"].map(GENDERS).fillna(u["gender"]),
        age=pd.to_numeric(u["age"], errors="coerce").map(ML1M_AGES).fillna(u["age"]),
        occupation=pd.to_numeric(u["occupation"], errors="coerce")
        .map(dict(enumerate(ML1M_OCCUPATIONS)))
        .fillna(u["occupation"]),
    )


class MovieLensLatest:
    """MovieLens latest / latest-small (CSV with header; half-star ratings; tags in ``text``).

    Ratings are kept raw (0.5..5.0) with ``RatingScale(max=5)``; the free-text tags of
    ``tags.csv`` are joined into each movie's catalog ``text`` as ``"tags: a, b"``.
    """

    name = "ml-latest"

    def detect(self, path: Path) -> bool:
        """True when ``path`` has ``ratings.csv`` and ``movies.csv``."""
        p = Path(path)
        return (p / "ratings.csv").is_file() and (p / "movies.csv").is_file()

    def load(self, path: Path) -> Dataset:
        """Read the folder (statistics on all ratings)."""
        path = Path(path)
        r = pd.read_csv(require_file(path / "ratings.csv", "ml-latest"), dtype={"rating": float})
        ratings = r.rename(columns={"userId": "user", "movieId": "item"})[_RATING_COLS]
        raw = pd.read_csv(require_file(path / "movies.csv", "ml-latest"), dtype=str)
        items = movies_frame(raw.rename(columns={"movieId": "item"}))
        if (path / "tags.csv").is_file():
            tags = pd.read_csv(path / "tags.csv", dtype=str).dropna(subset=["tag"])
            tags = tags.assign(key=tags["tag"].str.strip().str.lower())
            tags = tags[tags["key"] != ""].drop_duplicates(["movieId", "key"])
            joined = tags.groupby("movieId", sort=False)["tag"].agg(
                lambda s: ", ".join(s.str.strip())
            )
            text = items["item"].astype(str).map(joined)
            items["text"] = ("tags: " + text).fillna("")
        name = "ml-latest-small" if "small" in path.name else "ml-latest"
        return assemble(name, items, ratings, None, RatingScale(5), meta={"path": str(path)})
