"""``Dataset``: the bundle every loader returns, and ``Split``: train/valid/test interactions.

Example:
    >>> from alignuser.data.synthetic import SyntheticWorld  # doctest: +SKIP
    >>> ds = SyntheticWorld(seed=0).dataset()  # doctest: +SKIP
    >>> ds.summary()  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alignuser.data.tables import Catalog, Impressions, Interactions, Users
from alignuser.errors import DatasetError


@dataclass(frozen=True)
class RatingScale:
    """The integer rating scale agents use: ``1..max``.

    Datasets on another scale (half stars, 1-10) map onto it in their loader.
    """

    max: int = 5

    @property
    def like_threshold(self) -> float:
        """Ratings at or above this are "liked" (4 on a 5 scale, scaled otherwise)."""
        return 0.8 * self.max

    @property
    def dislike_threshold(self) -> float:
        """Ratings at or below this are "disliked" (2 on a 5 scale, scaled otherwise)."""
        return 0.4 * self.max


@dataclass(eq=False)
class Split:
    """Train / validation / test interactions over the same id space."""

    train: Interactions
    valid: Interactions | None
    test: Interactions
    name: str = ""

    def summary(self) -> dict[str, int]:
        """Row counts per part."""
        return {
            "train": len(self.train),
            "valid": len(self.valid) if self.valid is not None else 0,
            "test": len(self.test),
        }


@dataclass(eq=False)
class Dataset:
    """Everything a loader knows about one dataset.

    Attributes:
        name: Short name (``"ml-100k"``, ``"synthetic"``...).
        catalog: Items (statistics computed on all interactions unless the loader says).
        interactions: All interactions.
        users: Demographics, when the dataset has them.
        impressions: Page-level logs, when the dataset has them.
        scale: Rating scale agents use (``None`` for purely implicit data).
        splits: Splits that ship with the dataset ("as provided"), by name.
        meta: Free-form provenance (paths, counts of dropped rows...).
    """

    name: str
    catalog: Catalog
    interactions: Interactions
    users: Users | None = None
    impressions: Impressions | None = None
    scale: RatingScale | None = field(default_factory=RatingScale)
    splits: dict[str, Split] = field(default_factory=dict)
    meta: dict[str, object] = field(default_factory=dict)

    def __post_init__(self):
        if len(self.interactions) == 0 and (self.impressions is None or not len(self.impressions)):
            raise DatasetError(f"dataset {self.name!r} has no interactions")
        if len(self.interactions):
            self.catalog.check_ids(self.interactions.df["item_id"].to_numpy())

    @property
    def n_users(self) -> int:
        """Number of users (max id + 1 over interactions, users and impressions)."""
        n = self.interactions.n_users
        if self.users is not None and len(self.users):
            n = max(n, int(self.users.df["user_id"].max()) + 1)
        if self.impressions is not None and len(self.impressions):
            n = max(n, int(self.impressions.df["user_id"].max()) + 1)
        return n

    @property
    def n_items(self) -> int:
        """Number of items in the catalog."""
        return self.catalog.n_items

    def summary(self) -> dict[str, object]:
        """Counts for logs and reports."""
        return {
            "name": self.name,
            "users": self.n_users,
            "items": self.n_items,
            "interactions": len(self.interactions),
            "impressions": len(self.impressions) if self.impressions is not None else 0,
            "explicit": self.interactions.is_explicit,
            "splits": sorted(self.splits),
        }
