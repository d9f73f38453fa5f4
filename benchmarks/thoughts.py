"""Thought-action consistency of a trained AlignUSER checkpoint on held-out pages.

Usage::

    python benchmarks/thoughts.py CHECKPOINT [--data synthetic|DATASET_DIR] [--pages 300]

For each validation page of the checkpoint's own training config (the synthetic ablation
world, or a dataset folder such as ``../shared/data/agent4rec-ml1m``) the policy writes its
rationale two ways: **grounded** (:func:`~alignuser.policy.thinking.grounded_thoughts`, the
reflection grammar decoded item by item; greedy, and sampled as a simulation samples) and
**free** (:meth:`~alignuser.policy.model.PolicyModel.generate_thoughts`, greedy free text).
It then decides after reading the rationale (block layout) and without it (inline), greedy
and sampled, and prints :func:`~alignuser.policy.thoughts.thought_action_consistency` of each
pair (coverage, agreement, exit agreement), the agreement with the human's decisions, and a
few examples. Writes ``--out`` (Markdown).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _valid_states(checkpoint: str, data: str):
    from alignuser.training.config import TrainConfig
    from alignuser.training.prepare import prepare_steps

    doc = json.loads((Path(checkpoint) / "policy.json").read_text())
    cfg = TrainConfig(**doc["config"])
    if data == "synthetic":
        from alignuser.data.synthetic import SyntheticWorld

        ds = SyntheticWorld(n_users=300, n_items=150, seed=3).dataset(n_sessions_per_user=5, seed=2)
    else:
        from alignuser.data.loaders import load_dataset

        ds = load_dataset(data)
    return prepare_steps(cfg, ds)[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--data", default="synthetic", help="synthetic, or a dataset folder")
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--tokens", type=int, default=96)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "thoughts.md"))
    args = ap.parse_args()
    import numpy as np
    import torch

    from alignuser.policy.alignuser_policy import scores_to_action
    from alignuser.policy.checkpoint import load_policy_model
    from alignuser.policy.thinking import grounded_thoughts
    from alignuser.policy.thoughts import thought_action_consistency

    valid = _valid_states(args.checkpoint, args.data)[: args.pages]
    states, human = [s.state for s in valid], [s.action for s in valid]
    pm = load_policy_model(args.checkpoint)
    kinds, secs = {}, {}
    for name, make in [
        ("grounded, sampled", lambda: grounded_thoughts(pm, states, rng=np.random.default_rng(1))),
        ("grounded, greedy", lambda: grounded_thoughts(pm, states)),
        ("free text, greedy", lambda: pm.generate_thoughts(states, max_new_tokens=args.tokens)),
    ]:
        t = time.perf_counter()
        kinds[name] = make()
        secs[name] = time.perf_counter() - t

    def act(thoughts, greedy, seed):
        rng = np.random.default_rng(seed)
        scores = pm.score(states, thoughts=thoughts)
        return [scores_to_action(s, sc, rng, greedy=greedy) for s, sc in zip(states, scores)]

    lines = [
        "# Thought-action consistency",
        "",
        f"Command: `python {' '.join(sys.argv)}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch threads "
        f"{torch.get_num_threads()}, torch {torch.__version__}.",
        f"Checkpoint: `{args.checkpoint}`; {len(states)} validation pages of `{args.data}` "
        f"(the checkpoint's own training config). Thoughts per second: "
        + ", ".join(f"{k} {len(states) / v:.1f}" for k, v in secs.items())
        + ".",
        "",
        "Agreement: among the items the thought names, the share whose decision matches it;",
        "coverage: the share of items it names; exit: leave / stay of the lesson against the",
        "exit decision. Decisions *after* the thought read it (block layout); *inline* ones",
        "do not (the simulation's default path), so their agreement is the baseline.",
        "",
        "| thought | decisions | coverage | agreement | exit agreement |",
        "|---|---|---:|---:|---:|",
    ]
    for name, thoughts in kinds.items():
        sampled = "sampled" in name
        rows = [
            ("after it, " + ("sampled" if sampled else "greedy"), act(thoughts, not sampled, 2)),
            ("inline, " + ("sampled" if sampled else "greedy"), act(None, not sampled, 2)),
            ("the human's", human),
        ]
        for who, acts in rows:
            m = thought_action_consistency(states, thoughts, acts)
            lines.append(
                f"| {name} | {who} | {m['coverage']:.3f} | {m['agreement']:.3f} | "
                f"{m['exit_agreement']:.3f} |"
            )
    lines += ["", "Examples (grounded, sampled; W/S: the decision after the thought):", ""]
    after = act(kinds["grounded, sampled"], False, 2)
    for th, a in list(zip(kinds["grounded, sampled"], after))[:3]:
        dec = ", ".join(
            f"item {j + 1} {'W' if d.watch else 'S'}" for j, d in enumerate(a.decisions)
        )
        lines += [f"* decisions: {dec}; {'EXIT' if a.exit else 'NEXT'}", f"  thought: {th}"]
    lines += ["", "Free text, greedy:", ""]
    lines += [f"* {th}" for th in kinds["free text, greedy"][:2]]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
