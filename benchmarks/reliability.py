"""Bad inputs tried on the command line: clear errors, tracebacks, silent acceptances.

Run: ``python benchmarks/reliability.py [--out benchmarks/results/reliability.md]``.

Every case of :data:`alignuser.testing.bad_inputs.CASES` (also run as tests by
``tests/test_bad_inputs.py``) is built in a scratch folder and run through the ``alignuser``
command line in this process: malformed scenarios and overrides, unknown registry names and
plug-in params, unreadable files, output folders that cannot be written, bad data files,
damaged run folders, and a recommender service on 127.0.0.1 that always answers badly. The
table counts, by category, the cases tried, those that ended with a clear error (non-zero
exit, no traceback, the expected words), an unclear one, a traceback, or silence (exit 0).
"""

import argparse
import datetime as dt
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from alignuser.testing.bad_inputs import CASES, Workspace, try_case

OUTCOMES = ("clear", "unclear", "traceback", "silent")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="Also write the table here.")
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)  # the faults' own log lines are not what is measured
    results = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(tmp)
        try:
            for case in CASES:
                t = time.perf_counter()
                res = try_case(case, ws)
                results.append((res, time.perf_counter() - t))
        finally:
            ws.close()
    total_s = time.perf_counter() - t0
    cats = list(dict.fromkeys(c.category for c in CASES))
    lines = [
        "| category | tried | clear error | unclear | traceback | silent |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for cat in [*cats, "all"]:
        rows = [r for r, _ in results if cat in ("all", r.case.category)]
        counts = [sum(r.outcome == o for r in rows) for o in OUTCOMES]
        name = f"**{cat}**" if cat == "all" else cat
        lines.append(f"| {name} | {len(rows)} | " + " | ".join(map(str, counts)) + " |")
    detail = ["| category | case | outcome | exit | seconds |", "|---|---|---|---:|---:|"]
    for r, s in results:
        note = f" (missing: {', '.join(r.missing)})" if r.missing else ""
        detail.append(
            f"| {r.case.category} | {r.case.name} | {r.outcome}{note} | {r.exit_code} | {s:.2f} |"
        )
    bad = [r for r, _ in results if r.outcome != "clear"]
    text = "\n".join(
        [
            "# Reliability: bad inputs on the command line",
            "",
            "Command: `python benchmarks/reliability.py --out benchmarks/results/reliability.md`  ",
            f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}  ",
            f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {len(results)} cases in "
            f"{total_s:.1f} s; load average {os.getloadavg()[0]:.1f} at the end (machine "
            "shared with other jobs).",
            "",
            "Each case runs through the `alignuser` command line in this process (typer's test runner, not a subprocess). A case is a *clear error* when the command exits non-zero (2 for a user mistake, "
            "1 for a run whose recommender failed), prints no traceback, and its message has "
            "the expected words (file, key, fix); *unclear* when it exits non-zero without "
            "them; *silent* when it exits 0.",
            "",
            *lines,
            "",
            "## Cases",
            "",
            *detail,
            "",
        ]
    )
    print(text)
    for r in bad:
        print(f"--- {r.case.category}: {r.case.name}: {r.outcome}\n{r.output[-2000:]}",
              file=sys.stderr)  # fmt: skip
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
