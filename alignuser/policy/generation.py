"""Text generation of a :class:`~alignuser.policy.model.PolicyModel`: next states and thoughts.

Off the hot path: scoring decisions needs one forward pass per page; these generate text
token by token (greedy), for the world model's predictions of counterfactual outcomes
(:meth:`TextGeneration.generate_results`) and for the optional rationale a policy writes
before deciding (:meth:`TextGeneration.generate_thoughts`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alignuser.env.actions import PageAction
from alignuser.env.page import PageState

__all__ = ["TextGeneration", "taken_text"]


def taken_text(action: PageAction) -> str:
    """World-model input action: watch/skip per item and next/exit, without ratings."""
    lines = [f"{i + 1}. {'WATCH' if d.watch else 'SKIP'}" for i, d in enumerate(action.decisions)]
    lines.append("EXIT" if action.exit else "NEXT")
    return "\n".join(lines)


class TextGeneration:
    """Mixin of :class:`~alignuser.policy.model.PolicyModel` (uses its tokenizer and layout)."""

    def generate_results(
        self,
        states: Sequence[PageState],
        actions: Sequence[PageAction],
        max_new_tokens: int = 48,
        batch_size: int = 64,
        changes_only: bool = False,
    ) -> list[str]:
        """World-model prediction: greedy next-state text for each (state, action).

        Args:
            states: Page states.
            actions: The actions whose outcome is predicted.
            max_new_tokens: Generation budget.
            batch_size: Prompts per ``generate`` call.
            changes_only: Stop at the next-page header (``PAGE``/``END``, word-level bases
                only): enough for counterfactual outcomes and much cheaper.
        """
        taken = self._texts_ids([taken_text(a) for a in actions])
        prompts, marks = [], []
        for st, (head, items), tk in zip(states, self._state_ids(states), taken):
            ids, _, w, r, _ = self.build_sequence(head, items)
            prompts.append([*ids, *self._piece("\nTAKEN:\n"), *tk, *self._piece("\nRESULT:\n")])
            marks.append(self._marks(st, len(head), w, r))
        stop: list[int] = []
        if changes_only and self.info.get("add_bos"):
            stop = [*self._piece("PAGE")[:1], *self._piece("END")[:1]]
        return self._generate(prompts, max_new_tokens, batch_size, stop, marks)

    def generate_thoughts(
        self, states: Sequence[PageState], max_new_tokens: int = 64, batch_size: int = 64
    ) -> list[str]:
        """A free-text rationale per page, before any decision (greedy, off the hot path).

        The model continues ``<state> REFLECTION:`` up to the end of the line: after
        counterfactual alignment that is a reflection in the reflector's words (context,
        persona, future outcomes, lesson), the policy's "thought". Score the page after it
        with ``score(states, thoughts=...)``; check that the two agree with
        :func:`alignuser.policy.thoughts.thought_action_consistency`.
        """
        ids = self._state_ids(states)
        prompts = []  # the block layout's state part (with view slots where the model has them)
        for h, items in ids:
            seq = list(h)
            for i, it in enumerate(items):
                seq += it
                if self.block_view:
                    seq += [*self._piece(f"{i + 1}."), self.slot_id, self.slot_id]
            prompts.append([*seq, *self._piece("REFLECTION:")])
        marks = [
            self._marks(st, len(h), view=self.view_slots(len(h), items))
            for st, (h, items) in zip(states, ids)
        ]
        if self.info.get("add_bos"):  # word-level tiny bases drop newlines: stop at ACTION
            stop = self._piece("ACTION:")[:1]
        else:
            stop = [i for i in self._piece("\n") if not self.tokenizer.decode([i]).strip()][-1:]
        texts = self._generate(prompts, max_new_tokens, batch_size, stop, marks)
        return [t.split("\n")[0].split("ACTION")[0].strip() for t in texts]

    def reflection_logp(
        self, states: Sequence[PageState], texts: Sequence[str], batch_size: int = 32
    ) -> np.ndarray:
        """Log-probability of each reflection text after its state (block layout, ``(n,)``).

        The sum over the text's tokens of ``log P(token | state, REFLECTION:, text so far)``,
        the line break that closes a reflection left out, so a prefix of a reflection is
        scored as a prefix. :mod:`alignuser.policy.thinking` chooses among candidate thoughts
        with it.
        """
        import torch

        _, head = self._parts()
        n_nl = len(self._piece("\n"))
        out = np.zeros(len(states))
        self.lm.eval()
        with torch.inference_mode():
            for a in range(0, len(states), batch_size):
                batch = self.encode(
                    states[a : a + batch_size], reflections=texts[a : a + batch_size]
                )
                h = self._hidden(batch, lm_loss=True)
                labels = batch.lm_labels[:, 1:].to(self.device)
                mask = labels != -100
                if n_nl:  # drop each row's closing line break
                    last = mask.cumsum(1) > (mask.sum(1, keepdim=True) - n_nl)
                    mask = mask & ~last
                rows, cols = mask.nonzero(as_tuple=True)
                logp = torch.log_softmax(head(h[:, :-1][rows, cols]).float(), -1)
                tok = logp.gather(1, labels[rows, cols][:, None])[:, 0]
                sums = torch.zeros(len(batch.n_items), device=self.device).index_add(0, rows, tok)
                out[a : a + len(batch.n_items)] = sums.cpu().numpy()
        return out

    def _generate(
        self,
        prompts: list[list[int]],
        max_new_tokens: int,
        batch_size: int,
        stop: list[int],
        marks: list[list[tuple]] | None = None,
    ) -> list[str]:
        """Greedy continuations of token-id prompts (left-padded batches, shortest first).

        ``marks``: per prompt, the item-tower placements ``(position, item, role)`` (see
        ``PolicyModel._marks``); the prompt is then fed as input embeddings.
        """
        import torch

        self.lm.eval()
        outs: list[str] = [""] * len(prompts)
        order = np.argsort([len(p) for p in prompts], kind="stable")
        pad = self.tokenizer.pad_token_id
        eos: list[int] = [self.tokenizer.eos_token_id, *stop]
        with torch.inference_mode():
            for start in range(0, len(prompts), batch_size):
                idx = order[start : start + batch_size]
                length = max(len(prompts[i]) for i in idx)
                ids = torch.full((len(idx), length), pad, dtype=torch.long)
                att = torch.zeros_like(ids)
                rows = []
                for k, i in enumerate(idx):
                    p = prompts[i]
                    ids[k, length - len(p) :] = torch.tensor(p)
                    att[k, length - len(p) :] = 1
                    if marks is not None:
                        rows += [(k, pos + length - len(p), it, ro) for pos, it, ro in marks[i]]
                extra = {}
                if self.item_tower is not None and rows:
                    m = torch.tensor(rows, dtype=torch.long)
                    extra["inputs_embeds"] = self.embed(ids.to(self.device), m)
                gen = self.lm.generate(
                    input_ids=ids.to(self.device),
                    **extra,
                    attention_mask=att.to(self.device),
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=pad,
                    eos_token_id=eos,
                )
                for k, i in enumerate(idx):
                    outs[i] = self.tokenizer.decode(gen[k, length:], skip_special_tokens=True)
        return outs
