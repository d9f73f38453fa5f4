"""The learned policy's rating RMSE against every baseline, with a paired bootstrap interval.

The rating protocol (:mod:`alignuser.evaluation.rating`) on **all** held-out ratings of each
split (no subsample), every policy scored on the same pages in one run; for the learned
policy the gap ``RMSE(alignuser) - RMSE(mf)`` (the damped-bias model, the strongest baseline)
with a paired bootstrap 95 % interval over the ratings
(:func:`~alignuser.evaluation.rating.paired_rmse_gap`). Two last rows per split add no
learned policy: each item's damped mean plus the user's recent or long-run rater offset, as
the page state holds them (the evidence the policy's cues are made of, with no fit). A
checkpoint's interval covers the test ratings, not training noise: give one checkpoint per
training seed (``A+B+C``) for a row per seed and their mean +- std.

Usage::

    python benchmarks/rating_gap.py \\
        --job ml-latest-small:temporal=runs/policy-movielens/policy \\
        --job ml-100k:u1=runs/policy-ml100k-u1/policy

``DATASET:SPLIT=CHECKPOINT``: ``SPLIT`` is ``temporal`` (80/20 by time) or a provided fold
name (``u1`` ... ``u5`` of ml-100k). The checkpoint must be trained on that split's train
part (``alignuser train scenarios/train_movielens.yaml``; for ml-100k u1 add
``--set dataset.path=../shared/data/ml-100k --set split.method=provided --set split.name=u1
--set population.n_agents=943 --set train.targets=random``: u1 is a random split).
Writes ``benchmarks/results/rating_gap.md``.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

POLICIES = ("random", "popularity", "mf", "choice", "choice_default", "alignuser")
RATING_CALIBRATION = ("rating_scale", "rating_cue_scale", "rating_bias")
NO_LEARNING = {
    "cues: damped mean + rater": "rater",
    "cues: damped mean + long-run rater": "rater_all",
}


def _cue_sum(states, field: str) -> np.ndarray:
    """Each item's damped mean plus one rater offset of the state (``field``), no fit."""
    return np.array([
        ((s.max_rating + 1) / 2 if it.damped_mean is None else it.damped_mean)
        + (getattr(s, field) or 0.0)
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
    """Rows of one dataset: every baseline, then each checkpoint (``A+B+C``: one per seed)."""
    from alignuser.data.loaders import load_dataset
    from alignuser.data.splits import temporal_split
    from alignuser.evaluation.baselines import expected_ratings
    from alignuser.evaluation.common import shared_data
    from alignuser.evaluation.protocols import StateBuilder, build_policies, rng_for
    from alignuser.evaluation.rating import paired_rmse_gap, rating_errors, rating_states

    ds = load_dataset(shared_data() / name)
    split = temporal_split(ds.interactions, 0.2) if split_name == "temporal" else None
    split = split or ds.splits[split_name]
    ckpts = checkpoint.split("+")
    names = {"alignuser" if k == 0 else f"alignuser_{k}": c for k, c in enumerate(ckpts)}
    pols = build_policies(ds, split.train, POLICIES, 0, names)
    missing = [c for k, c in names.items() if k not in pols]
    if missing:
        raise SystemExit(f"{missing}: the alignuser policy did not load (see the log)")
    t0 = time.perf_counter()
    states, true, cold = rating_states(ds, split, builder=StateBuilder(ds, split.train))
    preds = {
        k: expected_ratings(p, states, rng_for(0, 404, j)) for j, (k, p) in enumerate(pols.items())
    }
    for k in list(names):  # ablation: the same checkpoint without its rating calibration
        cal = pols[k].model.calibration
        fitted = {c: cal.pop(c) for c in RATING_CALIBRATION if c in cal}
        if fitted:
            preds[f"{k}_nocal"] = expected_ratings(pols[k], states, rng_for(0, 404))
            cal.update(fitted)
    for label, field in NO_LEARNING.items():
        preds[label] = _cue_sum(states, field)
    secs = time.perf_counter() - t0
    rows = []
    for k, pred in preds.items():
        gap = paired_rmse_gap(pred, preds["mf"], true, n_boot=n_boot) if k != "mf" else None
        rows.append({
            "data": f"{name} {split_name}", "policy": _label(k, len(ckpts)),
            **rating_errors(pred, true), "gap": gap, "n": len(true), "cold": cold, "secs": secs,
        })  # fmt: skip
    if len(ckpts) > 1:
        for cal in ("", " (rating calibration off)"):
            mine = [r for r in rows if r["policy"].startswith("alignuser, checkpoint")]
            mine = (
                [r for r in mine if r["policy"].endswith(cal)]
                if cal
                else [r for r in mine if not r["policy"].endswith(")")]
            )
            if len(mine) > 1:
                rows.append(_mean_row(mine, f"alignuser, {len(mine)} seeds{cal}", rows[0]))
    return rows


def _label(key: str, n_ckpts: int) -> str:
    """``alignuser_2_nocal`` -> ``alignuser, checkpoint 3 (rating calibration off)``."""
    if not key.startswith("alignuser"):
        return key
    off = " (rating calibration off)" if key.endswith("_nocal") else ""
    parts = key.removesuffix("_nocal").split("_")
    if n_ckpts == 1:
        return f"alignuser{off}"
    return f"alignuser, checkpoint {1 + (int(parts[1]) if len(parts) > 1 else 0)}{off}"


def _mean_row(mine: list[dict], label: str, like: dict) -> dict:
    rm = np.array([r["rmse"] for r in mine])
    gaps = np.array([r["gap"]["gap"] for r in mine])
    return {
        "data": like["data"], "policy": label, "rmse": float(rm.mean()),
        "rmse_std": float(rm.std(ddof=1)), "mae": float(np.mean([r["mae"] for r in mine])),
        "gap": {"gap": float(gaps.mean()), "std": float(gaps.std(ddof=1)),
                "all_below": bool(all(r["gap"]["high"] < 0 for r in mine))},
        "n": like["n"], "cold": like["cold"], "secs": like["secs"],
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--job",
        action="append",
        required=True,
        help="DATASET:SPLIT=CHECKPOINT (CKPT_A+CKPT_B+CKPT_C: one per training seed)",
    )
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
        if g is None:
            gap = "-"
        elif "std" in g:  # the mean over seeds
            below = "every seed's interval below 0" if g["all_below"] else "not every seed below 0"
            gap = f"{g['gap']:+.4f} +- {g['std']:.4f} ({below})"
        else:
            gap = f"{g['gap']:+.4f} [{g['low']:+.4f}, {g['high']:+.4f}]"
        rmse = f"{r['rmse']:.4f}" + (f" +- {r['rmse_std']:.4f}" if "rmse_std" in r else "")
        lines.append(
            f"| {r['data']} | {r['policy']} | {rmse} | {r['mae']:.4f} | {gap} | "
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
