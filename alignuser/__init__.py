"""alignuser: evaluate recommender systems with human-aligned synthetic users.

The top-level package stays light: importing it loads no heavy library (torch, transformers,
chromadb, mesa). Import the layer you need, e.g. ``from alignuser.data import load_dataset``.

Layers (one direction: a module imports its own layer and the layers above it in this list,
never one below; ``tests/test_architecture.py`` checks it, with no cycle and no private name
across modules):

* the base: :mod:`alignuser.errors`, :mod:`alignuser.registry`, :mod:`alignuser.interfaces`
  (every plug-point Protocol), the action vocabulary :mod:`alignuser.env.actions`, the
  training settings :mod:`alignuser.training.config`, then :mod:`alignuser.scenario`.
* :mod:`alignuser.data`: typed tables, loaders (``data/formats/``), splits, the synthetic world.
* :mod:`alignuser.recommenders`: the ``Recommender`` plug point and built-ins.
* :mod:`alignuser.env`: pages, catalog views, taste evidence and their text form.
* :mod:`alignuser.personas`, :mod:`alignuser.memory`.
* :mod:`alignuser.state`: the page state a policy reads, one builder for training,
  evaluation and simulation.
* :mod:`alignuser.policy`, then :mod:`alignuser.training`, then :mod:`alignuser.preflight`.
* :mod:`alignuser.simulation` (the Mesa population) and :mod:`alignuser.evaluation`
  (metrics and protocols) side by side.
* :mod:`alignuser.demo`, :mod:`alignuser.testing`, :mod:`alignuser.cli`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
