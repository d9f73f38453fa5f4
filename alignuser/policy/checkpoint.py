"""Save and load :class:`~alignuser.policy.model.PolicyModel` checkpoints (no pickle).

A checkpoint folder holds::

    policy.json        base, max rating, label format, training config, data, metrics, git rev
    model/             full weights (model.safetensors + config.json), for tiny / full fine-tune
    adapter/           or a LoRA adapter (adapter_model.safetensors), for pretrained bases
    tokenizer/         the tokenizer (tokenizer.json ...)
    cue_head.safetensors   the linear cue head, when the model has one
    items.safetensors      the item tower (content vectors, projection, item and role
                           embeddings), when the model reads items as identities

Example:
    >>> from alignuser.policy.checkpoint import load_policy_model, save_policy_model
    >>> save_policy_model(pm, "runs/policy", meta={"metrics": {}})  # doctest: +SKIP
    >>> pm2 = load_policy_model("runs/policy")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["FORMAT_VERSION", "git_revision", "load_policy_model", "save_policy_model"]

FORMAT_VERSION = 1


def git_revision(cwd: str | Path | None = None) -> str | None:
    """The current git commit of the source tree, or ``None`` when unknown."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd or Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


@contextlib.contextmanager
def _no_progress_bars():
    """Silence ``transformers``' per-file progress bars (a policy is saved at every eval)."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def atomic_folder(folder: str | Path) -> Iterator[Path]:
    """Write a folder all at once: yields a temporary sibling, swapped in on success.

    A kill while writing leaves the previous ``folder`` whole (and a ``.partial`` sibling
    that the next write clears); a kill between the two renames of the swap leaves it as
    ``<folder>.old``, which :func:`recover_folder` puts back.
    """
    folder = Path(folder)
    tmp, old = folder.with_name(folder.name + ".partial"), folder.with_name(folder.name + ".old")
    recover_folder(folder)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def recover_folder(folder: str | Path) -> Path:
    """Put back ``<folder>.old`` when a swap of :func:`atomic_folder` was cut in the middle."""
    folder = Path(folder)
    old = folder.with_name(folder.name + ".old")
    if not folder.exists() and old.is_dir():
        os.replace(old, folder)
    return folder


def save_policy_model(
    pm, folder: str | Path, meta: dict[str, Any] | None = None, atomic: bool = True
) -> Path:
    """Write ``pm`` to ``folder``; ``meta`` is merged into ``policy.json``.

    ``atomic``: write through :func:`atomic_folder`, so a reader (or a resumed training)
    never sees half a checkpoint; ``False`` writes into ``folder`` as it is (for a caller
    that already writes into a temporary folder).
    """
    folder = Path(folder)
    if atomic:
        with atomic_folder(folder) as tmp:
            save_policy_model(pm, tmp, meta, atomic=False)
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    is_lora = hasattr(pm.lm, "peft_config")
    with _no_progress_bars():
        pm.lm.save_pretrained(folder / ("adapter" if is_lora else "model"), safe_serialization=True)
    pm.tokenizer.save_pretrained(folder / "tokenizer")
    if pm.cue_head is not None:
        from safetensors.torch import save_file

        state = {k: v.detach().cpu().contiguous() for k, v in pm.cue_head.state_dict().items()}
        save_file(state, str(folder / "cue_head.safetensors"))
    if pm.item_tower is not None:
        from safetensors.torch import save_file

        state = {k: v.detach().cpu().contiguous() for k, v in pm.item_tower.state_dict().items()}
        save_file(state, str(folder / "items.safetensors"))
    doc = {
        "format_version": FORMAT_VERSION,
        "info": pm.info,
        "weights": "adapter" if is_lora else "model",
        "git_revision": git_revision(),
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **(meta or {}),
    }
    (folder / "policy.json").write_text(json.dumps(doc, indent=2, default=str))
    return folder


def load_policy_model(folder: str | Path, device: str = "cpu"):
    """Load a checkpoint written by :func:`save_policy_model`.

    Raises:
        FileNotFoundError: When ``folder/policy.json`` is missing.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from alignuser.policy.model import PolicyModel

    folder = recover_folder(folder)
    meta_path = folder / "policy.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path}: not a policy checkpoint (policy.json missing)")
    doc = json.loads(meta_path.read_text())
    info = doc["info"]
    tok = AutoTokenizer.from_pretrained(folder / "tokenizer")
    dtype = getattr(torch, info.get("dtype", "float32"))
    if doc.get("weights") == "adapter":
        from peft import PeftModel

        from alignuser.policy import bases

        if info["base"] == "smollm2":
            base, _ = bases.load_smollm2(info.get("dtype", "float32"))
        else:
            base, _ = bases.load_local(info["path"], info.get("dtype", "float32"))
        lm = PeftModel.from_pretrained(base, folder / "adapter")
    else:
        with _no_progress_bars():
            lm = AutoModelForCausalLM.from_pretrained(folder / "model", dtype=dtype)
    lm.to(device).eval()
    pm = PolicyModel(lm, tok, info)
    if pm.cue_head is not None:
        from safetensors.torch import load_file

        path = folder / "cue_head.safetensors"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing (policy.json says the model has cues)")
        pm.cue_head.load_state_dict(load_file(str(path), device=str(pm.device)))
    if info.get("items"):
        from safetensors.torch import load_file

        from alignuser.policy.items import ItemSpace

        path = folder / "items.safetensors"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: missing (policy.json says the model has an item tower)"
            )
        state = load_file(str(path), device="cpu")
        space = ItemSpace(state["content"].numpy())
        # the saved rows are already unit vectors: normalising again moves them by an ulp,
        # and a resumed training's cues (and its cue-head fit) would then drift
        space.vectors = state["content"].numpy().copy()
        pm.set_items(space)
        pm.item_tower.load_state_dict({k: v.to(pm.device) for k, v in state.items()})
    return pm
