"""``HTTPRecommender``: a recommender service the user runs, reached over JSON/HTTP.

Wire format (one POST per batch)::

    request  {"user_ids": [3, 7], "k": 10, "exclude": [[1, 2], []], "page": 0}
    response {"items": [[...10 ids...], [...10 ids...]]}

``exclude`` is always present (empty lists when nothing is excluded); ``page`` is present
only when the caller passes one. Each row of ``items`` must hold ``k`` ids, distinct, none
excluded, inside the catalog once fitted; it may end with ``-1`` padding. Timeouts,
connection errors and 5xx answers are retried with exponential backoff; anything else that
is wrong raises :class:`RecommenderServiceError` naming the URL, status and body.

The service is assumed to be trained already: :meth:`HTTPRecommender.fit` only records the
catalog size used to check ids. With ``feedback_url`` set, :meth:`HTTPRecommender.update`
POSTs ``{"user_ids", "item_ids", "clicked", "ratings"}`` there (ratings NaN -> null).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from alignuser.errors import AlignUserError

if TYPE_CHECKING:
    from alignuser.data.tables import Catalog, Interactions
    from alignuser.interfaces import Feedback

logger = logging.getLogger(__name__)

_SNIPPET = 200


class RecommenderServiceError(AlignUserError, RuntimeError):
    """A recommender service failed or answered something unusable.

    Attributes:
        url: The endpoint.
        status: HTTP status (``None`` when no answer came back).
        body: The start of the answer body.
    """

    def __init__(self, url: str, message: str, status: int | None = None, body: str = ""):
        self.url, self.status, self.body = url, status, body[:_SNIPPET]
        where = f"{url} (HTTP {status})" if status is not None else url
        tail = f"; body: {self.body!r}" if body else ""
        super().__init__(f"recommender service {where}: {message}{tail}")


class HTTPParams(BaseModel):
    """Parameters of :class:`HTTPRecommender`.

    Attributes:
        url: Endpoint that answers recommendation requests.
        timeout: Seconds per request.
        retries: Extra attempts after a timeout, connection error or 5xx answer.
        backoff: First wait in seconds; doubled after each failed attempt.
        headers: Extra request headers (e.g. authorisation).
        feedback_url: Endpoint for :meth:`HTTPRecommender.update` (``None``: no-op).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str
    timeout: float = Field(10.0, gt=0.0)
    retries: int = Field(3, ge=0)
    backoff: float = Field(0.5, ge=0.0)
    headers: dict[str, str] = Field(default_factory=dict)
    feedback_url: str | None = None


class HTTPRecommender:
    """Adapter for a recommender running as a web service.

    Args:
        params: An ``HTTPRecommender.Params``; keyword overrides are validated into one.
        name: Display name (defaults to ``"http"``).
        **overrides: Fields of ``Params`` (``url=...``, ``timeout=...``).

    Example:
        >>> rec = HTTPRecommender(url="http://127.0.0.1:8000/recommend", retries=2)
        >>> rec.fit(interactions, catalog)  # doctest: +SKIP
        >>> rec.recommend(np.array([0, 1]), k=10, page=0)  # doctest: +SKIP
        >>> rec.close()
    """

    Params = HTTPParams

    def __init__(
        self,
        params: HTTPParams | None = None,
        *,
        name: str | None = None,
        seed: int = 0,
        **overrides: Any,
    ):
        if params is None:
            params = HTTPParams(**overrides)
        elif overrides:
            params = HTTPParams(**{**params.model_dump(), **overrides})
        self.params = params
        self.name = name or "http"
        self.seed = seed  # unused: the service owns its randomness
        self.n_items: int | None = None
        self._client = None

    def __repr__(self) -> str:
        return f"HTTPRecommender(url={self.params.url!r})"

    # ------------------------------------------------------------------ lifecycle

    def fit(self, interactions: Interactions, catalog: Catalog) -> HTTPRecommender:
        """Record the catalog size (the service is trained on its own); returns ``self``."""
        self.n_items = catalog.n_items
        return self

    def close(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> HTTPRecommender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ calls

    def _post(self, url: str, payload: dict[str, Any]):
        import httpx

        if self._client is None:
            self._client = httpx.Client(timeout=self.params.timeout, headers=self.params.headers)
        last = "no attempt made"
        status, body = None, ""
        for attempt in range(self.params.retries + 1):
            if attempt:
                time.sleep(self.params.backoff * 2 ** (attempt - 1))
            try:
                resp = self._client.post(url, json=payload)
            except httpx.TimeoutException:
                last, status, body = f"timed out after {self.params.timeout:g} s", None, ""
            except httpx.TransportError as exc:
                last, status, body = f"connection failed: {exc}", None, ""
            else:
                if resp.status_code < 500:
                    if resp.status_code >= 400:
                        raise RecommenderServiceError(
                            url, "request rejected", resp.status_code, resp.text
                        )
                    return resp
                last, status, body = "server error", resp.status_code, resp.text
            logger.warning("%s: %s (attempt %d)", url, last, attempt + 1)
        raise RecommenderServiceError(
            url, f"{last} ({self.params.retries + 1} attempts)", status, body
        )

    def recommend(
        self,
        user_ids: np.ndarray,
        k: int,
        exclude: Sequence[np.ndarray] | None = None,
        page: int | None = None,
    ) -> np.ndarray:
        """Ask the service for pages and check them.

        Args:
            user_ids: Users of the batch.
            k: Page size.
            exclude: Per user, item ids that must not appear.
            page: Page number within the session (sent only when given).

        Returns:
            ``(len(user_ids), k)`` int64 item ids, ``-1``-padded.

        Raises:
            RecommenderServiceError: After the retries, or on an unusable answer.
        """
        users = np.asarray(user_ids, dtype=np.int64).ravel()
        if exclude is not None and len(exclude) != len(users):
            raise ValueError(f"{self.name}: {len(exclude)} exclusion lists for {len(users)} users")
        excl = [
            [int(i) for i in np.asarray(e).ravel() if i >= 0]
            for e in (exclude if exclude is not None else [[]] * len(users))
        ]
        payload: dict[str, Any] = {"user_ids": users.tolist(), "k": int(k), "exclude": excl}
        if page is not None:
            payload["page"] = int(page)
        if len(users) == 0:
            return np.full((0, k), -1, dtype=np.int64)
        resp = self._post(self.params.url, payload)
        return self._parse(resp, users, k, excl)

    def _parse(self, resp, users: np.ndarray, k: int, excl: list[list[int]]) -> np.ndarray:
        url, text = self.params.url, resp.text

        def fail(message: str):
            return RecommenderServiceError(url, message, resp.status_code, text)

        try:
            data = json.loads(text)
        except ValueError as exc:
            raise fail(f"answer is not JSON ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise fail('answer must be a JSON object with a list "items"')
        rows = data["items"]
        if len(rows) != len(users):
            raise fail(f'"items" has {len(rows)} rows for {len(users)} users')
        out = np.full((len(users), k), -1, dtype=np.int64)
        for r, row in enumerate(rows):
            who = f"row {r} (user {users[r]})"
            if not isinstance(row, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in row
            ):
                raise fail(f"{who} is not a list of integers")
            if len(row) != k:
                raise fail(f"{who} has {len(row)} items, expected k={k}")
            ids = np.asarray(row, dtype=np.int64)
            real = ids[ids >= 0]
            if (ids < -1).any() or (len(real) and (ids[: len(real)] < 0).any()):
                raise fail(f"{who}: -1 padding must come last and ids must be >= 0")
            if len(np.unique(real)) != len(real):
                raise fail(f"{who} repeats items")
            if self.n_items is not None and (real >= self.n_items).any():
                raise fail(f"{who} has ids outside the catalog of {self.n_items} items")
            bad = np.intersect1d(real, excl[r])
            if len(bad):
                raise fail(f"{who} contains excluded items {bad[:5].tolist()}")
            out[r] = ids
        return out

    def update(self, feedback: Feedback) -> None:
        """POST the feedback to ``feedback_url`` (no-op when it is not set)."""
        if self.params.feedback_url is None:
            return
        ratings = [None if math.isnan(x) else float(x) for x in np.asarray(feedback.ratings, float)]
        self._post(
            self.params.feedback_url,
            {
                "user_ids": np.asarray(feedback.user_ids).tolist(),
                "item_ids": np.asarray(feedback.item_ids).tolist(),
                "clicked": np.asarray(feedback.clicked, dtype=bool).tolist(),
                "ratings": ratings,
            },
        )
