"""Policy through its LangChain tool vs ``decide()`` directly (ChoiceModelPolicy).

Run: ``python benchmarks/tool_overhead.py`` (writes benchmarks/results/tool_overhead.md).

Direct and tool calls are interleaved in rounds; the best per-call time (timeit's advice on a
loaded machine) and the median are reported. Overhead is compared with the policy call alone
(conservative: a real step also retrieves memories and asks the recommender).
"""

import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from alignuser.policy import ChoiceModelPolicy
from alignuser.policy.tools import StateBatch, make_policy_tool, state_to_dict
from alignuser.testing.policies import random_page_states

SIZES = (1, 64, 1024)
REPS = {1: 3000, 64: 400, 1024: 60}


def _times_ms(fn, reps):
    """Per-call wall times in ms (after a short warm-up)."""
    for _ in range(max(3, reps // 20)):
        fn()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return out


class _NoOp:
    """A policy that does nothing: the tool's fixed cost alone."""

    name = "noop"

    def decide(self, states, rng):
        return []


def _measure(n, policy, tool, rng):
    states = random_page_states(np.random.default_rng(n), n, items=(10, 10))
    batch, dicts = StateBatch(states), [state_to_dict(s) for s in states]
    noop_tool = make_policy_tool(_NoOp(), np.random.default_rng(0))
    calls = {
        "direct": lambda: policy.decide(states, rng),
        "tool": lambda: tool.invoke({"batch": batch}),
        "noop": lambda: noop_tool.invoke({"batch": batch}),
        "json": lambda: tool.invoke({"states": dicts, "return_dicts": True}),
    }
    times = {k: [] for k in calls}
    for _ in range(5):  # interleaved rounds: background load hits every variant alike
        for k, fn in calls.items():
            times[k] += _times_ms(fn, REPS[n] // 5 if k != "json" else max(2, REPS[n] // 50))
    return {k: (min(v), statistics.median(v)) for k, v in times.items()}


def main() -> str:
    policy = ChoiceModelPolicy()
    rng = np.random.default_rng(0)
    tool = make_policy_tool(policy, np.random.default_rng(0))
    rows = []
    for n in SIZES:
        m = _measure(n, policy, tool, rng)
        (d, dm), (t, tm), (j, _), (z, _) = m["direct"], m["tool"], m["json"], m["noop"]
        rows.append(f"| {n} | {d:.3f} ({dm:.3f}) | {t:.3f} ({tm:.3f}) | {t - d:.3f} "
                    f"| {100 * (t - d) / d:.1f}% | {z:.3f} | {100 * z / d:.1f}% "
                    f"| {j:.2f} |")  # fmt: skip
    lines = [
        "# Policy tool overhead (ChoiceModelPolicy, 10 items per page)",
        "",
        f"Command: `{' '.join([Path(sys.executable).name, *sys.argv])}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"numpy {np.__version__}, langchain-core {_version('langchain-core')}  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average "
        f"{os.getloadavg()[0]:.1f} at the end (machine shared with other jobs).",
        "",
        "Best per-call time in ms (median in brackets). Overhead two ways: best tool minus best"
        " decide(), and the tool's fixed cost measured alone (same tool around a no-op policy,"
        " same StateBatch), which is not drowned by the noise of large batches.",
        "",
        "| batch | decide() ms | tool, StateBatch ms | tool - decide ms | % of decide "
        "| tool fixed cost ms | % of decide | tool, JSON dicts ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]
    return "\n".join(lines) + "\n"


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


if __name__ == "__main__":
    table = main()
    print(table)
    out = Path(__file__).resolve().parent / "results" / "tool_overhead.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table)
