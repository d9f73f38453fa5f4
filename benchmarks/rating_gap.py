"""The learned policy's rating RMSE against every baseline, with a paired bootstrap interval.

The rating protocol (:mod:`alignuser.evaluation.rating`) on **all** held-out ratings of each
split (no subsample), every policy scored on the same pages in one run; for the learned
policy the gap ``RMSE(alignuser) - RMSE(mf)`` (the damped-bias model, the strongest baseline)
with a paired bootstrap 95 % interval over the ratings
(:func:`~alignuser.evaluation.rating.paired_rmse_gap`). A last row per split adds no learned
policy: each item's damped mean plus the user's rater bias, as the page state holds them (the
evidence the policy's cues are made of, with no fit). One training seed per checkpoint: the
interval covers the test ratings, not training noise.

Usage::

    python benchmarks/rating_gap.py \\
        --job ml-latest-small:temporal=runs/policy-movielens/policy \\
        --job ml-100k:u1=runs/policy-ml100k-u1/policy

``DATASET:SPLIT=CHECKPOINT``: ``SPLIT`` is ``temporal`` (80/20 by time) or a provided fold
name (``u1`` ... ``u5`` of ml-100k). The checkpoint must be trained on that split's train
part (``alignuser train scenarios/train_movielens.yaml``; for ml-100k u1 add
``--set dataset.path=../shared/data/ml-100k --set split.method=provided --set split.name=u1
--set population.n_agents=943``). Writes ``benchmarks/results/rating_gap.md``.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

POLICIES = ("random", "popularity", "mf", "choice", "choice_default", "alignuser")
NO_LEARNING = "cues: damped mean + rater"


def _cue_sum(states) -> np.ndarray:
    """Each item's damped mean plus the user's rater bias, as the state holds them (no fit)."""
    return np.array([
        ((s.max_rating + 1) / 2 if it.damped_mean is None else it.damped_mean) + (s.rater or 0.0)
        for s in states
        for it in s.items
    ])  # fmt: skip


def _job(spec: str) -> tuple[str, str, str]:
    try:
        head, ckpt = spec.split("=", 1)
        name, split = head.split(":", 1)
    except ValueError:
        raise SystemExit(f"--job {spec!r}: expected DATASET:SPLIT=CHECKPOINT") from None
    return name, split, ckpt


def run(name: str, split_name: str, checkpoint: str, n_boot: int) -> list[dict]:
    from alignuser.data.loaders import load_dataset
    from alignuser.data.splits import temporal_split
    from alignuser.evaluation.baselines import expected_ratings
    from alignuser.evaluation.protocols import StateBuilder, build_policies, rng_for
    from alignuser.evaluation.rating import paired_rmse_gap, rating_errors, rating_states
    from alignuser.evaluation.suite import shared_data

    ds = load_dataset(shared_data() / name)
    split = temporal_split(ds.interactions, 0.2) if split_name == "temporal" else None
    split = split or ds.splits[split_name]
    pols = build_policies(ds, split.train, POLICIES, 0, checkpoint)
    if "alignuser" not in pols:
        raise SystemExit(f"{checkpoint}: the alignuser policy did not load (see the log)")
    t0 = time.perf_counter()
    states, true, cold = rating_states(ds, split, builder=StateBuilder(ds, split.train))
    preds = {
        k: expected_ratings(p, states, rng_for(0, 404, j)) for j, (k, p) in enumerate(pols.items())
    }
    preds[NO_LEARNING] = _cue_sum(states)
    secs = time.perf_counter() - t0
    rows = []
    for k, pred in preds.items():
        gap = paired_rmse_gap(pred, preds["mf"], true, n_boot=n_boot) if k != "mf" else None
        rows.append({
            "data": f"{name} {split_name}", "policy": k, **rating_errors(pred, true),
            "gap": gap, "n": len(true), "cold": cold, "secs": secs,
        })  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--job", action="append", required=True, help="DATASET:SPLIT=CHECKPOINT")
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "rating_gap.md"))
    args = ap.parse_args()
    t0 = time.time()
    rows = [r for spec in args.job for r in run(*_job(spec), args.n_boot)]
    lines = [
        "# Rating RMSE: the learned policy against every baseline, paired bootstrap vs mf",
        "",
        f"`python benchmarks/rating_gap.py {' '.join('--job ' + j for j in args.job)}` on "
        f"{platform.node()}, {platform.machine()}, {_cpus()} CPU, no GPU, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {time.time() - t0:.0f} s.",
        "",
        "All held-out ratings of each split; each policy's expected rating given a watch; "
        "`gap vs mf` is RMSE(policy) - RMSE(mf) with a paired bootstrap 95 % interval over "
        f"the ratings ({args.n_boot} draws). Negative: better than the damped-bias model.",
        "",
        "| data | policy | RMSE | MAE | gap vs mf [95 % CI] | ratings | cold users |",
        "|---|---|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        g = r["gap"]
        gap = "-" if g is None else f"{g['gap']:+.4f} [{g['low']:+.4f}, {g['high']:+.4f}]"
        lines.append(
            f"| {r['data']} | {r['policy']} | {r['rmse']:.4f} | {r['mae']:.4f} | {gap} | "
            f"{r['n']} | {r['cold']} |"
        )
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
