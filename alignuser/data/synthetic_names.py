"""Embedded word lists for the synthetic world: genres, titles, descriptions, demographics.

Everything here is deterministic given a :class:`numpy.random.Generator`; nothing is read
from disk or the network.

Example:
    >>> import numpy as np
    >>> from alignuser.data.synthetic_names import genre_names, make_titles
    >>> genre_names(3)
    ['Action', 'Comedy', 'Drama']
    >>> len(set(make_titles(np.random.default_rng(0), 500)))
    500
"""

from __future__ import annotations

import numpy as np

GENRES = (
    "Action", "Comedy", "Drama", "Romance", "Thriller", "Sci-Fi", "Horror", "Adventure",
    "Crime", "Animation", "Documentary", "Fantasy", "Mystery", "Musical", "War", "Western",
    "Children", "Film-Noir",
)  # fmt: skip

ADJECTIVES = (
    "Silent", "Broken", "Golden", "Hidden", "Last", "Crimson", "Lonely", "Endless", "Frozen",
    "Burning", "Secret", "Distant", "Wild", "Quiet", "Savage", "Electric", "Midnight", "Velvet",
    "Iron", "Forgotten", "Restless", "Shattered", "Wandering", "Bitter", "Falling", "Northern",
    "Scarlet", "Hollow", "Brave", "Paper", "Stolen", "Final", "Glass", "Sleeping", "Dark",
    "Bright", "Little", "Lost", "Eternal", "Sudden",
)  # fmt: skip

NOUNS = (
    "Harbor", "River", "Kingdom", "Garden", "Mirror", "Horizon", "Stranger", "Winter", "Empire",
    "Promise", "Shadow", "Orchard", "Island", "Signal", "Voyage", "Witness", "Letter", "Machine",
    "Station", "Summer", "Frontier", "Crown", "Lighthouse", "Detective", "Dancer", "Storm",
    "Circus", "Highway", "Planet", "Prophecy", "Heart", "Hunter", "Bridge", "Season", "Legacy",
    "Compass", "Tower", "Forest", "Diary", "Ghost",
)  # fmt: skip

PLACES = (
    "Tangier", "Brooklyn", "Avalon", "the North", "Vienna", "Sector Nine", "the Valley",
    "Marrakesh", "Dust Creek", "Old Town", "the Moon", "Paris", "the Deep", "Lisbon",
    "Silver Lake", "the Border", "Kyoto", "the Islands", "Route 66", "Elm Street",
)  # fmt: skip

SUBJECTS = (
    "a lighthouse keeper who stops answering letters",
    "two rivals forced to share a long road trip",
    "a detective chasing a case she closed years ago",
    "a family reunion that goes badly wrong",
    "a small town hiding an impossible secret",
    "an unlikely friendship between strangers",
    "a crew stranded far from home",
    "a musician who loses everything and starts over",
    "a heist planned down to the last minute",
    "a child who finds a door to another world",
    "a soldier returning to a changed country",
    "a scientist whose experiment escapes the lab",
    "a romance that spans three decades",
    "a rebellion against a cruel empire",
    "a journalist uncovering a conspiracy",
    "a haunted house and the people who rent it",
)  # fmt: skip

TONES = (
    ("uneven", "low-budget", "forgettable", "clumsy"),
    ("solid", "quirky", "familiar", "modest"),
    ("acclaimed", "gripping", "masterful", "beloved"),
)

AGES = ("Under 18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+")
AGE_WEIGHTS = (0.04, 0.18, 0.35, 0.2, 0.09, 0.08, 0.06)
GENDERS = ("F", "M")
OCCUPATIONS = (
    "student", "engineer", "teacher", "artist", "doctor", "writer", "programmer", "sales",
    "homemaker", "retired", "scientist", "lawyer", "technician", "executive", "other",
)  # fmt: skip


def genre_names(n: int) -> list[str]:
    """Return ``n`` readable genre names (``"Genre 19"``... past the embedded list)."""
    return [GENRES[g] if g < len(GENRES) else f"Genre {g + 1}" for g in range(n)]


def _roman(n: int) -> str:
    out, pairs = "", ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
    for value, sym in pairs:
        while n >= value:
            out, n = out + sym, n - value
    return out


def _title_bases() -> list[str]:
    adjs, nouns = ADJECTIVES, NOUNS
    bases = [f"The {a} {n}" for a in adjs for n in nouns]
    bases += [f"{n} of {p}" for n in nouns for p in PLACES]
    bases += [f"{a} {n}" for a in adjs for n in nouns]
    return bases


def make_titles(rng: np.random.Generator, n: int) -> list[str]:
    """Return ``n`` distinct human-readable titles (without year), in a seeded order.

    When the embedded combinations run out, sequels are added ("... II", "... III").
    """
    bases = _title_bases()
    order = rng.permutation(len(bases))
    titles = []
    for i in range(n):
        cycle, j = divmod(i, len(bases))
        base = bases[order[j]]
        titles.append(base if cycle == 0 else f"{base} {_roman(cycle + 1)}")
    return titles


def make_texts(
    rng: np.random.Generator,
    genres: list[list[str]],
    years: np.ndarray,
    quality: np.ndarray,
) -> list[str]:
    """One-line descriptions; the adjective reflects the item's quality tercile."""
    cuts = np.quantile(quality, [1 / 3, 2 / 3]) if len(quality) else np.zeros(2)
    tercile = np.searchsorted(cuts, quality)
    subjects = rng.integers(0, len(SUBJECTS), len(genres))
    tones = rng.integers(0, len(TONES[0]), len(genres))
    texts = []
    for gs, year, t, s, w in zip(genres, years, tercile, subjects, tones):
        kind = "/".join(g.lower() for g in gs)
        tone = TONES[int(t)][int(w)]
        article = "An" if tone[0] in "aeiou" else "A"
        texts.append(f"{article} {tone} {kind} film from {int(year)} about {SUBJECTS[int(s)]}.")
    return texts


def make_demographics(rng: np.random.Generator, n: int) -> dict[str, list[str]]:
    """Random age bucket, gender and occupation for ``n`` users."""
    return {
        "age": [AGES[i] for i in rng.choice(len(AGES), n, p=np.array(AGE_WEIGHTS))],
        "gender": [GENDERS[i] for i in rng.integers(0, len(GENDERS), n)],
        "occupation": [OCCUPATIONS[i] for i in rng.integers(0, len(OCCUPATIONS), n)],
    }
