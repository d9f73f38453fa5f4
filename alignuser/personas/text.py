"""Persona text: one compact paragraph in the AlignUSER / Agent4Rec style.

The paragraph is what a language-model policy reads on the ``PERSONA:`` line of a page state
(:mod:`alignuser.env.text`). It is deterministic: the same persona always gives the same text.

Example:
    >>> from alignuser.personas.persona import Persona
    >>> render_persona(Persona(user_id=0, age="25-34", occupation="writer",
    ...     liked_genres=("Drama", "Romance"), disliked_genres=("Horror",), pickiness_level=3))
    ... # doctest: +NORMALIZE_WHITESPACE
    'A 25-34 year old writer. Loves Drama and Romance; dislikes Horror. A picky rater who rates
    below the crowd. An occasional viewer who watches what fits their taste. A niche explorer who
    mostly sticks to favourite genres. A balanced evaluator who weighs historical ratings and own
    taste. Browses a few pages before leaving.'
"""

from __future__ import annotations

import functools
import re

from alignuser.personas.persona import Persona

PICKINESS = {
    1: "A lenient rater who rates above the crowd.",
    2: "An average rater.",
    3: "A picky rater who rates below the crowd.",
}
ACTIVITY = {
    1: "A rare viewer who seldom watches recommendations and leaves when unsatisfied.",
    2: "An occasional viewer who watches what fits their taste.",
    3: "An enthusiast who watches most of what is recommended.",
}
DIVERSITY = {
    1: "A selective viewer who keeps to a narrow set of genres.",
    2: "A niche explorer who mostly sticks to favourite genres.",
    3: "A trailblazer who seeks out varied and unusual titles.",
}
CONFORMITY = {
    1: "A dedicated follower whose ratings track historical ratings.",
    2: "A balanced evaluator who weighs historical ratings and own taste.",
    3: "A maverick critic who ignores historical ratings.",
}


PATIENCE = (
    "Browses only the first page or two.",
    "Browses a few pages before leaving.",
    "Browses many pages patiently.",
)
# the trait sentences as the keywords of :func:`compact_persona`
_KEYWORDS = {
    **dict(zip(PICKINESS.values(), ("lenient rater", "average rater", "picky rater"))),
    **dict(zip(ACTIVITY.values(), ("rare viewer", "occasional viewer", "enthusiast"))),
    **dict(zip(DIVERSITY.values(), ("selective", "niche explorer", "trailblazer"))),
    **dict(zip(CONFORMITY.values(), ("follower", "balanced", "maverick"))),
    **dict(zip(PATIENCE, ("impatient", "patience average", "patient"))),
}
_TASTE_RE = re.compile(r"^(Loves|Dislikes) ")


def _join(words: tuple[str, ...] | list[str]) -> str:
    words = [w for w in words if w]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _who(p: Persona) -> str:
    gender = p.gender.strip().lower()
    gender = {"m": "male", "f": "female"}.get(gender, gender if gender.isalpha() else "")
    age = p.age.strip()
    age_part = f"{age} year old" if age[:1].isdigit() else age.lower()
    noun = p.occupation.strip() or "viewer"
    parts = [x for x in (age_part, gender, noun) if x]
    text = " ".join(parts)
    vowel = text[:1].lower() in "aeiou" or text.startswith(("8", "11 ", "11-", "18"))
    article = "An" if vowel else "A"
    return f"{article} {text}."


def _patience(value: float) -> str:
    return PATIENCE[0 if value < 0.34 else 1 if value < 0.67 else 2]


def render_persona(persona: Persona) -> str:
    """The persona as one paragraph (demographics, taste, rater type, traits, habits).

    Args:
        persona: The persona to describe.

    Returns:
        Text with no ``None`` / ``nan`` in it; empty fields are left out.
    """
    p = persona
    has_demographics = any(x.strip() for x in (p.gender, p.age, p.occupation))
    sentences = [_who(p)] if has_demographics else []
    taste = []
    if p.liked_genres:
        taste.append(f"Loves {_join(list(p.liked_genres))}")
    if p.disliked_genres:
        taste.append(
            f"dislikes {_join(list(p.disliked_genres))}"
            if taste
            else f"Dislikes {_join(list(p.disliked_genres))}"
        )
    if taste:
        sentences.append("; ".join(taste) + ".")
    sentences += [
        PICKINESS[p.pickiness_level],
        ACTIVITY[p.activity_level],
        DIVERSITY[p.diversity_level],
        CONFORMITY[p.conformity_level],
        _patience(p.patience),
    ]
    habits = p.habits.strip()
    if habits:
        sentences.append(habits if habits.endswith((".", "!", "?")) else habits + ".")
    return " ".join(sentences)


def _sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.!?])\s+", text.strip())


def _taste_parts(sentence: str) -> list[tuple[str, list[str]]]:
    """``"Loves A, B and C; dislikes D."`` -> ``[("loves", [A, B, C]), ("dislikes", [D])]``."""
    out = []
    for part in sentence.rstrip(".").split("; "):
        verb, _, genres = part.partition(" ")
        out.append((verb.lower(), re.split(r", | and ", genres)))
    return out


@functools.lru_cache(maxsize=65536)
def persona_genres(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """The liked and disliked genres named in a persona paragraph (:func:`render_persona`).

    Example:
        >>> liked, disliked = persona_genres("A viewer. Loves Drama and Film-Noir; dislikes "
        ...     "Horror. A picky rater who rates below the crowd.")
        >>> sorted(liked), sorted(disliked)
        (['Drama', 'Film-Noir'], ['Horror'])
    """
    found: dict[str, set[str]] = {"loves": set(), "dislikes": set()}
    for sentence in _sentences(text):
        if _TASTE_RE.match(sentence):
            for verb, genres in _taste_parts(sentence):
                found.setdefault(verb, set()).update(genres)
    return frozenset(found["loves"]), frozenset(found["dislikes"])


def compact_persona(text: str) -> str:
    """The paragraph of :func:`render_persona` as keywords, for small policies.

    Trait sentences become one or two words, the taste sentence keeps its genres, the
    demographics lose article and "year old"; sentences it does not know (free-text habits)
    are kept as they are.

    Example:
        >>> compact_persona("A 25-34 year old writer. Loves Drama and Romance; dislikes "
        ...     "Horror. A picky rater who rates below the crowd. Browses many pages patiently.")
        '25-34 writer ; loves Drama Romance ; dislikes Horror ; picky rater ; patient'
    """
    words = []
    for i, sentence in enumerate(_sentences(text)):
        if sentence in _KEYWORDS:
            words.append(_KEYWORDS[sentence])
        elif _TASTE_RE.match(sentence):
            for verb, genres in _taste_parts(sentence):
                words.append(f"{verb} {' '.join(genres)}")
        elif i == 0 and re.match(r"^An? .+\.$", sentence):
            words.append(sentence.split(" ", 1)[1].rstrip(".").replace(" year old", ""))
        elif sentence:
            words.append(sentence)
    return " ; ".join(words)
