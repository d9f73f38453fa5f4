"""EB-NeRD impression logs (Ekstra Bladet news): pages really shown, in order, with clicks.

Reads ``behaviors.parquet`` (or ``behaviors.jsonl``) and, when present, ``history.parquet``
(or ``history.jsonl``):

* ``dataset.impressions``: one row per impression; ``items`` = ``article_ids_inview`` in
  the logged order, ``clicked`` = ``article_ids_clicked``, ``dwell`` = ``read_time`` (seconds),
  ``session_id`` and ``timestamp`` (Unix seconds, the naive log times read as UTC).
* ``dataset.interactions``: implicit clicks (rating NaN) with timestamps: the users' history
  clicks plus the impression clicks, sorted by user then time.
* ``dataset.catalog``: every article id seen anywhere. The sample has **no titles or text**
  (``articles.parquet`` is absent), so titles are ``"Article <id>"`` and genres are empty;
  ``meta["has_titles"]`` is ``False``. Statistics come from all interactions.
* ``dataset.users``: EB-NeRD's binned ``gender`` / ``age`` codes as strings (may be empty).

Example:
    >>> from alignuser.data.formats.ebnerd import EbnerdLoader
    >>> ds = EbnerdLoader().load("../shared/data/ebnerd-sample")  # doctest: +SKIP
    >>> len(ds.impressions)  # doctest: +SKIP
    1046
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from alignuser.data.dataset import Dataset
from alignuser.data.formats.common import index_of, sort_ids
from alignuser.data.tables import Catalog, Impressions, Interactions, Users
from alignuser.errors import DataFormatError, DatasetError


def read_jsonl(path: Path) -> pd.DataFrame:
    """Read a JSON-lines file; a malformed line raises :class:`DataFormatError` with its number."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFormatError(path, lineno, f"invalid JSON: {exc.msg}") from None
            if not isinstance(obj, dict):
                raise DataFormatError(path, lineno, "expected a JSON object")
            rows.append(obj)
    return pd.DataFrame(rows)


def _read(folder: Path, stem: str, prefer: str) -> pd.DataFrame | None:
    order = [".parquet", ".jsonl"] if prefer == "parquet" else [".jsonl", ".parquet"]
    for suffix in order:
        p = folder / f"{stem}{suffix}"
        if p.is_file():
            return pd.read_parquet(p) if suffix == ".parquet" else read_jsonl(p)
    return None


def _seconds(values) -> np.ndarray:
    dt = pd.to_datetime(pd.Series(values), errors="coerce")
    secs = (dt - pd.Timestamp(0)).dt.total_seconds()
    return secs.fillna(-1).to_numpy(np.int64)


def _need(frame: pd.DataFrame, cols: list[str], what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DatasetError(f"{what}: missing column(s) {missing}; have {list(frame.columns)}")


def _read_logs(path: Path, prefer: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``(behaviors, history)`` of the folder, history exploded to one click a row (or None)."""
    beh = _read(path, "behaviors", prefer)
    if beh is None or not len(beh):
        raise DatasetError(f"ebnerd: no behaviors.parquet / behaviors.jsonl rows in {path}")
    cols = ["impression_id", "impression_time", "article_ids_inview", "article_ids_clicked"]
    _need(beh, [*cols, "user_id"], f"{path}/behaviors")
    hist = _read(path, "history", prefer)
    if hist is not None:
        _need(hist, ["user_id", "impression_time_fixed", "article_id_fixed"], f"{path}/history")
        hist = hist.explode(["impression_time_fixed", "article_id_fixed"], ignore_index=True)
        hist = hist.dropna(subset=["article_id_fixed"])
    return beh, hist


def _vocabularies(beh, hist, inview, clicked) -> tuple[np.ndarray, np.ndarray]:
    """``(item_vocab, user_vocab)``: every article id and user id seen, sorted."""
    pieces = [np.concatenate([*inview, *clicked]).astype(np.int64)]
    if "article_id" in beh:
        pieces.append(beh["article_id"].dropna().to_numpy(np.int64))
    if hist is not None:
        pieces.append(hist["article_id_fixed"].to_numpy(np.int64))
    item_vocab = sort_ids(np.concatenate(pieces))
    users_ext = beh["user_id"] if hist is None else pd.concat([beh["user_id"], hist["user_id"]])
    user_vocab = sort_ids(users_ext.to_numpy(np.int64))
    return item_vocab, user_vocab


def _item_lists(lists: pd.Series, item_vocab: np.ndarray) -> list[list[int]]:
    """Each list of article ids as a list of internal item ids."""
    flat = index_of(np.concatenate([*lists, []]).astype(np.int64), item_vocab)
    return [a.tolist() for a in np.split(flat, np.cumsum(lists.map(len))[:-1])]


def _impressions(beh, uid, ts, items: list[list[int]], clicked: list[list[int]]) -> Impressions:
    """One row per logged impression: items in view, clicks, dwell and session."""
    return Impressions.from_frame(
        pd.DataFrame(
            {
                "impression_id": beh["impression_id"].to_numpy(np.int64),
                "user_id": uid,
                "timestamp": ts,
                "items": items,
                "clicked": clicked,
                "dwell": pd.to_numeric(beh.get("read_time", np.nan), errors="coerce"),
                "session_id": beh.get("session_id", pd.Series(-1, index=beh.index))
                .fillna(-1)
                .to_numpy(np.int64),
            }
        )
    )


def _click_frames(imp, uid, ts, n_clicks, hist, user_vocab, item_vocab) -> list[pd.DataFrame]:
    """The clicks as interaction frames: the history's (when present) first, then the pages'."""
    frames = [
        pd.DataFrame(
            {
                "user_id": np.repeat(uid, n_clicks),
                "item_id": np.concatenate([*imp.df["clicked"], []]).astype(np.int64),
                "timestamp": np.repeat(ts, n_clicks),
            }
        )
    ]
    if hist is not None:
        frames.insert(
            0,
            pd.DataFrame(
                {
                    "user_id": index_of(hist["user_id"], user_vocab),
                    "item_id": index_of(hist["article_id_fixed"].astype(np.int64), item_vocab),
                    "timestamp": _seconds(hist["impression_time_fixed"]),
                }
            ),
        )
    return frames


class EbnerdLoader:
    """EB-NeRD ``behaviors`` (+ ``history``) files (see the module docstring)."""

    name = "ebnerd"

    def detect(self, path: Path) -> bool:
        """True when ``path`` has ``behaviors.parquet`` or ``behaviors.jsonl``."""
        p = Path(path)
        return (p / "behaviors.parquet").is_file() or (p / "behaviors.jsonl").is_file()

    def load(self, path: Path, prefer: str = "parquet") -> Dataset:
        """Read the folder; ``prefer`` picks ``"parquet"`` or ``"jsonl"`` when both exist."""
        path = Path(path)
        beh, hist = _read_logs(path, prefer)
        inview = beh["article_ids_inview"].map(lambda v: [] if v is None else list(v))
        clicked = beh["article_ids_clicked"].map(lambda v: [] if v is None else list(v))
        item_vocab, user_vocab = _vocabularies(beh, hist, inview, clicked)
        uid = index_of(beh["user_id"], user_vocab)
        ts = _seconds(beh["impression_time"])
        shown, clicks = _item_lists(inview, item_vocab), _item_lists(clicked, item_vocab)
        imp = _impressions(beh, uid, ts, shown, clicks)
        n_clicks = clicked.map(len).to_numpy()
        frames = _click_frames(imp, uid, ts, n_clicks, hist, user_vocab, item_vocab)
        inter = pd.concat(frames, ignore_index=True).sort_values(
            ["user_id", "timestamp"], kind="stable"
        )
        catalog = Catalog.from_frame(
            pd.DataFrame(
                {
                    "item_id": np.arange(len(item_vocab)),
                    "external_id": item_vocab,
                    "title": [f"Article {a}" for a in item_vocab],
                }
            )
        )
        interactions = Interactions.from_frame(inter.reset_index(drop=True))
        return Dataset(
            name="ebnerd",
            catalog=catalog.with_statistics(interactions),
            interactions=interactions,
            users=self._users(beh, uid),
            impressions=imp,
            scale=None,
            meta={
                "path": str(path),
                "has_titles": False,
                "note": "no article titles or text in this sample (articles.parquet absent)",
                "statistics_from": "all interactions (history and impression clicks)",
                "history_clicks": 0 if hist is None else len(frames[0]),
                "impression_clicks": int(n_clicks.sum()),
            },
        )

    @staticmethod
    def _users(beh: pd.DataFrame, uid: np.ndarray) -> Users:
        frame = pd.DataFrame({"user_id": uid, "external_id": beh["user_id"].astype(str)})
        for col in ("gender", "age", "is_subscriber"):
            if col in beh:
                vals = pd.to_numeric(beh[col], errors="coerce").astype("Int64").astype("string")
                frame[col] = vals
        first = frame.groupby("user_id", sort=True).first().reset_index()
        return Users.from_frame(first.fillna(""))
