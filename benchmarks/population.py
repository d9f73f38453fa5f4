"""Population throughput: agent-pages per second and time per part, for several sizes.

Usage:
    python benchmarks/population.py --agents 1000 10000 [--memory chroma] [--policy choice]
        [--recommender ease] [--shards 1] [--engine local|ray]
        [--out benchmarks/results/population.md]

Each size runs the synthetic world with as many users as agents, one session of up to 5
pages of 4 items per agent, and reports: wall time, agent-pages/s, seconds per part
(recommender, memory, policy, mesa+rest = the rest of the step: Mesa's own code, agent loop,
state building, outputs; ``benchmarks/scale.py`` splits Mesa's own part out), the LangChain tool's share of the run (its fixed cost per call, measured on a no-op
policy, times the number of calls), and peak RSS of the process so far.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def tool_fixed_cost(n: int = 2000) -> float:
    """Seconds per call that the LangChain tool adds over a direct call."""
    from alignuser.policy.tools import StateBatch, make_policy_tool

    class Noop:
        name = "noop"

        def decide(self, states, rng):
            return []

    tool = make_policy_tool(Noop(), np.random.default_rng(0))
    batch = StateBatch([])
    tool.invoke({"batch": batch})
    t0 = time.perf_counter()
    for _ in range(n):
        tool.invoke({"batch": batch})
    return (time.perf_counter() - t0) / n


def run_size(n_agents: int, args) -> dict:
    from alignuser.scenario import Scenario
    from alignuser.simulation.outputs import read_manifest
    from alignuser.simulation.runner import run

    out = Path(tempfile.mkdtemp(prefix=f"bench-{n_agents}-"))
    s = Scenario.model_validate(
        {
            "name": f"bench-{n_agents}",
            "seed": 0,
            "dataset": {
                "source": "synthetic",
                "synthetic": {"n_users": n_agents, "n_items": args.items, "sessions_per_user": 2},
            },
            "population": {"n_agents": n_agents},
            "memory": {"backend": args.memory, "top_k": 2, "recent_k": 3},
            "policy": {
                "name": args.policy,
                **({"checkpoint": args.checkpoint} if args.checkpoint else {}),
            },
            "recommenders": [{"name": args.recommender}],
            "session": {"items_per_page": 4, "max_pages": 5},
            "output": {"dir": str(out), "report": False},
            "engine": {"kind": args.engine, "shards": args.shards},
        }
    )
    t0 = time.perf_counter()
    run_dir = run(s, out / "run")
    wall = time.perf_counter() - t0
    m = read_manifest(run_dir)
    rec = m["recommenders"][args.recommender]
    parts = rec["part_seconds"]
    return {
        "agents": n_agents,
        "wall_s": wall,
        "prepare_s": m["prepare_seconds"],
        "fit_s": rec["fit_seconds"],
        "simulate_s": rec["simulate_seconds"],
        "steps": rec["steps"],
        "agent_pages": rec["agent_pages"],
        "pages_per_s": rec["agent_pages"] / rec["simulate_seconds"],
        **{f"{k}_s": v for k, v in parts.items()},
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agents", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--items", type=int, default=2000)
    p.add_argument("--memory", default="chroma", choices=["chroma", "inmemory"])
    p.add_argument("--policy", default="choice")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--recommender", default="ease")
    p.add_argument("--shards", type=int, default=1, help="population shards (engine.shards)")
    p.add_argument("--engine", default="local", choices=["local", "ray"])
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.engine == "ray":
        import ray

        ray.init(include_dashboard=False, log_to_driver=False)
    tool_s = tool_fixed_cost()
    rows = [run_size(n, args) for n in args.agents]
    head = (
        "| agents | agent-pages | steps | simulate s | agent-pages/s | recommender s | memory s "
        "| policy s | mesa+rest s | tool share of step | peak RSS GiB |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        share = tool_s * r["steps"] / r["simulate_s"]
        lines.append(
            f"| {r['agents']:,} | {r['agent_pages']:,} | {r['steps']} | {r['simulate_s']:.1f} | {r['pages_per_s']:,.0f} "
            f"| {r['recommender_s']:.2f} | {r['memory_s']:.2f} | {r['policy_s']:.2f} "
            f"| {r['mesa_s'] + r.get('step_code_s', 0.0):.2f} "
            f"| {100 * share:.3f}% | {r['peak_rss_gib']:.2f} |"
        )
    cmd = (
        "python benchmarks/"
        + Path(__file__).name
        + " "
        + " ".join(argv if argv is not None else sys.argv[1:])
    )
    text = "\n".join(
        [
            f"# Population throughput ({args.policy} policy, {args.memory} memory, {args.recommender}, 4 items/page, up to 5 pages, engine {args.engine}, {args.shards} shard(s))",
            "",
            f"Command: `{cmd.strip()}`  ",
            f"Machine: {platform.machine()}, {platform.system()}, {__import__('os').cpu_count()} CPUs, Python {platform.python_version()}  ",
            f"LangChain tool fixed cost: {1e3 * tool_s:.3f} ms per call (one call per step).",
            "",
            *lines,
            "",
        ]
    )
    print(text)
    if args.out:
        args.out.write_text(text)
    return text


if __name__ == "__main__":
    main()
