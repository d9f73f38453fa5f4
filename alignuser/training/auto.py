"""Train the policy a scenario names, once: ``policy: {name: alignuser, checkpoint: auto}``.

A scenario whose policy checkpoint is ``auto`` gets the learned AlignUSER policy trained on
its own data: the dataset and the training part of its split, with the scenario's ``train:``
settings and seed (:class:`~alignuser.training.config.TrainConfig`). The result is cached,
so the second run of the same scenario loads it in a second:

* the cache folder is ``$ALIGNUSER_CACHE`` when set, else ``$XDG_CACHE_HOME/alignuser``,
  else ``~/.cache/alignuser``; each policy lives in ``policies/<key>/policy``;
* the key is a SHA-256 of what the weights depend on: the dataset section (for files, their
  resolved path, size and modification time), the split, the seed, the resolved training
  settings, the package version and the cue version; change any of them and a new policy
  is trained;
* training writes to a temporary folder that is renamed into place when it finished, so an
  interrupted training leaves no half policy behind (the next run starts it again).

The same split rule serves ``alignuser train``
(:func:`~alignuser.data.scenario_data.training_data`): only the training part of the
scenario's split reaches training; an impression log under a temporal split is cut at one
time, as the evaluation protocols cut it.

Example:
    >>> from alignuser.training.auto import cached_policy  # doctest: +SKIP
    >>> cached_policy(scenario)  # trains on the first call, then reuses  # doctest: +SKIP
    PosixPath('/home/me/.cache/alignuser/policies/3f2a.../policy')
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

__all__ = ["AUTO", "cache_dir", "cached_policy", "policy_key", "train_config"]

log = logging.getLogger(__name__)

AUTO = "auto"
"""The ``policy.checkpoint`` value that asks for a policy trained on the scenario's data."""


def cache_dir() -> Path:
    """The user cache folder of alignuser (see the module docstring)."""
    if os.environ.get("ALIGNUSER_CACHE"):
        return Path(os.environ["ALIGNUSER_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "alignuser"


def train_config(scenario, **extra: Any):
    """The scenario's ``train:`` section as the ``TrainConfig`` training runs with.

    The keys the scenario gave, the scenario's seed unless ``train.seed`` is one of them,
    and ``extra`` (run-time switches such as ``progress``) over those.

    Raises:
        ScenarioError: Naming every wrong key (``train.<key>: <problem>``) and the file.
    """
    from pydantic import ValidationError

    from alignuser.errors import ScenarioError
    from alignuser.training.config import TrainConfig

    try:
        given = scenario.train.model_dump(exclude_unset=True)  # the keys the YAML gave
        return TrainConfig.model_validate({"seed": scenario.seed, **given, **extra})
    except ValidationError as exc:
        keys = "; ".join(f"train.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        where = scenario.source_file or "scenario"
        raise ScenarioError(f"{where}: {keys}") from None


def _data_identity(scenario) -> dict[str, Any]:
    spec = scenario.dataset.model_dump(mode="json")
    if scenario.dataset.source != "synthetic" and scenario.dataset.path:
        root = scenario.resolve(scenario.dataset.path).resolve()
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        spec["files"] = [[str(p), p.stat().st_size, int(p.stat().st_mtime)] for p in files[:1000]]
    return spec


def policy_key(scenario) -> str:
    """The cache key of the policy ``scenario`` would train (hex SHA-256)."""
    import alignuser
    from alignuser.policy.cues import CUE_VERSION

    what = {
        "alignuser": alignuser.__version__,
        "cues": CUE_VERSION,  # a checkpoint of another cue version does not load
        "data": _data_identity(scenario),
        "split": scenario.split.model_dump(mode="json"),
        "train": train_config(scenario).model_dump(mode="json"),
    }
    blob = json.dumps(what, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def cached_policy(scenario, dataset=None, progress: bool = False) -> Path:
    """The checkpoint folder of the scenario's trained policy, training it when not cached.

    Args:
        scenario: A validated scenario (its ``train:`` section, split and seed are used).
        dataset: The scenario's loaded dataset (loaded here when ``None``).
        progress: Show the trainer's progress bars.
    """
    from alignuser.data.scenario_data import load_data, training_data
    from alignuser.training.trainer import train as train_policy

    config = train_config(scenario, progress=progress)
    home = cache_dir() / "policies" / policy_key(scenario)[:24]
    if (home / "policy" / "policy.json").exists():
        log.info("policy: reusing %s", home / "policy")
        return home / "policy"
    shutil.rmtree(home, ignore_errors=True)  # a folder without its policy.json is not one
    if dataset is None:
        dataset = load_data(scenario)
    data, part = training_data(scenario, dataset)
    tmp = home.with_name(f"{home.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log.info("policy: training on %s (cached in %s)", dataset.name, home)
    try:
        train_policy(config, data, tmp, interactions=part)
    except BaseException:  # interrupted or failed: no half policy stays in the cache
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(tmp / "last", ignore_errors=True)  # the resume point is not needed
    try:
        os.replace(tmp, home)
    except OSError:  # another process finished the same policy first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return home / "policy"
