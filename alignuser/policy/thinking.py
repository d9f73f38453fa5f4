"""Grounded thoughts: the policy's rationale, decoded in the reflection grammar it was aligned on.

Counterfactual alignment teaches the model to write, after a page's state, the reflection of
:class:`~alignuser.policy.reflection.TemplateReflector`: ``CONTEXT: watched item 1 (similar
liked), skipped item 2 (no similar memory). PERSONA: ... FUTURE: <alternative> -> <predicted
outcome> | ... LESSON: ...``. Free greedy decoding of that text from a small model repeats
itself, names items twice or not at all and misquotes the persona.
:func:`grounded_thoughts` decodes it under the grammar instead, so every choice in the
thought is the model's and every fact in it is the page's:

1. **Context** (which items the user means to watch), item by item in page order: the
   ``CONTEXT`` part so far, extended with ``item j watched (<its evidence>)`` or ``item j
   skipped (<its evidence>)``; the model keeps the likelier
   (:meth:`~alignuser.policy.generation.TextGeneration.reflection_logp`; greedy decoding over
   the two words the grammar allows). Each page item is named once, with its real evidence,
   and nothing else is named.
2. **Persona**: the persona's taste sentence, quoted from the state.
3. **Future**: for the chosen watch set, with leaving and with staying, ``k_alternatives``
   counterfactual actions (:func:`~alignuser.policy.counterfactual.alternatives`, other watch
   sets and the other exit choice) and the **world model's** predicted outcome of each
   (:meth:`~alignuser.policy.generation.TextGeneration.generate_results`).
4. **Lesson** and exit: the two whole reflections (leave / stay) are scored by the model and
   the likelier is the thought.

The policy then decides after reading its thought (``score(states, thoughts=...)``);
:func:`~alignuser.policy.thoughts.thought_action_consistency` measures whether it does what the
thought says. Off the hot path: ``2n + 2`` scored sequences and 4 short generations a page
of ``n`` items.

Example:
    >>> from alignuser.policy.thinking import grounded_thoughts
    >>> grounded_thoughts(policy_model, states)[0][:9]  # doctest: +SKIP
    'CONTEXT: '
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from alignuser.env.actions import ItemDecision, PageAction
from alignuser.env.page import PageState
from alignuser.policy.counterfactual import alternatives
from alignuser.policy.reflection import TemplateReflector

__all__ = ["grounded_thoughts"]


def _action(state: PageState, watched: Sequence[int], leave: bool) -> PageAction:
    rating = round(0.6 * state.max_rating)  # not in the text; the world model reads no rating
    ws = set(watched)
    return PageAction(
        tuple(
            ItemDecision(it.item_id, j in ws, rating if j in ws else None)
            for j, it in enumerate(state.items)
        ),
        leave,
    )


def _pick(margin: float, rng: np.random.Generator | None) -> int:
    """1 for the first of two texts whose log-probabilities differ by ``margin``."""
    if rng is None:
        return int(margin > 0)
    return int(rng.random() < 1.0 / (1.0 + np.exp(-margin)))


def grounded_thoughts(
    pm,
    states: Sequence[PageState],
    k_alternatives: int = 2,
    max_new_tokens: int = 48,
    seed: int = 0,
    batch_size: int = 32,
    rng: np.random.Generator | None = None,
) -> list[str]:
    """One grounded thought per state (see the module docstring); deterministic for a seed.

    Args:
        pm: A :class:`~alignuser.policy.model.PolicyModel` (aligned with reflections).
        states: Page states.
        k_alternatives: Counterfactual alternatives whose outcome the thought cites.
        max_new_tokens: World-model generation budget per alternative.
        seed: Seed of the alternatives.
        batch_size: Sequences per forward pass.
        rng: Sample each choice (watched / skipped, leave / stay) with the model's
            probability of it, as a simulation samples its actions; ``None``: greedy.
    """
    states = list(states)
    if not states:
        return []
    writer = TemplateReflector(max_alternatives=k_alternatives, compact=pm.compact)

    def write(st, action, alts=(), preds=()):
        return writer.reflect(
            [{"state": st, "human": action, "alternatives": list(alts), "predicted": list(preds)}]
        )[0]

    chosen: list[list[int]] = [[] for _ in states]
    for j in range(max((len(st.items) for st in states), default=0)):
        todo = [i for i, st in enumerate(states) if j < len(st.items)]
        texts = []  # the CONTEXT part up to item j, which is watched / skipped
        for i in todo:
            head = dataclasses.replace(states[i], items=states[i].items[: j + 1])
            for w in (chosen[i] + [j], chosen[i]):
                texts.append(write(head, _action(head, w, False)).split(". PERSONA:")[0])
        lp = pm.reflection_logp([states[i] for i in todo for _ in (0, 1)], texts, batch_size)
        for k, i in enumerate(todo):
            if _pick(lp[2 * k] - lp[2 * k + 1], rng):
                chosen[i].append(j)
    options = []  # (state index, action, alternatives) for leave / stay
    for i, st in enumerate(states):
        for leave in (False, True):
            act = _action(st, chosen[i], leave)
            alt_rng = np.random.default_rng([seed, i, int(leave)])  # not the choices' rng
            alts = alternatives(act, k_alternatives, st.max_rating, alt_rng, ("watch_set", "exit"))
            options.append((i, act, alts))
    pairs = [(i, a) for i, _, alts in options for a in alts]
    preds = pm.generate_results(
        [states[i] for i, _ in pairs],
        [a for _, a in pairs],
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        changes_only=True,
    )
    texts, at = [], 0
    for i, act, alts in options:
        texts.append(write(states[i], act, alts, preds[at : at + len(alts)]))
        at += len(alts)
    lp = pm.reflection_logp([states[i] for i, _, _ in options], texts, batch_size)
    stay = [_pick(lp[2 * i] - lp[2 * i + 1], rng) for i in range(len(states))]
    return [texts[2 * i + 1 - s] for i, s in enumerate(stay)]
