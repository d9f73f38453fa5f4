"""Decisions per second of the learned policy, batched vs one page at a time.

Usage::

    python benchmarks/policy_speed.py [--bases tiny,smollm2] [--pages 256]

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


def _states(n: int):
    from alignuser.data.synthetic import SyntheticWorld
    from alignuser.training.trajectories import from_impressions

    ds = SyntheticWorld(n_users=200, n_items=200, seed=0).dataset(n_sessions_per_user=2)
    return [s.state for s in from_impressions(ds)][:n]


def _model(base: str, states, spec: str):
    from alignuser.env.text import render_state_compact
    from alignuser.policy.bases import TinySpec
    from alignuser.policy.model import PolicyModel

    if base == "tiny":
        layers, width = (int(x) for x in spec.split("x"))
        tiny = TinySpec(n_layers=layers, d_model=width, n_heads=4)
        return PolicyModel.create(
            "tiny", corpus=[render_state_compact(s) for s in states], tiny=tiny
        )
    return PolicyModel.create(base, dtype="bfloat16" if spec == "bf16" else "float32")


def _rate(pm, states, batch_size: int) -> float:
    pm.score(states[: min(8, len(states))], batch_size=batch_size)  # warm-up
    t = time.perf_counter()
    pm.score(states, batch_size=batch_size)
    return len(states) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bases", default="tiny:2x128,tiny:3x160,tiny:4x256,smollm2:fp32,smollm2:bf16")
    ap.add_argument("--pages", type=int, default=256)
    ap.add_argument("--single", type=int, default=48, help="pages timed one by one")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "policy_speed.md"))
    args = ap.parse_args()
    import torch

    states = _states(args.pages)
    items = np.mean([len(s.items) for s in states])
    rows = []
    for entry in args.bases.split(","):
        base, spec = entry.split(":")
        pm = _model(base, states, spec)
        n_params = sum(p.numel() for p in pm.lm.parameters())
        batched = _rate(pm, states, args.batch)
        single = _rate(pm, states[: args.single], 1)
        rows.append((f"{base} {spec}", n_params, batched, single))
        print(rows[-1], flush=True)
    lines = [
        "# Policy scoring speed (decisions = pages per second)",
        "",
        f"Command: `python {' '.join(sys.argv)}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs visible, torch threads "
        f"{torch.get_num_threads()}, Python {platform.python_version()}, torch {torch.__version__}; "
        f"load average {os.getloadavg()[0]:.1f} at the end (other jobs share the CPUs; "
        "compare rows of one run only).",
        f"Pages: {len(states)} synthetic-world pages, {items:.1f} items each; batch {args.batch}.",
        "",
        "| base | parameters | batched pages/s | one-by-one pages/s | speed-up |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, n, b, s in rows:
        lines.append(f"| {name} | {n / 1e6:.2f} M | {b:.0f} | {s:.1f} | {b / s:.1f}x |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
