"""How much taste evidence the Agent4Rec train split holds: collaborative scores on the 1:1 test.

For a seeded sample of users, ``10`` held-out items (valid ∪ test) against ``10`` items the
user never interacted with, the pooled AUC of collaborative scores fitted on the **train**
split only (popularity, EASE at several ridge strengths, EASE as a per-user percentile / z-score
over the catalog, the mean cosine to the history in the encoder's normalised SVD space), and a
logistic regression over all of them (5-fold cross-validated on the test pairs: an optimistic
ceiling). It bounds what a policy reading this evidence can reach on Agent4Rec's taste protocol.

Usage::

    python benchmarks/taste_cf_ceiling.py [--users 300] [--seed 0]

Writes ``benchmarks/results/taste_cf_ceiling.md``. Needs ``../shared/data/agent4rec-ml1m``.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "agent4rec-ml1m" / "cf_data"


def _load(name: str) -> dict[int, list[int]]:
    out = {}
    for line in (DATA / name).read_text().splitlines():
        p = line.split()
        if p:
            out[int(p[0])] = [int(x) for x in p[1:]]
    return out


def main() -> None:
    import scipy.sparse as sp
    from scipy.sparse.linalg import svds
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    started = time.time()
    tr, va, te = _load("train.txt"), _load("valid.txt"), _load("test.txt")
    n_users = 1 + max(tr)
    n_items = 1 + max(max(v, default=0) for d in (tr, va, te) for v in d.values())
    rows = [u for u in tr for _ in tr[u]]
    cols = [i for u in tr for i in tr[u]]
    x = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_users, n_items))
    rng = np.random.default_rng(args.seed)
    us, its, ys = [], [], []
    for u in sorted(rng.choice(n_users, args.users, replace=False)):
        held = sorted(set(va.get(u, [])) | set(te.get(u, [])))
        known = set(tr.get(u, [])) | set(held)
        n_pos = min(len(held), 10)
        pos = rng.choice(held, n_pos, replace=False)
        neg = rng.choice([i for i in range(n_items) if i not in known], n_pos, replace=False)
        for i, y in [(i, 1) for i in pos] + [(i, 0) for i in neg]:
            us.append(u), its.append(i), ys.append(y)
    u_, i_, y_ = np.array(us), np.array(its), np.array(ys)
    pop = np.asarray(x.sum(0)).ravel()
    rows_out = [("popularity (train counts)", roc_auc_score(y_, pop[i_]))]
    g = (x.T @ x).toarray()
    ease = {}
    for lam in (50, 200, 500, 1000):
        p = np.linalg.inv(g + lam * np.eye(n_items))
        b = -p / np.diag(p)
        np.fill_diagonal(b, 0)
        ease[lam] = np.asarray(x @ b)
        rows_out.append((f"EASE, lambda {lam}", roc_auc_score(y_, ease[lam][u_, i_])))
    s = ease[500]
    seen = x.toarray().astype(bool)
    pct = np.argsort(np.argsort(np.where(seen, -np.inf, s), axis=1), axis=1) / n_items
    z = (s - s.mean(1, keepdims=True)) / s.std(1, keepdims=True)
    rows_out += [
        ("EASE 500, percentile over the user's unseen items", roc_auc_score(y_, pct[u_, i_])),
        ("EASE 500, z-score over the catalog", roc_auc_score(y_, z[u_, i_])),
    ]
    ud = np.asarray(x.sum(1)).ravel()
    xn = sp.diags(1 / np.sqrt(np.maximum(ud, 1))) @ x @ sp.diags(1 / np.sqrt(np.maximum(pop, 1)))
    _, sv, vt = svds(xn, k=64, v0=np.random.default_rng(args.seed).uniform(-1, 1, min(xn.shape)))
    v = vt.T * np.sqrt(sv)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    mc = np.array([(v[tr[u]] @ v[i]).mean() for u, i in zip(u_, i_)])
    rows_out.append(("mean cosine to history, normalised SVD-64", roc_auc_score(y_, mc)))
    feats = np.c_[np.log1p(pop[i_]), s[u_, i_], pct[u_, i_], z[u_, i_], mc, np.log1p(ud[u_])]
    lr = LogisticRegression(max_iter=2000)
    pr = cross_val_predict(lr, feats, y_, cv=5, method="predict_proba")[:, 1]
    ceiling = (roc_auc_score(y_, pr), float(((pr > 0.5) == y_).mean()))
    lines = [
        "# Taste evidence in the Agent4Rec train split (collaborative scores, 1:1)",
        "",
        f"`python benchmarks/taste_cf_ceiling.py --users {args.users} --seed {args.seed}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
        f"2 shared CPUs, {time.time() - started:.0f} s). {len(y_)} pairs, pooled AUC.",
        "",
        "| score | AUC |",
        "|---|---:|",
        *[f"| {n} | {a:.3f} |" for n, a in rows_out],
        f"| logistic regression on all of them (5-fold CV on the test pairs) | {ceiling[0]:.3f} "
        f"(accuracy {ceiling[1]:.3f}) |",
    ]
    out = Path(__file__).parent / "results" / "taste_cf_ceiling.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
