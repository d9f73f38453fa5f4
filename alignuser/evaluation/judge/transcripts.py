"""Session transcripts for the judge: simulated and human sessions rendered the same way.

A transcript shows the persona summary (when known), every page's items with their genres,
what was watched and how it was rated, and how the session ended; it never names its source.

Example:
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"page": [0, 0], "position": [0, 1], "item_id": [1, 2],
    ...                    "watched": [True, False], "rating": [4.0, None]})
    >>> print(render_session(ev, {1: "Heat (Crime)"}, 5))
    PAGE 1: Heat (Crime): watched, rated 4/5; item 2: skipped
    END: left the site after page 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["GROUP_KEYS", "TRANSCRIPT_COLUMNS", "human_transcripts", "item_labels", "render_session",
           "simulated_transcripts"]  # fmt: skip

#: What a judged session is grouped by in the summary.
GROUP_KEYS = ["source", "policy", "recommender"]
#: Columns of a transcript table.
TRANSCRIPT_COLUMNS = [*GROUP_KEYS, "user_id", "session", "transcript"]


def item_labels(catalog) -> dict[int, str]:
    """``item_id -> "Title (Genre/Genre)"`` for a :class:`~alignuser.data.tables.Catalog`."""
    df = catalog.df
    return {
        int(i): f"{t} ({'/'.join(g)})" if len(g) else str(t)
        for i, t, g in zip(df["item_id"], df["title"], df["genres"])
    }


def render_session(events: pd.DataFrame, labels: Mapping[int, str], max_rating: int,
                   persona: str | None = None, exited: bool = True) -> str:  # fmt: skip
    """One session as a compact transcript.

    Args:
        events: Rows of one session with ``page``, ``position``, ``item_id``, ``watched``,
            ``rating`` (as in the run folder's events).
        labels: Item id to display text (see :func:`item_labels`).
        max_rating: Top of the rating scale.
        persona: Persona summary, left out when ``None``.
        exited: Whether the person chose to leave (else the page limit ended the session).
    """
    lines = [f"PERSONA: {persona}"] if persona else []
    ev = events.sort_values(["page", "position"], kind="stable")
    pages = list(ev.groupby("page", sort=True))
    for n, (_, g) in enumerate(pages, start=1):
        parts = []
        for item, w, r in zip(g["item_id"], g["watched"], g["rating"]):
            label = labels.get(int(item), f"item {int(item)}")
            if not w:
                parts.append(f"{label}: skipped")
            elif pd.isna(r):
                parts.append(f"{label}: watched")
            else:
                parts.append(f"{label}: watched, rated {int(r)}/{max_rating}")
        lines.append(f"PAGE {n}: " + "; ".join(parts))
    how = "left the site" if exited else "reached the last page offered"
    lines.append(f"END: {how} after page {len(pages)}.")
    return "\n".join(lines)


def _sample(keys: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    if n is None or len(keys) <= n:
        return keys
    idx = np.sort(np.random.default_rng(seed).choice(len(keys), n, replace=False))
    return keys.iloc[idx]


def _pick(frame: pd.DataFrame, users, n: int | None, seed: int) -> pd.DataFrame:
    """Sample ``(user_id, session)`` keys, from ``users`` when any of them has a session."""
    keys = (
        frame[["user_id", "session"]]
        .drop_duplicates()
        .sort_values(["user_id", "session"], kind="stable")
    )
    if users is not None and keys["user_id"].isin(list(users)).any():
        keys = keys[keys["user_id"].isin(list(users))]
    return _sample(keys, n, seed)


def simulated_transcripts(events: pd.DataFrame, sessions: pd.DataFrame,
                          labels: Mapping[int, str], max_rating: int, policy: str = "",
                          personas: Sequence[str] | None = None, n_sessions: int | None = 50,
                          seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """Transcripts of up to ``n_sessions`` finished sessions per recommender of a run.

    Args:
        events: A run folder's events (:mod:`alignuser.simulation.outputs`).
        sessions: Its finished sessions.
        labels: Item display texts.
        max_rating: Top of the rating scale.
        policy: The run's policy name (recorded in the ``policy`` column).
        personas: Persona summary per ``agent_id`` (or ``None``).
        n_sessions: Sessions sampled per recommender (``None``: all).
        seed: Sampling seed.

    Returns:
        Columns ``source`` ("simulated"), ``policy``, ``recommender``, ``user_id``,
        ``session``, ``transcript``.
    """
    key = ["recommender", "agent_id", "session"]
    groups = {k: g for k, g in events.groupby(key, sort=False)}
    rows = []
    for rec, se in sessions.groupby("recommender", sort=True):
        picked = _sample(se.sort_values(key[1:], kind="stable"), n_sessions, seed)
        for agent, sess, user, exited in zip(picked["agent_id"], picked["session"],
                                             picked["user_id"], picked["exited"]):  # fmt: skip
            ev = groups.get((rec, agent, sess))
            if ev is None or not len(ev):
                continue
            persona = personas[int(agent)] if personas is not None else None
            text = render_session(ev, labels, max_rating, persona, bool(exited))
            rows.append(("simulated", policy, rec, int(user), int(sess), text))
    return pd.DataFrame(rows, columns=TRANSCRIPT_COLUMNS)


def human_transcripts(dataset, labels: Mapping[int, str], n_sessions: int | None = 50,
                      seed: int = 0, users: Sequence[int] | None = None,
                      personas: Mapping[int, str] | None = None,
                      items_per_page: int = 4,
                      max_pages: int | None = None) -> pd.DataFrame:  # fmt: skip
    """Transcripts of up to ``n_sessions`` sessions of the human logs.

    With page-level impressions (``session_id`` known), each impression is a page, clicks
    are the watched items and ratings come from the interactions. Otherwise interactions are
    cut into sessions (30-minute gap) and shown ``items_per_page`` at a time; such pages only
    hold watched items, which a judge may notice.

    Args:
        dataset: A :class:`~alignuser.data.dataset.Dataset`.
        labels: Item display texts.
        n_sessions: Sessions sampled (``None``: all).
        seed: Sampling seed.
        users: Keep sessions of these users when any of them has one.
        personas: Persona summary per ``user_id``.
        items_per_page: Page size for logs without impressions.
        max_pages: Longer sessions keep their first ``max_pages`` pages and end as a simulated
            session does at the page limit ("reached the last page offered").

    Returns:
        The columns of :func:`simulated_transcripts`, with ``source`` "human".
    """
    from alignuser.data.sessions import sessionize

    max_rating = dataset.scale.max if dataset.scale else 5
    inter = dataset.interactions.df
    imp = dataset.impressions.df if dataset.impressions is not None else None
    if imp is not None and (imp["session_id"] >= 0).any():
        imp = imp[imp["session_id"] >= 0].rename(columns={"session_id": "session"})
        picked = _pick(imp, users, n_sessions, seed)
        imp = imp.merge(picked, on=["user_id", "session"]).sort_values(
            ["user_id", "session", "timestamp"], kind="stable"
        )
        mine = inter[inter["user_id"].isin(picked["user_id"])]
        rating = dict(zip(zip(mine["user_id"], mine["item_id"]), mine["rating"]))
        ev = imp.assign(page=imp.groupby(["user_id", "session"]).cumcount())
        ev = ev.assign(clicked=[set(c) for c in ev["clicked"]]).reset_index(drop=True)
        ev = ev.explode("items").dropna(subset=["items"])
        ev = ev.assign(
            item_id=ev["items"].astype(np.int64), position=ev.groupby(level=0).cumcount()
        )
        ev["watched"] = [i in c for i, c in zip(ev["item_id"], ev["clicked"])]
        uiw = zip(ev["user_id"], ev["item_id"], ev["watched"])
        ev["rating"] = [rating.get((u, i), np.nan) if w else np.nan for u, i, w in uiw]
    else:
        ev = sessionize(inter).rename(columns={"session_id": "session"})
        ev = ev.assign(page=ev["position"] // items_per_page, watched=True)
        picked = _pick(ev, users, n_sessions, seed)
    groups = dict(iter(ev.groupby(["user_id", "session"])))
    rows = []
    for user, sess in zip(picked["user_id"], picked["session"]):
        persona = (personas or {}).get(int(user))
        g = groups[(user, sess)]
        pages = np.unique(g["page"])
        cut = max_pages is not None and len(pages) > max_pages
        if cut:
            g = g[g["page"].isin(pages[:max_pages])]
        text = render_session(g, labels, max_rating, persona, exited=not cut)
        rows.append(("human", "human", "logs", int(user), int(sess), text))
    return pd.DataFrame(rows, columns=TRANSCRIPT_COLUMNS)
