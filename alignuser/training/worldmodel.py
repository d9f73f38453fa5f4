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

__all__ = ["evaluate_next_items", "evaluate_world_model", "f1", "parse_result"]

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
    ends = np.mean([parse_result(gold(s))[2] for s in steps])
    return {
        "wm_memory_f1": float(np.mean(mem)),
        "wm_page_f1": float(np.mean(page)),
        "wm_end_accuracy": float(np.mean(end)),
        "wm_end_majority": float(max(ends, 1 - ends)),
        "wm_n": len(steps),
    }


def evaluate_next_items(
    model, steps: Sequence, popularity: Sequence[float], k: int = 10, batch_size: int = 64
) -> dict[str, float]:
    """The non-copyable world-model target: the items the user consumes next.

    For every step with a remembered history and at least one watch, the item tower ranks
    the catalog from the user state (the hidden state at the last history token, which
    comes before the page, so the page cannot be copied:
    :meth:`~alignuser.policy.model.PolicyModel.forward`), history items excluded. Scored as
    hit rate at ``k`` (any watched item of the page in the top ``k``) and recall at ``k``,
    beside the trivial oracle that ranks by ``popularity`` (training counts per item id)
    under the same exclusion.

    Returns ``{}`` for a model without an item tower.
    """
    import torch

    if getattr(model, "item_tower", None) is None:
        return {}
    use = [s for s in steps if s.state.history and any(d.watch for d in s.action.decisions)]
    if not use:
        return {}
    pop = np.asarray(popularity, dtype=np.float64)
    hits, rec, phits, prec = [], [], [], []
    model.lm.eval()
    with torch.inference_mode():
        for start in range(0, len(use), batch_size):
            part = use[start : start + batch_size]
            batch = model.encode([s.state for s in part])
            user = model.forward(batch, lm_loss=False)["user"]
            logits = model.item_tower.next_item_logits(user).float().cpu().numpy()
            for row, s in zip(logits, part):
                seen = [int(i) for i in s.state.history if 0 <= int(i) < len(row)]
                gold = {int(d.item_id) for d in s.action.decisions if d.watch}
                for scores, h, r in ((row.copy(), hits, rec), (pop.copy(), phits, prec)):
                    scores[seen] = -np.inf
                    top = set(np.argpartition(-scores, k)[:k].tolist())
                    h.append(float(bool(top & gold)))
                    r.append(len(top & gold) / len(gold))
    return {
        f"next_item_hit@{k}": float(np.mean(hits)),
        f"next_item_recall@{k}": float(np.mean(rec)),
        f"next_item_hit@{k}_popularity": float(np.mean(phits)),
        f"next_item_recall@{k}_popularity": float(np.mean(prec)),
        "next_item_n": len(use),
    }
