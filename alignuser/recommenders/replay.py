"""``ReplayRecommender``: shows exactly the pages recorded in an impressions log.

Replaying a log turns the simulation into a check of the *user* model: the synthetic users
browse the very pages real users saw (an A/B arm's logs, say), so their clicks can be compared
with the real ones (see :mod:`alignuser.evaluation.replay`).

Each :meth:`~ReplayRecommender.recommend` call gives every user of the batch that user's next
recorded page, in ``(timestamp, impression_id)`` order, truncated or ``-1``-padded to ``k``.
A user whose pages are used up (or who has none) gets a row of ``-1``: the population model
ends that session without a page (``exited=False`` in the session summary). Items repeated
inside one recorded page are shown once (first position kept).

Deliberate departures from the :class:`~alignuser.interfaces.Recommender` contract, because a
log cannot be re-ranked:

* exclusions are **ignored** by default (the logged system may well have shown an item twice;
  that is what is replayed). With ``respect_exclude=True`` excluded items are dropped from the
  recorded page instead (the page gets shorter, nothing is added);
* items seen in training may come back, and a page has only as many items as were recorded;
* the recommender is **stateful**: each call moves the users of the batch to their next page
  (a user id present twice in one batch gets two consecutive pages). Agents sharing a user id
  share that user's log, so give each logged user one agent.

Scenario YAML (ids in the log must be the ids of the scenario's dataset: replay the same
dataset folder, or a Parquet file exported in the same id space)::

    recommenders:
      - name: replay
        label: logged-arm-B
        params:
          source: ../shared/data/ebnerd-sample   # dataset folder or Impressions Parquet file
          start: 1677600000                      # optional: pages at/after this Unix time
          # end: 1677700000, format: ebnerd, respect_exclude: false

Relative ``source`` paths are read from the working directory.

Example:
    >>> import numpy as np, pandas as pd
    >>> from alignuser.data.tables import Impressions
    >>> log = Impressions.from_frame(pd.DataFrame({
    ...     "impression_id": [0, 1], "user_id": [3, 3], "timestamp": [10, 20],
    ...     "items": [[5, 6, 7], [8]], "clicked": [[6], []]}))
    >>> rec = ReplayRecommender(log)
    >>> rec.recommend(np.array([3]), k=2).tolist(), rec.recommend(np.array([3]), k=2).tolist()
    ([[5, 6]], [[8, -1]])
    >>> rec.recommend(np.array([3, 4]), k=2).tolist()  # used up / never logged
    [[-1, -1], [-1, -1]]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from alignuser.data.tables import Impressions
from alignuser.errors import DatasetError, ScenarioError

if TYPE_CHECKING:
    from alignuser.data.tables import Catalog, Interactions
    from alignuser.interfaces import Feedback

__all__ = ["ReplayRecommender", "load_impressions"]


class ReplayParams(BaseModel):
    """Scenario parameters of the replay recommender (``recommenders[i].params``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str | None = None
    format: str | None = None
    start: int | None = None
    end: int | None = None
    respect_exclude: bool = False


def load_impressions(source: str | Path, format: str | None = None) -> Impressions:
    """Read an impressions log: a dataset folder (any loader) or a Parquet file.

    A Parquet file with the :class:`~alignuser.data.tables.Impressions` columns is read as
    is; anything else goes through :func:`alignuser.data.loaders.load_dataset`.

    Raises:
        ScenarioError: When the path does not exist or holds no impressions (names the key).
    """
    path = Path(source).expanduser()
    if not path.exists():
        raise ScenarioError(f"replay recommender: params.source: {path} does not exist")
    if path.is_file() and path.suffix == ".parquet" and format is None:
        import pyarrow.parquet as pq

        cols = set(pq.read_schema(path).names)
        if {"user_id", "items", "clicked"} <= cols:
            try:
                return Impressions.read_parquet(path)
            except DatasetError as exc:
                raise ScenarioError(f"replay recommender: params.source: {path}: {exc}") from exc
    from alignuser.data.loaders import load_dataset

    try:
        ds = load_dataset(path, format=format)
    except (DatasetError, KeyError) as exc:
        raise ScenarioError(f"replay recommender: params.source: {path}: {exc}") from exc
    if ds.impressions is None or not len(ds.impressions):
        raise ScenarioError(
            f"replay recommender: params.source: {path} ({ds.name}) has no impressions; "
            "give an impressions dataset or a Parquet file in the Impressions schema"
        )
    return ds.impressions


class ReplayRecommender:
    """Shows each user their recorded pages, one per call, in time order.

    Args:
        impressions: The log (an :class:`Impressions` table), or ``None`` to read ``source``.
        source: Dataset folder or Impressions Parquet file (the scenario's way to name it).
        format: Loader name for ``source`` (detected when ``None``).
        start: Keep pages with ``timestamp >= start`` (Unix seconds).
        end: Keep pages with ``timestamp < end``.
        respect_exclude: Drop excluded items from the recorded page (default: show it as is).
        seed: Accepted for the registry's uniform call; unused (a replay draws nothing).
        name: Display name.

    Raises:
        ScenarioError: Unknown or ill-typed parameters, a missing source, or an empty log
            after ``start``/``end``; the message names the key.

    Example:
        >>> rec = make_recommender("replay", source="log.parquet")  # doctest: +SKIP
        >>> rec.fit(interactions, catalog).recommend(np.array([0, 1]), k=10)  # doctest: +SKIP
    """

    name = "replay"
    Params = ReplayParams

    def __init__(
        self,
        impressions: Impressions | None = None,
        *,
        seed: int = 0,
        name: str | None = None,
        **params: Any,
    ):
        try:
            self.params = ReplayParams(**params)
        except ValidationError as exc:
            raise ScenarioError(_describe(exc)) from None
        if impressions is None and self.params.source is None:
            raise ScenarioError(
                "replay recommender: params.source is required (a dataset folder or an "
                "Impressions Parquet file)"
            )
        if impressions is not None and not isinstance(impressions, Impressions):
            raise ScenarioError(
                f"replay recommender: impressions must be an Impressions table, "
                f"got {type(impressions).__name__}"
            )
        self.seed = int(seed)
        self.name = name or type(self).name
        if impressions is None:
            impressions = load_impressions(self.params.source, self.params.format)
        self._pages = self._index(impressions)
        self._cursor: dict[int, int] = {}
        self.n_items = 0

    def _index(self, impressions: Impressions) -> dict[int, list[np.ndarray]]:
        df = impressions.df
        p = self.params
        keep = np.ones(len(df), dtype=bool)
        if p.start is not None:
            keep &= df["timestamp"].to_numpy() >= p.start
        if p.end is not None:
            keep &= df["timestamp"].to_numpy() < p.end
        df = df[keep].sort_values(["user_id", "timestamp", "impression_id"], kind="stable")
        if not len(df):
            raise ScenarioError(
                f"replay recommender: no recorded page left with params.start={p.start}, "
                f"params.end={p.end}"
            )
        pages: dict[int, list[np.ndarray]] = {}
        for u, items in zip(df["user_id"].to_numpy(), df["items"]):
            arr = np.asarray(items, dtype=np.int64)
            _, first = np.unique(arr, return_index=True)
            pages.setdefault(int(u), []).append(arr[np.sort(first)])
        return pages

    def __repr__(self) -> str:
        return f"ReplayRecommender(users={len(self._pages)}, pages={self.n_pages})"

    @property
    def n_pages(self) -> int:
        """Recorded pages (after ``start``/``end``)."""
        return sum(len(v) for v in self._pages.values())

    def pages_of(self, user_id: int) -> list[np.ndarray]:
        """The recorded pages of ``user_id``, in replay order (deduplicated)."""
        return list(self._pages.get(int(user_id), []))

    def remaining(self, user_ids: np.ndarray) -> np.ndarray:
        """Pages each user still has to be shown."""
        return np.array(
            [len(self._pages.get(int(u), ())) - self._cursor.get(int(u), 0) for u in user_ids],
            dtype=np.int64,
        )

    def fit(self, interactions: Interactions, catalog: Catalog) -> ReplayRecommender:
        """Check the log's item ids against ``catalog`` and rewind every user; returns ``self``.

        Raises:
            DatasetError: When the log holds item ids outside the catalog (not the same
                dataset's id space).
        """
        self.n_items = catalog.n_items
        flat = [p for pages in self._pages.values() for p in pages]
        ids = np.concatenate(flat) if flat else np.zeros(0, dtype=np.int64)
        bad = ids[(ids < 0) | (ids >= catalog.n_items)]
        if bad.size:
            raise DatasetError(
                f"replay recommender: {bad.size} logged item id(s) outside the catalog of "
                f"{catalog.n_items} items, e.g. {bad[:5].tolist()}; the log must use the ids "
                "of the scenario's dataset"
            )
        self.reset()
        return self

    def reset(self) -> None:
        """Rewind every user to their first recorded page."""
        self._cursor = {}

    def recommend(
        self,
        user_ids: np.ndarray,
        k: int,
        exclude: Sequence[np.ndarray] | None = None,
    ) -> np.ndarray:
        """Each user's next recorded page, truncated / ``-1``-padded to ``k``.

        Args:
            user_ids: Users of the batch.
            k: Page size.
            exclude: Per user, items to drop from the page (only with ``respect_exclude``).

        Raises:
            ValueError: On ``k < 0`` or a wrong number of exclusion lists.
        """
        user_ids = np.asarray(user_ids, dtype=np.int64).ravel()
        if k < 0:
            raise ValueError(f"{self.name}: k must be >= 0, got {k}")
        if exclude is not None and len(exclude) != len(user_ids):
            raise ValueError(
                f"{self.name}: {len(exclude)} exclusion lists for {len(user_ids)} users"
            )
        out = np.full((len(user_ids), k), -1, dtype=np.int64)
        for row, u in enumerate(user_ids.tolist()):
            pages = self._pages.get(u)
            at = self._cursor.get(u, 0)
            if pages is None or at >= len(pages):
                continue
            self._cursor[u] = at + 1
            page = pages[at]
            if self.params.respect_exclude and exclude is not None and len(exclude[row]):
                page = page[~np.isin(page, np.asarray(exclude[row], dtype=np.int64))]
            page = page[:k]
            out[row, : len(page)] = page
        return out

    def update(self, feedback: Feedback) -> None:
        """Ignore feedback (a log does not react)."""

    def get_state(self) -> dict:
        """Per-user positions in the log (JSON-able)."""
        return {"cursor": {str(u): c for u, c in self._cursor.items()}}

    def set_state(self, state: dict) -> None:
        """Restore positions written by :meth:`get_state`."""
        self._cursor = {int(u): int(c) for u, c in state["cursor"].items()}


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "<params>"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        if err["type"] != "extra_forbidden" and "input" in err:
            msg = f"{msg} (got {err['input']!r})"
        known = ", ".join(ReplayParams.model_fields)
        lines.append(f"replay recommender: params.{key}: {msg} (known keys: {known})")
    return "\n".join(lines)
