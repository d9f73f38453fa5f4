"""The persona paragraph a page state carries, as words: its trait sentences and keywords.

A :class:`~alignuser.env.page.PageState` holds its user's persona as text (the paragraph of
:func:`alignuser.personas.text.render_persona`). This module holds the fixed sentences that
paragraph is made of (one per trait level) and reads it back: :func:`split_sentences`,
:func:`taste_parts` and :func:`compact_persona`, the keyword form the compact state text
(:func:`alignuser.env.text.render_state_compact`) shows small policies.

Example:
    >>> compact_persona("A viewer. Loves Drama; dislikes Horror. An average rater.")
    'viewer ; loves Drama ; dislikes Horror ; average rater'
"""

from __future__ import annotations

import functools
import re

__all__ = [
    "ACTIVITY",
    "CONFORMITY",
    "DIVERSITY",
    "PATIENCE",
    "PICKINESS",
    "TASTE_RE",
    "compact_persona",
    "split_sentences",
    "taste_parts",
]

#: The persona paragraph's trait sentences by level (1..3); patience by tercile.
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
#: The start of the taste sentence (``"Loves ..."`` or ``"Dislikes ..."``).
TASTE_RE = re.compile(r"^(Loves|Dislikes) ")


def split_sentences(text: str) -> list[str]:
    """The sentences of a paragraph (split after ``.``, ``!`` or ``?``)."""
    return re.split(r"(?<=[.!?])\s+", text.strip())


def taste_parts(sentence: str) -> list[tuple[str, list[str]]]:
    """``"Loves A, B and C; dislikes D."`` -> ``[("loves", [A, B, C]), ("dislikes", [D])]``."""
    out = []
    for part in sentence.rstrip(".").split("; "):
        verb, _, genres = part.partition(" ")
        out.append((verb.lower(), re.split(r", | and ", genres)))
    return out


@functools.lru_cache(maxsize=65536)  # a population's personas recur on every page
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
    for i, sentence in enumerate(split_sentences(text)):
        if sentence in _KEYWORDS:
            words.append(_KEYWORDS[sentence])
        elif TASTE_RE.match(sentence):
            for verb, genres in taste_parts(sentence):
                words.append(f"{verb} {' '.join(genres)}")
        elif i == 0 and re.match(r"^An? .+\.$", sentence):
            words.append(sentence.split(" ", 1)[1].rstrip(".").replace(" year old", ""))
        elif sentence:
            words.append(sentence)
    return " ; ".join(words)
