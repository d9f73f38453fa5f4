"""``Persona``: who a simulated user is, as data (text comes from :mod:`.text`).

A persona carries the user's demographics, taste (liked / disliked genres and a genre -> weight
map), rating habits (``rating_bias`` and a 1..3 pickiness level) and the three Agent4Rec social
traits (activity, diversity, conformity), each as a 0..1 score, a 1..3 level and, for personas
derived from data, the raw number behind it. ``patience`` (0..1) says how many pages the user
is willing to browse.

Level numbering follows Agent4Rec (``simulation/avatar.py``): higher level = more of the trait's
*raw* quantity, so for conformity level 1 is the "Dedicated Follower" (lowest deviation from the
historical mean ratings) and level 3 the "Maverick Critic". The 0..1 ``conformity`` score runs
the other way round on purpose: higher score = follows popularity / friends more.
Pickiness levels: 1 lenient (rates above the items' means), 2 average, 3 picky (rates below).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

#: The keys of :meth:`Persona.to_features`, in order (policies read these from
#: ``PageState.features``).
FEATURE_KEYS = (
    "liked_genres",
    "disliked_genres",
    "taste",
    "rating_bias",
    "patience",
    "conformity",
    "activity",
)

#: Big Five trait names accepted in ``Persona.big_five``.
BIG_FIVE = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")


def level_from_score(score: float, low: float, high: float) -> int:
    """Level 1..3 of a 0..1 score cut at ``low`` and ``high`` (``< low`` -> 1, ``< high`` -> 2)."""
    return 1 if score < low else 2 if score < high else 3


@dataclass(frozen=True)
class Persona:
    """One simulated user.

    Attributes:
        user_id: Agent / user id (contiguous within a population).
        gender: Demographics, empty when unknown.
        age: Age or age bracket as text (``"25-34"``), empty when unknown.
        occupation: Occupation, empty when unknown.
        liked_genres: Favourite genres, most liked first.
        disliked_genres: Avoided genres, most disliked first.
        taste: Genre -> weight in ``[-1, 1]`` (positive = likes).
        rating_bias: Pickiness in rating points: the user's mean rating minus the mean of the
            item means of what they rated (negative = harsher than the crowd = pickier).
        pickiness_level: 1 lenient, 2 average, 3 picky.
        activity: 0..1 score (percentile of the number of interactions for data personas).
        activity_level: Agent4Rec level 1..3 (1 = rarely watches).
        diversity: 0..1 score (percentile of the number of genres covering 80% of views).
        diversity_level: Agent4Rec level 1..3 (1 = narrow taste).
        conformity: 0..1 score, higher = follows popularity / friends more.
        conformity_level: Agent4Rec level 1..3 (1 = Dedicated Follower, 3 = Maverick Critic).
        patience: 0..1, how many pages the user browses before leaving.
        habits: Free text about browsing habits.
        archetype: Archetype name for mix-sampled personas, empty for data personas.
        activity_num: Raw number of interactions (data personas; ``None`` otherwise).
        diversity_num: Raw number of genres covering 80% of the views (or ``None``).
        deviation: Raw mean squared deviation from the item mean ratings (or ``None``).
        big_five: Optional Big Five scores in 0..1 (keys from :data:`BIG_FIVE`).
        source_id: For bootstrapped personas, the id of the real user they copy.

    Example:
        >>> p = Persona(user_id=0, liked_genres=("Drama",), taste={"Drama": 0.8}, patience=0.7)
        >>> p.to_features()["liked_genres"], p.to_features()["patience"]
        (('Drama',), 0.7)
        >>> Persona.from_dict(p.to_dict()) == p
        True
    """

    user_id: int
    gender: str = ""
    age: str = ""
    occupation: str = ""
    liked_genres: tuple[str, ...] = ()
    disliked_genres: tuple[str, ...] = ()
    taste: dict[str, float] = field(default_factory=dict, hash=False)
    rating_bias: float = 0.0
    pickiness_level: int = 2
    activity: float = 0.5
    activity_level: int = 2
    diversity: float = 0.5
    diversity_level: int = 2
    conformity: float = 0.5
    conformity_level: int = 2
    patience: float = 0.5
    habits: str = ""
    archetype: str = ""
    activity_num: float | None = None
    diversity_num: float | None = None
    deviation: float | None = None
    big_five: dict[str, float] | None = field(default=None, hash=False)
    source_id: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "liked_genres", tuple(self.liked_genres))
        object.__setattr__(self, "disliked_genres", tuple(self.disliked_genres))
        object.__setattr__(self, "taste", {str(k): float(v) for k, v in self.taste.items()})
        for name in ("activity", "diversity", "conformity", "patience"):
            value = getattr(self, name)
            if not (0.0 <= value <= 1.0):
                raise ValueError(f"Persona {self.user_id}: {name} must be in [0, 1], got {value}")
        for name in ("pickiness_level", "activity_level", "diversity_level", "conformity_level"):
            if getattr(self, name) not in (1, 2, 3):
                raise ValueError(f"Persona {self.user_id}: {name} must be 1, 2 or 3")
        bad = {g: w for g, w in self.taste.items() if not (-1.0 <= w <= 1.0)}
        if bad:
            raise ValueError(f"Persona {self.user_id}: taste weights outside [-1, 1]: {bad}")
        if not math.isfinite(self.rating_bias):
            raise ValueError(f"Persona {self.user_id}: rating_bias must be finite")
        if self.big_five is not None:
            unknown = set(self.big_five) - set(BIG_FIVE)
            if unknown:
                raise ValueError(f"Persona {self.user_id}: unknown big_five keys {sorted(unknown)}")

    def to_features(self) -> dict[str, object]:
        """The numeric side channel a policy reads from ``PageState.features``.

        Returns:
            A dict with exactly the keys in :data:`FEATURE_KEYS`.
        """
        return {
            "liked_genres": tuple(self.liked_genres),
            "disliked_genres": tuple(self.disliked_genres),
            "taste": dict(self.taste),
            "rating_bias": float(self.rating_bias),
            "patience": float(self.patience),
            "conformity": float(self.conformity),
            "activity": float(self.activity),
        }

    def to_dict(self) -> dict[str, object]:
        """Plain JSON/YAML-compatible dict (lists, not tuples); inverse of :meth:`from_dict`."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, dict):
                value = dict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Persona:
        """Build a persona from :meth:`to_dict` output; unknown keys raise ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown persona key(s) {unknown}; expected some of {sorted(known)}")
        if "user_id" not in data:
            raise ValueError("persona needs a 'user_id'")
        return cls(**data)  # type: ignore[arg-type]

    def with_id(self, user_id: int, **changes: object) -> Persona:
        """A copy with a new ``user_id`` (and any other field changed)."""
        return replace(self, user_id=user_id, **changes)  # type: ignore[arg-type]
