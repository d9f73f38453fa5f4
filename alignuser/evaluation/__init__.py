"""Metrics of a run and the alignment protocols: do simulated users act like real ones?

**Run outcomes** (what ``alignuser run`` reports): :mod:`~alignuser.evaluation.macro`
(session outcomes per recommender with cluster-bootstrap intervals, paired ranking),
:mod:`~alignuser.evaluation.report` (``report.html``) and
:mod:`~alignuser.evaluation.offline` (NDCG / Recall of a recommender on a split).

**Alignment protocols** (``alignuser eval ...``), each a function returning tidy tables,
deterministic given its seeds:

* one module each: :mod:`~alignuser.evaluation.taste` (Agent4Rec 1:m taste
  discrimination), :mod:`~alignuser.evaluation.rating` (RMSE / MAE),
  :mod:`~alignuser.evaluation.next_action` (clicks and exits on real pages),
  :mod:`~alignuser.evaluation.replay` (predicted vs real CTR per position on logged pages),
  :mod:`~alignuser.evaluation.reflection_quality` (is a counterfactual reflection grounded);
* families, one package each: :mod:`~alignuser.evaluation.selection` (system selection:
  synthetic world with a known truth, your data, your A/B arms, off-policy on the Open
  Bandit Dataset), :mod:`~alignuser.evaluation.fidelity` (macro fidelity: session
  statistics, held-out humans vs simulation), :mod:`~alignuser.evaluation.likeness`
  (a discriminator tells real from simulated sessions) and
  :mod:`~alignuser.evaluation.judge` (an LLM judge scores sessions and picks the real of a
  pair).

**Shared pieces**, below the protocols (nothing here imports a protocol back):
:mod:`~alignuser.evaluation.protocols` (page states from the training history, the policy
line-up :func:`~alignuser.evaluation.protocols.build_policies`, seeds, summaries),
:mod:`~alignuser.evaluation.baselines` (popularity and MF user policies, the watch and
rating hooks the protocols read), :mod:`~alignuser.evaluation.chat_baseline` (the LLM
``chat`` baseline), :mod:`~alignuser.evaluation.datasource` (which data and split a
protocol runs on) and :mod:`~alignuser.evaluation.common` (shared-data folder, default
line-up, "not run" and chat status rows, table writing, run metadata, figures).

**Running them:** :mod:`~alignuser.evaluation.suite` holds one runner per protocol
(``RUNNERS``: the data flags in, ``{"summary": ..., ...}`` out);
:mod:`~alignuser.evaluation.cli` is the ``alignuser eval`` command line over those runners
(only :mod:`alignuser.cli` imports it).

Example:
    >>> from alignuser.evaluation.suite import RUNNERS
    >>> sorted(RUNNERS)[:4]
    ['fidelity', 'judge', 'judge_agreement', 'likeness']
"""
