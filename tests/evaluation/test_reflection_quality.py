"""Reflection grounding checks: a template reflection passes; each corruption fails its check."""

from __future__ import annotations

import math

from alignuser.env.actions import ItemDecision, PageAction
from alignuser.env.page import ItemView, PageState
from alignuser.evaluation.reflection_quality import (
    check_reflection,
    reflection_rates,
    split_reflection,
)
from alignuser.training.reflectors import TemplateReflector

STATE = PageState(
    7,
    "Loves Drama and Crime; dislikes Horror. Watches often.",
    1,
    (
        ItemView(1, "Heat", ("Crime",), similar=("I liked Ronin based on genre",)),
        ItemView(2, "Scream", ("Horror",), similar=("I disliked Halloween based on genre",)),
    ),
)
HUMAN = PageAction((ItemDecision(1, True, 4), ItemDecision(2, False)), exit=False)
ALTS = [PageAction((ItemDecision(1, False), ItemDecision(2, True, 2)), exit=False),
        PageAction((ItemDecision(1, True, 4), ItemDecision(2, False)), exit=True)]  # fmt: skip
PRED = ["Heat: disliked. PAGE 2 ...", "END"]


def _text():
    item = {"state": STATE, "human": HUMAN, "alternatives": ALTS, "predicted": PRED}
    return TemplateReflector().reflect([item])[0]


def test_template_reflection_is_grounded():
    text = _text()
    c = check_reflection(text, STATE, HUMAN, ALTS, PRED)
    assert c["grounded"] == 1.0, (c, text)
    assert split_reflection(text)["PERSONA"] == "Loves Drama and Crime; dislikes Horror"
    assert math.isnan(check_reflection(text, STATE, HUMAN, ALTS)["outcome_matches_wm"])


def test_each_corruption_fails_its_check():
    text = _text()
    bad = {
        "persona_grounded": text.replace("Loves Drama", "Loves Western"),
        "persona_coherent": text.replace("dislikes Horror", "dislikes Crime"),
        "persona_consistent": text.replace("and Crime; dislikes Horror", "; dislikes Crime"),
        "cites_alternatives": text.replace("watching Scream", "watching Heat"),
        "lesson_agrees": text.replace("Keep browsing while pages fit", "Leave now"),
        "outcome_matches_wm": text.replace("nothing enjoyed |", "3 liked |"),
    }
    for check, t in bad.items():
        c = check_reflection(t, STATE, HUMAN, ALTS, PRED)
        assert c[check] == 0.0 and c["grounded"] == 0.0, (check, t)
    c = check_reflection("LESSON: watch", STATE, HUMAN, ALTS, PRED)
    assert c["parsed"] == 0.0
    claim = text.split("LESSON: ")[0] + "LESSON: Skip pages that resemble what I disliked."
    skipped_liked = PageAction((ItemDecision(1, False), ItemDecision(2, False)), exit=False)
    assert check_reflection(claim, STATE, skipped_liked, [])["lesson_supported"] == 1.0
    rates = reflection_rates(__import__("pandas").DataFrame([c, c]))
    assert rates.loc[0, "n"] == 2 and rates.loc[0, "parsed"] == 0.0
