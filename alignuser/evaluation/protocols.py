"""Shared pieces of the protocols: state building, the policy line-up, seeds, summaries.

The protocols themselves live in :mod:`~alignuser.evaluation.taste` (Agent4Rec 1:m taste
discrimination), :mod:`~alignuser.evaluation.rating` (RMSE / MAE),
:mod:`~alignuser.evaluation.next_action` (clicks on real pages),
:mod:`~alignuser.evaluation.replay` (CTR on logged pages) and the families
:mod:`~alignuser.evaluation.selection` (system selection against a known truth, on your
data, A/B arms, off-policy), :mod:`~alignuser.evaluation.fidelity`,
:mod:`~alignuser.evaluation.likeness` and :mod:`~alignuser.evaluation.judge`. Each returns
a tidy :class:`pandas.DataFrame` and is deterministic given its seeds.

The line-up (:func:`build_policies`, default :data:`~alignuser.evaluation.common.
PROTOCOL_POLICIES`), fitted on the training part only:

``random``: :class:`~alignuser.policy.random.RandomPolicy` (watch 0.5, sampled, seeded);
``popularity``: :class:`~alignuser.evaluation.baselines.PopularityPolicy`;
``mf``: :class:`~alignuser.evaluation.baselines.MFUserPolicy` (EASE + bias ratings);
``choice``: :class:`~alignuser.policy.choice.ChoiceModelPolicy` calibrated with
:func:`~alignuser.training.calibration.calibrate_choice`; ``alignuser``: the learned policy,
sampling its decisions (seeded) like every other policy in a simulation, only when a
checkpoint is given. Ablation: ``choice_default``, the choice model with
its default (uncalibrated) coefficients. ``chat`` (only when a chat model is configured,
``chat=`` / ``--chat openai:MODEL[@BASE_URL]``): a
:class:`~alignuser.policy.chat.ChatModelPolicy`, an LLM prompted Agent4Rec-style whose
answers are parsed strictly (see :func:`~alignuser.evaluation.chat_baseline.chat_policy`).

Example:
    >>> from alignuser.data.synthetic import SyntheticWorld
    >>> ds = SyntheticWorld(n_users=30, n_items=60, seed=0).dataset(n_sessions_per_user=2)
    >>> pols = build_policies(ds, ds.interactions, ["random", "popularity"])
    >>> sorted(pols)
    ['popularity', 'random']
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alignuser.env.page import PageState
from alignuser.evaluation.chat_baseline import chat_policy
from alignuser.evaluation.common import PROTOCOL_POLICIES

__all__ = ["StateBuilder", "build_policies", "rng_for", "summarise"]

log = logging.getLogger(__name__)


class StateBuilder:
    """Builds page states for users from their training history only, features attached.

    Args:
        dataset: The dataset.
        train: Interactions the states may use (history, statistics, personas).

    Example:
        >>> sb = StateBuilder(ds, split.train)  # doctest: +SKIP
        >>> sb.pages(0, [5, 9, 11, 2, 7], page_size=4)[1].item_ids  # doctest: +SKIP
        (7,)
    """

    def __init__(self, dataset, train):
        from alignuser.personas.derive import derive_personas
        from alignuser.state import StepContext

        self.ctx = StepContext(dataset, train)
        self.features = {
            int(p.user_id): p.to_features()
            for p in derive_personas(train, dataset.catalog, dataset.users, dataset.scale)
        }
        df = train.df.sort_values(["user_id", "timestamp"], kind="stable")
        self.history = {
            int(u): (g["item_id"].tolist(), g["rating"].tolist()) for u, g in df.groupby("user_id")
        }

    def state(self, user: int, items: Sequence[int], page: int = 1) -> PageState:
        """The state of ``user`` seeing ``items`` on page ``page`` (train history only)."""
        hist_items, hist_ratings = self.history.get(int(user), ([], []))
        s = self.ctx.state(int(user), page, [int(i) for i in items], hist_items, hist_ratings)
        return dataclasses.replace(s, features=self.features.get(int(user), {}))

    def pages(self, user: int, items: Sequence[int], page_size: int = 4) -> list[PageState]:
        """Consecutive pages of ``page_size`` items (the last one may be shorter)."""
        return [
            self.state(user, items[lo : lo + page_size], page=k + 1)
            for k, lo in enumerate(range(0, len(items), page_size))
        ]


def build_policies(
    dataset,
    train,
    names: Sequence[str] = PROTOCOL_POLICIES,
    seed: int = 0,
    alignuser_checkpoint: str | Mapping[str, str] | None = None,
    calibration_steps: int = 5000,
    chat: str | Any | None = None,
) -> dict[str, Any]:
    """The policies of ``names``, fitted/calibrated on ``train`` only.

    ``"alignuser"`` is skipped (with a log line) when no checkpoint is given or it cannot be
    loaded; callers report it as "not run". ``alignuser_checkpoint`` may also map policy
    names to checkpoints (``{"alignuser": DIR, "alignuser_bc": DIR2}``: the policy and its
    ablations in the same run); they all take the place of ``"alignuser"`` in ``names``.
    ``chat`` (a spec ``"openai:<model>[@<base_url>]"``, a LangChain chat model or a policy,
    see :func:`~alignuser.evaluation.chat_baseline.chat_policy`) adds the ``"chat"``
    baseline; ``None``: no chat row.
    Unknown names go to :func:`alignuser.policy.registry.make_policy`.

    Raises:
        ValueError: For a malformed ``chat`` spec (before anything is fitted).
    """
    chat_pol = None if chat is None else chat_policy(chat)
    from alignuser.evaluation.baselines import MFUserPolicy, PopularityPolicy
    from alignuser.policy.registry import make_policy

    out: dict[str, Any] = {}
    for name in names:
        if name == "random":
            out[name] = make_policy("random", watch_prob=0.5)
        elif name == "popularity":
            out[name] = PopularityPolicy()
        elif name == "mf":
            out[name] = MFUserPolicy("ease", seed=seed).fit(train, dataset.catalog)
        elif name == "choice":
            from alignuser.training.calibration import calibrate_choice

            pol = make_policy("choice")
            calibrate_choice(pol, dataset, train, max_steps=calibration_steps, seed=seed)
            out[name] = pol
        elif name == "choice_default":  # ablation: the choice model without calibration
            out[name] = make_policy("choice")
        elif name == "alignuser":
            if not alignuser_checkpoint:
                log.info("alignuser policy not run: no checkpoint given")
                continue
            variants = (
                {name: alignuser_checkpoint}
                if isinstance(alignuser_checkpoint, (str, Path))
                else dict(alignuser_checkpoint)
            )
            for label, path in variants.items():
                try:
                    pol = make_policy("alignuser", model=str(path))
                    from alignuser.policy.items import check_catalog

                    check_catalog(pol, dataset.n_items, f"dataset {dataset.name!r}")
                    out[label] = pol
                except Exception as exc:
                    log.warning("%s policy not run: %s", label, exc)
        elif name == "chat":
            if chat_pol is None:
                log.info("chat policy not run: no chat model configured")
        else:
            out[name] = make_policy(name)
    if chat_pol is not None:
        out["chat"] = chat_pol
    return out


def summarise(df: pd.DataFrame, by: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Mean and std over seeds: columns ``<metric>`` and ``<metric>_std`` per group."""
    g = df.groupby(list(by), sort=False)[list(metrics)]
    mean, std = g.mean(), g.std(ddof=0).add_suffix("_std")
    out = pd.concat([mean, std], axis=1).reset_index()
    out["n_seeds"] = g.size().to_numpy()
    return out


def rng_for(seed: int, *keys: int) -> np.random.Generator:
    """A generator seeded by ``seed`` and integer keys (independent streams)."""
    return np.random.default_rng([int(seed), *[int(k) for k in keys]])
