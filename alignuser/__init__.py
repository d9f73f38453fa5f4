"""alignuser: evaluate recommender systems with human-aligned synthetic users.

The top-level package stays light: importing it loads no heavy library (torch, transformers,
chromadb, mesa). Import the layer you need, e.g. ``from alignuser.data import load_dataset``.

Layers (one direction, left to right):

* :mod:`alignuser.data`: typed tables, loaders, splits, the synthetic world.
* :mod:`alignuser.recommenders`: the ``Recommender`` plug point and built-ins.
* :mod:`alignuser.env`: pages, actions and their text form.
* :mod:`alignuser.personas`, :mod:`alignuser.memory`, :mod:`alignuser.policy`.
* :mod:`alignuser.simulation`: the Mesa population; :mod:`alignuser.evaluation`: metrics.
* :mod:`alignuser.interfaces`: every plug-point Protocol in one place.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
