"""Persona text: one compact paragraph in the AlignUSER / Agent4Rec style.

The paragraph is what a language-model policy reads on the ``PERSONA:`` line of a page state
(:mod:`alignuser.env.text`). It is deterministic: the same persona always gives the same text.
Its trait sentences, and its keyword form for small policies
(:func:`~alignuser.env.persona_text.compact_persona`), are in :mod:`alignuser.env.persona_text`;
:func:`persona_genres` reads the genres back.

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

from alignuser.env.persona_text import (
    ACTIVITY,
    CONFORMITY,
    DIVERSITY,
    PATIENCE,
    PICKINESS,
    TASTE_RE,
    split_sentences,
    taste_parts,
)
from alignuser.personas.persona import Persona


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
    for sentence in split_sentences(text):
        if TASTE_RE.match(sentence):
            for verb, genres in taste_parts(sentence):
                found.setdefault(verb, set()).update(genres)
    return frozenset(found["loves"]), frozenset(found["dislikes"])
