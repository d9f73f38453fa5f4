"""Decisions per second of the learned policy, batched vs one page at a time.

Usage::

    python benchmarks/policy_speed.py [--bases tiny:2x64,checkpoint:DIR] [--pages 256]

Writes ``benchmarks/results/policy_speed.md`` (command, machine, table). A decision is one
page: watch/skip + rating for every item and next/exit, all from one forward pass.
Untrained weights: speed does not depend on training.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _steps(n: int):
    """Pages of the synthetic world (200 users, 200 items) as training builds them.

    With the history and similar-item memories the trainer puts into states, so a
    checkpoint of ``scenarios/train_synthetic.yaml`` (the same world) reads its own kind of
    state.
    """
    from alignuser.data.synthetic import SyntheticWorld
    from alignuser.training.config import TrainConfig
    from alignuser.training.prepare import prepare_steps

    ds = SyntheticWorld(n_users=200, n_items=200, seed=0).dataset(n_sessions_per_user=3, seed=0)
    train, valid = prepare_steps(TrainConfig(), ds)
    return (train + valid)[:n]


def _train_rate(pm, steps, batch_size: int, n_steps: int, lora: bool) -> float:
    """Pages/s of behaviour-cloning optimiser steps (forward, backward, update)."""
    import torch

    from alignuser.policy.bases import wrap_lora
    from alignuser.training.losses import bc_loss

    if lora:
        pm.lm = wrap_lora(pm.lm, {}, seed=0)
    params = [p for p in pm.lm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    pm.lm.train()
    batches = [steps[i : i + batch_size] for i in range(0, len(steps), batch_size)]
    batches = [b for b in batches if len(b) == batch_size] or [steps[:batch_size]]

    def one(b):
        enc = pm.encode([s.state for s in b], [s.action for s in b])
        loss = bc_loss(pm.forward(enc, lm_loss=False), enc)
        opt.zero_grad()
        loss.backward()
        opt.step()
        float(loss.detach())  # waits for the device

    for b in batches[: n_steps if pm.device.type != "cpu" else 1]:  # warm-up, see _rate
        one(b)
    t = time.perf_counter()
    for k in range(n_steps):
        one(batches[k % len(batches)])
    return n_steps * batch_size / (time.perf_counter() - t)


def _model(base: str, states, spec: str, arch: str | None):
    from alignuser.env.text import render_state_compact
    from alignuser.policy.model import PolicyModel
    from alignuser.training.config import TinySpec

    dtype = "bfloat16" if spec == "bf16" else "float32"
    if base == "smollm2" and arch:
        # the same architecture and tokenizer with random weights: speed does not depend on
        # the weights, and the 0.5 GB checkpoint does not travel to a lent GPU machine
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        torch.manual_seed(0)
        config = AutoConfig.from_pretrained(arch)
        lm = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
        tok = AutoTokenizer.from_pretrained(arch)
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        info = {"base": base, "max_rating": 5, "dtype": dtype, "add_bos": False, "slot": " ?"}
        return PolicyModel(lm, tok, info)

    if base == "checkpoint":
        from alignuser.policy.checkpoint import load_policy_model

        return load_policy_model(spec)
    if base == "tiny":
        layers, width = (int(x) for x in spec.split("x"))
        tiny = TinySpec(n_layers=layers, d_model=width, n_heads=4)
        return PolicyModel.create(
            "tiny", corpus=[render_state_compact(s) for s in states], tiny=tiny
        )
    return PolicyModel.create(base, dtype=dtype)


def _rate(pm, states, batch_size: int, lean: bool = True) -> float:
    """Pages/s of ``pm.score``; ``lean=False`` times the ``transformers`` forward instead."""
    pm.lean = lean
    # warm-up: on a GPU every new padded length picks its kernels once, so see them all
    pm.score(states if pm.device.type != "cpu" else states[:8], batch_size=batch_size)
    pm._text_cache.clear()  # cold: every page's text tokenised (a run's later steps hit it)
    t = time.perf_counter()
    pm.score(states, batch_size=batch_size)
    rate = len(states) / (time.perf_counter() - t)
    pm.lean = True
    return rate


def _profile(pm, states, batch_size: int, lean: bool, top: int = 12) -> list[str]:
    """The ``top`` lines (by own time) of a cProfile of one cold scoring pass."""
    import cProfile
    import io
    import pstats

    pm.lean = lean
    pm.score(states[:8], batch_size=batch_size)
    pm._text_cache.clear()
    prof = cProfile.Profile()
    prof.enable()
    pm.score(states, batch_size=batch_size)
    prof.disable()
    pm.lean = True
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    body = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(body) if line.strip().startswith("ncalls"))
    return [line.replace(str(Path.cwd()) + "/", "") for line in body[start : start + top + 1]]


def _tokens(pm, states) -> float:
    """Mean tokens per page (the scored sequence: state, slots, END)."""
    return float(np.mean([len(pm.encode([s]).input_ids[0]) for s in states[:64]]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--bases",
        default="tiny:2x128,tiny:3x160,tiny:4x256,smollm2:fp32,smollm2:bf16",
        help="comma list of base:spec; checkpoint:DIR times a trained checkpoint (its item "
        "tower must be of the synthetic world's 200 items: scenarios/train_synthetic.yaml)",
    )
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument(
        "--profile", action="store_true", help="add cProfile top lines of the last base"
    )
    ap.add_argument("--pages", type=int, default=256)
    ap.add_argument("--single", type=int, default=48, help="pages timed one by one")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--train-steps", type=int, default=0, help="also time N training steps")
    ap.add_argument("--train-batch", type=int, default=16)
    ap.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    ap.add_argument(
        "--smollm2-arch",
        default=None,
        help="folder with SmolLM2's config.json and tokenizer: time that architecture with "
        "random weights (for a machine without the converted checkpoint)",
    )
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "policy_speed.md"))
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    steps = _steps(args.pages)
    states = [s.state for s in steps]
    items = np.mean([len(s.items) for s in states])
    rows = []
    for entry in args.bases.split(","):
        base, spec = entry.split(":")
        pm = _model(base, states, spec, args.smollm2_arch).to(args.device)
        n_params = sum(p.numel() for p in pm.lm.parameters())
        before = _rate(pm, states, args.batch, lean=False)
        batched = _rate(pm, states, args.batch)
        single = _rate(pm, states[: args.single], 1)
        note = " (random weights)" if base == "smollm2" and args.smollm2_arch else ""
        train = (
            _train_rate(pm, steps, args.train_batch, args.train_steps, lora=base != "tiny")
            if args.train_steps
            else float("nan")
        )
        name = f"trained checkpoint {Path(spec).parent.name}/{Path(spec).name}" if (
            base == "checkpoint") else f"{base} {spec}{note}"  # fmt: skip
        rows.append((name, n_params, _tokens(pm, states), before, batched, single, train))
        print(rows[-1], flush=True)
    device = args.device
    if device.startswith("cuda"):
        device += f" ({torch.cuda.get_device_name(torch.device(args.device))})"
    lines = [
        "# Policy scoring speed (decisions = pages per second)",
        "",
        f"Command: `python {' '.join(sys.argv)}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs visible, torch threads "
        f"{torch.get_num_threads()}, Python {platform.python_version()}, torch {torch.__version__}; "
        f"load average {os.getloadavg()[0]:.1f} at the end (other jobs share the CPUs; "
        f"compare rows of one run only); device {device}.",
        f"Pages: {len(states)} synthetic-world pages, {items:.1f} items each; batch {args.batch}.",
        "",
        "*transformers forward*: the same batches through ``transformers``' own forward (every "
        "position, every layer), the scoring path before ``alignuser.policy.fastlm``; "
        "*batched*: the lean forward the policy now uses (same decisions).",
        "",
        "| base | parameters | tokens/page | batched pages/s, transformers forward "
        "| batched pages/s | one-by-one pages/s | speed-up (lean / transformers) |"
        + (" training pages/s |" if args.train_steps else ""),
        "|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if args.train_steps else ""),
    ]
    if args.train_steps:
        lines.insert(
            -3,
            f"Training: {args.train_steps} behaviour-cloning steps of {args.train_batch} pages "
            "(all weights for tiny bases, a LoRA adapter r=8 on q/k/v/o for pretrained ones).",
        )
    for name, n, tok, hf, b, s, tr in rows:
        extra = f" {tr:.0f} |" if args.train_steps else ""
        lines.append(
            f"| {name} | {n / 1e6:.2f} M | {tok:.0f} | {hf:.0f} | {b:.0f} | {s:.1f} "
            f"| {b / hf:.2f}x |{extra}"
        )
    if args.profile:
        for lean in (False, True):
            what = "lean forward" if lean else "transformers forward"
            lines += ["", f"Profile of one cold pass of the last base, {what} (top by own time):",
                      "", "```", *_profile(pm, states, args.batch, lean), "```"]  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
