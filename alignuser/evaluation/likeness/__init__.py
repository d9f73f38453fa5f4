"""Human-likeness by a discriminator: can a classifier tell simulated sessions from real ones?

The family's modules:

* :mod:`~alignuser.evaluation.likeness.sessions`: held-out human sessions and each policy's
  sessions **on the same pages**, and the features a discriminator reads;
* :mod:`~alignuser.evaluation.likeness.discriminator`: the classifier two-sample test
  (:func:`two_sample_auc`), the test of every policy on a dataset (:func:`likeness`), its
  table and the protocol run over datasets (:func:`run_likeness`);
* :mod:`~alignuser.evaluation.likeness.panel`: the human-likeness panel of ``report.html``
  (from a run folder's ``likeness.json``).

The LLM judge's view of the same question is :mod:`alignuser.evaluation.judge`.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
    >>> 0.35 < two_sample_auc(a, b, np.arange(200), np.arange(200), n_boot=0)["auc"] < 0.65
    True
"""

from alignuser.evaluation.likeness.discriminator import (
    N_BOOT,
    likeness,
    likeness_table,
    run_likeness,
    two_sample_auc,
)

__all__ = ["N_BOOT", "likeness", "likeness_table", "run_likeness", "two_sample_auc"]
