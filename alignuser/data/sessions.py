"""Cut each user's timeline into sessions, and summarise session lengths.

A new session starts at a user's first event and whenever the gap since that user's previous
event is larger than ``gap_seconds`` (30 minutes by default, the usual web-analytics rule).

Example:
    >>> import pandas as pd
    >>> from alignuser.data.tables import Interactions
    >>> from alignuser.data.sessions import sessionize, session_stats
    >>> inter = Interactions.from_frame(pd.DataFrame({
    ...     "user_id": [0, 0, 0], "item_id": [1, 2, 3], "timestamp": [0, 60, 10_000]}))
    >>> sessionize(inter)[["session_id", "position"]].values.tolist()
    [[0, 0], [0, 1], [1, 0]]
    >>> session_stats(sessionize(inter))["count"]
    2
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alignuser.data.tables import Interactions
from alignuser.errors import DatasetError


def sessionize(
    interactions: Interactions | pd.DataFrame, gap_seconds: float = 1800
) -> pd.DataFrame:
    """Add ``session_id`` and ``position`` to every interaction.

    Args:
        interactions: An :class:`Interactions` table or a frame with ``user_id`` and
            ``timestamp`` (Unix seconds).
        gap_seconds: Largest gap between two events of the same session.

    Returns:
        The rows sorted by user then time (ties keep their order), plus ``session_id``
        (int64, unique across users, numbered in that order from 0) and ``position``
        (0-based index of the event inside its session).

    Raises:
        DatasetError: When timestamps are missing (``-1``) or the ``timestamp`` column is absent.
    """
    df = interactions.df if isinstance(interactions, Interactions) else interactions
    if gap_seconds < 0:
        raise ValueError(f"gap_seconds must be >= 0, not {gap_seconds}")
    if "timestamp" not in df.columns or "user_id" not in df.columns:
        raise DatasetError(
            f"sessionize needs user_id and timestamp columns; have {list(df.columns)}"
        )
    ts = df["timestamp"].to_numpy()
    if len(df) and (pd.isna(ts).any() or (ts < 0).any()):
        raise DatasetError(
            "sessionize needs timestamps, but some interactions have none (timestamp -1); "
            "sessions cannot be cut from this dataset"
        )
    out = df.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
    user = out["user_id"].to_numpy()
    t = out["timestamp"].to_numpy(np.float64)
    new = np.ones(len(out), dtype=bool)
    if len(out) > 1:
        new[1:] = (user[1:] != user[:-1]) | (np.diff(t) > gap_seconds)
    session = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    out["session_id"] = session.astype(np.int64)
    out["position"] = (np.arange(len(out)) - starts[session]).astype(np.int64)
    return out


def session_stats(frame: pd.DataFrame, max_bin: int = 20) -> dict[str, object]:
    """Summarise a :func:`sessionize` result.

    Args:
        frame: Output of :func:`sessionize` (``session_id``, ``user_id``, ``timestamp``).
        max_bin: Sessions longer than this are counted in the last histogram bin.

    Returns:
        ``count`` (sessions), ``users``, ``events``, ``mean`` / ``median`` / ``p90`` events
        per session, ``mean_duration_s`` (first to last event), ``sessions_per_user``
        (mean), and ``histogram``: {events per session (as a string, JSON-ready): number of
        sessions}, in increasing length, with the key ``f"{max_bin}+"`` for the longest ones.
    """
    if "session_id" not in frame.columns:
        raise DatasetError("session_stats needs the output of sessionize (no session_id column)")
    if not len(frame):
        return {"count": 0, "users": 0, "events": 0, "histogram": {}}
    grouped = frame.groupby("session_id")
    sizes = grouped.size().to_numpy()
    duration = (grouped["timestamp"].max() - grouped["timestamp"].min()).to_numpy(np.float64)
    lengths, counts = np.unique(np.minimum(sizes, max_bin), return_counts=True)
    hist = {
        (f"{max_bin}+" if int(k) == max_bin else str(int(k))): int(c)
        for k, c in zip(lengths, counts)
    }
    n_users = int(frame["user_id"].nunique())
    return {
        "count": len(sizes),
        "users": n_users,
        "events": len(frame),
        "mean": float(sizes.mean()),
        "median": float(np.median(sizes)),
        "p90": float(np.percentile(sizes, 90)),
        "mean_duration_s": float(duration.mean()),
        "sessions_per_user": len(sizes) / n_users,
        "histogram": hist,
    }
