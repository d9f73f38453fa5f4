"""Does the learned model itself carry taste? AlignUSER variants against every baseline.

The Agent4Rec 1:m taste protocol (:mod:`alignuser.evaluation.taste`) on the same sampled
items for every policy, with

* for each AlignUSER variant (one checkpoint per training seed): the AUC of the full watch
  score, of the **LM part** alone (the language model's own logit, item tower and history
  tokens included, without the cue head: :meth:`PolicyModel.watch_parts`) and of the cue
  head's part alone; accuracy with **sampled** decisions (what a simulation does) and with
  **thresholded** ones (``P(watch) >= 0.5``), and the watch rate;
* the baselines (random, popularity, mf, choice) under both rules too
  (:func:`~alignuser.evaluation.baselines.decide_watch`): no policy wins by its rule.

Each AlignUSER cell is the mean +- std over training seeds of the mean over the sample
seeds; baseline cells are mean +- std over the sample seeds.

Usage::

    python benchmarks/taste_ablations.py \\
        --checkpoints "full=A,B,C;LM alone=D,E,F" [--users 1000] [--ms 1,9] [--seeds 0,1,2]

Writes ``benchmarks/results/taste_ablations.md`` (and ``.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

BASELINES = ("random", "popularity", "mf", "choice")


def _variants(spec: str) -> dict[str, list[str]]:
    out = {}
    for part in spec.split(";"):
        if part.strip():
            name, _, dirs = part.partition("=")
            out[name.strip()] = [d.strip() for d in dirs.split(",") if d.strip()]
    return out


def _samples(ds, split, builder, ms, seeds, users):
    from alignuser.evaluation.taste import sample_taste_items

    out = {}
    for m in ms:
        for seed in seeds:
            sample = sample_taste_items(split, ds.n_items, m, seed, users)
            states, order = [], []
            for u, g in sample.groupby("user_id", sort=True):
                states.extend(builder.pages(int(u), g["item_id"].tolist(), 4))
                order.append(g.index.to_numpy())
            y = sample["label"].to_numpy()[np.concatenate(order)]
            out[(m, seed)] = (states, y)
    return out


def _alignuser_row(pm, states, y, m, seed):
    from alignuser.training.evaluate import auc

    parts = pm.watch_parts(states)
    p = 1 / (1 + np.exp(-pm.combine_watch(parts["lm"], parts["cues"])))
    return {
        **_prob_row(p, y, m, seed),
        "lm_auc": auc(parts["lm"], y),
        "cue_auc": auc(parts["cues"], y) if np.any(parts["cues"]) else float("nan"),
    }


def _baseline_row(policy, states, y, m, seed, k):
    from alignuser.evaluation.baselines import decide_watch, watch_probabilities
    from alignuser.evaluation.protocols import rng_for
    from alignuser.training.evaluate import auc

    score = watch_probabilities(policy, states, rng_for(seed, 202, m, k))
    row = {"auc": auc(score, y), "lm_auc": float("nan"), "cue_auc": float("nan")}
    for mode in ("sample", "greedy"):
        pred = decide_watch(policy, states, rng_for(seed, 202, m, k), mode)
        row["acc_sampled" if mode == "sample" else "acc_threshold"] = float(
            (pred == y.astype(bool)).mean()
        )
        if mode == "sample":
            row["watch_rate"] = float(pred.mean())
    return row


def _cue_regression(ds, checkpoint: str):
    """The cue head alone: fitted on the training steps of ``checkpoint``'s own config.

    Same steps, item space and cues as that training (re-derived from the config stored in
    its ``policy.json``), a fresh head fitted by :func:`~alignuser.policy.cues.fit_cue_head`
    and Platt-calibrated on the validation steps the way training calibrates the policy.
    Returns ``(score(states) -> calibrated watch probabilities, seconds)``.
    """
    import torch

    from alignuser.policy.cue_batch import batch_cues
    from alignuser.policy.cues import cue_names, fit_cue_head, make_cue_head
    from alignuser.training.config import TrainConfig
    from alignuser.training.evaluate import fit_platt
    from alignuser.training.prepare import prepare_training

    t0 = time.time()
    doc = json.loads((Path(checkpoint) / "policy.json").read_text())
    cfg = TrainConfig(**doc["config"])
    train, valid, space = prepare_training(cfg, ds)
    head = make_cue_head(int(train[0].state.max_rating), len(cue_names(space)))
    fit_cue_head(head, [s.state for s in train], [s.action for s in train], space=space)

    def logits(states):
        with torch.no_grad():
            x, _ = batch_cues(states, max(len(s.items) for s in states), space)
            z = head(x)[..., 0].numpy()
        return np.concatenate([z[k, : len(s.items)] for k, s in enumerate(states)])

    zv = logits([s.state for s in valid])
    yv = np.asarray([d.watch for s in valid for d in s.action.decisions], dtype=np.float32)
    (a,), b = fit_platt(zv[:, None], yv, l2=0.0)
    return (lambda states: 1 / (1 + np.exp(-(a * logits(states) + b)))), time.time() - t0


def _evidence(ds, split, builder, sample_states, window):
    """Per-item evidence of the protocol's states: the cues, then (``window=None``) extras.

    The cues of :func:`~alignuser.policy.cues.page_cues` on states whose history is the last
    ``window`` training items (20: what the policies read); with ``window=None`` the whole
    training history, plus evidence no policy here reads: release-year distance to the
    history, implicit genre lift (the history's genre shares over the catalog's), and
    item-kNN scores (cosine of co-consumption with the history items: sum / sqrt(n), max,
    top-5 mean).
    """
    import scipy.sparse as sps

    from alignuser.policy.cues import page_cues
    from alignuser.policy.items import ItemSpace

    space = ItemSpace.from_encoder(builder.ctx.encoder, builder.ctx.catalog.n_items)
    kept = builder.ctx.n_history
    builder.ctx.n_history = window
    try:
        states = [builder.state(s.agent_id, s.item_ids, s.page) for s in sample_states]
    finally:
        builder.ctx.n_history = kept
    x = np.concatenate([page_cues(s, space) for s in states])
    if window is not None:
        return x
    df = split.train.df
    n_i = ds.n_items
    r = sps.csr_matrix((np.ones(len(df)), (df["user_id"], df["item_id"])),
                       shape=(int(df["user_id"].max()) + 1, n_i))  # fmt: skip
    r.data[:] = 1.0
    co = (r.T @ r).toarray()
    norm = np.sqrt(np.diag(co)) + 1e-9
    sim = co / norm[:, None] / norm[None, :]
    np.fill_diagonal(sim, 0.0)
    names = sorted({g for gs in ds.catalog.df["genres"] for g in gs})
    col = {g: j for j, g in enumerate(names)}
    gm = np.zeros((n_i, len(names)))
    for i, gs in enumerate(ds.catalog.df["genres"]):
        for g in gs:
            gm[i, col[g]] = 1.0 / len(gs)
    share_all = np.asarray(r.sum(0)).ravel() @ gm
    share_all = share_all / share_all.sum()
    years = ds.catalog.df["year"].to_numpy(dtype=float)
    hist = {int(u): g["item_id"].to_numpy() for u, g in df.groupby("user_id")}
    extra = []
    for s in states:
        h, its = hist.get(int(s.agent_id), np.zeros(0, int)), np.asarray(s.item_ids)
        share = (gm[h].sum(0) + share_all) / (len(h) + 1)
        lift = np.log(share / np.maximum(share_all, 1e-12))
        hy = years[h][~np.isnan(years[h])]
        gap = np.abs(years[its] - (np.median(hy) if len(hy) else np.nan)) / 10
        knn = sim[np.ix_(its, h)] if len(h) else np.zeros((len(its), 1))
        extra.append(np.stack([
            np.nan_to_num(gap), (gm[its] * lift).sum(1) / np.maximum(gm[its].sum(1), 1e-9),
            knn.sum(1) / np.sqrt(max(len(h), 1)), knn.max(1), np.sort(knn, 1)[:, -5:].mean(1),
        ], 1))  # fmt: skip
    return np.concatenate([x, np.concatenate(extra)], 1)


def _ceiling_rows(ds, split, builder, samples, ms, seeds):
    """Logistic regression fitted on the protocol's own pairs (5-fold CV by user).

    Not a policy (it learns from the test items and their 1:m prior): the ceiling of what
    the evidence says. ``cues`` reads what the policies' states hold; ``every evidence``
    adds the whole history and the extras of :func:`_evidence`.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    out = {}
    for label, window in (("ceiling: cues, CV on the test pairs", 20),
                          ("ceiling: every evidence, CV on the test pairs", None)):  # fmt: skip
        per_m = {m: [] for m in ms}
        for m in ms:
            rows = []
            for seed in seeds:
                states, y = samples[(m, seed)]
                x = _evidence(ds, split, builder, states, window)
                groups = np.concatenate([[st.agent_id] * len(st.items) for st in states])
                p = np.zeros(len(y))
                for tr, te in GroupKFold(5).split(x, y, groups):
                    lr = LogisticRegression(max_iter=3000).fit(x[tr], y[tr])
                    p[te] = lr.predict_proba(x[te])[:, 1]
                rows.append(_prob_row(p, y, m, seed, cue=False))
            per_m[m].append({kk: float(np.mean([r[kk] for r in rows])) for kk in KEYS})
        out[label] = {"kind": "reference", "per_m": per_m}
        print(label, per_m, flush=True)
    return out


def _prob_row(p, y, m, seed, cue=True):
    from alignuser.evaluation.protocols import rng_for
    from alignuser.training.evaluate import auc

    sampled = rng_for(seed, 202, m, 99).random(len(p)) < p
    return {
        "auc": auc(p, y),
        "lm_auc": float("nan"),
        "cue_auc": auc(p, y) if cue else float("nan"),
        "acc_sampled": float((sampled == y.astype(bool)).mean()),
        "acc_threshold": float(((p >= 0.5) == y.astype(bool)).mean()),
        "watch_rate": float(p.mean()),
    }


KEYS = ("auc", "lm_auc", "cue_auc", "acc_sampled", "acc_threshold", "watch_rate")


def _cell(vals) -> str:
    vals = [v for v in vals if v == v]
    if not vals:
        return "-"
    if len(vals) == 1:
        return f"{vals[0]:.3f}"
    return f"{np.mean(vals):.3f} +- {np.std(vals, ddof=1):.3f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"
                                          / "agent4rec-ml1m"))  # fmt: skip
    ap.add_argument("--checkpoints", required=True, help="'name=DIR[,DIR...];name2=...'")
    ap.add_argument("--users", type=int, default=0, help="0: every user")
    ap.add_argument("--ms", default="1,9")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument(
        "--cue-regression",
        action="store_true",
        help="add the cue head alone, fitted on each checkpoint's training steps",
    )
    ap.add_argument(
        "--ceiling",
        action="store_true",
        help="add logistic regressions fitted on the test pairs (the evidence's ceiling)",
    )
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "taste_ablations.md"))
    args = ap.parse_args()
    from alignuser.data.loaders import load_dataset
    from alignuser.evaluation.protocols import StateBuilder, build_policies
    from alignuser.policy.checkpoint import load_policy_model

    t0 = time.time()
    ds = load_dataset(args.data)
    split = ds.splits.get("provided") or next(iter(ds.splits.values()))
    users = None
    if args.users:
        pool = np.unique(split.train.df["user_id"].to_numpy())
        users = np.sort(np.random.default_rng(0).choice(pool, min(args.users, len(pool)), False))
    ms = [int(x) for x in args.ms.split(",")]
    seeds = [int(x) for x in args.seeds.split(",")]
    builder = StateBuilder(ds, split.train)
    samples = _samples(ds, split, builder, ms, seeds, users)
    results: dict[str, dict] = {}
    pols = build_policies(ds, split.train, BASELINES, 0)
    for k, (name, pol) in enumerate(pols.items()):
        per_m = {m: [_baseline_row(pol, *samples[(m, s)], m, s, k) for s in seeds] for m in ms}
        results[name] = {"kind": "baseline", "per_m": per_m}
        print(name, {m: {kk: np.mean([r[kk] for r in v]) for kk in KEYS} for m, v in per_m.items()},
              flush=True)  # fmt: skip
    for name, dirs in _variants(args.checkpoints).items():
        per_m = {m: [] for m in ms}
        for d in dirs:
            pm = load_policy_model(d)
            for m in ms:
                rows = [_alignuser_row(pm, *samples[(m, s)], m, s) for s in seeds]
                per_m[m].append({kk: float(np.mean([r[kk] for r in rows])) for kk in KEYS})
        results[name] = {"kind": "alignuser", "dirs": dirs, "per_m": per_m}
        print(name, per_m, flush=True)
    if args.cue_regression:
        per_m = {m: [] for m in ms}
        for d in next(iter(_variants(args.checkpoints).values())):
            score, secs = _cue_regression(ds, d)
            for m in ms:
                rows = [_prob_row(score(samples[(m, s)][0]), samples[(m, s)][1], m, s)
                        for s in seeds]  # fmt: skip
                per_m[m].append({kk: float(np.mean([r[kk] for r in rows])) for kk in KEYS})
        results["cue head alone"] = {"kind": "alignuser", "per_m": per_m}
        print("cue head alone", per_m, f"{secs:.0f} s", flush=True)
    if args.ceiling:
        results.update(_ceiling_rows(ds, split, builder, samples, ms, seeds))
    n_users = samples[(ms[0], seeds[0])][1].shape
    lines = [
        "# Taste 1:m (Agent4Rec ML-1M split): AlignUSER variants and baselines, same items",
        "",
        f"Command: `python {' '.join(sys.argv)}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs (shared), no GPU; "
        f"{time.time() - t0:.0f} s; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.  ",
        f"Users: {'all' if users is None else len(users)}; sample seeds {args.seeds}; "
        f"pairs at m={ms[0]}: {n_users[0]}. AlignUSER cells: mean +- std over training seeds "
        "(each the mean over sample seeds); baselines: over sample seeds. `lm_auc`: the LM's "
        "own part of the watch logit; `cue_auc`: the cue head's part; thresholded: "
        "P(watch) >= 0.5 (baselines: their deterministic rule).",
        "",
    ]
    for m in ms:
        lines += [f"## 1:{m}", "", "| policy | " + " | ".join(KEYS) + " |",
                  "|---|" + "---:|" * len(KEYS)]  # fmt: skip
        for name, r in results.items():
            rows = r["per_m"][m]
            label = (f"alignuser: {name} ({len(rows)} seeds)" if r["kind"] == "alignuser"
                     else name)  # fmt: skip
            lines.append(f"| {label} | " + " | ".join(_cell([x[k] for x in rows]) for k in KEYS)
                         + " |")  # fmt: skip
        lines.append("")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
