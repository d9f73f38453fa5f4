"""Decision distributions read off a :class:`~alignuser.policy.model.PolicyModel`'s forward pass.

:class:`PageScoring` is the part of the model that turns the slot logits of
:meth:`~alignuser.policy.model.PolicyModel.forward` into per-page
:class:`PageScores` (:meth:`~PageScoring.score`), splits the watch and rating logits into
their language-model and cue-head parts (:meth:`~PageScoring.watch_parts`,
:meth:`~PageScoring.rating_parts`), and applies the calibration stored in
``info["calibration"]`` (:meth:`~PageScoring.combine_watch`,
:meth:`~PageScoring.combine_rating`, :attr:`~PageScoring.rating_values`). It needs
``self.lm``, ``self.render``, ``self.encode``, ``self.forward``, ``self.max_rating``,
``self.rating_ids`` and ``self.calibration`` from the model.

Example:
    >>> scores = policy_model.score(states)  # doctest: +SKIP
    >>> scores[0].watch, scores[0].exit  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from alignuser.env.page import PageState

__all__ = ["PageScores", "PageScoring"]


@dataclass
class PageScores:
    """Decision distributions for one page.

    Attributes:
        watch: ``(n,)`` P(watch) per item.
        rating: ``(n, max_rating)`` P(rating = r+1 | watch) per item.
        exit: P(exit after this page).
    """

    watch: np.ndarray
    rating: np.ndarray
    exit: float


class PageScoring:
    """Mixin of :class:`~alignuser.policy.model.PolicyModel`: slot logits to distributions."""

    def score(
        self,
        states: Sequence[PageState],
        batch_size: int = 32,
        thoughts: Sequence[str] | None = None,
    ) -> list[PageScores]:
        """Decision distributions for every page, batched (one forward pass per batch).

        Args:
            states: Page states.
            batch_size: Pages per forward pass.
            thoughts: Optional rationale per state (:meth:`generate_thoughts`): the decisions
                are then read after it, in the block layout (state, ``REFLECTION:``, action),
                the order counterfactual alignment trained.
        """
        import torch

        self.lm.eval()
        texts = [self.render(s) for s in states]
        # similar lengths share a batch (less padding); the lean text's tokens are mostly
        # history and slot placeholders, about one per 6 characters of the rest
        size = [len(t) for t in texts]
        if getattr(self, "lean_text", False):
            size = [n + 6 * (self._n_history(s) + 2 * len(s.items)) for n, s in zip(size, states)]
        order = np.argsort(size, kind="stable")
        out: list[PageScores | None] = [None] * len(states)
        with torch.inference_mode():
            for start in range(0, len(states), batch_size):
                idx = order[start : start + batch_size]
                refl = None if thoughts is None else [thoughts[i] for i in idx]
                batch = self.encode(
                    [states[i] for i in idx], reflections=refl, rendered=[texts[i] for i in idx]
                )
                direct = refl is None or not self.block_view  # else: the LM reads the thought
                r = self.forward(batch, lm_loss=False, direct=direct)
                if direct:
                    z = self.calibrated_watch_logit(r["watch"], r.get("watch_cue"))
                else:  # calibrated on inline pages, which a thought's reading is not
                    z = r["watch"][..., 1] - r["watch"][..., 0]
                pw = torch.sigmoid(z).cpu().numpy()
                zr = self.combine_rating(r["rating"], r.get("rating_cue"))
                pr = self._rating_probs(zr, [states[i] for i in idx]).cpu().numpy()
                px = torch.softmax(r["exit"], -1)[:, 1].cpu().numpy()
                for k, i in enumerate(idx):
                    n = batch.n_items[k]
                    out[i] = PageScores(pw[k, :n].copy(), pr[k, :n].copy(), float(px[k]))
        return out  # type: ignore[return-value]

    def watch_parts(self, states: Sequence[PageState], batch_size: int = 64) -> dict[str, Any]:
        """The two additive parts of each item's (uncalibrated) watch logit.

        Returns ``{"lm": ..., "cues": ...}``, float arrays over the items of ``states``
        (pages concatenated in order): the language model's own ``WATCH - SKIP`` logit
        (item tower and history tokens included) and the cue head's ``w · cues`` (zeros
        without a cue head). Their sum, calibrated, is the logit :meth:`score` uses; the AUC
        of ``lm`` alone says whether the LM carries signal of its own.
        """
        return self._logit_parts(states, batch_size, "watch")

    def rating_parts(self, states: Sequence[PageState], batch_size: int = 64) -> dict[str, Any]:
        """The two additive parts of each item's (uncalibrated) rating logits.

        Returns ``{"lm": (n, R), "cues": (n, R)}`` over the items of ``states`` (pages
        concatenated in order), as :meth:`watch_parts` does for the watch logit.
        """
        return self._logit_parts(states, batch_size, "rating")

    def _logit_parts(self, states, batch_size: int, slot: str) -> dict[str, Any]:
        import torch

        self.lm.eval()
        lm_part, cue_part = [], []
        with torch.inference_mode():
            for start in range(0, len(states), batch_size):
                batch = self.encode(list(states[start : start + batch_size]))
                r = self.forward(batch, lm_loss=False)
                if slot == "watch":
                    z = (r["watch"][..., 1] - r["watch"][..., 0]).cpu().numpy()
                else:
                    z = r["rating"].cpu().numpy()
                cue = r.get(f"{slot}_cue")
                c = cue.cpu().numpy() if cue is not None else np.zeros_like(z)
                for k, n in enumerate(batch.n_items):
                    lm_part.append(z[k, :n] - c[k, :n])
                    cue_part.append(c[k, :n])
        empty = np.zeros(0) if slot == "watch" else np.zeros((0, len(self.rating_ids)))
        cat = lambda parts: np.concatenate(parts) if parts else empty  # noqa: E731
        return {"lm": cat(lm_part), "cues": cat(cue_part)}

    def combine_rating(self, logits, cue_part=None):
        """``a * lm + c * cues + b_k``: the rating logits, calibrated.

        ``info["calibration"]`` holds ``rating_scale`` a, ``rating_cue_scale`` c and the
        per-class ``rating_bias`` b, fitted on held-out pages by
        :func:`~alignuser.training.evaluate.calibrate_rating`; identity without.
        """
        cal = self.calibration
        if "rating_scale" not in cal:
            return logits
        c = 0.0 if cue_part is None else cue_part
        a, cs = float(cal["rating_scale"]), float(cal.get("rating_cue_scale", cal["rating_scale"]))
        b = cal.get("rating_bias") or [0.0] * logits.shape[-1]
        if hasattr(logits, "new_tensor"):
            b = logits.new_tensor(b)
        else:
            b = np.asarray(b, dtype=float)
        return a * (logits - c) + cs * c + b

    def calibrated_watch_logit(self, watch_logits, cue_part=None):
        """The calibrated watch logit of :meth:`forward`'s ``watch`` (and ``watch_cue``)."""
        z = watch_logits[..., 1] - watch_logits[..., 0]
        c = 0.0 if cue_part is None else cue_part
        return self.combine_watch(z - c, c)

    def combine_watch(self, lm, cues):
        """``a * lm + c * cues + b``: the two parts of the watch logit, calibrated.

        ``info["calibration"]`` holds ``watch_scale`` a, ``cue_scale`` c (a when absent: one
        scale for the sum) and ``watch_bias`` b, fitted on held-out pages by
        :func:`~alignuser.training.evaluate.calibrate_watch`; identity without. Works on
        numpy arrays and tensors alike.
        """
        a = float(self.calibration.get("watch_scale", 1.0))
        c = float(self.calibration.get("cue_scale", a))
        b = float(self.calibration.get("watch_bias", 0.0))
        return a * lm + c * cues + b

    @property
    def rating_values(self) -> np.ndarray:
        """The rating each class ``1..max_rating`` stands for (``info["calibration"]``).

        The mean logged rating behind the class on the training data
        (:func:`~alignuser.env.actions.rating_values`: 3.5s and 4s share class 4 on a
        half-star scale); the class itself for checkpoints without it. Expected ratings are
        ``P(r) @ rating_values``.
        """
        values = self.calibration.get("rating_values")
        if values and len(values) == self.max_rating:
            return np.asarray(values, dtype=float)
        return np.arange(1, self.max_rating + 1, dtype=float)

    def _rating_probs(self, logits, states: Sequence[PageState]):
        import torch

        mask = torch.zeros(len(states), logits.shape[-1], dtype=torch.bool, device=logits.device)
        for k, s in enumerate(states):
            mask[k, min(s.max_rating, self.max_rating) :] = True
        return torch.softmax(logits.masked_fill(mask[:, None, :], float("-inf")), -1)
