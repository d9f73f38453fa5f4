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
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from alignuser.policy.bases import TinySpec

__all__ = [
    "TrainConfig",
    "TrainingInterrupted",
    "corpus_texts",
    "prepare_steps",
    "prepare_training",
    "train",
    "train_on_steps",
]

log = logging.getLogger(__name__)

_TEMPLATE_WORDS = (
    "CONTEXT: watched skipped item liked disliked neutral on no similar memory empty page PERSONA: "
    "FUTURE: skipping watching rating instead of leaving now staying for another page the same "
    "choice nothing enjoyed session ends no alternative LESSON: Watch what resembles films I "
    "liked and skip what resembles films I disliked. Give new things a chance when the page "
    "matches my genres. Skip pages that resemble what I disliked. Nothing here fits my taste, "
    "so skipping is right. Leave when pages stop fitting. Keep browsing while pages fit. ; -> ( )"
)


class TrainingInterrupted(RuntimeError):
    """Raised by ``interrupt_after`` (tests of resume); the last checkpoint is on disk."""


class TrainConfig(BaseModel):
    """Every knob of policy training.

    Attributes:
        base: ``"tiny"`` (from scratch), ``"smollm2"`` or ``"local"`` (``base_path``).
        tiny: Size of the tiny base.
        lora: LoRA settings for pretrained bases (``None`` = full fine-tune).
        source: Trajectories from ``"impressions"``, ``"ratings"`` or ``"auto"`` (impressions
            when the dataset has them).
        wm_epochs / align_epochs: Epochs of stage 1 / stage 2.
        use_bc / use_wm / use_cf: Switch each loss term (and stage 1 with ``use_wm``).
        item_tower: Read items as identities (:mod:`alignuser.policy.items`): an item
            tower over the retrieval encoder's vectors plus learned per-item offsets, and
            the state's history (``n_history`` items, 50 when ``None``) as item tokens the
            decision slots attend to. Needs the item space of the data (:func:`train` builds
            it; :func:`train_on_steps` takes it as ``items``). ``False``: items as text only.
        calibrate: After training, fit ``P(watch) = sigmoid(a * lm + c * cues + b)`` on
            the validation pages (Platt scaling of the two parts of the watch logit:
            :func:`~alignuser.training.evaluate.calibrate_watch`) and store ``a, c, b`` in
            ``policy.json``; likewise the rating logits, ``a * lm + c * cues + b_k``
            (:func:`~alignuser.training.evaluate.calibrate_rating`). The ``valid_*``
            metrics are then measured on the pages they were fitted on.
        cue_head: Learn the linear head on the items' numeric cues beside the LM
            (:mod:`alignuser.policy.cues`), fitted alone at the start of stage 2 and then
            with the LM; ``False`` = the LM alone.
        freeze_cue_head: Keep the cue head at its convex fit through stage 2, so the LM
            learns only what the cues leave unexplained (the residual).
        lambda_wm / lambda_cr: Weights of the WM and CF terms in stage 2.
        targets: Rating logs: the ratings training pages are built around, held out of
            the statistics and personas: each user's ``"last"`` ones (a temporal split, and
            a simulation's order), or ``"random"`` ones with every other rating as history
            (a random split such as ml-100k's ``u1``-``u5``); the validation ratings carved
            off each user follow the same rule.
        rating_mse: Weight of the squared error of the expected rating (half-scale units:
            4 weighs it as rating points on a 1-5 scale) beside the rating cross-entropy,
            in stage 2 and in the cue head's fit (:func:`~alignuser.policy.cues.rating_sq_error`);
            0: cross-entropy alone.
        k_alternatives: Counterfactuals per human step.
        popularity_alpha: Rating-log pages: unconsumed items are sampled with probability
            ``popularity ** alpha`` (1: as exposed by popularity; 0: uniformly, like the
            Agent4Rec taste protocol's negatives).
        n_memories / n_similar / n_history: Recent memory lines per state, similar-item
            memory lines per item, and how many past interactions states draw on (match
            the scenario's ``memory.recent_k``, ``memory.top_k`` and
            ``population.history_memories``).
        reflector: ``"template"`` (offline default) or ``"none"`` (pairwise term only).
        threads: Torch intra-op threads while training; ``None``: one for the tiny base
            unless ``OMP_NUM_THREADS`` is set, torch's default otherwise
            (:func:`~alignuser.policy.bases.torch_threads`).
        interrupt_after: Stop with :class:`TrainingInterrupted` after this many optimizer
            steps (for tests of resume).
    """

    model_config = ConfigDict(extra="forbid")

    base: Literal["tiny", "smollm2", "local"] = "tiny"
    base_path: str | None = None
    tiny: TinySpec = Field(default_factory=TinySpec)
    lora: dict[str, Any] | None = None
    dtype: str = "float32"
    seed: int = 0
    source: Literal["auto", "impressions", "ratings"] = "auto"
    valid_fraction: float = 0.2
    page_size: int = 4
    max_positives: int = 2
    popularity_alpha: float = 1.0
    max_pages_per_user: int | None = 8
    n_memories: int = 3
    n_similar: int = 2
    n_history: int | None = 20
    lr: float = 3e-3
    weight_decay: float = 0.0
    batch_size: int = 16
    grad_clip: float = 1.0
    wm_epochs: int = 1
    align_epochs: int = 3
    max_steps_per_stage: int | None = None
    use_bc: bool = True
    use_wm: bool = True
    use_cf: bool = True
    cue_head: bool = True
    freeze_cue_head: bool = False
    item_tower: bool = True
    calibrate: bool = True
    lambda_wm: float = 0.5
    lambda_cr: float = 0.5
    rating_mse: float = 4.0
    targets: Literal["last", "random"] = "last"
    k_alternatives: int = 3
    pairwise_beta: float = 1.0
    reflector: Literal["template", "none"] = "template"
    max_len: int = 2048
    eval_every: int = 50
    patience: int = 3
    save_every: int = 50
    wm_eval_steps: int = 64
    wm_max_new_tokens: int = 64
    cf_max_new_tokens: int = 40
    cf_predicted: int = 1
    max_valid_steps: int = 512
    threads: int | None = None
    progress: bool = False
    resume: bool = True
    interrupt_after: int | None = None


def prepare_steps(
    config: TrainConfig, dataset, encoder=None, interactions=None
) -> tuple[list, list]:
    """Build train / validation steps from a dataset without leaking the future.

    Same arguments as :func:`prepare_training`, which also returns the item space.
    """
    train_steps, valid_steps, _ = prepare_training(config, dataset, encoder, interactions)
    return train_steps, valid_steps


def prepare_training(
    config: TrainConfig, dataset, encoder=None, interactions=None
) -> tuple[list, list, Any]:
    """Train / validation steps, and the item space of their retrieval encoder.

    The :class:`~alignuser.policy.items.ItemSpace` holds the encoder's vectors the states
    were built with: the item tower's content vectors.

    Args:
        config: Data settings (source, page size, memories...).
        dataset: The dataset.
        encoder: Retrieval :class:`~alignuser.interfaces.ItemEncoder` for similar-item
            memories (default: :func:`alignuser.memory.encoders.default_encoder` fitted on the
            training part); pass the one the simulation uses.
        interactions: Only these interactions may be used (e.g. the training part of a
            scenario's split, so that an evaluation's test part never reaches training);
            validation is then carved from them per user in time; impression pages after
            the last of them are dropped too. Default: all, with the dataset's ``provided``
            split (train / valid) when it has one.
    """
    import dataclasses

    import pandas as pd

    from alignuser.data.tables import Impressions, Interactions
    from alignuser.training import trajectories as tj

    source = config.source
    if source == "auto":
        source = "impressions" if dataset.impressions is not None else "ratings"
    inter = dataset.interactions if interactions is None else interactions
    if source == "impressions":
        imp = dataset.impressions.df
        if interactions is not None and len(inter):
            # pages after the last usable interaction belong to the held-out part
            last = int(inter.df["timestamp"].max())
            if (imp["timestamp"] > last).any():
                log.info("training on impressions up to %d (the given interactions' end)", last)
                imp = imp[imp["timestamp"] <= last].reset_index(drop=True)
                dataset = dataclasses.replace(dataset, impressions=Impressions(imp))
        cut = imp.groupby("user_id")["timestamp"].quantile(1 - config.valid_fraction)
        t_cut = inter.df["user_id"].map(cut).fillna(np.inf)
        history = inter.subset((inter.df["timestamp"] < t_cut).to_numpy())
        ctx = tj.StepContext(
            dataset,
            history,
            encoder,
            n_memories=config.n_memories,
            n_similar=config.n_similar,
            n_history=config.n_history,
        )
        steps = tj.from_impressions(dataset, context=ctx)
        return (*tj.split_by_time(steps, config.valid_fraction), _space(ctx))
    split = None
    if interactions is None:
        split = dataset.splits.get("provided") or next(iter(dataset.splits.values()), None)
    kw = dict(
        page_size=config.page_size,
        max_positives=config.max_positives,
        max_pages_per_user=config.max_pages_per_user,
        popularity_alpha=config.popularity_alpha,
        seed=config.seed,
    )
    if split is not None and split.valid is not None:
        train_i, valid_i = split.train, split.valid
    else:
        # each user's last ratings (random ones with ``targets="random"``) validate
        df = inter.df.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
        size = df.groupby("user_id")["user_id"].transform("size").to_numpy()
        rank = _user_rank(df, config.targets, config.seed + 7) / size
        train_i = Interactions(df[rank < 1 - config.valid_fraction].reset_index(drop=True))
        valid_i = Interactions(df[rank >= 1 - config.valid_fraction].reset_index(drop=True))
    known_i, target_i = _hold_out_targets(
        train_i, config.max_pages_per_user, config.max_positives, config.targets, config.seed
    )
    ctx = tj.StepContext(
        dataset,
        known_i,
        n_memories=config.n_memories,
        n_similar=config.n_similar,
        n_history=config.n_history,
    )
    train = tj.from_ratings(
        dataset, target_i, known_i if target_i is not train_i else None, ctx, **kw
    )
    valid = tj.from_ratings(
        dataset, valid_i, train_i, ctx, **{**kw, "seed": config.seed + 1, "max_pages_per_user": 2}
    )
    del pd
    return train, valid, _space(ctx)


def _user_rank(df, how: str, seed: int) -> np.ndarray:
    """0-based rank of each row within its user (``df`` sorted by user, then time).

    In time, or with ``how="random"`` in a seeded random order.
    """
    if how != "random":
        return df.groupby("user_id").cumcount().to_numpy()
    import pandas as pd

    key = pd.Series(np.random.default_rng(seed).random(len(df)))
    return key.groupby(df["user_id"].to_numpy()).rank(method="first").to_numpy() - 1


def _hold_out_targets(
    inter, max_pages: int | None, max_positives: int, how: str = "last", seed: int = 0
):
    """``(known, targets)``: each user's last ratings apart from the earlier ones.

    Training pages are built around the targets; statistics and personas come from the
    known ones. A test page's item means, counts and the persona's loved genres never hold
    the rating to predict; built on every rating, a training page's do (a rarely rated
    item's mean is the user's own rating; a persona's "dislikes Horror" comes from this
    very rating), and the policy learns to trust them more than a held-out page allows. Up to
    ``max_pages * max_positives`` ratings per user, at most half of them, become targets
    (every page the kept ones can make); without ``max_pages`` every rating is a target
    and the statistics count them (``from_ratings`` then leaves each positive's own
    rating out of its item's view). ``how="random"``: the targets are drawn at random
    among each user's ratings and the rest, later ones included, are the known history:
    the condition of a random split's test ratings (ml-100k ``u1``-``u5``).
    """
    if not max_pages:
        return inter, inter
    from alignuser.data.tables import Interactions

    df = inter.df.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
    from_end = len(df) and df.groupby("user_id")["user_id"].transform("size").to_numpy()
    from_end = from_end - 1 - _user_rank(df, how, seed)
    size = df.groupby("user_id")["user_id"].transform("size").to_numpy()
    target = from_end < np.minimum(max_pages * max_positives, np.ceil(size / 2))
    return Interactions(df[~target].reset_index(drop=True)), Interactions(
        df[target].reset_index(drop=True)
    )


def _space(ctx):
    from alignuser.policy.items import ItemSpace

    return ItemSpace.from_encoder(ctx.encoder, ctx.catalog.n_items)


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


class _Run:
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
            if saved["config"] != _config_key(config):
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

            corpus = [t for s in train_steps for t in corpus_texts(s)] + [_TEMPLATE_WORDS] * 2
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
            )
            self.opt = self._optimizer()

    def _optimizer(self):
        import torch

        return torch.optim.AdamW(
            self.pm.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay
        )

    def new_stage_optimizer(self) -> None:
        self.opt = self._optimizer()

    def save_last(self) -> None:
        from alignuser.policy.checkpoint import atomic_folder, save_policy_model

        # all of last/ (weights, optimizer, counters) is swapped in at once: a kill while
        # saving leaves the previous resume point whole
        with atomic_folder(self.out / "last") as last:
            save_policy_model(self.pm, last, meta={"config": self.cfg.model_dump()}, atomic=False)
            self._save_optimizer(last / "optimizer.safetensors")
            (last / "trainer_state.json").write_text(
                json.dumps(
                    {"config": _config_key(self.cfg), "state": self.state}, indent=1, default=str
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


def _config_key(cfg: TrainConfig) -> dict[str, Any]:
    d = cfg.model_dump()
    for k in ("interrupt_after", "progress", "resume", "threads"):
        d.pop(k)
    return d


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


def _batches(n: int, size: int, seed: int, stage: int, epoch: int) -> list[np.ndarray]:
    perm = np.random.default_rng([seed, stage, epoch]).permutation(n)
    return [perm[i : i + size] for i in range(0, n, size)]


def _counterfactuals(run: _Run, steps: Sequence) -> tuple[list, list[str | None]]:
    """Alternatives per step and (when a reflector is on) their reflections, cached."""
    from alignuser.training.counterfactual import alternatives
    from alignuser.training.reflectors import TemplateReflector

    cfg = run.cfg
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
    cache = run.out / "reflections.json"
    if cache.is_file():
        doc = json.loads(cache.read_text())
        if doc.get("n") == len(steps):
            return alts, doc["reflections"]
    reflector = TemplateReflector(max_alternatives=cfg.cf_predicted, compact=run.pm.compact)
    m = reflector.max_alternatives
    flat = [(i, a) for i, al in enumerate(alts) for a in al[:m]]
    if cfg.use_wm and flat:
        preds = run.pm.generate_results(
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
            {"state": s.state, "human": s.action, "alternatives": alts[i][:m], "predicted": per[i]}
            for i, s in enumerate(steps)
        ]
    )
    cache.write_text(json.dumps({"n": len(steps), "reflections": refl}))
    return alts, refl


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
    import torch

    from alignuser.policy.checkpoint import save_policy_model
    from alignuser.training.evaluate import evaluate_policy
    from alignuser.training.losses import bc_loss, pairwise_loss
    from alignuser.training.worldmodel import evaluate_next_items, evaluate_world_model

    if not train_steps:
        raise ValueError("no training steps")
    cfg, out = config, Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    if cfg.item_tower and items is None:
        log.info("no item space given: training without the item tower")
    run = _Run(cfg, out, train_steps, data or {}, items)
    pm, st = run.pm, run.state
    valid = list(valid_steps)[: cfg.max_valid_steps]
    started = time.time()
    metrics: dict[str, Any] = {"data": run.data}
    alts, refl = None, None
    # class values of the expected rating (the squared-error term)
    rv = run.data.get("rating_values") or []
    rv = torch.tensor(
        rv if len(rv) == pm.max_rating else list(range(1, pm.max_rating + 1)), dtype=torch.float32
    )
    stages = []
    if cfg.use_wm and cfg.wm_epochs > 0:
        stages.append((1, cfg.wm_epochs))
    if (cfg.use_bc or cfg.use_cf) and cfg.align_epochs > 0:
        stages.append((2, cfg.align_epochs))
    progress = _Progress(cfg.progress)
    for stage, epochs in stages:
        if st["stage"] > stage:
            continue
        if st["stage"] < stage:
            st.update(stage=stage, epoch=0, batch=0)
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
            pm.cue_head.requires_grad_(False)  # also after a resume: the fit is in `last/`
        if stage == 2 and cfg.use_cf:
            alts, refl = _counterfactuals(run, train_steps)
        done_in_stage = 0
        stop = False
        for epoch in range(st["epoch"], epochs):
            batches = _batches(len(train_steps), cfg.batch_size, cfg.seed, stage, epoch)
            sums: dict[str, float] = {}
            for b_idx in range(st["batch"], len(batches)):
                idx = batches[b_idx]
                pm.lm.train()
                items = [train_steps[i] for i in idx]
                states, actions = [s.state for s in items], [s.action for s in items]
                results = [pm.result_of(s) for s in items] if cfg.use_wm else None
                batch = pm.encode(states, actions, results=results, max_len=cfg.max_len)
                o = pm.forward(batch, lm_loss=cfg.use_wm)
                terms: dict[str, Any] = {}
                wm = o["lm_loss"]
                if wm is not None and o.get("next_item_loss") is not None:
                    wm = wm + o["next_item_loss"]  # the next consumed item (item tower)
                if stage == 1:
                    terms["wm"] = wm
                else:
                    if cfg.use_bc:
                        terms["bc"] = bc_loss(o, batch, rv, cfg.rating_mse)
                    if cfg.use_wm and wm is not None:
                        terms["wm"] = cfg.lambda_wm * wm
                    if cfg.use_cf:
                        cf = pairwise_loss(
                            o, batch, [alts[i] for i in idx], pm.max_rating, cfg.pairwise_beta
                        )
                        if refl is not None and refl[idx[0]] is not None:
                            rb = pm.encode(
                                states,
                                actions,
                                reflections=[refl[i] for i in idx],
                                max_len=cfg.max_len,
                            )
                            ro = pm.forward(rb)
                            cf = cf + bc_loss(ro, rb, rv, cfg.rating_mse) + ro["lm_loss"]
                        terms["cf"] = cfg.lambda_cr * cf
                loss = sum(terms.values())
                run.opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(pm.parameters(), cfg.grad_clip)
                run.opt.step()
                st["global_step"] += 1
                st["batch"] = b_idx + 1
                done_in_stage += 1
                vals = {k: float(v.detach()) for k, v in terms.items()}
                for k, v in vals.items():
                    sums[k] = sums.get(k, 0.0) + v
                sums["_n"] = sums.get("_n", 0.0) + 1
                progress.update(stage, epoch, b_idx + 1, len(batches), vals)
                if stage == 2 and st["global_step"] % cfg.eval_every == 0:
                    stop = _evaluate(run, valid, evaluate_policy, save_policy_model)
                if st["global_step"] % cfg.save_every == 0:
                    run.save_last()
                if cfg.interrupt_after and st["global_step"] >= cfg.interrupt_after:
                    run.save_last()
                    raise TrainingInterrupted(f"interrupted at step {st['global_step']}")
                if stop or (cfg.max_steps_per_stage and done_in_stage >= cfg.max_steps_per_stage):
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
                stop = _evaluate(run, valid, evaluate_policy, save_policy_model)
            if stop:
                break
        if stage == 1 and valid:
            wm = evaluate_world_model(pm, valid[: cfg.wm_eval_steps], cfg.wm_max_new_tokens)
            st["history"].append({"stage": 1, "step": st["global_step"], **wm})
            metrics.update(wm)
        st["stage"] = stage + 1
        st["epoch"] = st["batch"] = 0
        run.new_stage_optimizer()
        run.save_last()
    progress.close()
    policy_dir = out / "policy"
    if not (policy_dir / "policy.json").is_file():
        save_policy_model(pm, policy_dir)
    from alignuser.policy.checkpoint import load_policy_model

    best = load_policy_model(policy_dir)
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


def _evaluate(run: _Run, valid: Sequence, evaluate_policy, save_policy_model) -> bool:
    """Validate, keep the best checkpoint; True when early stopping triggers."""
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


class _Progress:
    def __init__(self, enabled: bool):
        self.bar = None
        if enabled:
            from rich.progress import Progress

            self.bar = Progress()
            self.bar.start()
            self.task = self.bar.add_task("training", total=None)

    def update(self, stage: int, epoch: int, done: int, total: int, terms: dict) -> None:
        if self.bar is not None:
            desc = f"stage {stage} epoch {epoch + 1} " + " ".join(
                f"{k}={v:.3f}" for k, v in terms.items()
            )
            self.bar.update(self.task, completed=done, total=total, description=desc)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
