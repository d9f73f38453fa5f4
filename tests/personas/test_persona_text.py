"""Persona dataclass (features, round trip, validation) and persona text."""

from __future__ import annotations

import dataclasses
import json

import pytest

from alignuser.personas import FEATURE_KEYS, Persona, render_persona


def _p(**kw) -> Persona:
    base = dict(
        user_id=3,
        gender="F",
        age="25-34",
        occupation="writer",
        liked_genres=("Drama", "Romance"),
        disliked_genres=("Horror",),
        taste={"Drama": 0.8, "Romance": 0.6, "Horror": -0.9},
        rating_bias=-0.4,
        pickiness_level=3,
        activity_num=53.0,
        big_five={"openness": 0.7},
    )
    base.update(kw)
    return Persona(**base)


def test_features_exact_keys_and_types():
    f = _p().to_features()
    assert tuple(f) == FEATURE_KEYS
    assert set(f) == {
        "liked_genres",
        "disliked_genres",
        "taste",
        "rating_bias",
        "patience",
        "conformity",
        "activity",
    }
    assert f["liked_genres"] == ("Drama", "Romance") and isinstance(f["disliked_genres"], tuple)
    assert f["taste"]["Horror"] == -0.9 and f["rating_bias"] == -0.4
    assert all(
        isinstance(f[k], float) for k in ("rating_bias", "patience", "conformity", "activity")
    )


def test_round_trip_through_json():
    p = _p(habits="Watches at night.", archetype="critic", source_id=9)
    back = Persona.from_dict(json.loads(json.dumps(p.to_dict())))
    assert back == p and isinstance(back.liked_genres, tuple)
    assert hash(back) == hash(p)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"patience": 1.5}, "patience"),
        ({"activity_level": 4}, "activity_level"),
        ({"taste": {"Drama": 2.0}}, "taste"),
        ({"big_five": {"grit": 0.5}}, "grit"),
    ],
)
def test_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        _p(**kw)


def test_from_dict_rejects_unknown_key():
    with pytest.raises(ValueError, match="favourite"):
        Persona.from_dict({"user_id": 0, "favourite": "x"})


def test_text_contains_taste_and_demographics():
    text = render_persona(_p())
    assert "Drama" in text and "Romance" in text and "dislikes Horror" in text
    assert "25-34" in text and "female writer" in text
    assert "picky" in text


def test_text_changes_with_pickiness_and_traits():
    texts = {lv: render_persona(_p(pickiness_level=lv)) for lv in (1, 2, 3)}
    assert len(set(texts.values())) == 3
    assert "lenient" in texts[1] and "picky" not in texts[1]
    assert render_persona(_p(conformity_level=1)) != render_persona(_p(conformity_level=3))
    assert render_persona(_p(patience=0.1)) != render_persona(_p(patience=0.9))


def test_text_empty_fields_no_none_or_nan():
    p = Persona(user_id=0, rating_bias=0.0)
    text = render_persona(p)
    for bad in ("None", "nan", "Loves", "  ", "..", " year old"):
        assert bad not in text
    assert render_persona(p) == text  # deterministic
    assert render_persona(dataclasses.replace(p, habits="Skips sequels")).endswith("Skips sequels.")


def test_text_articles_and_age_words():
    assert render_persona(_p(age="18-24", gender="M", occupation="artist")).startswith(
        "An 18-24 year old male artist."
    )
    assert render_persona(_p(age="Under 18", gender="", occupation="")).startswith(
        "An under 18 viewer."
    )
    assert render_persona(_p(age="35-44", occupation="")).startswith(
        "A 35-44 year old female viewer."
    )


def test_text_skips_coded_gender():
    assert render_persona(_p(age="40", gender="1", occupation="")).startswith(
        "A 40 year old viewer."
    )


def test_compact_persona_keeps_every_trait_in_a_few_words():
    from alignuser.env.persona_text import compact_persona

    for levels in [(1, 1, 1, 1, 0.1), (2, 2, 2, 2, 0.5), (3, 3, 3, 3, 0.9)]:
        p = Persona(
            user_id=0, gender="F", age="35-44", occupation="doctor",
            liked_genres=("Drama", "Film-Noir", "Children's"), disliked_genres=("Horror",),
            pickiness_level=levels[0], activity_level=levels[1], diversity_level=levels[2],
            conformity_level=levels[3], patience=levels[4], habits="Watches at night",
        )  # fmt: skip
        full = render_persona(p)
        short = compact_persona(full)
        parts = short.split(" ; ")
        assert parts[:3] == [
            "35-44 female doctor", "loves Drama Film-Noir Children's", "dislikes Horror"
        ]  # fmt: skip
        assert parts[-1] == "Watches at night."  # unknown sentences are kept
        assert len(parts) == 9 and len(short.replace(" ;", "").split()) < 0.5 * len(full.split())
    # the three levels of each trait give distinct keywords
    shorts = {
        compact_persona(render_persona(Persona(user_id=0, activity_level=a))) for a in (1, 2, 3)
    }
    assert len(shorts) == 3
