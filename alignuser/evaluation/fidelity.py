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


The protocol lives in five modules, all re-exported here:
:mod:`~alignuser.evaluation.fidelity_heldout` (which sessions are held out),
:mod:`~alignuser.evaluation.fidelity_stats` (human statistics),
:mod:`~alignuser.evaluation.fidelity_simulation` (simulated statistics),
:mod:`~alignuser.evaluation.fidelity_report` (distances, bootstrap intervals, plots) and
:mod:`~alignuser.evaluation.fidelity_checkpoints` (which checkpoint on which dataset). This
module runs them: :func:`macro_fidelity` on one dataset, :func:`run_fidelity` over datasets
and seeds, each dataset with its own AlignUSER checkpoint.

Example:
    >>> import pandas as pd
    >>> h = pd.DataFrame({"statistic": "rating", "value": [1.0, 2.0, 3.0]})
    >>> s = pd.DataFrame({"statistic": "rating", "value": [2.0, 3.0, 4.0]})
    >>> float(compare(h, s).loc[0, "wasserstein"])
    1.0
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from alignuser.evaluation.fidelity_checkpoints import checkpoint_for, parse_checkpoints
from alignuser.evaluation.fidelity_heldout import (
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
from alignuser.evaluation.fidelity_report import N_BOOT, compare, fidelity_plots, fidelity_table
from alignuser.evaluation.fidelity_simulation import (
    FidelitySamples,
    fidelity_samples,
    simulated_session_stats,
)
from alignuser.evaluation.fidelity_stats import human_session_stats

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

log = logging.getLogger(__name__)


def macro_fidelity(
    dataset,
    split=None,
    policies: Mapping[str, Any] | Callable | None = None,
    seed: int = 0,
    max_users: int | None = None,
    n_boot: int = N_BOOT,
    **kwargs,
) -> pd.DataFrame:
    """Macro fidelity of every policy on ``dataset`` (see the module docstring).

    Args:
        dataset: Impressions dataset, or a rating log.
        split: Rating-log split (``None``: see :func:`held_out`).
        policies: ``{name: policy}`` fitted on the training part, or a function
            ``(policy_data, train_interactions) -> {name: policy}`` (e.g. a partial of
            :func:`~alignuser.evaluation.protocols.build_policies`).
        seed: Sampling / simulation / bootstrap seed.
        max_users: Subsample held-out users.
        n_boot: Bootstrap resamples of the Wasserstein interval (``0``: none).
        **kwargs: ``test_fraction``, ``session_gap`` (held-out data); ``recommender``,
            ``session`` (rating-log simulation).

    Returns:
        Columns ``policy, statistic, wasserstein, wasserstein_lo, wasserstein_hi, ks,
        ks_pvalue, n_human, n_sim, human_mean, sim_mean, status``.
    """
    hk = {k: kwargs.pop(k) for k in ("test_fraction", "session_gap") if k in kwargs}
    held = held_out(dataset, split, max_users=max_users, **hk)
    pols = policies(held.policy_data, held.train) if callable(policies) else dict(policies or {})
    return fidelity_table(fidelity_samples(held, pols, seed, **kwargs), n_boot, seed)


def run_fidelity(
    data=None,
    seeds=(0,),
    checkpoint: str | Path | Mapping[str, str | Path] | None = None,
    policies=None,
    max_users: int = 200,
    plots_dir: str | Path | None = None,
    recommender: str = "ease",
    n_boot: int = N_BOOT,
    chat=None,
) -> dict:
    """Macro fidelity on ``data`` (default: ebnerd-sample and ml-latest-small).

    Args:
        data: Dataset folders and/or :class:`~alignuser.data.dataset.Dataset` objects (one
            or a list). A rating log uses its ``provided`` split, else a temporal split
            (latest 20% held out, as in the rating protocol); impressions are cut in time.
        seeds: Sampling / simulation seeds.
        checkpoint: AlignUSER checkpoint folder, or ``{dataset: folder}`` (a policy is only
            meaningful on the data it was trained on); a key matches a dataset's ``name``
            (e.g. ``"ebnerd"``) or its folder name (``"ebnerd-sample"``). A dataset without
            one gets an ``alignuser`` row "not run" with the reason.
        policies: Line-up names (default: the eval CLI's ``POLICIES``).
        max_users: Subsample held-out users per dataset (seed 0).
        plots_dir: Write one PNG per dataset and statistic there.
        recommender: Recommender of the rating-log simulation.
        n_boot: Bootstrap resamples of each Wasserstein interval (``0``: none); seeded by the
            run's seed.
        chat: Chat-model baseline (spec ``"openai:<model>[@<base_url>]"``, chat model or
            policy; see :func:`~alignuser.evaluation.protocols.chat_policy`); ``None``: none.

    Returns:
        ``{"summary": mean over seeds per dataset/policy/statistic (distances and interval
        ends), "raw": per seed}`` and, with ``plots_dir``, ``"plots"`` (``dataset,
        statistic, path``; seed ``seeds[0]``).
    """
    from alignuser.data.dataset import Dataset
    from alignuser.data.loaders import load_dataset
    from alignuser.evaluation.eval_cli import POLICIES, shared_data
    from alignuser.evaluation.protocols import build_policies

    policies = tuple(policies or POLICIES)
    if data is None:
        data = [shared_data() / "ebnerd-sample", shared_data() / "ml-latest-small"]
    raws, plots, used = [], [], set()
    for item in data if isinstance(data, (list, tuple)) else [data]:
        ds = item if isinstance(item, Dataset) else load_dataset(item)
        names = [ds.name] if isinstance(item, Dataset) else [ds.name, Path(item).name]
        ckpt, why = checkpoint_for(checkpoint, names)
        used.update(names)
        split = None
        if ds.impressions is None or not len(ds.impressions):
            from alignuser.data.splits import temporal_split

            split = ds.splits.get("provided") or temporal_split(ds.interactions, 0.2)
        held = held_out(ds, split, max_users=max_users)
        extra = {} if chat is None else {"chat": chat}  # old-signature stand-ins keep working
        pols = build_policies(held.policy_data, held.train, policies, 0, ckpt, **extra)
        for seed in seeds:
            fs = fidelity_samples(held, pols, seed, recommender)
            raws.append(fidelity_table(fs, n_boot, seed).assign(dataset=ds.name, seed=seed))
            if plots_dir is not None and seed == seeds[0]:
                for p in fidelity_plots(fs, plots_dir, prefix=f"{ds.name}_"):
                    stat = p.stem[len(ds.name) + 1 :]
                    plots.append({"dataset": ds.name, "statistic": stat, "path": str(p)})
        if "alignuser" in policies and "alignuser" not in pols:
            why = why or f"checkpoint failed to load: {ckpt}"
            row = {"policy": "alignuser", "statistic": "all", "dataset": ds.name}
            raws.append(pd.DataFrame([{**row, "status": f"not run: {why}"}]))
    unused = sorted(set(map(str, checkpoint)) - used) if isinstance(checkpoint, Mapping) else []
    if unused:
        log.warning("fidelity: checkpoints given for datasets not in the run: %s", unused)
    raw = pd.concat(raws, ignore_index=True)
    keys = ["dataset", "policy", "statistic"]
    num = ["wasserstein", "wasserstein_lo", "wasserstein_hi", "ks", "ks_pvalue", "human_mean",
           "sim_mean"]  # fmt: skip
    g = raw.groupby(keys, sort=False, dropna=False)
    summary = g[num].mean().join(g[["n_human", "n_sim", "status"]].first())
    summary["n_seeds"] = g["seed"].count().astype("Int64")
    order = [
        *keys,
        "wasserstein",
        "wasserstein_lo",
        "wasserstein_hi",
        "ks",
        "ks_pvalue",
        "n_human",
        "n_sim",
        "human_mean",
        "sim_mean",
        "status",
        "n_seeds",
    ]
    out = {"summary": summary.reset_index()[order], "raw": raw}
    if plots_dir is not None:
        out["plots"] = pd.DataFrame(plots, columns=["dataset", "statistic", "path"])
    return out
