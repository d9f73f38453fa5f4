r"""World-model evaluation: next-state F1 of generated ``RESULT`` texts.

The world model is the policy LM itself trained on next-state prediction (see
:mod:`alignuser.policy.model`). Its predictions are compared to the logged next state on
three parts, each after the same word normalisation (so word-level decoding spaces do not
matter):

* ``memory_f1``: F1 of the predicted memory-change lines (item + liked/neutral/disliked +
  score), i.e. of which items were watched and how they were felt about;
* ``page_f1``: F1 of the items of the predicted next page (titles in the full text, genres
  and popularity decile in the compact one; 0 items when it predicts ``END``);
* ``end_accuracy``: whether it predicts the session end correctly.

Both target texts are read: the full one (items by title) and the compact one of models
that read compact states (items by page position, :func:`~alignuser.training.trajectories.
compact_result_text`). The gold text is the one the model was trained on
(:meth:`~alignuser.policy.model.PolicyModel.result_of`).

Example:
    >>> from alignuser.training.worldmodel import parse_result
    >>> parse_result('CHANGES: - "I liked Heat (1995) based on my review score of 5" END')
    ({'I liked Heat ( 1995 ) based on my review score of 5'}, set(), True)
    >>> mems, items, ends = parse_result("CHANGES: 2 liked 4 ; 3 watched\nPAGE 2: Drama 8 ; - 3")
    >>> sorted(mems), sorted(items), ends
    (['2 liked 4', '3 watched'], ['- 3', 'Drama 8'], False)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from alignuser.policy.tokenizer import words

__all__ = ["evaluate_world_model", "f1", "parse_result"]

_MEM = re.compile(r"I (?:liked|disliked|felt neutral about) .+? based on my review score of \d+")
_PAGE = re.compile(r"PAGE \d+ :(.*)$")
_TITLE = re.compile(r'" ([^"]+?) "')
_CMEM = re.compile(r"\b\d+ (?:(?:liked|disliked|neutral) \d+|watched|skipped)\b")


def parse_result(text: str) -> tuple[set[str], set[str], bool]:
    """``(memory changes, next-page items, ends)`` of a result text, normalised."""
    norm = " ".join(words(text))
    m = _PAGE.search(norm)
    changes = norm[: m.start()] if m else norm
    mems = set(_MEM.findall(changes)) or set(_CMEM.findall(changes))
    items: set[str] = set()
    if m:
        items = {t.strip() for t in _TITLE.findall(m.group(1))}
        if not items and '"' not in m.group(1):  # compact: genres and popularity per item
            items = {t.strip() for t in m.group(1).split(";") if t.strip()}
    ends = bool(re.search(r"\bEND\b", norm)) and not m
    return mems, items, ends


def f1(pred: set[str], gold: set[str]) -> float:
    """Set F1; 1.0 when both are empty."""
    if not pred and not gold:
        return 1.0
    tp = len(pred & gold)
    if tp == 0:
        return 0.0
    p, r = tp / len(pred), tp / len(gold)
    return 2 * p * r / (p + r)


def evaluate_world_model(model, steps: Sequence, max_new_tokens: int = 64) -> dict[str, float]:
    """Generate the next state of each step's (state, human action) and score it."""
    if not steps:
        return {}
    preds = model.generate_results(
        [s.state for s in steps], [s.action for s in steps], max_new_tokens=max_new_tokens
    )
    gold = getattr(model, "result_of", lambda s: s.result)
    mem, page, end = [], [], []
    for p, s in zip(preds, steps):
        pm, pt, pe = parse_result(p)
        gm, gt, ge = parse_result(gold(s))
        mem.append(f1(pm, gm))
        page.append(f1(pt, gt))
        end.append(float(pe == ge))
    return {
        "wm_memory_f1": float(np.mean(mem)),
        "wm_page_f1": float(np.mean(page)),
        "wm_end_accuracy": float(np.mean(end)),
        "wm_n": len(steps),
    }
