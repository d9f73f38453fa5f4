"""Human session statistics as tidy long samples (one value per session, page, click or rating).

The samples have the columns ``source, statistic, value, user_id, session`` (see
:data:`~alignuser.evaluation.fidelity.heldout.STATISTICS`); the simulated side is built the
same way by :mod:`alignuser.evaluation.fidelity.simulation`.

Example:
    >>> import pandas as pd
    >>> from alignuser.data.tables import Interactions
    >>> log = Interactions.from_frame(pd.DataFrame({"user_id": [0, 0], "item_id": [1, 2],
    ...                                             "rating": [3.5, 5.0], "timestamp": [0, 60]}))
    >>> human_session_stats(log)[["statistic", "value"]].values.tolist()
    [['watches_per_session', 2.0], ['rating', 4.0], ['rating', 5.0]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from alignuser.data.tables import Impressions, Interactions
from alignuser.evaluation.fidelity.heldout import (
    COLUMNS,
    STATISTICS,
    HeldOut,
    session_pages,
    to_scale,
)

__all__ = ["human_session_stats", "sample_frame"]


def sample_frame(source: str, rows: Mapping[str, Sequence[tuple[float, int, int]]]) -> pd.DataFrame:
    """Long samples of ``source`` from ``{statistic: [(value, user_id, session), ...]}``."""
    parts = [
        pd.DataFrame(list(vals), columns=["value", "user_id", "session"]).assign(statistic=stat)
        for stat, vals in rows.items()
        if len(vals)
    ]
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.concat(parts, ignore_index=True).assign(source=source)
    out["value"] = out["value"].astype(float)
    return out[COLUMNS]


def _page_rows(pages: pd.DataFrame, rating_of: dict | None, max_rating: int) -> dict:
    rows: dict[str, list] = {s: [] for s in STATISTICS}
    for (u, s), g in pages.groupby(["user_id", "session"], sort=True):
        u, s = int(u), int(s)
        rows["pages_per_session"].append((len(g), u, s))
        rows["exit_page"].append((int(g["page"].max()), u, s))
        n = 0
        for items, clicked in zip(g["items"], g["clicked"]):
            hit = set(int(i) for i in clicked)
            pos = [k + 1 for k, i in enumerate(items) if int(i) in hit]
            rows["watches_per_page"].append((len(pos), u, s))
            rows["click_position"] += [(p, u, s) for p in pos]
            n += len(pos)
            if rating_of is not None:
                r = to_scale([rating_of.get((u, int(i)), np.nan) for i in hit], max_rating)
                rows["rating"] += [(x, u, s) for x in r]
        rows["watches_per_session"].append((n, u, s))
    return rows


def human_session_stats(
    log, ratings: Interactions | None = None, max_rating: int = 5, session_gap: float = 1800
) -> pd.DataFrame:
    """Human session statistics as long samples (``source == "human"``).

    Args:
        log: A :class:`HeldOut`, an :class:`Impressions` log (every session counted) or an
            :class:`Interactions` rating log (sessions cut by ``session_gap``).
        ratings: For an impressions log, explicit ratings of the clicks (``rating``).
        max_rating: The agents' rating scale (ratings are rounded onto ``1..max``).
        session_gap: Inactivity (seconds) that ends a session.

    Returns:
        Columns ``source, statistic, value, user_id, session``; a statistic the log cannot
        give is absent (see :attr:`HeldOut.unavailable`).
    """
    if isinstance(log, HeldOut):
        explicit = "rating" not in log.unavailable
        src = log.pages if log.kind == "impressions" else log.log
        rt = log.dataset.interactions if log.kind == "impressions" and explicit else None
        return human_session_stats(src, rt, log.max_rating, log.session_gap)
    if isinstance(log, (Impressions, pd.DataFrame)):
        pages = log if isinstance(log, pd.DataFrame) else session_pages(log, session_gap)
        rating_of = None
        if ratings is not None and ratings.is_explicit:
            df = ratings.df
            rating_of = dict(zip(zip(df["user_id"], df["item_id"]), df["rating"]))
        return sample_frame("human", _page_rows(pages, rating_of, max_rating))
    rows: dict[str, list] = {"watches_per_session": [], "rating": []}
    if log.has_time:
        from alignuser.data.sessions import sessionize

        ses = sessionize(log, session_gap)
        for (u, s), g in ses.groupby(["user_id", "session_id"], sort=True):
            rows["watches_per_session"].append((len(g), int(u), int(s)))
    if log.is_explicit:
        df = log.df
        r = np.clip(np.rint(df["rating"].to_numpy(float)), 1, max_rating)
        rows["rating"] = list(zip(r, df["user_id"].astype(int), [-1] * len(df)))
    return sample_frame("human", rows)
