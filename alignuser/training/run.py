"""The state of one training run: model, optimizer, counters, and their save / restore.

:class:`TrainingRun` creates the policy model (or restores it, its AdamW state and the
counters from ``out_dir/last``) and writes the resume point; :func:`corpus_texts` are the
texts a tiny base's tokenizer is built from; :func:`batches` the seeded data order;
:class:`Progress` the optional progress bars. The loop is :mod:`alignuser.training.trainer`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alignuser.training.config import TrainConfig

__all__ = ["TEMPLATE_WORDS", "Progress", "TrainingRun", "batches", "config_key", "corpus_texts"]

log = logging.getLogger(__name__)

#: Template vocabulary added to every tiny base corpus (reflections, results).
TEMPLATE_WORDS = (
    "CONTEXT: watched skipped item liked disliked neutral on no similar memory empty page PERSONA: "
    "FUTURE: skipping watching rating instead of leaving now staying for another page the same "
    "choice nothing enjoyed session ends no alternative LESSON: Watch what resembles films I "
    "liked and skip what resembles films I disliked. Give new things a chance when the page "
    "matches my genres. Skip pages that resemble what I disliked. Nothing here fits my taste, "
    "so skipping is right. Leave when pages stop fitting. Keep browsing while pages fit. ; -> ( )"
)


class TrainingRun:
    """State of one training run (model, optimizer, counters) with save/restore."""

    def __init__(
        self, config: TrainConfig, out: Path, train_steps: Sequence, data: dict, items=None
    ):
        self.cfg, self.out, self.data = config, out, data
        self.state: dict[str, Any] = {
            "stage": 1,
            "epoch": 0,
            "batch": 0,
            "global_step": 0,
            "best": None,
            "bad_evals": 0,
            "history": [],
        }
        from alignuser.policy.checkpoint import recover_folder

        last = recover_folder(out / "last")
        if config.resume and (last / "trainer_state.json").is_file():
            from alignuser.policy.checkpoint import load_policy_model

            saved = json.loads((last / "trainer_state.json").read_text())
            if saved["config"] != config_key(config):
                raise ValueError(
                    f"{last}: checkpoint was trained with another config; "
                    "use a new out_dir or resume=False"
                )
            self.state = saved["state"]
            self.pm = load_policy_model(last)
            if items is not None and self.pm.item_space is None:
                raise ValueError(f"{last}: saved without an item tower; use a new out_dir")
            self.opt = self._optimizer()
            self._load_optimizer(last / "optimizer.safetensors")
            log.info("resumed from %s at step %d", last, self.state["global_step"])
        else:
            from alignuser.policy.model import PolicyModel

            corpus = [t for s in train_steps for t in corpus_texts(s)] + [TEMPLATE_WORDS] * 2
            if items is not None and config.item_tower:
                corpus += ["HISTORY:"] * 2  # the history tokens' header
            lora = config.lora if config.base != "tiny" else None
            if config.base != "tiny" and lora is None:
                lora = {"r": 8, "alpha": 16}
            self.pm = PolicyModel.create(
                config.base,
                corpus=corpus,
                tiny=config.tiny,
                path=config.base_path,
                lora=lora,
                max_rating=max((s.state.max_rating for s in train_steps), default=5),
                dtype=config.dtype,
                seed=config.seed,
                cues=config.cue_head,
                items=items if config.item_tower else None,
                history=config.n_history or 50,
                state_text=state_text(config, items is not None),
            )
            self.opt = self._optimizer()

    def counterfactuals(self, steps: Sequence) -> tuple[list, list[str | None]]:
        """Alternatives per step and (when a reflector is on) their reflections, cached."""
        from alignuser.policy.counterfactual import alternatives
        from alignuser.training.reflectors import TemplateReflector

        cfg = self.cfg
        alts = [
            alternatives(
                s.action,
                cfg.k_alternatives,
                s.state.max_rating,
                np.random.default_rng([cfg.seed, 7, i]),
            )
            for i, s in enumerate(steps)
        ]
        if cfg.reflector == "none":
            return alts, [None] * len(steps)
        cache = self.out / "reflections.json"
        if cache.is_file():
            doc = json.loads(cache.read_text())
            if doc.get("n") == len(steps):
                return alts, doc["reflections"]
        reflector = TemplateReflector(max_alternatives=cfg.cf_predicted, compact=self.pm.compact)
        m = reflector.max_alternatives
        flat = [(i, a) for i, al in enumerate(alts) for a in al[:m]]
        if cfg.use_wm and flat:
            preds = self.pm.generate_results(
                [steps[i].state for i, _ in flat],
                [a for _, a in flat],
                max_new_tokens=cfg.cf_max_new_tokens,
                changes_only=True,
            )
        else:
            preds = ["(no world model)"] * len(flat)
        per: list[list[str]] = [[] for _ in steps]
        for (i, _), p in zip(flat, preds):
            per[i].append(p)
        refl = reflector.reflect(
            [
                {
                    "state": s.state,
                    "human": s.action,
                    "alternatives": alts[i][:m],
                    "predicted": per[i],
                }
                for i, s in enumerate(steps)
            ]
        )
        cache.write_text(json.dumps({"n": len(steps), "reflections": refl}))
        return alts, refl

    def _optimizer(self):
        import torch

        return torch.optim.AdamW(
            self.pm.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay
        )

    def new_stage_optimizer(self) -> None:
        """A fresh AdamW for the next stage."""
        self.opt = self._optimizer()

    def save_last(self) -> None:
        """Write the resume point ``last/`` (weights, optimizer, counters) at once."""
        from alignuser.policy.checkpoint import atomic_folder, save_policy_model

        # all of last/ (weights, optimizer, counters) is swapped in at once: a kill while
        # saving leaves the previous resume point whole
        with atomic_folder(self.out / "last") as last:
            save_policy_model(self.pm, last, meta={"config": self.cfg.model_dump()}, atomic=False)
            self._save_optimizer(last / "optimizer.safetensors")
            (last / "trainer_state.json").write_text(
                json.dumps(
                    {"config": config_key(self.cfg), "state": self.state}, indent=1, default=str
                )
            )

    def _save_optimizer(self, path: Path) -> None:
        from safetensors.torch import save_file

        sd = self.opt.state_dict()
        tensors = {
            f"{i}.{k}": v.contiguous() for i, st in sd["state"].items() for k, v in st.items()
        }
        save_file(tensors, str(path), metadata={"param_groups": json.dumps(sd["param_groups"])})

    def _load_optimizer(self, path: Path) -> None:
        from safetensors import safe_open

        state: dict[int, dict[str, Any]] = {}
        with safe_open(str(path), framework="pt") as f:
            groups = json.loads(f.metadata()["param_groups"])
            for key in f.keys():
                i, k = key.split(".", 1)
                state.setdefault(int(i), {})[k] = f.get_tensor(key)
        self.opt.load_state_dict({"state": state, "param_groups": groups})


def config_key(cfg: TrainConfig) -> dict[str, Any]:
    """The settings a resume point must match (run-time switches left out)."""
    d = cfg.model_dump()
    for k in ("interrupt_after", "progress", "resume", "threads"):
        d.pop(k)
    return d


def state_text(config: TrainConfig, has_items: bool = True) -> str:
    """The state text a model of ``config`` reads (``train.state_text``, ``auto`` resolved).

    ``has_items``: the data gives an item space for the tower.
    """
    if config.state_text != "auto":
        return config.state_text
    lean = config.base == "tiny" and config.item_tower and config.cue_head and has_items
    return "lean" if lean else "compact"


def corpus_texts(step) -> list[str]:
    """The texts of one step a tiny base's tokenizer is built from (both state renderings)."""
    from alignuser.env.text import render_action, render_state, render_state_compact

    return [
        render_state(step.state),
        render_state_compact(step.state),
        render_action(step.action),
        step.result,
        step.result_compact,
    ]


def batches(n: int, size: int, seed: int, stage: int, epoch: int) -> list[np.ndarray]:
    """Batches of one epoch: the permutation of ``(seed, stage, epoch)`` in order."""
    perm = np.random.default_rng([seed, stage, epoch]).permutation(n)
    return [perm[i : i + size] for i in range(0, n, size)]


class Progress:
    """Rich progress bars of a training (nothing when ``enabled`` is false)."""

    def __init__(self, enabled: bool):
        self.bar = None
        if enabled:
            from rich.progress import Progress

            self.bar = Progress()
            self.bar.start()
            self.task = self.bar.add_task("training", total=None)

    def update(self, stage: int, epoch: int, done: int, total: int, terms: dict) -> None:
        """Show the batch ``done`` of ``total`` and the loss terms."""
        if self.bar is not None:
            desc = f"stage {stage} epoch {epoch + 1} " + " ".join(
                f"{k}={v:.3f}" for k, v in terms.items()
            )
            self.bar.update(self.task, completed=done, total=total, description=desc)

    def close(self) -> None:
        """Stop the bars."""
        if self.bar is not None:
            self.bar.stop()
