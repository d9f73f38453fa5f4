"""Recommenders: the built-ins, the HTTP adapter, and the registry that names them.

=============  ===================================  ==========================================
name           class                                model
=============  ===================================  ==========================================
``random``     :class:`RandomRecommender`           seeded random ranking
``popular``    :class:`PopularRecommender`          training popularity
``itemknn``    :class:`ItemKNN`                     cosine item-item neighbourhood
``bpr``        :class:`BPR`                         BPR matrix factorisation (``implicit``)
``ease``       :class:`EASE`                        closed-form linear item-item model
``multvae``    :class:`MultVAE`                     variational autoencoder (torch)
``lightgcn``   :class:`LightGCN`                    graph convolution + BPR (torch)
``http``       :class:`HTTPRecommender`             a service reached over JSON/HTTP
``replay``     :class:`ReplayRecommender`           the pages recorded in an impressions log
=============  ===================================  ==========================================

Example:
    >>> from alignuser.recommenders import RECOMMENDERS, make_recommender
    >>> "ease" in RECOMMENDERS
    True
    >>> make_recommender("itemknn", neighbors=20).params.neighbors
    20
"""

from alignuser.recommenders.base import ScoringRecommender, top_k
from alignuser.recommenders.bpr import BPR
from alignuser.recommenders.ease import EASE
from alignuser.recommenders.http import HTTPRecommender, RecommenderServiceError
from alignuser.recommenders.itemknn import ItemKNN
from alignuser.recommenders.lightgcn import LightGCN
from alignuser.recommenders.multvae import MultVAE
from alignuser.recommenders.popular import PopularRecommender
from alignuser.recommenders.random import RandomRecommender
from alignuser.recommenders.registry import RECOMMENDERS, make_recommender
from alignuser.recommenders.replay import ReplayRecommender

__all__ = [
    "BPR",
    "EASE",
    "RECOMMENDERS",
    "HTTPRecommender",
    "ItemKNN",
    "LightGCN",
    "MultVAE",
    "PopularRecommender",
    "RandomRecommender",
    "RecommenderServiceError",
    "ReplayRecommender",
    "ScoringRecommender",
    "make_recommender",
    "top_k",
]
