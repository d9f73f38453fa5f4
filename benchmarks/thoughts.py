"""Thought-action consistency of a trained AlignUSER checkpoint on held-out pages.

Usage::

    python benchmarks/thoughts.py CHECKPOINT [--data synthetic] [--pages 200]

For each validation page the policy writes its rationale
(:meth:`~alignuser.policy.model.PolicyModel.generate_thoughts`), then decides greedily twice:
after reading the rationale (block layout, the order alignment trained) and without it (the
one-pass inline layout the simulation uses by default). Prints the coverage and agreement of
:func:`~alignuser.policy.thoughts.thought_action_consistency` for both, the agreement between
the two sets of decisions, and a few examples; writes ``benchmarks/results/thoughts.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--data", default="synthetic", help="synthetic (the ablation world)")
    ap.add_argument("--pages", type=int, default=200)
    ap.add_argument("--tokens", type=int, default=96)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "thoughts.md"))
    args = ap.parse_args()
    import numpy as np
    import torch

    from alignuser.data.synthetic import SyntheticWorld
    from alignuser.policy.alignuser_policy import scores_to_action
    from alignuser.policy.checkpoint import load_policy_model
    from alignuser.policy.thoughts import thought_action_consistency
    from alignuser.training.config import TrainConfig
    from alignuser.training.prepare import prepare_steps

    ds = SyntheticWorld(n_users=300, n_items=150, seed=3).dataset(n_sessions_per_user=5, seed=2)
    _, valid = prepare_steps(TrainConfig(), ds)
    states = [s.state for s in valid[: args.pages]]
    pm = load_policy_model(args.checkpoint)
    t = time.perf_counter()
    thoughts = pm.generate_thoughts(states, max_new_tokens=args.tokens)
    gen_s = time.perf_counter() - t
    rng = np.random.default_rng(0)
    after = [
        scores_to_action(s, sc, rng, greedy=True)
        for s, sc in zip(states, pm.score(states, thoughts=thoughts))
    ]
    inline = [scores_to_action(s, sc, rng, greedy=True) for s, sc in zip(states, pm.score(states))]
    human = [s.action for s in valid[: args.pages]]
    rows = {
        "decisions after the thought": thought_action_consistency(states, thoughts, after),
        "decisions without it (inline)": thought_action_consistency(states, thoughts, inline),
        "the human's decisions": thought_action_consistency(states, thoughts, human),
    }
    same = np.mean(
        [
            a.watch == b.watch
            for x, y in zip(after, inline)
            for a, b in zip(x.decisions, y.decisions)
        ]
    )
    lines = [
        "# Thought-action consistency",
        "",
        f"Command: `python {' '.join(sys.argv)}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch threads "
        f"{torch.get_num_threads()}, torch {torch.__version__}.",
        f"Checkpoint: `{args.checkpoint}`; {len(states)} validation pages of the synthetic "
        f"world (300 users, seed 3); thoughts generated in {gen_s:.1f} s "
        f"({len(states) / gen_s:.1f} pages/s, greedy, at most {args.tokens} tokens).",
        "",
        "| compared with | coverage | agreement | exit agreement |",
        "|---|---:|---:|---:|",
    ]
    for name, m in rows.items():
        lines.append(
            f"| {name} | {m['coverage']:.3f} | {m['agreement']:.3f} | {m['exit_agreement']:.3f} |"
        )
    lines += [
        "",
        f"Watch decisions after the thought equal those without it on {same:.1%} of items.",
        "",
        "Examples:",
        "",
    ]
    for s, th, a in list(zip(states, thoughts, after))[:3]:
        titles = ", ".join(
            f"{v.title} ({'W' if d.watch else 'S'})" for v, d in zip(s.items, a.decisions)
        )
        lines += [f"* page: {titles}", f"  thought: {th}"]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
