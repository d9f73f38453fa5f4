"""``run(scenario)``: the whole pipeline behind ``alignuser run``.

Steps: load the data (or build the synthetic world), split, compute item statistics on the
training part, build personas, then for each recommender of the scenario: fit it on the
training part, give the population fresh memories seeded with each agent's history, and run
a :class:`~alignuser.simulation.model.PopulationModel` until every session has ended. Every
recommender faces the same agents with the same seed (common random numbers). Finally the
macro outcomes, their CIs and a report are written
(:func:`~alignuser.evaluation.run_metrics.write_metrics`).

Example:
    >>> from alignuser.scenario import Scenario  # doctest: +SKIP
    >>> from alignuser.simulation.runner import run  # doctest: +SKIP
    >>> run_dir = run(Scenario(name="tiny"))  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import logging
import platform
import time
from pathlib import Path

import numpy as np

from alignuser.data.scenario_data import load_data, split_train  # noqa: F401  (re-exported)
from alignuser.evaluation.run_metrics import write_metrics
from alignuser.scenario import Scenario
from alignuser.simulation.build import (  # noqa: F401  (the run's wiring, re-exported)
    Prepared,
    history_memories,
    make_memory,
    make_policy,
    policy_decider,
    prepare,
    trained_policy,
)
from alignuser.simulation.entries import FINISHED, judge_entry, merge_shards, run_status
from alignuser.simulation.outputs import provenance, write_json
from alignuser.simulation.shards import (  # noqa: F401  (the runtime, re-exported)
    read_events_of,
    run_one,
    run_shard,
)

log = logging.getLogger(__name__)


def new_run_dir(scenario: Scenario) -> Path:
    """``<output.dir>/<name>-<UTC timestamp>`` (made unique)."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    base = Path(scenario.output.dir) / f"{scenario.name}-{stamp}"
    path, i = base, 1
    while path.exists():
        path, i = Path(f"{base}-{i}"), i + 1
    return path


def resume(run_dir: str | Path, progress=None) -> Path:
    """Continue a run that was interrupted (killed at any point) from its checkpoints.

    The final outputs equal those of an uninterrupted run of the same scenario and seed.
    The parts already written are checked first (:func:`~alignuser.simulation.integrity.
    verify_run`): a damaged one is named, and the run is not resumed from it.
    """
    from alignuser.errors import AlignUserError
    from alignuser.scenario import load_scenario
    from alignuser.simulation.integrity import verify_run
    from alignuser.simulation.outputs import read_manifest

    run_dir = Path(run_dir)
    if not (run_dir / "scenario.yaml").exists():
        raise AlignUserError(f"{run_dir}: not a run folder (no scenario.yaml)")
    scenario = load_scenario(run_dir / "scenario.yaml")
    verify_run(
        run_dir,
        fix="cannot resume from damaged outputs; run the scenario again into a new folder: "
        f"alignuser run {run_dir / 'scenario.yaml'} --out NEW_RUN_DIR",
    )
    return run(scenario, run_dir, progress, _manifest=read_manifest(run_dir))


def run(
    scenario: Scenario, run_dir: str | Path | None = None, progress=None, _manifest=None
) -> Path:
    """Run a scenario end to end and return the run folder.

    Args:
        scenario: The validated scenario.
        run_dir: Where to write (default: a new folder under ``scenario.output.dir``).
        progress: Optional callback ``(label, done, total)``: for each recommender label,
            sessions finished of all its sessions (agents x ``sessions_per_agent``); the
            phases ``prepare``, ``fit <label>`` and ``report`` go from 0 to 1.
    """
    from alignuser.preflight import check_scenario

    resuming = _manifest is not None
    check_scenario(scenario, check_output=run_dir is None)
    run_dir = open_run_dir(scenario, run_dir, resuming)
    manifest = _manifest or new_manifest(scenario)
    write_json(run_dir / "manifest.json", manifest)
    t0 = time.perf_counter()
    prep = _prepare_phase(scenario, manifest, t0, progress)
    scenario, policy = _policy_phase(scenario, prep, manifest, progress)
    _run_recommenders(scenario, prep, policy, run_dir, manifest, resuming, progress)
    _close_manifest(manifest, policy)
    manifest["total_seconds"] = round(time.perf_counter() - t0, 3)
    write_json(run_dir / "manifest.json", manifest)
    if progress is not None:
        progress("report", 0, 1)
    write_metrics(run_dir, prep.catalog, prep.scale.max, scenario)
    if progress is not None:
        progress("report", 1, 1)
    return run_dir


def open_run_dir(scenario: Scenario, run_dir: str | Path | None, resuming: bool) -> Path:
    """Create the run folder (a new one when ``run_dir`` is ``None``) with ``scenario.yaml``.

    A resumed run keeps the ``scenario.yaml`` it has.
    """
    from alignuser.errors import AlignUserError

    run_dir = Path(run_dir) if run_dir else new_run_dir(scenario)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        if not resuming:
            (run_dir / "scenario.yaml").write_text(scenario.to_yaml(), encoding="utf-8")
    except OSError as exc:
        raise AlignUserError(
            f"{run_dir}: cannot create the run folder ({exc.strerror or exc}); choose another "
            "with --out or output.dir"
        ) from None
    return run_dir


def new_manifest(scenario: Scenario) -> dict:
    """The manifest of a run that starts: versions, machine, provenance, status ``running``."""
    import alignuser

    return {
        "alignuser": alignuser.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.system()}",
        **provenance(),
        "scenario": scenario.name,
        "seed": scenario.seed,
        "status": "running",
        "recommenders": {},
    }


def _prepare_phase(scenario: Scenario, manifest: dict, t0: float, progress) -> Prepared:
    """:func:`prepare` the run; its time (since ``t0``) and sizes go into the manifest."""
    if progress is not None:
        progress("prepare", 0, 1)
    prep = prepare(scenario)
    manifest["prepare_seconds"] = round(time.perf_counter() - t0, 3)
    manifest["dataset"] = prep.dataset.summary()
    manifest["n_agents"] = len(prep.agent_users)
    manifest["n_distinct_users"] = len(np.unique(prep.agent_users))
    manifest["n_items"] = prep.catalog.n_items
    manifest["max_rating"] = prep.scale.max
    if progress is not None:
        progress("prepare", 1, 1)
    return prep


def _policy_phase(scenario: Scenario, prep: Prepared, manifest: dict, progress):
    """The run's policy (trained first with ``policy.checkpoint: auto``), noted in the manifest.

    Returns:
        ``(scenario, policy)``: the scenario names the trained checkpoint after training.
    """
    if scenario.policy.checkpoint == "auto":
        scenario = trained_policy(scenario, prep, manifest, progress)
    policy = make_policy(scenario, prep)
    manifest["policy"] = scenario.policy.name
    if getattr(policy, "calibration", None):
        manifest["policy_calibration"] = policy.calibration
    manifest["status"] = "running"
    manifest["engine"] = scenario.engine.model_dump(mode="json")
    return scenario, policy


def _run_recommenders(
    scenario: Scenario, prep: Prepared, policy, run_dir: Path, manifest: dict, resuming: bool,
    progress,
) -> None:  # fmt: skip
    """Run the population against every recommender not finished yet (local or on Ray).

    Each recommender's judged entry goes into the manifest, written after each one.
    """
    from alignuser.simulation.integrity import count_outputs

    todo = [
        i
        for i, spec in enumerate(scenario.recommenders)
        if not (
            resuming and manifest["recommenders"].get(spec.display, {}).get("status") in FINISHED
        )
    ]
    limit = scenario.resilience.max_failed_share
    if scenario.engine.kind == "ray":
        from alignuser.simulation.engines import run_ray

        def done(index: int, entries: list[dict], wall_s: float) -> None:
            spec = scenario.recommenders[index]
            manifest["recommenders"][spec.display] = judge_entry(
                merge_shards(spec.display, spec.name, entries, wall_s), limit
            )
            manifest["recommenders"][spec.display]["outputs"] = count_outputs(run_dir, spec.display)
            write_json(run_dir / "manifest.json", manifest)

        run_ray(scenario, run_dir, todo, resuming, done, prep)
    for i in todo if scenario.engine.kind == "local" else []:
        spec = scenario.recommenders[i]
        manifest["recommenders"][spec.display] = judge_entry(
            run_one(scenario, prep, spec, policy, run_dir, progress, resume=resuming), limit
        )
        manifest["recommenders"][spec.display]["outputs"] = count_outputs(run_dir, spec.display)
        write_json(run_dir / "manifest.json", manifest)


def _close_manifest(manifest: dict, policy) -> None:
    """The run's status and the policy's statistics; a failed recommender is logged."""
    if hasattr(policy, "stats"):
        manifest["policy_stats"] = dict(policy.stats)
    manifest["status"] = run_status(manifest["recommenders"])
    for label, entry in manifest["recommenders"].items():
        if entry.get("status") in ("failed", "partial"):
            log.error(
                "%s: %s, %d of %d sessions failed (%.0f%%); first error: %s", label,
                entry["status"], entry["failed_sessions"], entry["sessions"],
                100 * entry["failed_share"], entry["first_error"],
            )  # fmt: skip
