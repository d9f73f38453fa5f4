"""Digest of every action a seeded simulation takes with one policy checkpoint.

Usage::

    python benchmarks/action_digest.py CHECKPOINT OUT_DIR [--agents 1000]

Runs the scale suite's world (synthetic, 2,000 items, in-memory memory, EASE, 4 items a page,
up to 5 pages, seed 0) with the learned policy of ``CHECKPOINT`` and prints the sha256 of its
events and sessions Parquet files. Run it on two revisions of the code with the same
checkpoint (``PYTHONPATH=<other checkout>`` imports the other one): the same digest means
the same decisions, item by item, rating by rating (issue 18: the speed work must not change
what the policy decides).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("out", type=Path)
    p.add_argument("--agents", type=int, default=1000)
    args = p.parse_args(argv)

    import alignuser
    from alignuser.scenario import Scenario
    from alignuser.simulation.runner import run

    n = args.agents
    s = Scenario.model_validate(
        {
            "name": "action-digest",
            "seed": 0,
            "dataset": {
                "source": "synthetic",
                "synthetic": {"n_users": n, "n_items": 2000, "sessions_per_user": 2},
            },
            "population": {"n_agents": n},
            "memory": {"backend": "inmemory", "top_k": 2, "recent_k": 3},
            "policy": {"name": "alignuser", "checkpoint": args.checkpoint},
            "recommenders": [{"name": "ease"}],
            "session": {"items_per_page": 4, "max_pages": 5},
            "output": {"dir": str(args.out), "report": False},
        }
    )
    run_dir = Path(run(s, args.out / "run"))
    files = sorted(
        f.relative_to(run_dir)
        for part in ("events", "sessions")
        for f in (run_dir / part).rglob("*.parquet")
    )
    h = hashlib.sha256()
    for f in files:
        h.update(str(f).encode())
        h.update((run_dir / f).read_bytes())
    line = f"{h.hexdigest()}  {len(files)} files  (alignuser from {Path(alignuser.__file__).parent})"
    print(line)
    return line


if __name__ == "__main__":
    main()
