"""The scale suite (issue 6): throughput, parts, Mesa overhead, RSS and batching, per size.

Usage:
    python benchmarks/scale.py --agents 1000 10000 100000 [--policy choice]
        [--policy alignuser --checkpoint DIR] [--memory chroma] [--recommender ease]
        [--sample-states 300] [--out benchmarks/results/scale.md]

Each size runs in its own Python process (so peak RSS is that size's own): the synthetic
world with as many users as agents, one session of up to 5 pages of 4 items per agent,
Chroma-backed memory (write-behind: the store lives in a child process) and a fitted
recommender. Reported per size:

* agent-pages/s over the simulation loop (every step plus its checkpoint, i.e. including
  the wait for that step's memories to be durable in Chroma), and the whole run's wall time
  (data, personas, fit, history memories, simulation, metrics);
* seconds per part: policy, memory (retrieval + queuing writes), recommender, Mesa's own
  overhead, our step code, checkpoint (memory flush + state file). **Mesa's own** is the time
  spent inside Mesa's code, measured by timers around each Mesa call: ``DataCollector.collect``
  and the ``Model.step`` wrapper (wall time of ``model.step()`` minus our step body) per step;
  ``Model``/``Agent`` construction and registration once (``mesa setup``);
* cost per agent-page: wall ms and CPU ms (this process plus its children, i.e. the Chroma
  process), the latter less sensitive to other load on the machine;
* peak RSS of the simulation process and of the Chroma process (``ru_maxrss``);
* batched vs one-by-one decisions, in the same run: the states of sampled steps are kept;
  after the run the policy decides the whole step batch in one call, and a sample of the same
  states one state per call (both through the LangChain tool, as in the simulation, and
  directly); the speed-up is the ratio of the per-state costs.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _cpu_seconds() -> float:
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _batching(policy, kept: dict[int, list], sample: int, seed: int = 0) -> dict:
    """Per-state cost of one batched call vs one call per state, on the kept steps."""
    from alignuser.policy.tools import StateBatch, make_policy_tool

    rng = np.random.default_rng(seed)
    tool = make_policy_tool(policy, rng)
    out = {"steps": sorted(kept), "batch_states": 0, "single_states": 0}
    t_batch = t_single = t_batch_direct = t_single_direct = 0.0
    for states in kept.values():
        if not states:
            continue
        t0 = time.perf_counter()
        tool.invoke({"batch": StateBatch(states)})
        t_batch += time.perf_counter() - t0
        t0 = time.perf_counter()
        policy.decide(states, rng)
        t_batch_direct += time.perf_counter() - t0
        idx = np.random.default_rng(seed).choice(len(states), min(sample, len(states)), False)
        some = [states[i] for i in np.sort(idx)]
        t0 = time.perf_counter()
        for st in some:
            tool.invoke({"batch": StateBatch([st])})
        t_single += time.perf_counter() - t0
        t0 = time.perf_counter()
        for st in some:
            policy.decide([st], rng)
        t_single_direct += time.perf_counter() - t0
        out["batch_states"] += len(states)
        out["single_states"] += len(some)
    nb, ns = max(out["batch_states"], 1), max(out["single_states"], 1)
    out["batch_ms_per_state"] = 1e3 * t_batch / nb
    out["single_ms_per_state"] = 1e3 * t_single / ns
    out["speedup"] = (t_single / ns) / max(t_batch / nb, 1e-12)
    out["speedup_direct"] = (t_single_direct / ns) / max(t_batch_direct / nb, 1e-12)
    return out


def run_one_size(args) -> dict:
    """One size, in this process (called through ``--one``)."""
    import alignuser.simulation.runner as runner
    import alignuser.simulation.shards as shards
    from alignuser.scenario import Scenario
    from alignuser.simulation.outputs import read_manifest

    n = args.one
    out = Path(tempfile.mkdtemp(prefix=f"scale-{n}-"))
    kept: dict[int, list] = {}
    sample_steps = set(args.sample_steps)
    policies: list = []
    real_decider = shards.policy_decider

    def keeping_decider(policy, rng):
        policies.append(policy)
        decide = real_decider(policy, rng)
        step = [0]

        def call(states):
            if step[0] in sample_steps:
                kept[step[0]] = list(states)
            step[0] += 1
            return decide(states)

        return call

    shards.policy_decider = keeping_decider
    gc_s = [0.0, 0.0]

    def gc_timer(phase, info):
        if phase == "start":
            gc_s[1] = time.perf_counter()
        else:
            gc_s[0] += time.perf_counter() - gc_s[1]

    gc.callbacks.append(gc_timer)
    s = Scenario.model_validate(
        {
            "name": f"scale-{n}",
            "seed": 0,
            "dataset": {
                "source": "synthetic",
                "synthetic": {"n_users": n, "n_items": args.items, "sessions_per_user": 2},
            },
            "population": {"n_agents": n},
            "memory": {
                "backend": args.memory,
                "top_k": 2,
                "recent_k": 3,
                **({"hnsw": json.loads(args.hnsw)} if args.hnsw else {}),
            },
            "policy": {
                "name": args.policy,
                **({"checkpoint": args.checkpoint} if args.checkpoint else {}),
            },
            "recommenders": [{"name": args.recommender}],
            "session": {"items_per_page": 4, "max_pages": 5},
            "output": {"dir": str(out), "report": False},
        }
    )
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    run_dir = runner.run(s, out / "run")
    wall = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    shards.policy_decider = real_decider
    m = read_manifest(run_dir)
    rec = m["recommenders"][args.recommender]
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    # the Chroma process's own peak (VmHWM; ru_maxrss of children would count the pages
    # a forked child shares with this process before it execs)
    child_rss = (rec.get("memory_store_peak_rss_bytes") or 0) / 2**30
    row = {
        "agents": n,
        "wall_s": wall,
        "cpu_s": cpu,
        "prepare_s": m["prepare_seconds"],
        "fit_s": rec["fit_seconds"],
        "simulate_s": rec["simulate_seconds"],
        "simulate_cpu_s": rec.get("simulate_cpu_seconds"),
        "steps": rec["steps"],
        "agent_pages": rec["agent_pages"],
        "parts": rec["part_seconds"],
        "rss_gib": self_rss,
        "child_rss_gib": child_rss,
        "load": os.getloadavg(),
        "gc_s": gc_s[0],
    }
    if policies and kept:
        row["batching"] = _batching(policies[0], kept, args.sample_states)
    return row


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agents", type=int, nargs="+", default=[1000, 10000, 100000])
    p.add_argument("--items", type=int, default=2000)
    p.add_argument("--memory", default="chroma", choices=["chroma", "inmemory"])
    p.add_argument("--policy", default="choice", help="choice | alignuser | any registered")
    p.add_argument("--checkpoint", default=None, help="policy checkpoint (alignuser)")
    p.add_argument("--recommender", default="ease")
    p.add_argument("--hnsw", default=None, help="memory.hnsw as JSON (default: scenario's)")
    p.add_argument("--sample-steps", type=int, nargs="+", default=[1, 3])
    p.add_argument("--sample-states", type=int, default=300, help="one-by-one sample per step")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one is not None:
        print("SCALE-ROW " + json.dumps(run_one_size(args)))
        return ""
    rows = []
    for n in args.agents:
        cmd = [sys.executable, __file__, "--one", str(n), *_passthrough(args)]
        res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ})
        line = [x for x in res.stdout.splitlines() if x.startswith("SCALE-ROW ")]
        if res.returncode or not line:
            sys.stderr.write(res.stdout[-3000:] + res.stderr[-5000:])
            raise SystemExit(f"size {n} failed (exit {res.returncode})")
        rows.append(json.loads(line[0][len("SCALE-ROW ") :]))
        print(_row(rows[-1]), flush=True)
    text = _report(args, rows, argv)
    if args.out:
        args.out.write_text(text)
    print(text)
    return text


def _passthrough(args) -> list[str]:
    out = ["--items", str(args.items), "--memory", args.memory, "--policy", args.policy]
    out += ["--recommender", args.recommender, "--sample-states", str(args.sample_states)]
    out += ["--sample-steps", *map(str, args.sample_steps)]
    if args.checkpoint:
        out += ["--checkpoint", args.checkpoint]
    if args.hnsw:
        out += ["--hnsw", args.hnsw]
    return out


HEAD = (
    "| agents | agent-pages | simulate s | agent-pages/s | policy s | memory s | recommender s "
    "| Mesa own s (share of step) | step code s | checkpoint s | mesa setup s | wall ms/page "
    "| loop CPU ms/page | run CPU ms/page | run wall s | GC s (whole run) | peak RSS GiB (sim + Chroma) | load avg |\n"
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def _ms(seconds, pages: int) -> str:
    return "-" if seconds is None else f"{1e3 * seconds / pages:.3f}"


def _row(r: dict) -> str:
    pt = r["parts"]
    pages = max(r["agent_pages"], 1)
    share = pt["mesa"] / max(pt["total"], 1e-12)
    return (
        f"| {r['agents']:,} | {r['agent_pages']:,} | {r['simulate_s']:.1f} "
        f"| {r['agent_pages'] / r['simulate_s']:,.0f} | {pt['policy']:.2f} | {pt['memory']:.2f} "
        f"| {pt['recommender']:.2f} | {pt['mesa']:.3f} ({100 * share:.2f}%) "
        f"| {pt['step_code']:.2f} | {pt['checkpoint']:.2f} | {pt['mesa_setup']:.2f} "
        f"| {1e3 * r['simulate_s'] / pages:.3f} "
        f"| {_ms(r.get('simulate_cpu_s'), pages)} | {1e3 * r['cpu_s'] / pages:.3f} "
        f"| {r['wall_s']:.0f} | {r.get('gc_s', 0.0):.1f} "
        f"| {r['rss_gib']:.2f} + {r['child_rss_gib']:.2f} "
        f"| {r['load'][0]:.1f} |"
    )


def _report(args, rows: list[dict], argv) -> str:
    cmd = "python benchmarks/scale.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        f"# Scale suite ({args.policy} policy, {args.memory} memory, {args.recommender}, "
        "4 items/page, up to 5 pages" + (f", Chroma HNSW {args.hnsw}" if args.hnsw else "") + ")",
        "",
        f"Command: `{cmd.strip()}`  ",
        f"Machine: {platform.machine()}, {platform.system()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; load average at the end of each size in the "
        "last column (above the CPU count: measured under contention).  ",
        "Date: " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "",
        HEAD,
        *[_row(r) for r in rows],
        "",
        "Parts are summed over steps. *simulate s* = the step loop including checkpoints; "
        "*checkpoint* = waiting for the step's Chroma writes (child process) plus the state "
        "file; *Mesa own* = DataCollector.collect + the Model.step wrapper (share: of the "
        "step body); *mesa setup* = Model/Agent construction and registration (once). "
        "*loop CPU ms/page*: CPU of the step loop (simulation process and Chroma process) per "
        "agent-page, less sensitive to other load than wall time; *run CPU ms/page*: the whole "
        "run's CPU (data, personas, fit, memory seeding, metrics included) per agent-page.",
        "",
        "## Batched vs one-by-one policy decisions (same run, sampled steps)",
        "",
        "| agents | steps | batch states | batch ms/state | one-by-one states | "
        "one-by-one ms/state | speed-up (tool) | speed-up (direct) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        b = r.get("batching")
        if not b:
            continue
        lines.append(
            f"| {r['agents']:,} | {b['steps']} | {b['batch_states']:,} "
            f"| {b['batch_ms_per_state']:.4f} | {b['single_states']:,} "
            f"| {b['single_ms_per_state']:.3f} | {b['speedup']:,.0f}x "
            f"| {b['speedup_direct']:,.0f}x |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
