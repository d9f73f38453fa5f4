"""Ablations of AlignUSER training: full / no WM / no CF / BC only / no cue head.

Usage::

    python benchmarks/ablations.py [--data synthetic|ml-latest-small] [--epochs 3] [--seeds 0,1]

Writes ``benchmarks/results/ablations.md``. Every variant uses the same trajectories, base,
seeds and budget; only the switches differ (``use_wm``, ``use_cf``, ``cue_head``). With
several seeds each cell is the mean over seeds, and the watch AUC also shows the range.
Reference rows on the same validation pages: the cue regression alone
(:func:`~alignuser.policy.cues.fit_cue_head` on the training steps), popularity alone and, on
the synthetic world, the true model (watch AUC, and the memory-change F1 of a world model
that predicts the true most likely rating: the ceiling of ``wm_memory_f1``).
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

VARIANTS = {
    "full": {},
    "no WM": {"use_wm": False},
    "no CF": {"use_cf": False},
    "BC only": {"use_wm": False, "use_cf": False},
    "no cue head": {"cue_head": False},
    "BC only, no cue head": {"use_wm": False, "use_cf": False, "cue_head": False},
    "no item tower": {"item_tower": False},
}


def _dataset(name: str, users: int, items: int, sessions: int):
    """``(dataset, world or None)``."""
    if name == "synthetic":
        from alignuser.data.synthetic import SyntheticWorld

        world = SyntheticWorld(n_users=users, n_items=items, seed=3)
        return world.dataset(n_sessions_per_user=sessions, seed=2), world
    from alignuser.data.loaders import load_dataset

    root = Path(__file__).resolve().parents[2] / "shared" / "data"
    return load_dataset(root / name), None


def _references(train, valid, world) -> list[str]:
    """Reference lines: cue regression alone, popularity alone, the true model."""
    import numpy as np
    import torch

    from alignuser.env.actions import ItemDecision, PageAction
    from alignuser.policy.cues import fit_cue_head, make_cue_head, page_cues
    from alignuser.training.evaluate import auc
    from alignuser.training.targets import compact_result_text
    from alignuser.training.worldmodel import f1, parse_result

    clicks = np.array([d.watch for s in valid for d in s.action.decisions])
    head = make_cue_head(max(s.state.max_rating for s in train))
    fit_cue_head(head, [s.state for s in train], [s.action for s in train])
    with torch.no_grad():
        x = torch.from_numpy(np.concatenate([page_cues(s.state) for s in valid]))
        cue = head(x)[:, 0].numpy()
    pop = np.array([v.popularity for s in valid for v in s.state.items])
    n_dec = len(clicks)
    out = [
        f"References on the same {len(valid)} validation pages ({n_dec} item decisions, "
        f"{clicks.mean():.0%} watched): the cue regression alone (fitted on the training "
        f"steps) watch AUC {auc(cue, clicks):.3f}; popularity alone {auc(pop, clicks):.3f}."
    ]
    if world is not None:
        items = [
            (s.state.agent_id, v.item_id, j, s.state.page)
            for s in valid
            for j, v in enumerate(s.state.items)
        ]
        u, i, j, p = (np.array(c) for c in zip(*items))
        truth = world.watch_prob(u, i, positions=j, pages=p)
        mem = []
        for s in valid[:64]:
            dec = []
            for d in s.action.decisions:
                if d.watch:
                    dist = world.rating_dist(np.array([s.state.agent_id]), np.array([d.item_id]))
                    d = ItemDecision(d.item_id, True, int(np.argmax(dist[0])) + 1)
                dec.append(d)
            pred = compact_result_text(PageAction(tuple(dec), s.action.exit), None)
            mem.append(f1(parse_result(pred)[0], parse_result(s.result_compact)[0]))
        out.append(
            f"True model: watch AUC {auc(truth, clicks):.3f}; a world model that knows the "
            f"true most likely rating of every watched item reaches memory-change F1 "
            f"{np.mean(mem):.3f} on the first 64 pages (the ceiling of `wm_memory_f1`: "
            "ratings are drawn, not fixed)."
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--wm-epochs", type=int, default=1)
    ap.add_argument("--tiny", default="3x160")
    ap.add_argument("--variants", default=";".join(VARIANTS), help="';'-separated names")
    ap.add_argument("--seeds", default="0", help="comma-separated training seeds")
    ap.add_argument("--max-pages-per-user", type=int, default=6)
    ap.add_argument("--work", default="/tmp/alignuser_ablations")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "ablations.md"))
    args = ap.parse_args()
    from alignuser.training.config import TinySpec, TrainConfig
    from alignuser.training.prepare import prepare_training
    from alignuser.training.trainer import train_on_steps

    layers, width = (int(x) for x in args.tiny.split("x"))
    ds, world = _dataset(args.data, args.users, args.items, args.sessions)
    base = dict(
        tiny=TinySpec(n_layers=layers, d_model=width, n_heads=4, ffn_mult=2, min_frequency=1),
        wm_epochs=args.wm_epochs,
        align_epochs=args.epochs,
        batch_size=args.batch,
        eval_every=100,
        save_every=100,
        max_pages_per_user=args.max_pages_per_user,
        max_valid_steps=600,
        wm_eval_steps=64,
        progress=False,
    )
    train, valid, space = prepare_training(TrainConfig(**base), ds)
    seeds = [int(x) for x in args.seeds.split(",")]
    rows = []
    for name in args.variants.split(";"):
        runs = []
        for seed in seeds:
            cfg = TrainConfig(**base, **VARIANTS[name], seed=seed)
            t = time.time()
            m = train_on_steps(
                cfg,
                train,
                valid,
                Path(args.work) / args.data / f"{name.replace(' ', '_')}_s{seed}",
                data={"dataset": ds.name},
                items=space,
            )
            m["wall_s"] = time.time() - t
            runs.append(m)
            print(
                name,
                seed,
                json.dumps({k: v for k, v in m.items() if k != "history"}, default=str),
                flush=True,
            )
        rows.append((name, runs))
    keys = [
        "valid_watch_auc",
        "valid_watch_accuracy",
        "valid_watch_majority",
        "valid_rating_rmse",
        "valid_exit_accuracy",
        "valid_bc_nll",
        "wm_memory_f1",
        "wm_page_f1",
        "wall_s",
    ]
    lines = [
        f"# Ablations on {args.data} (held-out steps)",
        "",
        f"Command: `python {' '.join(sys.argv)}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs).",
        f"Data: {len(train)} train / {len(valid)} validation steps; tiny {args.tiny}; "
        f"{args.wm_epochs} WM epoch(s), {args.epochs} alignment epochs, seeds {args.seeds}, "
        "K=3.",
        "",
        "| variant | " + " | ".join(k.replace("valid_", "") for k in keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for name, runs in rows:
        cells = []
        for k in keys:
            vals = [m[k] for m in runs if isinstance(m.get(k), float)]
            cell = f"{sum(vals) / len(vals):.3f}" if vals else "-"
            if k == "valid_watch_auc" and len(vals) > 1:
                cell += f" ({min(vals):.3f}-{max(vals):.3f})"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", *_references(train, valid[:600], world)]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    if args.data != "synthetic":
        out = out.with_name(f"ablations_{args.data}.md")
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
