"""A recommender's manifest entry: its shards' entries merged, judged; the run's status.

:func:`merge_shards` makes one entry from the entries of a recommender's shards (run here or
on Ray), :func:`judge_entry` sets its ``status`` from the share of failed sessions, and
:func:`run_status` gives the run's status from its recommenders'.

Example:
    >>> judge_entry({"sessions": 10, "failed_sessions": 1}, max_failed_share=0.5)["status"]
    'partial'
    >>> run_status({"a": {"status": "complete"}, "b": {"status": "failed"}})
    'partial'
"""

from __future__ import annotations

__all__ = ["FINISHED", "judge_entry", "merge_shards", "run_status"]


def merge_shards(label: str, name: str, shards: list[dict], wall_s: float) -> dict:
    """One manifest entry for a recommender from its shards' entries."""
    pages = sum(s["agent_pages"] for s in shards)
    parts: dict[str, float] = {}
    for s in shards:
        for k, v in s["part_seconds"].items():
            parts[k] = round(parts.get(k, 0.0) + v, 3)
    resumed = [s["resumed_from_step"] for s in shards if s["resumed_from_step"] is not None]
    entry = {
        "label": label,
        "name": name,
        "status": "complete",
        "resumed_from_step": min(resumed) if resumed else None,
        "fit_seconds": round(max(s["fit_seconds"] for s in shards), 3),
        "simulate_seconds": round(wall_s, 3),
        "steps": max(s["steps"] for s in shards),
        "agent_pages": pages,
        "agent_pages_per_second": round(pages / wall_s, 1) if wall_s else None,
        "unfinished_sessions": sum(s["unfinished_sessions"] for s in shards),
        "part_seconds": parts,
        "faults": sum(s["faults"] for s in shards),
        "fault_list": [f for s in shards for f in s["fault_list"]][:1000],
        "sessions": sum(s.get("sessions", 0) for s in shards),
        "failed_sessions": sum(s.get("failed_sessions", 0) for s in shards),
        "first_error": next((s["first_error"] for s in shards if s.get("first_error")), None),
    }
    if len(shards) > 1:
        entry["shards"] = [
            {k: s[k] for k in ("shard", "agents", "steps", "faults", "simulate_seconds")}
            for s in shards
        ]
    return entry


#: Statuses of a recommender that has finished running (a resume skips it).
FINISHED = ("complete", "partial", "failed")


def judge_entry(entry: dict, max_failed_share: float) -> dict:
    """Set a recommender's ``status`` from the share of its sessions that failed.

    ``complete``: none failed; ``partial``: some, at most ``max_failed_share`` (ranked, with
    a warning); ``failed``: more, or no session at all (left out of the ranking). Sets
    ``failed_share`` too.
    """
    sessions, failed = entry.get("sessions", 0), entry.get("failed_sessions", 0)
    share = failed / sessions if sessions else 1.0
    entry["failed_share"] = round(share, 4)
    if not sessions or share > max_failed_share:
        entry["status"] = "failed"
    else:
        entry["status"] = "partial" if failed else "complete"
    return entry


def run_status(entries: dict[str, dict]) -> str:
    """The run's status from its recommenders'.

    ``failed`` when all failed, ``partial`` when any failed or partly failed, else
    ``complete``.
    """
    statuses = [e.get("status", "complete") for e in entries.values()]
    if statuses and all(s == "failed" for s in statuses):
        return "failed"
    return "partial" if any(s in ("failed", "partial") for s in statuses) else "complete"
