"""Persona library: archetype and mix files (YAML), and sampling populations from them.

An **archetype file** (``personas/archetypes.yaml``) describes kinds of users; every number is
a value or a ``[low, high]`` range sampled uniformly per persona::

    archetypes:
      critic:
        description: Picky, independent, watches selectively.
        taste: {liked: random 2, disliked: [Horror]}   # genre names or "random K"
        rating_bias: [-0.9, -0.4]   # rating points on a 5-point scale (scaled to the run's)
        patience: [0.3, 0.6]        # 0..1, pages browsed
        conformity: [0.0, 0.2]      # 0..1, higher = follows popularity / friends
        activity: [0.4, 0.8]        # 0..1
        diversity: [0.2, 0.5]       # 0..1
        habits: Reads every synopsis before choosing.

A **mix file** maps archetype names to proportions summing to 1::

    binge_watcher: 0.3
    casual: 0.5
    critic: 0.2

Errors name the file and the key (``archetypes.yaml: archetypes.critic.patience: ...``) and
are raised as :class:`~alignuser.errors.ScenarioError`.

Example:
    >>> arch = load_archetypes("personas/archetypes.yaml")  # doctest: +SKIP
    >>> mix = load_mix("personas/mix_default.yaml", archetypes=arch)  # doctest: +SKIP
    >>> people = sample_from_mix(  # doctest: +SKIP
    ...     mix, arch, n=100, genres=["Drama", "Comedy"], seed=0)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError

from alignuser.data.dataset import RatingScale
from alignuser.errors import ScenarioError
from alignuser.personas.persona import Persona, level_from_score

_RANDOM = re.compile(r"^random\s+(\d+)$")


def _range(value: object) -> tuple[float, float]:
    if isinstance(value, bool):
        raise ValueError("expected a number or [low, high]")
    if isinstance(value, int | float):
        return (float(value), float(value))
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        lo, hi = float(value[0]), float(value[1])
        if lo > hi:
            raise ValueError(f"low {lo} is above high {hi}")
        return (lo, hi)
    raise ValueError(f"expected a number or [low, high], got {value!r}")


def _bounded(lo: float, hi: float):
    def check(value: object) -> tuple[float, float]:
        r = _range(value)
        if r[0] < lo or r[1] > hi:
            raise ValueError(f"must lie within [{lo}, {hi}], got {list(r)}")
        return r

    return BeforeValidator(check)


Unit = Annotated[tuple[float, float], _bounded(0.0, 1.0)]
Bias = Annotated[tuple[float, float], _bounded(-2.0, 2.0)]


def _genre_spec(value: object) -> list[str] | int:
    if isinstance(value, str):
        m = _RANDOM.match(value.strip())
        if not m:
            raise ValueError(f"expected a list of genres or 'random K', got {value!r}")
        return int(m.group(1))
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"expected a list of genres or 'random K', got {value!r}")


GenreSpec = Annotated[list[str] | int, BeforeValidator(_genre_spec)]


class TasteSpec(BaseModel):
    """Liked and disliked genres: explicit names or ``"random K"`` (stored as ``K``)."""

    model_config = ConfigDict(extra="forbid")
    liked: GenreSpec = 2
    disliked: GenreSpec = 0


class Archetype(BaseModel):
    """One kind of user; numbers are ``(low, high)`` ranges (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    description: str = ""
    taste: TasteSpec = Field(default_factory=TasteSpec)
    rating_bias: Bias = (0.0, 0.0)
    patience: Unit = (0.5, 0.5)
    conformity: Unit = (0.5, 0.5)
    activity: Unit = (0.5, 0.5)
    diversity: Unit = (0.5, 0.5)
    habits: str = ""
    big_five: (
        dict[
            Literal[
                "openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism"
            ],
            Unit,
        ]
        | None
    ) = None
    _source: str = PrivateAttr(default="<memory>")


class _ArchetypeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    archetypes: dict[str, Archetype]


class _MixFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weights: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]]


@dataclass(frozen=True)
class Mix:
    """Archetype name -> proportion (sums to 1), with the file it came from."""

    weights: dict[str, float]
    source: str = "<memory>"


def _read_yaml(path: str | Path) -> object:
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"{path}: not UTF-8 text (byte at offset {exc.start}); save the file as UTF-8"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ScenarioError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from exc


def _scenario_error(source: str, exc: ValidationError, prefix: tuple = ()) -> ScenarioError:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in (*prefix, *err["loc"])) or "(top level)"
        lines.append(f"{source}: {key}: {err['msg']}")
    return ScenarioError("\n".join(lines))


def load_archetypes(path: str | Path) -> dict[str, Archetype]:
    """Read an archetype file.

    Raises:
        ScenarioError: Naming the file and key (unknown key, wrong type, bad range).
    """
    data = _read_yaml(path)
    try:
        parsed = _ArchetypeFile.model_validate(data)
    except ValidationError as exc:
        raise _scenario_error(str(path), exc) from None
    for arch in parsed.archetypes.values():
        arch._source = str(path)
    return parsed.archetypes


def make_mix(
    weights: dict[str, float],
    archetypes: dict[str, Archetype] | None = None,
    source: str = "<memory>",
) -> Mix:
    """Validate proportions (in [0, 1], sum 1 within 1e-6, known names) and build a :class:`Mix`."""
    if not isinstance(weights, dict):
        raise ScenarioError(f"{source}: (top level): expected a mapping archetype -> proportion")
    try:
        parsed = _MixFile.model_validate({"weights": weights}).weights
    except ValidationError as exc:
        raise ScenarioError(
            "\n".join(
                f"{source}: {'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}"
                for e in exc.errors()
            )
        ) from None
    total = sum(parsed.values())
    if not parsed or abs(total - 1.0) > 1e-6:
        raise ScenarioError(f"{source}: proportions sum to {total:.6g}, expected 1 (within 1e-6)")
    if archetypes is not None:
        for name in parsed:
            if name not in archetypes:
                raise ScenarioError(
                    f"{source}: {name}: unknown archetype; known: {sorted(archetypes)}"
                )
    return Mix(weights=dict(parsed), source=source)


def load_mix(path: str | Path, archetypes: dict[str, Archetype] | None = None) -> Mix:
    """Read a mix file; with ``archetypes``, also check every name is known."""
    return make_mix(_read_yaml(path), archetypes, source=str(path))  # type: ignore[arg-type]


def _allocate(weights: list[float], n: int) -> np.ndarray:
    exact = np.asarray(weights) * n
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


def _pick(spec: list[str] | int, pool: list[str], rng, where: str, genres: set[str]) -> list[str]:
    if isinstance(spec, int):
        if spec > len(pool):
            raise ScenarioError(f"{where}: 'random {spec}' but only {len(pool)} genre(s) available")
        return [pool[i] for i in rng.choice(len(pool), size=spec, replace=False)]
    for g in spec:
        if g not in genres:
            raise ScenarioError(f"{where}: unknown genre {g!r}; the catalog has {sorted(genres)}")
    return list(spec)


def _sample_one(
    name: str, arch: Archetype, uid: int, genres: list[str], scale: RatingScale, rng
) -> Persona:
    def u(r: tuple[float, float]) -> float:
        return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else r[0]

    where = f"{arch._source}: archetypes.{name}.taste"
    known = set(genres)
    liked = _pick(arch.taste.liked, genres, rng, f"{where}.liked", known)
    rest = [g for g in genres if g not in liked]
    disliked = _pick(arch.taste.disliked, rest, rng, f"{where}.disliked", known)
    taste = dict(zip(liked, np.sort(rng.uniform(0.5, 1.0, len(liked)))[::-1].round(4).tolist()))
    taste.update(
        zip(disliked, (-np.sort(rng.uniform(0.5, 1.0, len(disliked)))[::-1]).round(4).tolist())
    )
    bias = u(arch.rating_bias) * scale.max / 5.0
    conformity, activity, diversity = u(arch.conformity), u(arch.activity), u(arch.diversity)
    thr = 0.05 * scale.max
    return Persona(
        user_id=uid,
        liked_genres=tuple(liked),
        disliked_genres=tuple(disliked),
        taste=taste,
        rating_bias=bias,
        pickiness_level=1 if bias > thr else 3 if bias < -thr else 2,
        activity=activity,
        activity_level=level_from_score(activity, 0.6, 0.9),
        diversity=diversity,
        diversity_level=level_from_score(diversity, 0.33, 0.66),
        conformity=conformity,
        conformity_level=4 - level_from_score(conformity, 0.2, 0.75 + 1e-12),
        patience=u(arch.patience),
        habits=arch.habits,
        archetype=name,
        big_five={k: u(v) for k, v in arch.big_five.items()} if arch.big_five else None,
    )


def sample_from_mix(
    mix: Mix | dict[str, float],
    archetypes: dict[str, Archetype],
    n: int,
    genres: list[str],
    seed: int | np.random.Generator = 0,
    scale: RatingScale | None = None,
    start_id: int = 0,
) -> list[Persona]:
    """Sample ``n`` personas from a mix (counts by largest remainder, order shuffled).

    Args:
        mix: Proportions per archetype.
        archetypes: From :func:`load_archetypes`.
        n: Number of personas.
        genres: Genre vocabulary of the catalog the population will browse.
        seed: Seed or generator; same seed, same population.
        scale: Rating scale of the run (``rating_bias`` ranges are on a 5-point scale).
        start_id: Id of the first persona; ids are contiguous.

    Raises:
        ScenarioError: Unknown archetype or genre, impossible ``random K``.
    """
    mix = mix if isinstance(mix, Mix) else make_mix(mix)
    make_mix(mix.weights, archetypes, mix.source)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    names = sorted(mix.weights)
    counts = _allocate([mix.weights[k] for k in names], n)
    labels = np.repeat(np.arange(len(names)), counts)[rng.permutation(n)]
    genres = sorted(set(genres))
    scale = scale or RatingScale()
    return [
        _sample_one(names[k], archetypes[names[k]], start_id + i, genres, scale, rng)
        for i, k in enumerate(labels)
    ]


def sample_from_dataset(
    personas: list[Persona], n: int, seed: int | np.random.Generator = 0, start_id: int = 0
) -> list[Persona]:
    """Bootstrap ``n`` personas from real ones (with replacement), with new contiguous ids.

    Each copy keeps the original's id in ``source_id``.
    """
    if not personas:
        raise ValueError("sample_from_dataset needs at least one persona")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    picks = rng.integers(0, len(personas), size=n)
    return [
        personas[j].with_id(
            start_id + i,
            source_id=personas[j].source_id
            if personas[j].source_id is not None
            else personas[j].user_id,
        )
        for i, j in enumerate(picks)
    ]


def save_personas(personas: list[Persona], path: str | Path) -> None:
    """Write personas as YAML (``.yaml``/``.yml``) or JSON (anything else)."""
    path = Path(path)
    data = [p.to_dict() for p in personas]
    if path.suffix in (".yaml", ".yml"):
        import yaml

        path.write_text(
            yaml.safe_dump({"personas": data}, sort_keys=False, allow_unicode=True),
            encoding="utf-8",
        )
    else:
        path.write_text(
            json.dumps({"personas": data}, ensure_ascii=False, indent=1), encoding="utf-8"
        )


def load_personas(path: str | Path) -> list[Persona]:
    """Read personas written by :func:`save_personas`; errors name the file and entry."""
    path = Path(path)
    if path.suffix in (".yaml", ".yml"):
        data = _read_yaml(path)
    else:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ScenarioError(f"{path}: cannot read JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("personas"), list):
        raise ScenarioError(f"{path}: personas: expected a list under 'personas'")
    out = []
    for i, item in enumerate(data["personas"]):
        try:
            out.append(Persona.from_dict(item))
        except (TypeError, ValueError) as exc:
            raise ScenarioError(f"{path}: personas.{i}: {exc}") from exc
    return out
