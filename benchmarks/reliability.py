"""Bad inputs tried on the command line: clear errors, tracebacks, silent acceptances.

Run: ``python benchmarks/reliability.py [--out benchmarks/results/reliability.md]``
(``--only cases|kills|train|service|chroma`` runs one part).

Every case of :data:`alignuser.testing.bad_inputs.CASES` (also run as tests by
``tests/test_bad_inputs.py``) is built in a scratch folder and run through the ``alignuser``
command line in this process: malformed scenarios and overrides, unknown registry names and
plug-in params, unreadable files, output folders that cannot be written, bad data files,
damaged run folders, and a recommender service on 127.0.0.1 that always answers badly. The
table counts, by category, the cases tried, those that ended with a clear error (non-zero
exit, no traceback, the expected words), an unclear one, a traceback, or silence (exit 0).

``kills``: a sharded run (2 shards, 2 recommenders, embedded Chroma) as a real ``alignuser
run`` process, killed with SIGKILL at three moments, resumed with ``alignuser run --resume``;
its events, sessions and series are compared with an uninterrupted run's (rows and a
checksum).

``train``: ``alignuser train`` on a small synthetic world (a tiny base, ``OUT/last`` saved
after every step) as a real process group, killed with SIGKILL at three moments (stage 1,
early stage 2, late stage 2, read from ``OUT/last/trainer_state.json``), then the same
command run again, which resumes from ``OUT/last``; the final ``policy/`` tensors
(safetensors) and the watch scores on held-out states are compared with those of an
uninterrupted run.

``service``: an ``http`` recommender on 127.0.0.1 serving the ``popular`` model, with a
fault every few calls (HTTP 500, a stall past the client's timeout, a dropped connection);
the run's events are compared with those of ``popular`` in process (same agents, same
seed), and the faults counted.

``chroma``: the run's memories in a ``chroma run`` server that is killed (SIGKILL) mid-run:
what the command says, then the server started again on the same store and the run
resumed, compared with an uninterrupted run against a fresh server.
"""

import argparse
import datetime as dt
import hashlib
import json
import logging
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from alignuser.testing.bad_inputs import CASES, Workspace, try_case

OUTCOMES = ("clear", "unclear", "traceback", "silent")
ROOT = Path(__file__).resolve().parents[1]


KILL_SCENARIO = {
    "name": "kills",
    "seed": 5,
    "dataset": {"source": "synthetic", "synthetic": {"n_users": 150, "n_items": 200, "seed": 2}},
    "population": {"n_agents": 150},
    "memory": {"backend": "chroma"},
    "policy": {"name": "choice"},
    "recommenders": [{"name": "popular"}, {"name": "random"}],
    "session": {"max_pages": 4, "sessions_per_agent": 3, "activation_prob": 0.5},
    "engine": {"kind": "local", "shards": 2},
    "output": {"report": False},
}
#: (what, checkpoint file, step reached) at which the process is killed
MOMENTS = [
    ("popular, shard 0, step 3", "popular.s0000.json", 3),
    ("popular, shard 1, step 1", "popular.s0001.json", 1),
    ("random, shard 1, step 4", "random.s0001.json", 4),
]


def _digest(run_dir: Path) -> dict:
    """Rows and a checksum of each output table (events, sessions, series)."""
    from alignuser.simulation.outputs import read_events, read_sessions

    out = {}
    series = sorted((run_dir / "series").glob("*.parquet"))
    tables = {
        "events": read_events(run_dir),
        "sessions": read_sessions(run_dir),
        "series": pd.concat([pd.read_parquet(f).assign(part=f.name) for f in series]),
    }
    for name, frame in tables.items():
        h = pd.util.hash_pandas_object(frame.reset_index(drop=True), index=True).to_numpy()
        out[name] = (len(frame), hashlib.sha256(h.tobytes()).hexdigest()[:12])
    return out


def _cli(*args, **kw):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return [sys.executable, "-m", "alignuser", *args], env


def kills(tmp: Path) -> list[str]:
    """Kill a sharded run three times (one moment per run), resume, compare."""
    scen = tmp / "kills.yaml"
    scen.write_text(yaml.safe_dump({**KILL_SCENARIO, "output": {"dir": str(tmp), "report": False}}))
    t0 = time.perf_counter()
    cmd, env = _cli("run", str(scen), "--out", str(tmp / "ref"))
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    ref_s = time.perf_counter() - t0
    ref = _digest(tmp / "ref")
    rows = [
        f"Uninterrupted run: {ref_s:.1f} s; events {ref['events'][0]} rows "
        f"(`{ref['events'][1]}`), sessions {ref['sessions'][0]} (`{ref['sessions'][1]}`), "
        f"series {ref['series'][0]} (`{ref['series'][1]}`).",
        "",
        "| killed at | killed after s | resumed from step | resume exit | events rows, checksum "
        "| sessions | series | identical |",
        "|---|---:|---:|---:|---|---|---|---|",
    ]
    for what, ckpt, step in MOMENTS:
        out = tmp / f"killed-{ckpt}"
        cmd, env = _cli("run", str(scen), "--out", str(out))
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        target = out / "checkpoints" / ckpt
        while proc.poll() is None:
            try:
                if json.loads(target.read_text() or "{}").get("step", 0) >= step:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        alive = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_s = time.perf_counter() - t0
        cmd, env = _cli("run", "--resume", str(out))
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        manifest = json.loads((out / "manifest.json").read_text())
        resumed = {k: v.get("resumed_from_step") for k, v in manifest["recommenders"].items()}
        got = _digest(out) if r.returncode == 0 else {}
        same = got == ref
        cells = [f"{got[k][0]}, `{got[k][1]}`" if k in got else "-" for k in ref]
        rows.append(
            f"| {what}{'' if alive else ' (had finished)'} | {killed_s:.1f} | {resumed} | "
            f"{r.returncode} | {' | '.join(cells)} | {'yes' if same else '**no**'} |"
        )
    return rows


TRAIN_OVERRIDES = {
    "dataset": {"source": "synthetic",
                "synthetic": {"n_users": 30, "n_items": 40, "sessions_per_user": 2, "seed": 0}},
    "population": {"n_agents": 10},
    "recommenders": [{"name": "popular"}],
}  # fmt: skip
TRAIN_CONFIG = {
    "tiny": {"n_layers": 1, "d_model": 32, "n_heads": 2}, "wm_epochs": 1, "align_epochs": 2,
    "batch_size": 8, "k_alternatives": 1, "max_pages_per_user": 2, "wm_eval_steps": 4,
    "max_valid_steps": 16, "cf_max_new_tokens": 12, "wm_max_new_tokens": 24,
    "eval_every": 5, "save_every": 1,
}  # fmt: skip


def _policy_tensors(folder: Path) -> dict[str, np.ndarray]:
    """Every tensor of a checkpoint folder's safetensors files, by file and name."""
    from safetensors.numpy import load_file

    return {
        f"{f.relative_to(folder)}:{k}": v
        for f in sorted(folder.rglob("*.safetensors"))
        for k, v in load_file(str(f)).items()
    }


def _train_state(out: Path) -> dict:
    try:
        return json.loads((out / "last" / "trainer_state.json").read_text())["state"]
    except (OSError, ValueError, KeyError):
        return {}


def train_kills(tmp: Path) -> list[str]:
    """Kill ``alignuser train`` at three moments, run it again (resume), compare weights."""
    from alignuser.policy.checkpoint import load_policy_model
    from alignuser.scenario import load_scenario
    from alignuser.simulation.runner import load_data
    from alignuser.training.auto import train_config
    from alignuser.training.prepare import prepare_steps

    base = yaml.safe_load((ROOT / "scenarios" / "train_synthetic.yaml").read_text())
    base.update(TRAIN_OVERRIDES)
    base["train"].update(TRAIN_CONFIG)
    scen = tmp / "train.yaml"
    scen.write_text(yaml.safe_dump(base))
    t0 = time.perf_counter()
    cmd, env = _cli("train", str(scen), "--out", str(tmp / "train-ref"))
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    ref_s = time.perf_counter() - t0
    ref_state = _train_state(tmp / "train-ref")
    stage1 = next(h["step"] for h in ref_state["history"] if h["stage"] == 2)
    total = ref_state["global_step"]
    moments = [
        ("stage 1", max(1, stage1 // 2)),
        ("early stage 2", stage1 + 2),
        ("late stage 2", total - 3),
    ]
    s = load_scenario(scen)
    _, valid = prepare_steps(train_config(s), load_data(s))
    states = [v.state for v in valid[:32]]

    def watch(folder):
        return np.concatenate([p.watch for p in load_policy_model(folder).score(states)])

    ref_t, ref_w = _policy_tensors(tmp / "train-ref" / "policy"), watch(tmp / "train-ref" / "policy")
    rows = [
        f"Uninterrupted run: {ref_s:.1f} s, {total} optimizer steps (stage 1: {stage1}), "
        f"`OUT/last` saved after every step; {len(ref_t)} tensors in `policy/`, watch scores "
        f"on {len(ref_w)} held-out items.",
        "",
        "| killed at | step seen | resumed from step | resume exit | identical weights "
        "| max abs diff (tensors) | max abs diff (scores) |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for what, step in moments:
        out = tmp / f"train-killed-{step}"
        cmd, env = _cli("--log-level", "info", "train", str(scen), "--out", str(out))
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        while proc.poll() is None and _train_state(out).get("global_step", 0) < step:
            time.sleep(0.01)
        alive = proc.poll() is None
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        at = _train_state(out).get("global_step", "-")
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        cells = ["-", "-", "**no**", "-", "-"]
        if r.returncode == 0:
            got = _policy_tensors(out / "policy")
            same_keys = got.keys() == ref_t.keys()
            d_t = max((float(np.max(np.abs(got[k] - ref_t[k]))) for k in ref_t if k in got),
                      default=float("nan"))  # fmt: skip
            d_w = float(np.max(np.abs(watch(out / "policy") - ref_w)))
            same = same_keys and d_t == 0.0 and d_w == 0.0
            resumed = re.search(r"resumed from \S+ at step (\d+)", r.stderr)
            cells = [str(resumed.group(1) if resumed else "?"), str(r.returncode),
                     "yes" if same else "**no**", f"{d_t:.3g}", f"{d_w:.3g}"]  # fmt: skip
        else:
            cells[1] = str(r.returncode)
        rows.append(f"| {what}{'' if alive else ' (had finished)'} | {at} | {' | '.join(cells)} |")
    return rows


def _schedule(n: int, body: dict):
    """Faults on a schedule of calls: every 3rd a 500, every 4th stalls, every 5th drops."""
    if n % 3 == 0:
        return "500"
    modes = (("stall",) if n % 4 == 0 else ()) + (("drop",) if n % 5 == 0 else ())
    return modes or "ok"


def _faulty_service(scenario):
    """The ``popular`` model over HTTP (the shipped fake service), faulty on a schedule."""
    from alignuser.recommenders import make_recommender
    from alignuser.simulation.runner import prepare
    from alignuser.testing.services import FakeRecommenderService

    prep = prepare(scenario)
    backend = make_recommender("popular", seed=scenario.seed).fit(prep.train, prep.catalog)
    return FakeRecommenderService(backend, _schedule, delay=1.5)  # past the client's 1 s


def service(tmp: Path) -> list[str]:
    """A faulty HTTP recommender against the same model in process."""
    from alignuser.scenario import Scenario
    from alignuser.simulation.outputs import read_events, read_manifest
    from alignuser.simulation.runner import run

    base = {
        **KILL_SCENARIO, "name": "service", "population": {"n_agents": 60},
        "memory": {"backend": "inmemory"}, "engine": "local",
        "output": {"dir": str(tmp), "report": False},
    }  # fmt: skip
    direct = run(Scenario.model_validate({**base, "recommenders": [{"name": "popular"}]}),
                 tmp / "direct")  # fmt: skip
    svc = _faulty_service(Scenario.model_validate(base))
    try:
        http = {
            "name": "http",
            "label": "popular",
            "params": {"url": svc.url, "timeout": 1.0, "retries": 3, "backoff": 0.05},
        }
        t0 = time.perf_counter()
        out = run(Scenario.model_validate({**base, "recommenders": [http]}), tmp / "http")
        wall = time.perf_counter() - t0
    finally:
        svc.close()
    a, b = read_events(direct), read_events(out)
    entry = read_manifest(out)["recommenders"]["popular"]
    same = a.equals(b)
    return [
        "| service calls | 500s | stalls past timeout | dropped connections | run faults "
        "| status | events (direct / http) | identical events | wall s |",
        "|---:|---:|---:|---:|---:|---|---|---|---:|",
        f"| {svc.calls} | {svc.served['500']} | {svc.served['stall']} | {svc.served['drop']} | "
        f"{entry['faults']} | {entry['status']} | {len(a)} / {len(b)} | "
        f"{'yes' if same else '**no**'} | {wall:.1f} |",
    ]


def _chroma_server(path: Path, port: int):
    """A ``chroma run`` server process, once it answers."""
    import httpx

    chroma = str(Path(sys.executable).parent / "chroma")
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("chroma server did not start")


def chroma_stop(tmp: Path) -> list[str]:
    """A Chroma server killed mid-run, started again, the run resumed, compared."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    rows = [
        "| run | exit | message | events rows, checksum | sessions | identical |",
        "|---|---:|---|---|---|---|",
    ]
    digests = {}
    for name in ("ref", "stopped"):
        server = _chroma_server(tmp / f"db-{name}", port)
        scen = tmp / f"chroma-{name}.yaml"
        data = {
            **KILL_SCENARIO, "name": "chroma", "engine": "local",
            "memory": {"backend": "chroma", "server_url": f"http://127.0.0.1:{port}"},
            "output": {"dir": str(tmp), "report": False},
        }  # fmt: skip
        scen.write_text(yaml.safe_dump(data))
        out = tmp / f"chroma-run-{name}"
        cmd, env = _cli("run", str(scen), "--out", str(out))
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)  # fmt: skip
        if name == "stopped":
            while proc.poll() is None:
                try:
                    ck = json.loads((out / "checkpoints" / "popular.json").read_text() or "{}")
                    if ck.get("step", 0) >= 3:
                        break
                except (OSError, ValueError):
                    pass
                time.sleep(0.02)
            server.send_signal(signal.SIGKILL)
            server.wait()
        text, _ = proc.communicate()
        lines = [ln for ln in text.splitlines() if ln.startswith(("error:", "The run stopped"))]
        msg = " ".join(lines)[:160].replace("|", "/") or "-"
        rows_msg = [f"{name}: first run", proc.returncode, msg]
        if name == "stopped":
            server = _chroma_server(tmp / f"db-{name}", port)  # the same store, back again
            rows.append(f"| {' | '.join(map(str, rows_msg))} | | | |")
            cmd, env = _cli("run", "--resume", str(out))
            r = subprocess.run(cmd, env=env, capture_output=True, text=True)
            rows_msg = [f"{name}: --resume after the server is back", r.returncode, "-"]
        server.send_signal(signal.SIGTERM)
        server.wait()
        d = _digest(out)
        digests[name] = d
        same = "" if name == "ref" else ("yes" if d == digests["ref"] else "**no**")
        rows.append(
            f"| {' | '.join(map(str, rows_msg))} | {d['events'][0]}, `{d['events'][1]}` | "
            f"{d['sessions'][0]}, `{d['sessions'][1]}` | {same} |"
        )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="Also write the table here.")
    parser.add_argument("--only", choices=["cases", "kills", "train", "service", "chroma"], default=None)
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)  # the faults' own log lines are not what is measured
    extra: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "kills"):
            extra += ["", "## SIGKILL and resume (sharded run)", "", *kills(Path(tmp))]
        if args.only in (None, "train"):
            extra += ["", "## SIGKILL and resume (training)", "", *train_kills(Path(tmp))]
        if args.only in (None, "service"):
            extra += ["", "## A faulty HTTP recommender (retries)", "", *service(Path(tmp))]
        if args.only in (None, "chroma"):
            extra += ["", "## A Chroma server stopped mid-run", "", *chroma_stop(Path(tmp))]
    results = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(tmp)
        try:
            for case in CASES if args.only in (None, "cases") else []:
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
            "# Reliability: bad inputs, SIGKILL and resume, a faulty recommender service, a Chroma "
            "server stopped",
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
            *extra,
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
        old = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if "\n## Before this work" in old:  # a section written by hand is kept
            start = old.index("\n## Before this work")
            end = old.find("\n## ", start + 1)
            kept = old[start:end] if end > 0 else old[start:]
            cut = text.index("\n## ", text.index("| **all** |"))
            text = text[:cut] + "\n" + kept.rstrip("\n") + "\n" + text[cut:]
        args.out.write_text(text, encoding="utf-8")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
