"""Typed tables, dataset loaders, splits, sessions and the synthetic world."""

from alignuser.data.dataset import Dataset, RatingScale, Split
from alignuser.data.tables import Catalog, Impressions, Interactions, Users

__all__ = [
    "Catalog",
    "Dataset",
    "Impressions",
    "Interactions",
    "RatingScale",
    "Split",
    "Users",
]
