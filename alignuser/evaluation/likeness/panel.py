"""The human-likeness panel of ``report.html``: discriminator AUC per policy, what gives it away.

When a run folder holds ``likeness.json`` (``alignuser eval likeness --out RUN_DIR``, which
compares held-out humans with each policy on the pages the humans saw), the report shows
each policy's AUC with its 95% interval as a bar chart (0.5: indistinguishable from the
humans) and a table with the features that give the simulated sessions away. Without the
file the panel says how to add it.

Example:
    >>> html = likeness_panel("runs/my-run", Path("runs/my-run/figures"))  # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["likeness_panel"]

HINT = ("<p>No held-out humans compared with this run. Add the panel with "
        "<code>alignuser eval likeness --data DATA --out RUN_DIR</code>, then "
        "<code>alignuser report RUN_DIR</code>.</p>")  # fmt: skip


def _figure(summary: pd.DataFrame, out: Path) -> str:
    from alignuser.evaluation.common import png_base64, pyplot

    plt = pyplot()
    ok = summary[summary["auc"].notna()]
    labels = [f"{d}\n{p}" for d, p in zip(ok["dataset"], ok["policy"])]
    v = ok["auc"].to_numpy(float)
    lo = np.clip(np.nan_to_num(v - ok["ci_low"].to_numpy(float)), 0, None)
    hi = np.clip(np.nan_to_num(ok["ci_high"].to_numpy(float) - v), 0, None)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(ok)), 3.6))
    ax.bar(range(len(ok)), v, yerr=[lo, hi], capsize=4, color="#a85848")
    ax.axhline(0.5, color="k", lw=1, ls="--")
    ax.set_xticks(range(len(ok)), labels, rotation=30, ha="right", fontsize=8)
    ax.set(ylim=(0.4, 1.0), ylabel="discriminator AUC",
           title="Real vs simulated sessions (0.5 = indistinguishable; 95% CI)")  # fmt: skip
    fig.tight_layout()
    return png_base64(fig, out)


def likeness_panel(run_dir: str | Path, figs: Path) -> str:
    """HTML of the panel (a hint when the run folder has no ``likeness.json``).

    Raises:
        ValueError: When ``likeness.json`` is not a likeness table.
    """
    path = Path(run_dir) / "likeness.json"
    head = "<h2>Human-likeness: can a classifier tell the simulated users from real ones?</h2>"
    if not path.is_file():
        return head + HINT
    doc = json.loads(path.read_text(encoding="utf-8"))
    summary = pd.DataFrame(doc.get("summary") or [])
    need = {"dataset", "policy", "auc", "ci_low", "ci_high"}
    if not need <= set(summary.columns):
        raise ValueError(f"{path}: not a likeness table (missing {sorted(need - set(summary))})")
    img = _figure(summary, figs / "likeness.png") if summary["auc"].notna().any() else ""
    cols = [c for c in ("dataset", "policy", "auc", "ci_low", "ci_high", "n_real", "n_sim",
                        "gives_away", "status") if c in summary]  # fmt: skip
    cmd = html.escape(str((doc.get("meta") or {}).get("command", "alignuser eval likeness")))
    table = summary[cols].to_html(index=False, float_format=lambda x: f"{x:.3f}", na_rep="")
    pic = f'<img alt="likeness" src="data:image/png;base64,{img}">' if img else ""
    return (f"{head}<p>Held-out human sessions vs each policy's sessions on the same pages: "
            "out-of-fold ROC AUC of a gradient-boosting classifier (grouped by user), "
            "95% bootstrap interval over users; <code>gives_away</code> lists the features "
            f"whose shuffling costs the classifier most AUC. From <code>{cmd}</code>.</p>"
            f"{table}{pic}")  # fmt: skip
