"""Macro fidelity: do simulated sessions look like the held-out human ones?

For held-out users, the same session statistics are read from the human log and from the
simulation, as tidy long samples (``source, statistic, value, user_id, session``: one value
per session, page or click), and compared per statistic with the Wasserstein distance (with
a bootstrap interval over users) and the two-sample Kolmogorov-Smirnov test
(:mod:`scipy.stats`).

=======================  ===========  ========================================================
statistic                one value    meaning
=======================  ===========  ========================================================
``pages_per_session``    per session  pages viewed
``watches_per_page``     per page     items clicked / watched on the page
``click_position``       per click    1-based position of the clicked item on its page
``exit_page``            per session  page on which the user chose to leave
``watches_per_session``  per session  items clicked / watched in the session
``rating``               per watch    rating on the agents' ``1..max`` scale
=======================  ===========  ========================================================

**Impression logs** (EB-NeRD, the synthetic world): impressions are cut in time as in
:func:`~alignuser.evaluation.next_action.impression_time_split`; sessions (``session_id``,
else an inactivity gap) that start at or after the cut are held out, sessions crossing the
cut are left out of both sides, and only impressions (and interactions) before the cut
train the policies. Human: the logged pages; every session ends on its last logged page.
Simulated: each held-out session's real pages are walked in order with the policy (states
from :func:`~alignuser.training.trajectories.from_impressions`, evidence strictly before
each page, as in next-action), one seeded sampled action per page; the session ends when
the policy exits (its ``exit_page``) or the real pages run out (censored: no ``exit_page``).
``rating`` needs explicit ratings of the clicks (not in EB-NeRD).

**Rating logs** (MovieLens): held-out users are the test part's users with training history
(their persona comes from it). Human: their held-out interactions cut into sessions by an
inactivity gap (:func:`~alignuser.data.sessions.sessionize`): ``watches_per_session`` and
``rating`` (half stars rounded onto the agents' integer scale, as in training). Rating logs
have no pages, so the page statistics are reported as not available, never invented.
Simulated: the real population simulation (:func:`~alignuser.simulation.runner.run_shard`,
in-memory memory) of those users against a recommender fitted on the training part (default
EASE), with as many sessions per agent as the human mean (1..20) and the default session
rules (4 items per page, up to 5 pages: a simulated session watches at most 20 items, a
human rating session has no such cap). Human sessions weigh users by their activity,
simulated ones weigh agents equally.

Ratings are rounded onto ``1..max`` with :func:`numpy.rint` (half to even: 2.5 -> 2,
3.5 -> 4), the mapping the trajectories use in training. KS p-values on these discrete
samples are approximate (ties).

The protocol lives in six modules, whose public names this package re-exports:
:mod:`~alignuser.evaluation.fidelity.heldout` (which sessions are held out),
:mod:`~alignuser.evaluation.fidelity.stats` (human statistics),
:mod:`~alignuser.evaluation.fidelity.simulation` (simulated statistics),
:mod:`~alignuser.evaluation.fidelity.report` (distances, bootstrap intervals, plots),
:mod:`~alignuser.evaluation.fidelity.checkpoints` (which checkpoint on which dataset; also
read by the likeness and judge-agreement protocols) and
:mod:`~alignuser.evaluation.fidelity.protocol`, which runs them: :func:`macro_fidelity` on
one dataset, :func:`run_fidelity` over datasets and seeds, each dataset with its own
AlignUSER checkpoint.

Example:
    >>> import pandas as pd
    >>> h = pd.DataFrame({"statistic": "rating", "value": [1.0, 2.0, 3.0]})
    >>> s = pd.DataFrame({"statistic": "rating", "value": [2.0, 3.0, 4.0]})
    >>> float(compare(h, s).loc[0, "wasserstein"])
    1.0
"""

from alignuser.evaluation.fidelity.checkpoints import (
    checkpoint_for,
    checkpoint_variants,
    parse_checkpoints,
)
from alignuser.evaluation.fidelity.heldout import (
    COLUMNS,
    NO_PAGES,
    NO_RATINGS,
    NO_TIME,
    PAGE_STATISTICS,
    STATISTICS,
    HeldOut,
    held_out,
    session_pages,
)
from alignuser.evaluation.fidelity.protocol import macro_fidelity, run_fidelity
from alignuser.evaluation.fidelity.report import N_BOOT, compare, fidelity_plots, fidelity_table
from alignuser.evaluation.fidelity.simulation import (
    FidelitySamples,
    fidelity_samples,
    simulated_session_stats,
)
from alignuser.evaluation.fidelity.stats import human_session_stats

__all__ = [
    "COLUMNS",
    "NO_PAGES",
    "NO_RATINGS",
    "NO_TIME",
    "N_BOOT",
    "PAGE_STATISTICS",
    "STATISTICS",
    "FidelitySamples",
    "HeldOut",
    "checkpoint_for",
    "checkpoint_variants",
    "compare",
    "fidelity_plots",
    "fidelity_samples",
    "fidelity_table",
    "held_out",
    "human_session_stats",
    "macro_fidelity",
    "parse_checkpoints",
    "run_fidelity",
    "session_pages",
    "simulated_session_stats",
]
