"""Checks of a scenario against the registries and the machine, before a run starts.

:func:`load_scenario <alignuser.scenario.load_scenario>` checks the scenario's own keys and
types; :func:`check_scenario` checks what it names: that every registered name exists
(recommenders, the policy, the dataset loader; memory backends are a closed list checked by
the scenario model), that each plug-in's ``params`` are ones it accepts with the right types
(its pydantic ``Params`` model, or its constructor's typed keywords), that the files it
points to exist, and that ``output.dir`` can be created and written. Every problem is one
line naming the file, the key and the fix; all of them are reported at once.

``alignuser validate`` and ``alignuser run`` call it, and so does
:func:`alignuser.simulation.runner.run`.

Example:
    >>> from alignuser.scenario import Scenario
    >>> from alignuser.preflight import check_scenario
    >>> s = Scenario.model_validate({"recommenders": [{"name": "eaze"}]})
    >>> check_scenario(s)
    Traceback (most recent call last):
    ...
    alignuser.errors.ScenarioError: <scenario>: recommenders.0.name: unknown recommender 'eaze' ...
"""

from __future__ import annotations

import inspect
import os
import tempfile
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from alignuser.errors import ScenarioError, UnknownNameError, did_you_mean
from alignuser.scenario import Scenario

__all__ = ["Checked", "check_output_dir", "check_scenario", "plugin_params"]

#: Keywords the runner passes itself, per plug point (a scenario must not set them), and
#: what sets them instead.
_RUNNER_SETS = {
    "recommender": {"seed": "the scenario's seed", "name": "recommenders.N.label"},
    "loader": {"path": "dataset.path"},
}
#: Parameters the runner reads and removes before it builds the plug-in.
_RUNNER_READS = {"recommender": set(), "policy": {"calibrate", "checkpoint"}}
_JSONABLE = (str, int, float, bool, type(None), list, dict)


@dataclass
class Checked:
    """What :func:`check_scenario` found besides errors.

    Attributes:
        params: Each plug-in's parameters with its defaults filled in, by scenario key
            (``"policy.params"``, ``"recommenders.0.params"``).
        warnings: Things that are legal but probably not meant (one line each).
    """

    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _params_model(factory: Any, hints: dict[str, Any]) -> type[BaseModel] | None:
    own = getattr(factory, "Params", None)
    if inspect.isclass(own) and issubclass(own, BaseModel):
        return own
    # ``params: SomeParams | dict | None`` plus ``**overrides`` (e.g. the choice policy)
    for arg in typing.get_args(hints.get("params")) or (hints.get("params"),):
        if inspect.isclass(arg) and issubclass(arg, BaseModel):
            return arg
    return None


def plugin_params(
    factory: Any, given: dict[str, Any], kind: str = "recommender"
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Check ``given`` against what ``factory`` accepts.

    The accepted parameters are the fields of its pydantic ``Params`` model (a class
    attribute, or the model named in the type of a ``params`` argument) and the other
    keywords of its signature, validated against their type hints.

    Args:
        factory: A registered class or function.
        given: The scenario's ``params`` mapping.
        kind: ``"recommender"`` or ``"policy"`` (which keywords the runner supplies).

    Returns:
        ``(resolved, problems)``: the parameters with defaults filled in, and
        ``(parameter, message)`` pairs for what is wrong.
    """
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return dict(given), []
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolvable annotations: names are still checked
        hints = {}
    model = _params_model(factory, hints)
    keywords: dict[str, inspect.Parameter] = {}
    open_kwargs = False
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            open_kwargs = True
        elif p.kind is not p.VAR_POSITIONAL and not (p.name == "params" and model is not None):
            keywords[p.name] = p
    fields = set(model.model_fields) if model is not None else set()
    problems: list[tuple[str, str]] = []
    runner_sets = _RUNNER_SETS.get(kind, {})
    runner_reads = _RUNNER_READS.get(kind, set())
    for key in given:
        if key in runner_sets:
            problems.append((key, f"set by the runner; remove it (use {runner_sets[key]})"))
        elif key not in keywords and key not in fields and key not in runner_reads:
            if open_kwargs and model is None:
                continue  # a factory taking **kwargs with no model: cannot tell
            known = sorted((fields | set(keywords) | runner_reads) - set(runner_sets))
            problems.append(
                (key, f"unknown parameter{did_you_mean(key, known)}; accepted: {', '.join(known)}")
            )
    resolved: dict[str, Any] = {}
    if model is not None:
        for_model = {k: v for k, v in given.items() if k in fields}
        resolved.update(_model_params(model, for_model, problems))
    for name, p in keywords.items():
        if name in runner_sets or (name in runner_reads and name not in given):
            continue
        if name in given:
            hint = hints.get(name, Any)
            if hint is not Any:
                try:
                    TypeAdapter(hint).validate_python(given[name])
                except ValidationError as exc:
                    msg = exc.errors()[0]["msg"]
                    problems.append((name, f"{msg} (got {given[name]!r})"))
                except Exception:  # a hint pydantic cannot build a validator for
                    pass
            resolved[name] = given[name]
        elif p.default is p.empty:
            problems.append((name, "required parameter is missing"))
        elif isinstance(p.default, _JSONABLE):
            resolved[name] = p.default
    resolved.update({k: v for k, v in given.items() if k not in resolved})
    return resolved, problems


def _model_params(model, given: dict[str, Any], problems: list[tuple[str, str]]) -> dict:
    """``given`` validated by the ``Params`` model, defaults filled in (``{}`` when invalid).

    Each validation error is appended to ``problems`` as ``(location, message)``.
    """
    try:
        return model.model_validate(given).model_dump(mode="json")
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            got = f" (got {err['input']!r})" if err["type"] != "missing" else ""
            problems.append((where, f"{err['msg']}{got}"))
    return {}


def check_output_dir(path: str | Path) -> str | None:
    """Why ``path`` cannot be created and written (``None`` when it can).

    Nothing is left behind: the nearest existing folder is tried with a temporary folder
    that is removed at once.
    """
    path = Path(path).expanduser()
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        return f"{probe} exists and is not a folder"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".alignuser-probe-", dir=probe))
    except OSError as exc:
        return f"cannot write in {probe} ({exc.strerror or exc})"
    return None


def _policy_factory(name: str):
    from alignuser.policy.registry import POLICIES

    return POLICIES.get(name)


def _check_data(scenario: Scenario, add) -> None:
    spec = scenario.dataset
    if spec.source != "path":
        return
    from alignuser.data.loaders import LOADERS

    path = scenario.resolve(spec.path)
    if not path.exists():
        add("dataset.path", f"{path} does not exist; give the dataset folder or file")
    if spec.format is None:
        if spec.options:
            add("dataset.options", "options need dataset.format (the loader they are for)")
        return
    try:
        loader = LOADERS.get(spec.format)
    except UnknownNameError as exc:
        add("dataset.format", str(exc))
        return
    _, problems = plugin_params(loader().load, spec.options, "loader")
    for key, msg in problems:
        add(f"dataset.options.{key}", msg)


def _check_policy(scenario: Scenario, factory, out: Checked, add) -> None:
    pol = scenario.policy
    if factory is None:
        return
    given = dict(pol.params)
    if pol.checkpoint:
        given["checkpoint"] = pol.checkpoint
    resolved, problems = plugin_params(factory, given, "policy")
    for key, msg in problems:
        add(f"policy.params.{key}", msg)
    out.params["policy.params"] = {k: v for k, v in resolved.items() if k != "checkpoint"}
    takes = set(inspect.signature(factory).parameters)
    if {"checkpoint", "model"} <= takes and "checkpoint" not in given:
        # the learned policy: a model object (Python API) or a checkpoint folder
        add("policy.checkpoint", f"policy {pol.name!r} needs a checkpoint folder "
            "(train one with `alignuser train`)")  # fmt: skip
    if pol.checkpoint == "auto":  # trained on the scenario's data (alignuser.training.auto)
        if "checkpoint" not in takes:
            add("policy.checkpoint", f"policy {pol.name!r} takes no checkpoint; 'auto' trains "
                "the learned policy (policy.name: alignuser)")  # fmt: skip
    elif pol.checkpoint and not scenario.resolve(pol.checkpoint).exists():
        add(
            "policy.checkpoint",
            f"{scenario.resolve(pol.checkpoint)} does not exist (train it first: "
            "alignuser train SCENARIO --out FOLDER, then checkpoint: FOLDER/policy)",
        )


def _check_train(scenario: Scenario, add) -> None:
    """Every ``train:`` key against ``TrainConfig`` (a typo fails here, not at train time)."""
    given = scenario.train.model_dump(exclude_unset=True)
    if not given:
        return
    from pydantic import ValidationError

    from alignuser.training.config import TrainConfig

    try:
        TrainConfig.model_validate({"seed": scenario.seed, **given})
    except ValidationError as exc:
        for e in exc.errors():
            add("train." + ".".join(map(str, e["loc"])), e["msg"])


def check_scenario(scenario: Scenario, check_output: bool = True, for_run: bool = True) -> Checked:
    """Check what the scenario names; raise one error listing every problem.

    Args:
        scenario: A scenario that passed :func:`~alignuser.scenario.load_scenario`.
        check_output: Also check that ``output.dir`` can be created and written.
        for_run: Check what a run uses (the policy, the recommenders); ``False`` for
            ``alignuser train``, which reads the data only (its checkpoint may not exist yet).

    Returns:
        The plug-ins' resolved parameters and the warnings (see :class:`Checked`).

    Raises:
        ScenarioError: One line per problem: ``file: key: what is wrong (the fix)``.
    """
    import alignuser.recommenders  # noqa: F401  (registers the built-ins)
    from alignuser.recommenders.registry import RECOMMENDERS

    source = scenario.source_file or "<scenario>"
    lines: list[str] = []
    out = Checked()

    def add(key: str, msg: str) -> None:
        lines.append(f"{source}: {key}: {msg}")

    for i, spec in enumerate(scenario.recommenders if for_run else []):
        try:
            factory = RECOMMENDERS.get(spec.name)
        except UnknownNameError as exc:
            add(f"recommenders.{i}.name", str(exc))
            continue
        resolved, problems = plugin_params(factory, spec.params, "recommender")
        for key, msg in problems:
            add(f"recommenders.{i}.params.{key}", msg)
        out.params[f"recommenders.{i}.params"] = resolved

    pol = scenario.policy
    try:
        factory = _policy_factory(pol.name) if for_run else None
    except UnknownNameError as exc:
        add("policy.name", str(exc))
    else:
        _check_policy(scenario, factory, out, add)
    _check_data(scenario, add)
    _check_train(scenario, add)
    pop = scenario.population
    if pop.source == "mix":
        for key in ("mix", "archetypes"):
            p = scenario.resolve(getattr(pop, key))
            if not p.is_file():
                add(f"population.{key}", f"{p} not found")
    elif scenario.dataset.source == "synthetic":
        n_users = scenario.dataset.synthetic.n_users
        if pop.n_agents > n_users:
            out.warnings.append(
                f"{source}: population.n_agents: {pop.n_agents} agents on {n_users} users: "
                "personas are repeated; copies add sessions, not users (the intervals "
                f"resample distinct users); set population.n_agents <= {n_users}"
            )
    if check_output:
        why = check_output_dir(scenario.output.dir)
        if why:
            add("output.dir", f"{why}; choose a folder you can write (--set output.dir=runs)")
    if lines:
        raise ScenarioError("\n".join(lines))
    return out
