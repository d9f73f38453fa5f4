"""Agent4Rec's processed ML-1M (1,000 users; train/valid/test as Agent4Rec ships them).

Files read (folder layout of ``LehengTHU/Agent4Rec`` ``datasets/ml-1m``):

* ``cf_data/{train,valid,test}.txt``: ``uid item item ...`` per line, implicit, 0-based ids.
  They form ``dataset.splits["provided"]`` and, concatenated, ``dataset.interactions``
  (no ratings, no timestamps).
* ``simulation/movie_detail.csv``: the catalog (``movie_id,title,genres,rating,summary``).
  ``summary`` is **written by an LLM** (gpt-3.5); it goes into the catalog ``text`` and
  ``meta["text_source"]`` says so. ``rating`` is the mean ml-1m rating over *all* ml-1m users,
  used as ``mean_rating`` as Agent4Rec shows it (``meta["mean_rating_source"]``).
  ``popularity`` counts the **train** part only, to avoid test leakage.
  Titles in this file carry mojibake (``Misï¿½rables``); when ``raw_data/movie_id_map.csv``
  and ``../ml-1m/movies.dat`` exist, the original Latin-1 titles replace them.
* Demographics: ``raw_data/user_id_map.csv`` + ``../ml-1m/users.dat`` when present, else
  the text columns of ``raw_data/agg_top_25.csv``.
* ``raw_data/agg_top_25.csv``: the only real star ratings (up to 25 train movies per user),
  exposed as ``meta["profile_ratings"]`` (an :class:`Interactions` table, timestamps ``-1``);
  titles are matched to item ids through ``movie_detail.csv`` titles.

Example:
    >>> from alignuser.data.formats.agent4rec import Agent4RecLoader
    >>> ds = Agent4RecLoader().load("../shared/data/agent4rec-ml1m")  # doctest: +SKIP
    >>> ds.splits["provided"].summary()  # doctest: +SKIP
    {'train': 74271, 'valid': 55486, 'test': 55492}
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from alignuser.data.dataset import Dataset, RatingScale, Split
from alignuser.data.formats.common import read_separated, require_file, year_from_title
from alignuser.data.tables import Catalog, Interactions, Users
from alignuser.errors import DataFormatError

logger = logging.getLogger(__name__)
_PARTS = ("train", "valid", "test")


def read_cf_file(path: Path) -> Interactions:
    """Read one ``uid item item ...`` file into implicit interactions (row order kept)."""
    users: list[int] = []
    items: list[np.ndarray] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            fields = line.split()
            if not fields:
                continue
            try:
                ids = np.array(fields, dtype=np.int64)
            except ValueError as exc:
                raise DataFormatError(path, lineno, f"non-integer id: {exc}") from None
            users.append(int(ids[0]))
            items.append(ids[1:])
    counts = [len(i) for i in items]
    frame = pd.DataFrame(
        {
            "user_id": np.repeat(np.array(users, dtype=np.int64), counts),
            "item_id": np.concatenate(items) if items else np.array([], dtype=np.int64),
        }
    )
    return Interactions.from_frame(frame)


def _profile_ratings(path: Path, title_to_id: dict[str, int]) -> tuple[Interactions, int]:
    """Ratings of ``agg_top_25.csv`` as interactions, and the count of unmatched titles."""
    agg = pd.read_csv(path, dtype={"movie_title_list": str, "rating_list": str})
    titles = agg["movie_title_list"].fillna("").str.split("; ")
    ratings = agg["rating_list"].fillna("").astype(str).str.split("; ")
    n_t, n_r = titles.str.len(), ratings.str.len()
    if (n_t != n_r).any():
        row = int(np.flatnonzero((n_t != n_r).to_numpy())[0])
        raise DataFormatError(path, row + 2, f"{n_t[row]} titles but {n_r[row]} ratings")
    frame = pd.DataFrame(
        {
            "user_id": np.repeat(agg["user_id"].to_numpy(np.int64), n_t.to_numpy()),
            "title": np.concatenate(titles.to_list()),
            "rating": pd.to_numeric(np.concatenate(ratings.to_list()), errors="coerce"),
        }
    )
    frame["item_id"] = frame["title"].map(title_to_id)
    unmatched = int(frame["item_id"].isna().sum())
    frame = frame.dropna(subset=["item_id", "rating"])
    return Interactions.from_frame(frame[["user_id", "item_id", "rating"]]), unmatched


class Agent4RecLoader:
    """Agent4Rec's processed ML-1M split (see the module docstring for what goes where)."""

    name = "agent4rec"

    def detect(self, path: Path) -> bool:
        """True when ``path`` has ``cf_data/train.txt``."""
        return (Path(path) / "cf_data" / "train.txt").is_file()

    def load(self, path: Path, ml1m_path: Path | None = None) -> Dataset:
        """Read the folder.

        Args:
            path: The Agent4Rec ``ml-1m`` folder (with ``cf_data/``, ``simulation/``...).
            ml1m_path: Original ml-1m folder for demographics and titles (default
                ``path/../ml-1m``); used only when its files exist.
        """
        path = Path(path)
        ml1m = Path(ml1m_path) if ml1m_path is not None else path.parent / "ml-1m"
        parts = {
            p: read_cf_file(require_file(path / "cf_data" / f"{p}.txt", "agent4rec"))
            for p in _PARTS
        }
        detail = pd.read_csv(
            require_file(path / "simulation" / "movie_detail.csv", "agent4rec"),
            dtype={"title": str, "genres": str, "summary": str},
        )
        n_items = max(
            int(detail["movie_id"].max()) + 1,
            *(int(t.df["item_id"].max()) + 1 for t in parts.values()),
        )
        detail = detail.set_index("movie_id").reindex(np.arange(n_items))
        title = detail["title"].fillna("")
        meta: dict[str, object] = {
            "path": str(path),
            "text_source": "LLM-written one-sentence summaries (Agent4Rec, gpt-3.5-turbo)",
            "mean_rating_source": "movie_detail.csv rating: mean ml-1m rating over all ml-1m users",
            "statistics_from": "popularity: train part of split 'provided'",
            "missing_detail_items": int(detail["title"].isna().sum()),
        }
        external = pd.Series(np.arange(n_items).astype(str))
        id_map = path / "raw_data" / "movie_id_map.csv"
        if id_map.is_file():
            m = pd.read_csv(id_map).set_index("agent4rec_item_id")["ml1m_movie_id"]
            mapped = pd.Series(np.arange(n_items)).map(m).astype("Int64")
            external = mapped.astype(str).where(mapped.notna(), "a4r-" + external)
            if (ml1m / "movies.dat").is_file():
                mv = read_separated(
                    ml1m / "movies.dat", "::", ["item", "title", "genres"], "latin-1", dtype=str
                )
                orig = external.map(mv.set_index("item")["title"])
                meta["titles_from"] = str(ml1m / "movies.dat")
                title = pd.Series(orig.fillna(pd.Series(title.to_numpy())).to_numpy())
        title_to_id = dict(zip(detail["title"].fillna("").to_numpy(), range(n_items)))
        genres = [[g for g in str(s).split("|") if g] for s in detail["genres"].fillna("")]
        catalog = Catalog.from_frame(
            pd.DataFrame(
                {
                    "item_id": np.arange(n_items),
                    "external_id": external.to_numpy(),
                    "title": title.to_numpy(),
                    "genres": genres,
                    "year": year_from_title(title).to_numpy(),
                    "text": detail["summary"].fillna("").to_numpy(),
                }
            )
        ).with_statistics(parts["train"])
        catalog.df["mean_rating"] = detail["rating"].to_numpy(np.float64)
        split = Split(parts["train"], parts["valid"], parts["test"], name="provided")
        inter = parts["train"].concat(parts["valid"]).concat(parts["test"])
        agg = path / "raw_data" / "agg_top_25.csv"
        if agg.is_file():
            profile, unmatched = _profile_ratings(agg, title_to_id)
            meta["profile_ratings"] = profile
            meta["profile_unmatched_titles"] = unmatched
            if unmatched:
                logger.warning("%s: %d profile titles not in movie_detail.csv", agg, unmatched)
        users = self._users(path, ml1m, inter.n_users)
        if users is not None:
            meta["demographics_from"] = users[1]
        return Dataset(
            name="agent4rec-ml1m",
            catalog=catalog,
            interactions=inter,
            users=users[0] if users is not None else None,
            scale=RatingScale(5),
            splits={"provided": split},
            meta=meta,
        )

    @staticmethod
    def _users(path: Path, ml1m: Path, n_users: int) -> tuple[Users, str] | None:
        umap, agg = path / "raw_data" / "user_id_map.csv", path / "raw_data" / "agg_top_25.csv"
        if umap.is_file() and (ml1m / "users.dat").is_file():
            # lazy: avoids an import cycle
            from alignuser.data.formats.movielens import read_ml1m_users

            m = pd.read_csv(umap, dtype=str)
            u = read_ml1m_users(ml1m / "users.dat").set_index("user")
            frame = u.reindex(m["ml1m_user_id"]).reset_index(names="external_id")
            frame["user_id"] = m["agent4rec_user_id"].astype(np.int64).to_numpy()
            return Users.from_frame(frame.sort_values("user_id")), str(ml1m / "users.dat")
        if agg.is_file():
            a = pd.read_csv(
                agg, dtype=str, usecols=["user_id", "gender", "age", "occupation", "zip-code"]
            )
            frame = a.rename(columns={"zip-code": "zip"}).assign(
                user_id=a["user_id"].astype(np.int64), external_id=a["user_id"]
            )
            return Users.from_frame(frame.sort_values("user_id")), str(agg)
        return None
