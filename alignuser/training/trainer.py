"""Train the AlignUSER policy: world-model pretraining, then counterfactual alignment.

Stage 1 (``wm_epochs``): next-state prediction, LM loss on the ``RESULT`` text given state
and action. Stage 2 (``align_epochs``): ``loss = BC + lambda_wm * WM + lambda_cr * CF`` where
CF = pairwise ranking of the human action above ``k_alternatives`` counterfactuals + the
state -> reflection -> human action sequence (LM on the reflection, BC after it). Reflections
come from a reflector fed with the world model's predicted next state of each alternative
(computed once after stage 1, cached in ``out_dir/reflections.json``). Every term has its
switch (``use_bc``, ``use_wm``, ``use_cf``), so each ablation is one flag.

A plain torch loop; seeded (data order = permutation of ``(seed, stage, epoch)``; dropout 0)
and resumable: ``out_dir/last`` holds the weights, the AdamW state (safetensors, no pickle)
and ``trainer_state.json`` (stage, epoch, batch, best score); ``resume=True`` continues
where an interrupted run stopped and ends with the same weights as an uninterrupted run.
The best checkpoint by validation ``bc_nll`` (early stopping with ``patience``) is written to
``out_dir/policy``.

The settings are :class:`~alignuser.training.config.TrainConfig`, the data
:mod:`~alignuser.training.prepare` (``prepare_training`` / ``prepare_steps``), the run's
model, optimizer and resume point :class:`~alignuser.training.run.TrainingRun`; this module
holds the loop, stage by stage, epoch by epoch, batch by batch.

Example:
    >>> from alignuser.training.trainer import TrainConfig, train
    >>> metrics = train(TrainConfig(align_epochs=2), dataset, "runs/policy")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alignuser.training.config import TrainConfig
from alignuser.training.prepare import prepare_steps, prepare_training
from alignuser.training.run import Progress, TrainingRun, batches, corpus_texts

__all__ = [
    "TrainConfig",
    "TrainingInterrupted",
    "corpus_texts",
    "prepare_steps",
    "prepare_training",
    "train",
    "train_on_steps",
]  # TrainConfig, corpus_texts and the prepare_* functions: their homes' names, kept here

log = logging.getLogger(__name__)


class TrainingInterrupted(RuntimeError):
    """Raised by ``interrupt_after`` (tests of resume); the last checkpoint is on disk."""


def train(
    config: TrainConfig, dataset, out_dir: str | Path, encoder=None, interactions=None
) -> dict[str, Any]:
    """Build trajectories from ``dataset`` and train; returns the final metrics.

    Args:
        config: All knobs.
        dataset: Any :class:`~alignuser.data.dataset.Dataset`.
        out_dir: Run folder (``policy/`` = best checkpoint, ``last/`` = resume point).
        encoder: Retrieval encoder (see :func:`prepare_steps`).
        interactions: Restrict training to these interactions (see :func:`prepare_steps`).
    """
    train_steps, valid_steps, space = prepare_training(config, dataset, encoder, interactions)
    data = {
        "dataset": dataset.name,
        "interactions": "all" if interactions is None else f"{len(interactions)} (split train)",
        "n_train_steps": len(train_steps),
        "n_valid_steps": len(valid_steps),
    }
    src = dataset.interactions if interactions is None else interactions
    if dataset.scale is not None and "rating" in src.df and src.df["rating"].notna().any():
        from alignuser.env.actions import rating_values

        data["rating_values"] = rating_values(src.df["rating"].to_numpy(), dataset.scale.max)
    return train_on_steps(config, train_steps, valid_steps, out_dir, data=data, items=space)


def train_on_steps(
    config: TrainConfig,
    train_steps: Sequence,
    valid_steps: Sequence,
    out_dir: str | Path,
    data: dict | None = None,
    items=None,
) -> dict[str, Any]:
    """Train on prebuilt steps (see the module docstring); returns the final metrics.

    ``items``: the :class:`~alignuser.policy.items.ItemSpace` the states were built with
    (from :func:`prepare_training`); needed for ``config.item_tower`` (without it the model
    reads items as text only, and the config's ``item_tower`` is reported as unused).
    """
    from alignuser.policy.bases import torch_threads

    with torch_threads(config.threads, config.base):
        return _train_on_steps(config, train_steps, valid_steps, out_dir, data, items)


def _train_on_steps(config, train_steps, valid_steps, out_dir, data, items) -> dict[str, Any]:
    """Both stages, then the best checkpoint's calibration and final metrics."""
    import torch

    if not train_steps:
        raise ValueError("no training steps")
    cfg, out = config, Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    if cfg.item_tower and items is None:
        log.info("no item space given: training without the item tower")
    run = TrainingRun(cfg, out, train_steps, data or {}, items)
    valid = list(valid_steps)[: cfg.max_valid_steps]
    started = time.time()
    metrics: dict[str, Any] = {"data": run.data}
    # class values of the expected rating (the squared-error term)
    rv = run.data.get("rating_values") or []
    rv = torch.tensor(
        rv if len(rv) == run.pm.max_rating else list(range(1, run.pm.max_rating + 1)),
        dtype=torch.float32,
    )
    stages = []
    if cfg.use_wm and cfg.wm_epochs > 0:
        stages.append((1, cfg.wm_epochs))
    if (cfg.use_bc or cfg.use_cf) and cfg.align_epochs > 0:
        stages.append((2, cfg.align_epochs))
    progress = Progress(cfg.progress)
    for stage, epochs in stages:
        if run.state["stage"] <= stage:
            _run_stage(run, stage, epochs, train_steps, valid, rv, progress, metrics)
    progress.close()
    return _finish(run, train_steps, valid, valid_steps, rv, metrics, started)


def _run_stage(run: TrainingRun, stage, epochs, train_steps, valid, rv, progress, metrics):
    """One stage's epochs (from where a resumed run stopped), then its new optimizer."""
    from alignuser.training.worldmodel import evaluate_world_model

    st, cfg = run.state, run.cfg
    if st["stage"] < stage:
        st.update(stage=stage, epoch=0, batch=0)
    cf = _start_stage(run, stage, train_steps, rv)
    done = 0
    for epoch in range(st["epoch"], epochs):
        stop, done = _run_epoch(run, stage, epoch, train_steps, valid, rv, cf, progress, done)
        if stop:
            break
    if stage == 1 and valid:
        wm = evaluate_world_model(run.pm, valid[: cfg.wm_eval_steps], cfg.wm_max_new_tokens)
        st["history"].append({"stage": 1, "step": st["global_step"], **wm})
        metrics.update(wm)
    st["stage"] = stage + 1
    st["epoch"] = st["batch"] = 0
    run.new_stage_optimizer()
    run.save_last()


def _start_stage(run: TrainingRun, stage: int, train_steps, rv) -> tuple:
    """Stage 2's start: the cue head's convex fit, its freeze, the counterfactuals.

    Returns ``(alternatives, reflections)`` (``(None, None)`` without the CF term).
    """
    st, cfg, pm = run.state, run.cfg, run.pm
    if stage == 2 and pm.cue_head is not None and st["epoch"] == st["batch"] == 0:
        from alignuser.policy.cues import fit_cue_head

        fit = fit_cue_head(
            pm.cue_head,
            [s.state for s in train_steps],
            [s.action for s in train_steps],
            space=pm.item_space,
            rating_values=rv.tolist(),
            rating_mse=cfg.rating_mse,
        )
        st["history"].append({"stage": 2, "step": st["global_step"], "cue_fit": fit})
    if stage == 2 and pm.cue_head is not None and cfg.freeze_cue_head:
        for part in (pm.cue_head.items, pm.cue_head.exit):  # the wide part, not cue inputs
            part.requires_grad_(False)  # also after a resume: the fit is in `last/`
    if stage == 2 and cfg.use_cf:
        return run.counterfactuals(train_steps)
    return None, None


def _run_epoch(run: TrainingRun, stage, epoch, train_steps, valid, rv, cf, progress, done):
    """One epoch's batches; returns ``(stop, optimizer steps done in the stage)``."""
    st, cfg = run.state, run.cfg
    order = batches(len(train_steps), cfg.batch_size, cfg.seed, stage, epoch)
    sums: dict[str, float] = {}
    stop = False
    for b_idx in range(st["batch"], len(order)):
        idx = order[b_idx]
        terms = _batch_terms(run, stage, [train_steps[i] for i in idx], idx, rv, cf)
        _optimizer_step(run, sum(terms.values()))
        st["global_step"] += 1
        st["batch"] = b_idx + 1
        done += 1
        vals = {k: float(v.detach()) for k, v in terms.items()}
        for k, v in vals.items():
            sums[k] = sums.get(k, 0.0) + v
        sums["_n"] = sums.get("_n", 0.0) + 1
        progress.update(stage, epoch, b_idx + 1, len(order), vals)
        if stage == 2 and st["global_step"] % cfg.eval_every == 0:
            stop = _evaluate(run, valid)
        if st["global_step"] % cfg.save_every == 0:
            run.save_last()
        if cfg.interrupt_after and st["global_step"] >= cfg.interrupt_after:
            run.save_last()
            raise TrainingInterrupted(f"interrupted at step {st['global_step']}")
        if stop or (cfg.max_steps_per_stage and done >= cfg.max_steps_per_stage):
            stop = True
            break
    st["epoch"], st["batch"] = epoch + 1, 0
    n = sums.pop("_n", 0.0)
    st["history"].append(
        {
            "stage": stage,
            "epoch": epoch,
            "step": st["global_step"],
            "terms": {k: v / n for k, v in sums.items()} if n else {},
        }
    )
    if stage == 2 and not stop:
        stop = _evaluate(run, valid)
    return stop, done


def _batch_terms(run: TrainingRun, stage: int, steps, idx, rv, cf) -> dict[str, Any]:
    """The loss terms of one batch: ``wm`` in stage 1; ``bc``, ``wm``, ``cf`` in stage 2."""
    from alignuser.training.losses import bc_loss

    cfg, pm = run.cfg, run.pm
    pm.lm.train()
    states, actions = [s.state for s in steps], [s.action for s in steps]
    results = [pm.result_of(s) for s in steps] if cfg.use_wm else None
    batch = pm.encode(states, actions, results=results, max_len=cfg.max_len)
    o = pm.forward(batch, lm_loss=cfg.use_wm)
    terms: dict[str, Any] = {}
    wm = o["lm_loss"]
    if wm is not None and o.get("next_item_loss") is not None:
        wm = wm + o["next_item_loss"]  # the next consumed item (item tower)
    if stage == 1:
        terms["wm"] = wm
        return terms
    if cfg.use_bc:
        terms["bc"] = bc_loss(o, batch, rv, cfg.rating_mse)
    if cfg.use_wm and wm is not None:
        terms["wm"] = cfg.lambda_wm * wm
    if cfg.use_cf:
        terms["cf"] = cfg.lambda_cr * _cf_term(run, o, batch, states, actions, idx, rv, cf)
    return terms


def _cf_term(run: TrainingRun, o, batch, states, actions, idx, rv, cf):
    """Pairwise ranking above the alternatives, plus state -> reflection -> action."""
    from alignuser.training.losses import bc_loss, pairwise_loss

    cfg, pm = run.cfg, run.pm
    alts, refl = cf
    term = pairwise_loss(o, batch, [alts[i] for i in idx], pm.max_rating, cfg.pairwise_beta)
    if refl is not None and refl[idx[0]] is not None:
        rb = pm.encode(
            states,
            actions,
            reflections=[refl[i] for i in idx],
            max_len=cfg.max_len,
        )
        ro = pm.forward(rb, direct=not pm.block_view)  # after a thought: the LM reads it
        term = term + bc_loss(ro, rb, rv, cfg.rating_mse) + ro["lm_loss"]
    return term


def _optimizer_step(run: TrainingRun, loss) -> None:
    """Backpropagate ``loss``, clip the gradient norm, step AdamW."""
    import torch

    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    if run.cfg.grad_clip:
        torch.nn.utils.clip_grad_norm_(run.pm.parameters(), run.cfg.grad_clip)
    run.opt.step()


def _finish(run: TrainingRun, train_steps, valid, valid_steps, rv, metrics, started) -> dict:
    """Load the best checkpoint, calibrate it, measure it, save it with the metrics."""
    from alignuser.policy.checkpoint import load_policy_model, save_policy_model
    from alignuser.training.evaluate import evaluate_policy
    from alignuser.training.worldmodel import evaluate_next_items, evaluate_world_model

    cfg, out, st = run.cfg, run.out, run.state
    policy_dir = out / "policy"
    if not (policy_dir / "policy.json").is_file():
        save_policy_model(run.pm, policy_dir)
    best = load_policy_model(policy_dir)
    _calibrate(best, run, valid, valid_steps, rv)
    if best.calibration:
        metrics["calibration"] = best.calibration
    metrics.update({f"valid_{k}": v for k, v in evaluate_policy(best, valid).items()})
    if valid and cfg.use_wm:
        # the checkpoint a user gets, not the stage-1 snapshot reported above
        final = evaluate_world_model(best, valid[: cfg.wm_eval_steps], cfg.wm_max_new_tokens)
        final.update(evaluate_next_items(best, valid, _popularity(train_steps, best)))
        metrics.update({f"final_{k}": v for k, v in final.items()})
    metrics.update(
        train_seconds=round(time.time() - started, 2),
        steps=st["global_step"],
        history=st["history"],
    )
    save_policy_model(
        best, policy_dir, meta={"config": cfg.model_dump(), "data": run.data, "metrics": metrics}
    )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    return metrics


def _calibrate(best, run: TrainingRun, valid, valid_steps, rv) -> None:
    """The watch calibration, the rating class values and the rating calibration of ``best``."""
    cfg = run.cfg
    if cfg.calibrate and valid:
        from alignuser.training.evaluate import calibrate_watch

        best.info["calibration"] = best.calibration = calibrate_watch(best, valid)
    values = run.data.get("rating_values")
    if values and len(values) == best.max_rating:
        best.calibration["rating_values"] = values
        best.info["calibration"] = best.calibration
    if cfg.calibrate and valid:
        from alignuser.training.evaluate import calibrate_rating

        # every validation page: a page holds few ratings, and the fit has R + 2 parameters
        fit = calibrate_rating(best, list(valid_steps), rv.tolist(), cfg.rating_mse)
        best.calibration.update(fit)
        best.info["calibration"] = best.calibration


def _popularity(steps: Sequence, pm) -> np.ndarray:
    """Distinct consumers per catalog item in the training steps (history and watches)."""
    n = pm.item_space.n_items if pm.item_space is not None else 0
    pairs = {
        (s.state.agent_id, int(i))
        for s in steps
        for i in (*s.state.history, *(d.item_id for d in s.action.decisions if d.watch))
        if 0 <= int(i) < n
    }
    counts = np.zeros(n)
    for _, i in pairs:
        counts[i] += 1
    return counts


def _evaluate(run: TrainingRun, valid: Sequence) -> bool:
    """Validate, keep the best checkpoint; True when early stopping triggers."""
    from alignuser.policy.checkpoint import save_policy_model
    from alignuser.training.evaluate import evaluate_policy

    st, cfg = run.state, run.cfg
    if not valid:
        save_policy_model(run.pm, run.out / "policy")
        return False
    m = evaluate_policy(run.pm, valid)
    st["history"].append({"stage": 2, "step": st["global_step"], **m})
    log.info("step %d: %s", st["global_step"], m)
    if st["best"] is None or m["bc_nll"] < st["best"] - 1e-4:
        st["best"], st["bad_evals"] = m["bc_nll"], 0
        save_policy_model(run.pm, run.out / "policy")
        return False
    st["bad_evals"] += 1
    return st["bad_evals"] >= cfg.patience
