"""Ablations of AlignUSER training: full / no WM / no CF / BC only, on held-out steps.

Usage::

    python benchmarks/ablations.py [--data synthetic|ml-latest-small] [--epochs 3]

Writes ``benchmarks/results/ablations.md``. Every variant uses the same trajectories, base,
seed and budget; only the loss switches differ (``use_wm``, ``use_cf``).
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
}


def _dataset(name: str, users: int, items: int, sessions: int):
    if name == "synthetic":
        from alignuser.data.synthetic import SyntheticWorld

        world = SyntheticWorld(n_users=users, n_items=items, seed=3)
        return world.dataset(n_sessions_per_user=sessions, seed=2)
    from alignuser.data.loaders import load_dataset

    root = Path(__file__).resolve().parents[2] / "shared" / "data"
    return load_dataset(root / name)


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
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--max-pages-per-user", type=int, default=6)
    ap.add_argument("--work", default="/tmp/alignuser_ablations")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "ablations.md"))
    args = ap.parse_args()
    from alignuser.policy.bases import TinySpec
    from alignuser.training.trainer import TrainConfig, prepare_steps, train_on_steps

    layers, width = (int(x) for x in args.tiny.split("x"))
    ds = _dataset(args.data, args.users, args.items, args.sessions)
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
    train, valid = prepare_steps(TrainConfig(**base), ds)
    rows = []
    for name in args.variants.split(","):
        cfg = TrainConfig(**base, **VARIANTS[name])
        t = time.time()
        m = train_on_steps(
            cfg,
            train,
            valid,
            Path(args.work) / args.data / name.replace(" ", "_"),
            data={"dataset": ds.name},
        )
        m["wall_s"] = time.time() - t
        rows.append((name, m))
        print(
            name,
            json.dumps({k: v for k, v in m.items() if k != "history"}, default=str),
            flush=True,
        )
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
        f"{args.wm_epochs} WM epoch(s), {args.epochs} alignment epochs, seed 0, K=3.",
        "",
        "| variant | " + " | ".join(k.replace("valid_", "") for k in keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for name, m in rows:
        cells = [f"{m[k]:.3f}" if isinstance(m.get(k), float) else "-" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    if args.data != "synthetic":
        out = out.with_name(f"ablations_{args.data}.md")
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
