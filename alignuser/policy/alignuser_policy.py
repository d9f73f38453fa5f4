"""``AlignUserPolicy``: the learned policy as a :class:`~alignuser.interfaces.Policy`.

It scores every legal decision of every page of the batch with a
:class:`~alignuser.policy.model.PolicyModel` (one forward pass per batch of pages, no free
generation) and samples actions from those distributions, always legal by construction.

Satisfaction (the post-session 1..10 interview) is a **documented heuristic**, not a model
output: ``1 + 9 * (0.7 * mean normalised rating of what was watched + 0.3 * min(1, 2 *
watch rate))``; sessions with nothing watched score from the watch rate alone. It reads the
summary keys ``ratings`` (list of given ratings) or else ``mean_rating`` (what the simulation's
session summaries carry), ``n_watched`` / ``n_shown`` (or ``watched`` / ``shown``) and
``max_rating`` (default 5).

Example:
    >>> from alignuser.policy.alignuser_policy import AlignUserPolicy
    >>> policy = AlignUserPolicy.from_checkpoint("runs/policy")  # doctest: +SKIP
    >>> actions = policy.decide(states, np.random.default_rng(0))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alignuser.env.actions import ItemDecision, PageAction
from alignuser.env.page import PageState

__all__ = ["AlignUserPolicy", "scores_to_action"]


def _temper(p: np.ndarray, temperature: float) -> np.ndarray:
    """Apply a softmax temperature to Bernoulli probabilities."""
    if temperature == 1.0:
        return p
    p = np.clip(p, 1e-9, 1 - 1e-9)
    logit = np.log(p) - np.log1p(-p)
    return 1.0 / (1.0 + np.exp(-logit / temperature))


def scores_to_action(
    state: PageState,
    scores,
    rng: np.random.Generator,
    temperature: float = 1.0,
    greedy: bool = False,
) -> PageAction:
    """Turn one page's :class:`~alignuser.policy.scoring.PageScores` into a legal action.

    Sampling draws, in page order, one uniform per item (watch?), one more per watched item
    (its rating, by inverse CDF: the draw ``Generator.choice(p=...)`` makes) and one for the
    exit, so a seed gives the same actions however the scores were batched.
    """
    n = len(state.items)
    if greedy or temperature != 1.0:
        return _tempered_action(state, scores, rng, temperature, greedy)
    pw = scores.watch.tolist()
    top = state.max_rating
    decisions = []
    for i, item in enumerate(state.items):
        if rng.random() < pw[i]:
            pr = np.asarray(scores.rating[i], dtype=float)[:top]
            cdf = (pr / pr.sum()).cumsum()
            cdf /= cdf[-1]
            r = int(cdf.searchsorted(rng.random(), side="right")) + 1
            decisions.append(ItemDecision(item.item_id, True, r))
        else:
            decisions.append(ItemDecision(item.item_id, False, None))
    leave = rng.random() < float(scores.exit)
    return PageAction(tuple(decisions), exit=bool(leave or n == 0))


def _tempered_action(state, scores, rng, temperature: float, greedy: bool) -> PageAction:
    """:func:`scores_to_action` with a temperature, or greedy (the most likely decisions)."""
    n = len(state.items)
    pw = _temper(np.asarray(scores.watch, dtype=float), temperature)
    px = float(_temper(np.asarray([scores.exit]), temperature)[0])
    decisions = []
    for i, item in enumerate(state.items):
        pr = np.asarray(scores.rating[i], dtype=float)[: state.max_rating]
        if temperature != 1.0 and not greedy:
            pr = np.exp(np.log(np.clip(pr, 1e-12, None)) / temperature)
        pr = pr / pr.sum()
        watch = pw[i] >= 0.5 if greedy else rng.random() < pw[i]
        if watch:
            r = int(np.argmax(pr)) + 1 if greedy else int(rng.choice(len(pr), p=pr)) + 1
            decisions.append(ItemDecision(item.item_id, True, r))
        else:
            decisions.append(ItemDecision(item.item_id, False, None))
    leave = px >= 0.5 if greedy else rng.random() < px
    return PageAction(tuple(decisions), exit=bool(leave or n == 0))


class AlignUserPolicy:
    """The learned AlignUSER user policy.

    Args:
        model: A trained :class:`~alignuser.policy.model.PolicyModel`, or the path of a
            checkpoint folder (so ``make_policy("alignuser", model="runs/x/policy")`` works).
        temperature: Sampling temperature on every decision (1.0 = the model's own odds).
        greedy: Take the most likely decision everywhere (for evaluation).
        batch_size: Pages per forward pass; ``None``: 128 for a model that reads the lean
            state text (about 40 tokens a page), 32 for the compact one (about 130): the
            fastest sizes on 2 CPU cores (8-512 tried, ``benchmarks/results/policy_speed.md``).
        checkpoint: A checkpoint folder, instead of ``model``.
        thoughts: Write a rationale before deciding (off by default; see :meth:`decide`):
            ``True`` / ``"grounded"`` decodes it in the reflection grammar, item by item
            (:mod:`alignuser.policy.thinking`), ``"free"`` as free greedy text.
            :mod:`alignuser.policy.thoughts` measures whether the decisions follow it.
        thought_tokens: Most tokens per rationale (free) or per predicted outcome (grounded).
        threads: Torch threads while scoring; ``None``: one for the tiny base unless
            ``OMP_NUM_THREADS`` is set (:func:`~alignuser.policy.bases.torch_threads`).

    Example:
        >>> policy = AlignUserPolicy(model, greedy=True)  # doctest: +SKIP
        >>> policy.decide(states, np.random.default_rng(0))[0].watched  # doctest: +SKIP
    """

    name = "alignuser"

    def __init__(
        self,
        model=None,
        temperature: float = 1.0,
        greedy: bool = False,
        batch_size: int | None = None,
        checkpoint: str | Path | None = None,
        thoughts: bool | str = False,
        thought_tokens: int = 64,
        threads: int | None = None,
    ):
        model = model if model is not None else checkpoint
        if model is None:
            raise ValueError("AlignUserPolicy needs a model or a checkpoint folder")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if isinstance(model, str | Path):
            from alignuser.policy.checkpoint import load_policy_model

            model = load_policy_model(model)
        self.model = model
        self.temperature = float(temperature)
        self.greedy = bool(greedy)
        if batch_size is None:
            batch_size = 128 if getattr(model, "lean_text", False) else 32
        self.batch_size = int(batch_size)
        modes = {False: None, True: "grounded", "grounded": "grounded", "free": "free"}
        if thoughts not in modes:
            raise ValueError(
                f"thoughts must be true, false, 'grounded' or 'free', got {thoughts!r}"
            )
        self.thoughts = modes[thoughts]
        self.thought_tokens = int(thought_tokens)
        self.threads = threads

    @property
    def history_length(self) -> int:
        """Remembered items per state (:attr:`PageState.history`) for the item tower.

        0 when the model reads items as text only.
        """
        return int(getattr(self.model, "history_length", 0))

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", **kwargs: Any):
        """Load a checkpoint folder written by the trainer."""
        from alignuser.policy.checkpoint import load_policy_model

        return cls(load_policy_model(path, device=device), **kwargs)

    def _threads(self):
        from alignuser.policy.bases import torch_threads

        return torch_threads(self.threads, (getattr(self.model, "info", None) or {}).get("base"))

    def scores(self, states: Sequence[PageState]):
        """Per-page decision distributions (:class:`~alignuser.policy.scoring.PageScores`)."""
        with self._threads():
            return self.model.score(list(states), batch_size=self.batch_size)

    @property
    def rating_values(self) -> np.ndarray:
        """The rating each class stands for, from the checkpoint.

        :attr:`~alignuser.policy.model.PolicyModel.rating_values`: expected ratings are
        ``Σ P(r) · value(r)`` on the data's own scale.
        """
        return self.model.rating_values

    def decide(self, states: Sequence[PageState], rng: np.random.Generator) -> list[PageAction]:
        """One legal action per state, sampled (or greedy) from the model's distributions.

        With ``thoughts`` the model first writes a rationale per page (many forward passes:
        for inspection, not for large populations; grounded thoughts sample each choice with
        ``rng`` unless the policy is greedy), decides after reading it, and the action
        carries it as ``rationale``.
        """
        if not states:
            return []
        if not self.thoughts:
            scores = self.scores(states)
            return [
                scores_to_action(s, sc, rng, self.temperature, self.greedy)
                for s, sc in zip(states, scores)
            ]
        import dataclasses

        states = list(states)
        with self._threads():
            if self.thoughts == "free":
                thoughts = self.model.generate_thoughts(
                    states, self.thought_tokens, self.batch_size
                )
            else:
                from alignuser.policy.thinking import grounded_thoughts

                thoughts = grounded_thoughts(
                    self.model, states, max_new_tokens=self.thought_tokens,
                    rng=None if self.greedy else rng,
                )  # fmt: skip
            scores = self.model.score(states, batch_size=self.batch_size, thoughts=thoughts)
        return [
            dataclasses.replace(
                scores_to_action(s, sc, rng, self.temperature, self.greedy), rationale=t
            )
            for s, sc, t in zip(states, scores, thoughts)
        ]

    def satisfaction(
        self, summaries: Sequence[dict[str, Any]], rng: np.random.Generator
    ) -> list[int]:
        """1..10 satisfaction per finished session (heuristic, see the module docstring)."""
        out = []
        for s in summaries:
            top = float(s.get("max_rating", 5))
            ratings = [float(r) for r in s.get("ratings", []) if r is not None]
            shown = float(s.get("n_shown", s.get("shown", 0)) or 0)
            watched = float(s.get("n_watched", s.get("watched", len(ratings))) or 0)
            rate = min(1.0, 2.0 * watched / shown) if shown > 0 else 0.0
            mean = float(np.mean(ratings)) if ratings else float(s.get("mean_rating", np.nan))
            if mean == mean:  # the simulation's summaries carry mean_rating, not the list
                quality = (mean - 1) / max(top - 1, 1)
                value = 0.7 * quality + 0.3 * rate
            else:
                value = 0.3 * rate
            out.append(int(np.clip(round(1 + 9 * value), 1, 10)))
        return out
