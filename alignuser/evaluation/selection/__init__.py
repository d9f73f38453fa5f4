"""System selection: would the simulated users pick the recommender real users would?

The family's modules, one per source of truth:

* :mod:`~alignuser.evaluation.selection.synthetic`: in the synthetic world, against its known
  online truth (:func:`system_selection`, :func:`selection_agreement`,
  :func:`selection_table`); the world's logs and the learned policy trained per world live in
  :mod:`~alignuser.evaluation.selection.worlds` (:func:`world_logs`,
  :func:`train_world_policy`);
* :mod:`~alignuser.evaluation.selection.on_data`: on your own data, where no online truth
  exists: simulated vs offline rankings (:func:`dataset_selection`,
  :func:`offline_agreement`);
* :mod:`~alignuser.evaluation.selection.ab`: your own A/B test's arms, against their real CTRs
  (:func:`ab_selection`, :func:`ab_summary`);
* :mod:`~alignuser.evaluation.selection.offpolicy`: the Open Bandit Dataset's two logging
  policies, the simulator against the standard off-policy estimators
  (:func:`offpolicy_selection`, :func:`offpolicy_summary`).

The ``alignuser eval selection`` and ``off-policy`` runners are in
:mod:`alignuser.evaluation.suite`.

Example:
    >>> raw = system_selection(world_seeds=(0,), n_users=40, n_items=60)  # doctest: +SKIP
    >>> selection_table(selection_agreement(raw))  # doctest: +SKIP
"""

from alignuser.evaluation.selection.ab import ab_selection, ab_summary
from alignuser.evaluation.selection.offpolicy import offpolicy_selection, offpolicy_summary
from alignuser.evaluation.selection.on_data import (
    DATA_RECOMMENDERS,
    dataset_selection,
    offline_agreement,
)
from alignuser.evaluation.selection.synthetic import (
    DEFAULT_RECOMMENDERS,
    OracleRecommender,
    selection_agreement,
    selection_table,
    simulate_click_rate,
    system_selection,
)
from alignuser.evaluation.selection.worlds import WorldLogs, train_world_policy, world_logs

__all__ = [
    "DATA_RECOMMENDERS",
    "DEFAULT_RECOMMENDERS",
    "OracleRecommender",
    "WorldLogs",
    "ab_selection",
    "ab_summary",
    "dataset_selection",
    "offline_agreement",
    "offpolicy_selection",
    "offpolicy_summary",
    "selection_agreement",
    "selection_table",
    "simulate_click_rate",
    "system_selection",
    "train_world_policy",
    "world_logs",
]
