"""Macro fidelity runs: :func:`macro_fidelity` on one dataset, :func:`run_fidelity` over many.

The protocol (statistics, held-out sessions, simulation, distances) is described in
:mod:`alignuser.evaluation.fidelity`; this module puts its parts together. Each dataset
gets its own AlignUSER checkpoint (:func:`~alignuser.evaluation.fidelity.checkpoints.
checkpoint_for`) and policies fitted on its training part only; seeds vary the sampling,
the simulation and the bootstrap.

Example:
    >>> out = run_fidelity("../shared/data/ebnerd-sample", max_users=50)  # doctest: +SKIP
    >>> out["summary"][["policy", "statistic", "wasserstein"]]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from alignuser.evaluation.fidelity.checkpoints import checkpoint_for
from alignuser.evaluation.fidelity.heldout import held_out
from alignuser.evaluation.fidelity.report import N_BOOT, fidelity_plots, fidelity_table
from alignuser.evaluation.fidelity.simulation import fidelity_samples

__all__ = ["macro_fidelity", "run_fidelity"]

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
        policies: Line-up names (default:
            :data:`~alignuser.evaluation.common.PROTOCOL_POLICIES`).
        max_users: Subsample held-out users per dataset (seed 0).
        plots_dir: Write one PNG per dataset and statistic there.
        recommender: Recommender of the rating-log simulation.
        n_boot: Bootstrap resamples of each Wasserstein interval (``0``: none); seeded by the
            run's seed.
        chat: Chat-model baseline (spec ``"openai:<model>[@<base_url>]"``, chat model or
            policy; see :func:`~alignuser.evaluation.chat_baseline.chat_policy`); ``None``: none.

    Returns:
        ``{"summary": mean over seeds per dataset/policy/statistic (distances and interval
        ends), "raw": per seed}`` and, with ``plots_dir``, ``"plots"`` (``dataset,
        statistic, path``; seed ``seeds[0]``).
    """
    from alignuser.evaluation.common import PROTOCOL_POLICIES, shared_data

    policies = tuple(policies or PROTOCOL_POLICIES)
    if data is None:
        data = [shared_data() / "ebnerd-sample", shared_data() / "ml-latest-small"]
    raws, plots, used = [], [], set()
    for item in data if isinstance(data, (list, tuple)) else [data]:
        rows, pngs, names = _dataset_fidelity(item, seeds, checkpoint, policies, max_users,
                                              plots_dir, recommender, n_boot, chat)  # fmt: skip
        raws += rows
        plots += pngs
        used.update(names)
    unused = sorted(set(map(str, checkpoint)) - used) if isinstance(checkpoint, Mapping) else []
    if unused:
        log.warning("fidelity: checkpoints given for datasets not in the run: %s", unused)
    raw = pd.concat(raws, ignore_index=True)
    out = {"summary": _seed_summary(raw), "raw": raw}
    if plots_dir is not None:
        out["plots"] = pd.DataFrame(plots, columns=["dataset", "statistic", "path"])
    return out


def _dataset_fidelity(item, seeds, checkpoint, policies, max_users, plots_dir, recommender,
                      n_boot, chat) -> tuple[list, list, list[str]]:  # fmt: skip
    """One dataset of :func:`run_fidelity`: raw tables per seed, plot rows, its names.

    The learned policy gets the dataset's own checkpoint; without one (or when it fails to
    load) the dataset gets an ``alignuser`` row "not run" with the reason.
    """
    from alignuser.data.dataset import Dataset
    from alignuser.data.loaders import load_dataset
    from alignuser.evaluation.protocols import build_policies

    ds = item if isinstance(item, Dataset) else load_dataset(item)
    names = [ds.name] if isinstance(item, Dataset) else [ds.name, Path(item).name]
    ckpt, why = checkpoint_for(checkpoint, names)
    split = None
    if ds.impressions is None or not len(ds.impressions):
        from alignuser.data.splits import temporal_split

        split = ds.splits.get("provided") or temporal_split(ds.interactions, 0.2)
    held = held_out(ds, split, max_users=max_users)
    extra = {} if chat is None else {"chat": chat}  # old-signature stand-ins keep working
    pols = build_policies(held.policy_data, held.train, policies, 0, ckpt, **extra)
    raws, plots = [], []
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
    return raws, plots, names


def _seed_summary(raw: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per dataset, policy and statistic (counts and status: the first)."""
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
    return summary.reset_index()[order]
