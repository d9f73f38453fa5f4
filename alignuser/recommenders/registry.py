"""``RECOMMENDERS``: the recommender registry, and ``make_recommender`` to build one by name.

Built-ins register under ``"random"``, ``"popular"``, ``"itemknn"``, ``"bpr"``, ``"ease"``,
``"multvae"``, ``"lightgcn"``, ``"http"`` and ``"replay"`` (recorded pages, see
:mod:`alignuser.recommenders.replay`); outside packages add theirs through the
``alignuser.recommenders`` entry-point group (see :mod:`alignuser.registry`).

Example:
    >>> from alignuser.recommenders import make_recommender
    >>> rec = make_recommender("ease", l2=200.0, seed=1)
    >>> rec.params.l2
    200.0
"""

from __future__ import annotations

from typing import Any

from alignuser.registry import Registry

BUILTINS = {
    "bpr": "alignuser.recommenders.bpr:BPR",
    "ease": "alignuser.recommenders.ease:EASE",
    "http": "alignuser.recommenders.http:HTTPRecommender",
    "itemknn": "alignuser.recommenders.itemknn:ItemKNN",
    "lightgcn": "alignuser.recommenders.lightgcn:LightGCN",
    "multvae": "alignuser.recommenders.multvae:MultVAE",
    "popular": "alignuser.recommenders.popular:PopularRecommender",
    "random": "alignuser.recommenders.random:RandomRecommender",
    "replay": "alignuser.recommenders.replay:ReplayRecommender",
}
"""The built-in recommenders, ``name -> "module:attr"``, imported when first asked for."""

RECOMMENDERS: Registry = Registry("alignuser.recommenders", BUILTINS)


def make_recommender(name: str, /, **params: Any):
    """Build the recommender registered as ``name``.

    Args:
        name: Registry name (case-insensitive; positional, so ``name=`` can set the
            display name).
        **params: Keyword arguments of its constructor: its ``Params`` fields, ``seed``,
            ``name``... Unknown fields raise a :class:`pydantic.ValidationError` naming them.

    Returns:
        An unfitted recommender.
    """
    return RECOMMENDERS.get(name)(**params)
