"""``TrainConfig``: every knob of policy training, typed, with its default and bounds.

A scenario's ``train:`` section is this model (:attr:`alignuser.scenario.Scenario.train`), so
``alignuser validate`` names a misspelt or out-of-range key and the file. It holds
:class:`TinySpec` (the tiny base's size) too, so importing it costs pydantic only: no torch, no
numpy, and it sits in the lowest layer beside the scenario.

Example:
    >>> from alignuser.training.config import TrainConfig
    >>> TrainConfig(align_epochs=2).align_epochs
    2
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TinySpec", "TrainConfig"]


class TinySpec(BaseModel):
    """Size of the from-scratch ``tiny`` base.

    Attributes:
        n_layers: Transformer blocks.
        d_model: Hidden width.
        n_heads: Attention heads (``d_model`` must be divisible by it).
        ffn_mult: Feed-forward width as a multiple of ``d_model``.
        max_positions: Longest sequence (tokens).
        vocab_size: Upper bound on the word vocabulary.
        min_frequency: Rarer words become ``<unk>``.
    """

    model_config = ConfigDict(extra="forbid")

    n_layers: int = 3
    d_model: int = 160
    n_heads: int = 4
    ffn_mult: int = 4
    max_positions: int = 2048
    vocab_size: int = 8000
    min_frequency: int = 2


class TrainConfig(BaseModel):
    """Every knob of policy training (each field's description says what it does).

    Stage 1 (``wm_epochs``) pretrains the world model; stage 2 (``align_epochs``) trains
    ``BC + lambda_wm * WM + lambda_cr * CF`` (see :mod:`alignuser.training.trainer`).
    """

    model_config = ConfigDict(extra="forbid")

    base: Literal["tiny", "smollm2", "local"] = Field(
        "tiny", description="`tiny` (from scratch), `smollm2` or `local` (`base_path`)."
    )
    base_path: str | None = Field(None, description="Folder of a `local` base.")
    tiny: TinySpec = Field(default_factory=TinySpec, description="Size of the tiny base.")
    lora: dict[str, Any] | None = Field(
        None,
        description="LoRA settings for pretrained bases (`None`: r=8, alpha=16 on a "
        "pretrained base; the tiny base is fully trained).",
    )
    dtype: str = Field("float32", description="Torch dtype of the weights.")
    seed: int = Field(0, description="Seed of data order, sampling and initialisation.")
    source: Literal["auto", "impressions", "ratings"] = Field(
        "auto",
        description="Trajectories from `impressions`, `ratings` or `auto` (impressions when "
        "the dataset has them).",
    )
    valid_fraction: float = Field(
        0.2, ge=0.0, lt=1.0, description="Share of each user's steps / ratings that validate."
    )
    page_size: int = Field(4, ge=1, description="Rating-log pages: items per page.")
    max_positives: int = Field(
        2, ge=1, description="Rating-log pages: up to this many rated items per page."
    )
    popularity_alpha: float = Field(
        1.0,
        ge=0.0,
        description="Rating-log pages: unconsumed items are sampled with probability "
        "`popularity ** alpha` (1: as exposed by popularity; 0: uniformly, like the Agent4Rec "
        "taste protocol's negatives).",
    )
    max_pages_per_user: int | None = Field(
        8,
        ge=0,
        description="Rating-log pages: each user's last pages kept (and the held-out "
        "targets they need); `None` or 0: every rating is a target.",
    )
    n_memories: int = Field(
        3, ge=0, description="Recent memory lines per state (the scenario's `memory.recent_k`)."
    )
    n_similar: int = Field(
        2, ge=0, description="Similar-item memory lines per item (`memory.top_k`)."
    )
    n_history: int | None = Field(
        20,
        ge=0,
        description="Past interactions a state draws on (`population.history_memories`); "
        "`None`: all (the item tower then reads 50).",
    )
    lr: float = Field(3e-3, gt=0.0, description="AdamW learning rate.")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay.")
    batch_size: int = Field(16, ge=1, description="Steps per optimizer step.")
    grad_clip: float = Field(1.0, ge=0.0, description="Gradient norm clip (0: none).")
    wm_epochs: int = Field(1, ge=0, description="Epochs of stage 1 (world model).")
    align_epochs: int = Field(3, ge=0, description="Epochs of stage 2 (alignment).")
    max_steps_per_stage: int | None = Field(
        None, ge=0, description="Stop a stage after this many optimizer steps."
    )
    use_bc: bool = Field(True, description="Behaviour-cloning term in stage 2.")
    use_wm: bool = Field(True, description="World-model term (and stage 1).")
    use_cf: bool = Field(True, description="Counterfactual term in stage 2.")
    cue_head: bool = Field(
        True,
        description="Learn the linear head on the items' numeric cues beside the LM "
        "(alignuser.policy.cues), fitted alone at the start of stage 2 and then with the LM; "
        "`false`: the LM alone.",
    )
    freeze_cue_head: bool = Field(
        False,
        description="Keep the cue head at its convex fit through stage 2, so the LM learns "
        "only what the cues leave unexplained.",
    )
    item_tower: bool = Field(
        True,
        description="Read items as identities (alignuser.policy.items): an item tower over "
        "the retrieval encoder's vectors plus learned per-item offsets, and the state's "
        "history as item tokens; `false`: items as text only.",
    )
    state_text: Literal["auto", "compact", "lean"] = Field(
        "auto",
        description="What the tiny base reads: `compact` (persona, memories and each item's "
        "genres and numbers as words) or `lean` (persona keywords and page number as words; "
        "items as item-tower vectors, their numbers as cue inputs at the decision slots: "
        "about 3x fewer tokens, so faster; needs `item_tower` and `cue_head`); `auto`: "
        "lean for the tiny base with both, else compact.",
    )
    calibrate: bool = Field(
        True,
        description="After training, fit the watch and rating logits' Platt scaling on the "
        "validation pages and store it in `policy.json` (the `valid_*` metrics are then "
        "measured on the pages they were fitted on).",
    )
    lambda_wm: float = Field(0.5, ge=0.0, description="Weight of the WM term in stage 2.")
    lambda_cr: float = Field(0.5, ge=0.0, description="Weight of the CF term in stage 2.")
    rating_mse: float = Field(
        4.0,
        ge=0.0,
        description="Weight of the squared error of the expected rating (half-scale units: "
        "4 weighs it as rating points on a 1-5 scale) beside the rating cross-entropy, in "
        "stage 2 and in the cue head's fit; 0: cross-entropy alone.",
    )
    targets: Literal["last", "random"] = Field(
        "last",
        description="Rating logs: the ratings training pages are built around, held out of "
        "the statistics and personas: each user's `last` ones (a temporal split), or "
        "`random` ones with every other rating as history (a random split such as ml-100k's "
        "u1-u5); validation ratings follow the same rule.",
    )
    k_alternatives: int = Field(3, ge=0, description="Counterfactuals per human step.")
    pairwise_beta: float = Field(1.0, ge=0.0, description="Temperature of the pairwise term.")
    reflector: Literal["template", "none"] = Field(
        "template", description="`template` (offline default) or `none` (pairwise term only)."
    )
    max_len: int = Field(2048, ge=1, description="Longest encoded sequence (tokens).")
    eval_every: int = Field(50, ge=1, description="Validate every this many stage-2 steps.")
    patience: int = Field(
        3, ge=0, description="Early stopping after this many validations without gain."
    )
    save_every: int = Field(50, ge=1, description="Write the resume point every N steps.")
    wm_eval_steps: int = Field(64, ge=0, description="Validation steps of the WM metrics.")
    wm_max_new_tokens: int = Field(64, ge=1, description="Generation length of WM metrics.")
    cf_max_new_tokens: int = Field(
        40, ge=1, description="Generation length of the predicted counterfactual results."
    )
    cf_predicted: int = Field(
        1, ge=0, description="Alternatives per step whose result the reflector is fed."
    )
    max_valid_steps: int = Field(512, ge=0, description="Validation steps used while training.")
    threads: int | None = Field(
        None,
        ge=1,
        description="Torch intra-op threads while training; `None`: one for the tiny base "
        "unless OMP_NUM_THREADS is set, torch's default otherwise.",
    )
    progress: bool = Field(False, description="Show progress bars.")
    resume: bool = Field(True, description="Continue from `out_dir/last` when it is there.")
    interrupt_after: int | None = Field(
        None,
        ge=0,
        description="Stop with TrainingInterrupted after this many optimizer steps (tests "
        "of resume).",
    )
