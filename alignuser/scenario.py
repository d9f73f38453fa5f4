"""Scenario: the typed model of one experiment, loaded from YAML.

A scenario says which data, which population, which memory, which policy, which
recommenders, and how sessions run. It is a pydantic model: unknown keys and wrong types are
errors that name the file, the key and the expected type.

Precedence (highest first), tested in ``tests/test_scenario.py``:

1. ``--set a.b=c`` overrides (CLI) or the ``overrides`` argument of :func:`load_scenario`;
2. the YAML file;
3. the defaults declared here.

Override values are parsed as YAML scalars/flow collections (``--set session.max_pages=3``,
``--set recommenders=[{name: ease}]``). List elements are addressed by index
(``--set recommenders.0.params.l2=100``).

Example:
    >>> from alignuser.scenario import Scenario
    >>> s = Scenario.model_validate({"name": "demo", "population": {"n_agents": 10}})
    >>> s.session.items_per_page
    4
"""

from __future__ import annotations

import inspect
import re
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, field_serializer, model_validator

from alignuser.errors import ScenarioError, did_you_mean
from alignuser.scenario_sections import (
    DatasetSpec,
    EngineSpec,
    MemorySpec,
    OutputSpec,
    PolicySpec,
    PopulationSpec,
    RecommenderSpec,
    ResilienceSpec,
    Section,
    SessionSpec,
    SocialSpec,
    SplitSpec,
    SyntheticSpec,
)
from alignuser.training.config import TrainConfig

__all__ = [
    "MAX_VALUES",
    "DatasetSpec",
    "EngineSpec",
    "MemorySpec",
    "OutputSpec",
    "PolicySpec",
    "PopulationSpec",
    "RecommenderSpec",
    "ResilienceSpec",
    "Scenario",
    "SessionSpec",
    "SocialSpec",
    "SplitSpec",
    "SyntheticSpec",
    "TrainConfig",
    "apply_overrides",
    "load_scenario",
    "parse_override",
]



class Scenario(Section):
    """One experiment. See the module docstring for precedence and overrides."""

    name: str = "scenario"
    seed: int = 0
    engine: EngineSpec = Field(default_factory=EngineSpec)
    resilience: ResilienceSpec = Field(default_factory=ResilienceSpec)
    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    split: SplitSpec = Field(default_factory=SplitSpec)
    population: PopulationSpec = Field(default_factory=PopulationSpec)
    memory: MemorySpec = Field(default_factory=MemorySpec)
    policy: PolicySpec = Field(default_factory=PolicySpec)
    recommenders: list[RecommenderSpec] = Field(
        default_factory=lambda: [RecommenderSpec(name="popular"), RecommenderSpec(name="random")]
    )
    session: SessionSpec = Field(default_factory=SessionSpec)
    social: SocialSpec = Field(default_factory=SocialSpec)
    output: OutputSpec = Field(default_factory=OutputSpec)
    train: TrainConfig = Field(
        default_factory=TrainConfig,
        description="Policy training settings (alignuser.training.config.TrainConfig); the "
        "scenario's `seed` is the training seed unless `train.seed` is given.",
    )
    source_file: str | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _unique_labels(self):
        labels = [r.display for r in self.recommenders]
        dup = {x for x in labels if labels.count(x) > 1}
        if dup:
            raise ValueError(f"recommender labels must be unique, repeated: {sorted(dup)}")
        if not self.recommenders:
            raise ValueError("at least one recommender is required")
        if self.engine.shards > 1 and self.social.graph != "none":
            raise ValueError(
                "engine.shards > 1 needs social.graph: none (a social graph links agents "
                "across shards)"
            )
        return self

    @field_serializer("train")
    def _train_as_given(self, train: TrainConfig, info) -> dict[str, Any]:
        # the keys the scenario gave, as a run folder's scenario.yaml always recorded them:
        # a dumped default (``seed: 0``) would override the scenario's seed when read back
        return train.model_dump(mode=info.mode, exclude_unset=True)

    def resolve(self, path: str) -> Path:
        """Resolve a path relative to the scenario file's folder (or the cwd)."""
        p = Path(path).expanduser()
        if p.is_absolute() or p.exists() or not self.source_file:
            return p
        cand = Path(self.source_file).parent / p
        if cand.exists():
            return cand
        # packaged resources (personas/*.yaml ship in the repo root next to scenarios/)
        root = Path(self.source_file).resolve().parent.parent / p
        return root if root.exists() else p

    def to_yaml(self) -> str:
        """The fully resolved scenario as YAML (what a run folder records)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def _section_keys(loc: tuple) -> list[str]:
    """The keys the scenario section at ``loc`` accepts (``[]`` when not a section)."""
    model: type[BaseModel] = Scenario
    for part in loc:
        if isinstance(part, int):
            continue
        f = model.model_fields.get(str(part))
        if f is None:
            return []
        cands = [f.annotation, *typing.get_args(f.annotation)]
        cands += [a for c in cands for a in typing.get_args(c)]
        nxt = next((c for c in cands if inspect.isclass(c) and issubclass(c, BaseModel)), None)
        if nxt is None:
            return []
        model = nxt
    return list(model.model_fields)


#: Most values a scenario may expand to (YAML aliases counted each time they are used).
MAX_VALUES = 100_000


def _too_big(data: Any, limit: int = MAX_VALUES) -> bool:
    """Whether ``data`` expands to more than ``limit`` values (a YAML alias bomb)."""
    stack, seen = [data], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _short(value: Any) -> str:
    """A bounded ``repr`` (an input can be huge)."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxdict, r.maxstring, r.maxother = 3, 6, 6, 80, 80
    return r.repr(value)


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        kind = err["type"]
        msg = err["msg"]
        if kind == "extra_forbidden":
            known = [k for k in _section_keys(err["loc"][:-1]) if k != "source_file"]
            msg = f"unknown key{did_you_mean(err['loc'][-1], known)}"
            if known:
                msg += f"; accepted: {', '.join(known)}"
        elif kind == "literal_error":
            choices = re.findall(r"'([^']*)'", err.get("ctx", {}).get("expected", ""))
            msg = f"{msg} (got {_short(err['input'])}){did_you_mean(err['input'], choices)}"
        elif kind == "value_error":  # a check across keys: its message says it all
            msg = msg.removeprefix("Value error, ")
        elif "input" in err and kind not in ("missing",):
            msg = f"{msg} (got {_short(err['input'])})"
        lines.append(f"{source}: {key}: {msg}")
    return "\n".join(lines)


def parse_override(item: str) -> tuple[list[str], Any]:
    """Parse ``a.b.c=value`` into a key path and a YAML-typed value."""
    if "=" not in item:
        raise ScenarioError(f"override {item!r}: expected KEY=VALUE (e.g. session.max_pages=3)")
    key, raw = item.split("=", 1)
    if not key.strip():
        raise ScenarioError(f"override {item!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ScenarioError(f"override {item!r}: value is not valid YAML: {exc}") from exc
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--set`` overrides to a raw scenario dict (in place and returned).

    A list index may be one past the end (``recommenders.3.name=ease`` on three
    recommenders appends a fourth); any other index out of range, a non-integer index, or a
    key below a plain value is a :class:`ScenarioError` naming the override and the fix.
    """
    for item in overrides:
        path, value = parse_override(item)
        node: Any = data
        for i, part in enumerate(path):
            where = ".".join(path[:i]) or "the top level"
            last = i == len(path) - 1
            if isinstance(node, list):
                idx = _list_slot(node, part, item, where, last)
                if last:
                    node[idx] = value
                    break
                if node[idx] is None:
                    node[idx] = {}
                node = node[idx]
                continue
            if not isinstance(node, dict):
                raise ScenarioError(
                    f"override {item!r}: {where} is a value ({node!r}), not a section; "
                    f"set it with --set {where}=..."
                )
            if last:
                node[part] = value
                break
            if part not in node or node[part] is None:
                node[part] = [] if path[i + 1].isdigit() else {}
            elif isinstance(node[part], str) and part == "engine":  # shorthand `engine: local`
                node[part] = {"kind": node[part]}
            node = node[part]
    return data


def _list_slot(node: list, part: str, item: str, where: str, last: bool) -> int:
    """The index ``part`` names in a list override; appends an entry when one past the end."""
    try:
        idx = int(part)
    except ValueError:
        raise ScenarioError(
            f"override {item!r}: {where} is a list; address its entries by index "
            f"(0..{len(node) - 1}), not {part!r}"
        ) from None
    if idx < 0 or idx > len(node):
        span = f"0..{len(node) - 1}" if node else "none yet"
        raise ScenarioError(
            f"override {item!r}: {where} has {len(node)} entries (indexes {span}); "
            f"use an index in range, or {len(node)} to add one"
        )
    if idx == len(node):
        node.append(None if last else {})
    return idx


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Read a scenario YAML file, apply overrides, validate.

    Raises:
        ScenarioError: Naming the file, the key and what was expected.
    """
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"{path}: scenario file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}); save the file as UTF-8"
        ) from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    if _too_big(data):
        raise ScenarioError(
            f"{path}: expands to more than {MAX_VALUES:,} values (YAML aliases reused over and "
            "over: an alias bomb?); write the values out"
        )
    data = apply_overrides(data, list(overrides or []))
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_errors(exc, str(path))) from None
    scenario.source_file = str(path)
    return scenario
