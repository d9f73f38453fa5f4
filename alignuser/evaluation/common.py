"""What the protocol families share: data folder, line-up, status rows, tables, figures.

* :func:`shared_data`: the shared datasets folder (``$ALIGNUSER_SHARED_DATA``, default
  ``../shared/data``) every protocol reads its default dataset from;
* :data:`PROTOCOL_POLICIES`: the policy line-up the runners of
  :mod:`~alignuser.evaluation.suite` (and macro fidelity) use by default;
* status rows: :func:`not_run_row` (a policy that could not be evaluated),
  :func:`with_not_run` (``status`` column and the learned policy's "not run" row of a
  summary), :func:`chat_status` (what the ``chat`` baseline lacks and its fallback count);
* :func:`data_table`: one row saying which data and split a protocol ran on;
* :func:`write_tables` and :func:`run_meta`: ``<out>/<name>.json`` and ``<out>/<name>.md``
  with the command, wall time and machine;
* :func:`pyplot` and :func:`png_base64`: matplotlib on the Agg backend and a figure saved as
  PNG and embedded as base64 (``report.html`` and its panels).

Example:
    >>> import pandas as pd
    >>> table = pd.DataFrame({"policy": ["random"], "top1": [0.25]})
    >>> with_not_run(table, None, ["random", "alignuser"])["status"].tolist()
    ['ok', 'not run: no --alignuser-checkpoint']
"""

from __future__ import annotations

import base64
import io
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

__all__ = [
    "CHAT_NOTES",
    "FLOAT_FORMAT",
    "PROTOCOL_POLICIES",
    "chat_status",
    "data_table",
    "not_run_row",
    "png_base64",
    "pyplot",
    "run_meta",
    "shared_data",
    "with_not_run",
    "write_tables",
]

#: The policy line-up every runner uses by default (names of ``build_policies``).
PROTOCOL_POLICIES = ("random", "popularity", "mf", "choice", "choice_default", "alignuser")


def shared_data() -> Path:
    """The shared datasets folder (``$ALIGNUSER_SHARED_DATA`` or ``../shared/data``)."""
    return Path(os.environ.get("ALIGNUSER_SHARED_DATA", "../shared/data")).resolve()


def not_run_row(policy: str, reason: str, **keys: Any) -> dict[str, Any]:
    """A clearly labelled row for a policy that could not be evaluated."""
    return {"policy": policy, **keys, "status": f"not run: {reason}"}


def with_not_run(table, checkpoint: str | None, policies, **keys):
    """``table`` with ``status`` "ok", plus an ``alignuser`` "not run" row when it is missing.

    The row says why (no checkpoint given, or it failed to load) and carries ``keys``;
    count columns (``m``, ``n_seeds``, ``n_split``) become nullable integers.
    """
    import pandas as pd

    table = table.assign(status="ok")
    if "alignuser" in policies and "alignuser" not in set(table["policy"]):
        why = "no --alignuser-checkpoint" if not checkpoint else "checkpoint failed to load"
        row = {"policy": "alignuser", **keys, "status": f"not run: {why}"}
        table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
    for col in ("m", "n_seeds", "n_split"):
        if col in table:
            table[col] = table[col].astype("Int64")
    return table


#: What the ``chat`` baseline cannot provide, per protocol (its summary row's status).
CHAT_NOTES = {
    "taste": "no probabilities: AUC of its 0/1 decisions",
    "rating": "rating from one answer; items it skipped get the midpoint (see rated_share)",
    "next_action": "scores are its 0/1 watches (random tie-break); exits from its answers",
    "replay": "one answer per page",
    "likeness": "one answer per page",
}


def chat_status(table, pols, protocol: str):
    """Mark the ``chat`` rows of a summary: what it lacks and its fallback count."""
    pols = [p for p in pols if p is not None]
    if not pols or "policy" not in table or "status" not in table:
        return table
    total = {k: sum(int(p.stats.get(k, 0)) for p in pols if hasattr(p, "stats"))
             for k in ("fallbacks", "parse_failures", "errors")}  # fmt: skip
    note = (f"ok ({CHAT_NOTES[protocol]}; {total['fallbacks']} page(s) fell back to random "
            f"after {total['parse_failures']} unparseable answer(s) and {total['errors']} "
            "model error(s))")  # fmt: skip
    table = table.copy()
    table.loc[table["policy"] == "chat", "status"] = note
    return table


#: Number format of a protocol's Markdown tables (default ``.3f``).
FLOAT_FORMAT = {"off_policy": ".5f"}  # CTRs of 0.4-0.7 %: 3 decimals would hide them


def write_tables(out: Path, name: str, tables: dict, meta: dict) -> Path:
    """Write ``<out>/<name>.json`` (records + meta) and ``<out>/<name>.md``; returns the md."""
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "meta": meta,
        **{k: json.loads(t.to_json(orient="records")) for k, t in tables.items()},
    }
    (out / f"{name}.json").write_text(json.dumps(payload, indent=1))
    lines = [f"## {name}", "", f"`{meta.get('command', '')}` ({meta.get('seconds', 0):.0f} s)", ""]
    if meta.get("note"):
        lines += [f"Note: {meta['note']}.", ""]
    for k, t in tables.items():
        fmt = FLOAT_FORMAT.get(name, ".3f")
        lines += [f"### {k}", "", t.to_markdown(index=False, floatfmt=fmt), ""]
    md = out / f"{name}.md"
    md.write_text("\n".join(lines))
    return md


def run_meta(command: str, start: float, **extra) -> dict:
    """The ``meta`` of :func:`write_tables`: command, seconds since ``start``, machine."""
    return {
        "command": command,
        "seconds": time.perf_counter() - start,
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu",
        **extra,
    }


def data_table(ed):
    """One row saying which data and split a protocol ran on."""
    import pandas as pd

    sp = ed.split
    row = {"dataset": ed.dataset.name, "source": ed.source, "split": ed.split_label,
           "users": ed.dataset.n_users, "items": ed.dataset.n_items}  # fmt: skip
    if sp is not None:
        row.update(train=len(sp.train), valid=len(sp.valid) if sp.valid is not None else 0,
                   test=len(sp.test))  # fmt: skip
    else:
        row["impressions"] = len(ed.dataset.impressions)
    return pd.DataFrame([row])


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def png_base64(fig, path: Path) -> str:
    """Save ``fig`` as PNG at ``path`` (folders created), close it; the PNG as base64 text."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    pyplot().close(fig)
    return base64.b64encode(buf.getvalue()).decode()
