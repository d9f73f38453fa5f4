"""Reflection quality: are a training run's counterfactual reflections grounded?

Usage::

    python benchmarks/reflections.py RUN_DIR [RUN_DIR ...] [--sample 300] [--data PATH]

``RUN_DIR`` is an ``alignuser train`` output folder (``reflections.json`` and ``policy/``).
Its training steps are rebuilt from the config stored in ``policy/policy.json``
(:func:`~alignuser.training.trainer.prepare_training` on the ``provided`` split's training
part as ``alignuser train`` does, same seed: step ``i`` is the step of reflection ``i``), with the alternatives the trainer drew for them. A seeded sample is
checked by :func:`~alignuser.evaluation.reflection_quality.check_reflection`; the world
model's outcomes are re-predicted by the **saved (final) model**, while the reflections were
written after stage 1, so ``outcome_matches_wm`` is agreement with the final world model.
Writes ``benchmarks/results/reflections.md`` with the rates and 5 example reflections.
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


def _run(run_dir: Path, ds, n_sample: int):
    import numpy as np
    import pandas as pd

    from alignuser.evaluation.reflection_quality import check_reflection
    from alignuser.policy.checkpoint import load_policy_model
    from alignuser.policy.counterfactual import alternatives
    from alignuser.training.config import TrainConfig
    from alignuser.training.prepare import prepare_training

    doc = json.loads((run_dir / "policy" / "policy.json").read_text())
    cfg = TrainConfig(**doc["config"])
    refl = json.loads((run_dir / "reflections.json").read_text())
    part = ds.splits["provided"].train if "provided" in ds.splits else None  # as alignuser train
    train, _, _ = prepare_training(cfg, ds, interactions=part)
    if len(train) != refl["n"]:
        raise SystemExit(f"{run_dir}: {len(train)} rebuilt steps, {refl['n']} reflections")
    idx = np.sort(np.random.default_rng(0).choice(len(train), n_sample, replace=False))
    m = cfg.cf_predicted
    alts = {int(i): alternatives(train[i].action, cfg.k_alternatives, train[i].state.max_rating,
                                 np.random.default_rng([cfg.seed, 7, int(i)]))[:m]
            for i in idx}  # fmt: skip
    pm = load_policy_model(run_dir / "policy")
    flat = [(int(i), a) for i in idx for a in alts[int(i)]]
    preds = pm.generate_results([train[i].state for i, _ in flat], [a for _, a in flat],
                                max_new_tokens=cfg.cf_max_new_tokens, changes_only=True)  # fmt: skip
    per: dict[int, list[str]] = {int(i): [] for i in idx}
    for (i, _), p in zip(flat, preds):
        per[i].append(p)
    rows = []
    for i in idx:
        s = train[i]
        c = check_reflection(refl["reflections"][i], s.state, s.action, alts[int(i)], per[int(i)])
        rows.append({"run": run_dir.name, "step": int(i), **c, "text": refl["reflections"][i]})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--sample", type=int, default=300)
    ap.add_argument("--data", default="../shared/data/agent4rec-ml1m")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "reflections.md"))
    args = ap.parse_args()
    import pandas as pd

    from alignuser.data.loaders import load_dataset
    from alignuser.evaluation.reflection_quality import CHECKS, reflection_rates

    t0 = time.time()
    ds = load_dataset(args.data)
    rows = pd.concat([_run(r, ds, args.sample) for r in args.runs], ignore_index=True)
    rates = pd.concat([reflection_rates(g).assign(run=k) for k, g in rows.groupby("run")],
                      ignore_index=True)  # fmt: skip
    rates = rates[["run", "n", *CHECKS, "grounded"]]
    ex = rows.groupby("run").head(2).head(5)
    lines = ["# Reflection quality (counterfactual reflections of training runs)", "",
             f"Command: `python benchmarks/reflections.py {' '.join(sys.argv[1:])}`  ",
             f"Machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpu, "
             f"{time.time() - t0:.0f} s", "", rates.to_markdown(index=False, floatfmt=".3f"),
             "", "## 5 example reflections", ""]  # fmt: skip
    for r in ex.itertuples():
        fails = [c for c in [*CHECKS] if getattr(r, c) == 0.0]
        lines += [f"- {r.run} step {r.step} (fails: {', '.join(fails) or 'none'}): {r.text}", ""]
    Path(args.out).write_text("\n".join(lines))
    print(rates.to_string(index=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
