"""Page states as token sequences: the slot layout, tokenisation, padded batches.

:class:`PageEncoding` is the part of :class:`~alignuser.policy.model.PolicyModel` that turns
states (and, for training, actions, reflections and world-model targets) into an
:class:`EncodedBatch`: token ids with the decision slots of each item and the exit slot, the
item-tower placements, the cue rows and the targets. The layout itself is described in
:mod:`alignuser.policy.model`. It needs ``self.tokenizer``, ``self.info``, ``self.render``,
``self.max_rating``, ``self.history_length``, ``self.item_tower``, ``self.cue_head`` and
``self.item_space`` from the model.

Example:
    >>> batch = policy_model.encode(states)  # doctest: +SKIP
    >>> batch.input_ids.shape, batch.watch_pos.shape  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alignuser.env.actions import PageAction
from alignuser.env.page import PageState
from alignuser.policy.generation import taken_text

__all__ = ["EncodedBatch", "PageEncoding"]

_TEXT_CACHE_SIZE = 200_000  # texts whose token ids :meth:`PageEncoding._encode_texts` keeps


@dataclass
class EncodedBatch:
    """Padded tensors of one batch (see :meth:`PolicyModel.encode`)."""

    input_ids: Any
    attention_mask: Any
    lm_labels: Any
    watch_pos: Any
    rating_pos: Any
    exit_pos: Any
    item_mask: Any
    n_items: list[int]
    targets: dict[str, Any] = field(default_factory=dict)
    cues: Any = None
    exit_cues: Any = None
    item_marks: Any = None  # (batch index, position, item id, role) rows for the item tower
    user_pos: Any = None  # (B,) position of the last history token (-1: no history)
    page_items: Any = None  # (B, N) item ids of the page (-1: padding)
    view_pos: Any = None  # (B, N, 2) the items' view slots before a reflection (-1: none)


class PageEncoding:
    """Mixin of :class:`~alignuser.policy.model.PolicyModel`: states to token batches."""

    def _resolve_tokens(self) -> None:
        tok = self.tokenizer

        def one(word: str) -> int:
            ids = tok.encode(word, add_special_tokens=False)
            ids = [i for i in ids if tok.decode([i]).strip()]  # drop a lone leading space
            if not ids:
                raise ValueError(f"tokenizer cannot encode label {word!r}")
            return ids[0]

        slot = self.info.get("slot", "<slot>")
        self.slot_id = tok.convert_tokens_to_ids(slot) if slot.startswith("<") else one(slot)
        sp = "" if self.info.get("add_bos") else " "
        self.watch_ids = [one(sp + "SKIP"), one(sp + "WATCH")]
        self.exit_ids = [one(sp + "NEXT"), one(sp + "EXIT")]
        self.rating_ids = [one(sp + str(r)) for r in range(1, self.max_rating + 1)]
        labels = self.watch_ids + self.exit_ids + self.rating_ids
        if len(set(labels)) != len(labels):
            raise ValueError(
                f"base {self.info.get('base')}: label tokens are not distinct ({labels}); "
                f"ratings 1..{self.max_rating} need one token each"
            )
        self._piece_cache: dict[str, list[int]] = {}
        self._text_cache: dict[str, list[int]] = {}

    def _piece(self, text: str) -> list[int]:
        ids = self._piece_cache.get(text)
        if ids is None:
            ids = self.tokenizer.encode(text, add_special_tokens=False)
            self._piece_cache[text] = ids
        return ids

    def build_sequence(
        self,
        head_ids: list[int],
        item_ids: list[list[int]],
        reflection_ids: list[int] | None = None,
        result_ids: list[int] | None = None,
        taken_ids: list[int] | None = None,
    ) -> tuple[list[int], list[int], list[int], list[int], int]:
        """Assemble one sequence; returns ``(ids, lm_mask, watch_pos, rating_pos, exit_pos)``.

        Without a reflection the layout is *inline* (two slots after each item line); with
        one it is *block* (whole state, ``REFLECTION:``, then ``ACTION:`` and numbered slots).
        A ``block_view`` model also puts two *view* slots after each item line of the block
        state (:meth:`view_slots` gives their positions): they carry the item's tower vector
        and cue inputs, so the reflection is written seeing the page, as inline slots see it.
        """
        ids = list(head_ids)
        wpos, rpos = [], []
        if reflection_ids is None:
            for it in item_ids:
                ids += it
                wpos.append(len(ids))
                rpos.append(len(ids) + 1)
                ids += [self.slot_id, self.slot_id]
            lm = [0] * len(ids)
        else:
            for i, it in enumerate(item_ids):
                ids += it
                if self.block_view:  # numbered like the ACTION slots: "item 2" finds them
                    ids += [*self._piece(f"{i + 1}."), self.slot_id, self.slot_id]
            ids += self._piece("REFLECTION:")
            lm = [0] * len(ids)
            body = [*reflection_ids, *self._piece("\n")]
            ids += body
            lm += [1] * len(body)
            head = self._piece("ACTION:\n")
            ids += head
            lm += [0] * len(head)
            for i in range(len(item_ids)):
                num = self._piece(f"{i + 1}.")
                ids += num
                wpos.append(len(ids))
                rpos.append(len(ids) + 1)
                ids += [self.slot_id, self.slot_id]
                lm += [0] * (len(num) + 2)
        end = self._piece("END")
        ids += end
        xpos = len(ids)
        ids.append(self.slot_id)
        lm += [0] * (len(end) + 1)
        if result_ids is not None and taken_ids is not None:
            mid = [*self._piece("\nTAKEN:\n"), *taken_ids, *self._piece("\nRESULT:\n")]
            ids += mid
            lm += [0] * len(mid)
            tail = [*result_ids, self.tokenizer.eos_token_id]
            ids += tail
            lm += [1] * len(tail)
        return ids, lm, wpos, rpos, xpos

    def view_slots(self, head_len: int, item_ids: list[list[int]]) -> list[int]:
        """First positions of the items' view slots in a block sequence (empty without)."""
        if not self.block_view:
            return []
        out, pos = [], head_len
        for i, it in enumerate(item_ids):
            pos += len(it) + len(self._piece(f"{i + 1}."))
            out.append(pos)
            pos += 2
        return out

    def _state_ids(
        self, states: Sequence[PageState], rendered: Sequence[str] | None = None
    ) -> list[tuple[list[int], list[list[int]]]]:
        """Token ids of each state's head (persona .. PAGE line) and of each item line.

        ``rendered``: the states' texts when the caller has them already.
        """
        texts, spans = [], []
        for k, s in enumerate(states):
            lines = (self.render(s) if rendered is None else rendered[k]).split("\n")
            n = len(s.items)
            spans.append((len(texts), n))
            texts.append("\n".join(lines[: len(lines) - n]) + "\n")
            texts += [ln + "\n" for ln in lines[len(lines) - n :]]
        enc = self._encode_texts(texts)
        bos = [self.tokenizer.bos_token_id] if self.info.get("add_bos") else []
        out = []
        for s, (a, n) in zip(states, spans):
            head = [*bos, *enc[a]]
            n_h = self._n_history(s)
            if self.history_length:  # one placeholder per remembered item (item tower)
                head += [*self._piece("HISTORY:"), *[self.slot_id] * n_h, *self._piece("\n")]
            out.append((head, enc[a + 1 : a + 1 + n]))
        return out

    def _encode_texts(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, remembered: a population's pages repeat their lines.

        Compact item lines (genres, rounded numbers) and an agent's persona head recur from
        page to page and agent to agent; the cache (cleared when it holds
        ``_TEXT_CACHE_SIZE`` texts) tokenises each distinct text once.
        """
        cache = self._text_cache
        todo = [t for t in dict.fromkeys(texts) if t not in cache]
        if todo and len(cache) + len(todo) > _TEXT_CACHE_SIZE:
            cache.clear()  # full: start again, with every text of this batch to tokenise
            todo = list(dict.fromkeys(texts))
        if todo:
            ids = self.tokenizer(todo, add_special_tokens=False)["input_ids"]
            cache.update(zip(todo, ids))
        return [cache[t] for t in texts]

    def _n_history(self, state: PageState) -> int:
        return min(len(state.history), self.history_length)

    def _marks(self, state: PageState, head_len: int, wpos=(), rpos=(), view=()) -> list[tuple]:
        """Item-tower placements ``(position, item id, role)`` of one sequence.

        The history placeholders at the end of the head, then each item's decision slots
        (and its two view slots, ``view``: their first positions, block layout).
        """
        if not self.history_length:
            return []
        from alignuser.policy.items import history_role

        n_h = self._n_history(state)
        nl = len(self._piece("\n"))
        first = head_len - nl - n_h
        items = state.history[len(state.history) - n_h :]
        ratings = state.history_ratings[len(state.history_ratings) - n_h :] if n_h else ()
        if len(ratings) != n_h:
            ratings = (float("nan"),) * n_h
        top = self.max_rating
        pairs = enumerate(zip(items, ratings))
        out = [(first + j, int(i), history_role(r, top)) for j, (i, r) in pairs]
        for it, w, r in zip(state.items, wpos, rpos):
            out += [(w, int(it.item_id), 0), (r, int(it.item_id), 0)]
        for it, v in zip(state.items, view):
            out += [(v, int(it.item_id), 0), (v + 1, int(it.item_id), 0)]
        return out

    def _texts_ids(self, texts: Sequence[str | None]) -> list[list[int] | None]:
        todo = [t for t in texts if t is not None]
        enc = (
            iter(self.tokenizer(list(todo), add_special_tokens=False)["input_ids"])
            if todo
            else None
        )
        return [None if t is None else next(enc) for t in texts]  # type: ignore[arg-type]

    def encode(
        self,
        states: Sequence[PageState],
        actions: Sequence[PageAction] | None = None,
        *,
        reflections: Sequence[str | None] | None = None,
        results: Sequence[str | None] | None = None,
        max_len: int | None = None,
        rendered: Sequence[str] | None = None,
    ) -> EncodedBatch:
        """Tokenise a batch into padded tensors with slot positions and targets.

        Args:
            states: Page states.
            actions: Human actions (targets); ``None`` for pure scoring.
            reflections: Optional reflection text per state (inserted before ``ACTION:``).
            results: Optional next-state text per state (world-model target; needs actions).
            max_len: Truncate the appended segments so sequences stay under this length.
            rendered: The states' texts (``self.render(state)``), when already rendered.
        """
        import torch

        seqs, marks, views = self._sequences(
            states, actions, reflections, results, max_len, rendered
        )
        n_max = max(1, max(len(s.items) for s in states))
        batch = self._padded(seqs, n_max)
        next_rows: list[tuple[int, int, int]] = []
        if self.item_tower is not None:
            batch.user_pos, batch.page_items, next_rows = self._tower_rows(
                states, marks, actions, n_max
            )
        if self.cue_head is not None:
            from alignuser.policy.cue_batch import batch_cues

            batch.cues, batch.exit_cues = batch_cues(states, n_max, self.item_space)
        if marks:
            batch.item_marks = torch.tensor(marks, dtype=torch.long).reshape(-1, 4)
        if any(views):
            view = torch.full((len(states), n_max, 2), -1, dtype=torch.long)
            for k, v in enumerate(views):
                if v:
                    view[k, : len(v), 0] = torch.tensor(v)
                    view[k, : len(v), 1] = torch.tensor(v) + 1
            batch.view_pos = view
        batch.n_items = [len(s.items) for s in states]
        if actions is not None:
            batch.targets = self._targets(actions, n_max)
            if next_rows:
                batch.targets["next_item"] = torch.tensor(next_rows, dtype=torch.long)
        return batch

    def _sequences(self, states, actions, reflections, results, max_len, rendered):
        """Each state's ``(ids, lm mask, watch pos, rating pos, exit pos)``, marks and views.

        The tower marks and the view slots (:meth:`view_slots`, block layout).
        """
        prefixes = self._state_ids(states, rendered)
        none = [None] * len(states)
        refl = self._texts_ids(reflections) if reflections is not None else none
        res = self._texts_ids(results) if results is not None else none
        taken = (
            self._texts_ids([taken_text(a) for a in actions])
            if actions is not None and results is not None
            else none
        )
        seqs = []
        marks: list[tuple] = []
        views: list[list[int]] = []
        for k, ((head, items), st, rf, rs, tk) in enumerate(
            zip(prefixes, states, refl, res, taken)
        ):
            ids, lm, w, r, x = self.build_sequence(head, items, rf, rs, tk)
            view = self.view_slots(len(head), items) if rf is not None else []
            views.append(view)
            marks += [(k, *m) for m in self._marks(st, len(head), w, r, view)]
            if max_len is not None and len(ids) > max_len:
                if x >= max_len:
                    raise ValueError(
                        f"page {st.page} of agent {st.agent_id}: {x + 1} tokens up to the "
                        f"exit slot exceed max_len={max_len}; shorten the state"
                    )
                ids, lm = ids[:max_len], lm[:max_len]
            seqs.append((ids, lm, w, r, x))
        return seqs, marks, views

    def _padded(self, seqs, n_max: int) -> EncodedBatch:
        """Right-padded ids, attention mask, LM labels and slot positions (built in numpy)."""
        import torch

        b, length = len(seqs), max(len(s[0]) for s in seqs)
        ids_np = np.full((b, length), self.tokenizer.pad_token_id, dtype=np.int64)
        attn = np.zeros((b, length), dtype=np.int64)
        labels = np.full((b, length), -100, dtype=np.int64)
        wpos = np.zeros((b, n_max), dtype=np.int64)
        rpos = np.zeros((b, n_max), dtype=np.int64)
        xpos = np.zeros(b, dtype=np.int64)
        imask = np.zeros((b, n_max), dtype=bool)
        for k, (ids, lm, w, r, x) in enumerate(seqs):
            n_ids = len(ids)
            row = np.asarray(ids, dtype=np.int64)
            ids_np[k, :n_ids] = row
            attn[k, :n_ids] = 1
            m = np.asarray(lm, dtype=bool)
            labels[k, :n_ids][m] = row[m]
            n = len(w)
            if n:
                wpos[k, :n], rpos[k, :n], imask[k, :n] = w, r, True
            xpos[k] = x
        t = torch.from_numpy
        return EncodedBatch(t(ids_np), t(attn), t(labels), t(wpos), t(rpos), t(xpos), t(imask), [])

    def _tower_rows(self, states, marks, actions, n_max: int):
        """``(user_pos, page_items, next_rows)`` of the item tower.

        ``next_rows``: (batch index, position, next consumed item): each history token
        predicts the item after it, the last one this page's watches (when ``actions``).
        """
        import torch

        b = len(states)
        user_pos = torch.full((b,), -1, dtype=torch.long)
        hist: dict[int, list[tuple[int, int]]] = {}
        for k, pos, item, role in marks:
            if role >= 1:
                hist.setdefault(k, []).append((pos, item))
        next_rows: list[tuple[int, int, int]] = []
        page_np = np.full((b, n_max), -1, dtype=np.int64)
        for k, st in enumerate(states):
            page_np[k, : len(st.items)] = st.item_ids
        page_items = torch.from_numpy(page_np)
        for k in range(b):
            h = sorted(hist.get(k, []))
            if h:
                user_pos[k] = h[-1][0]
                next_rows += [(k, h[j][0], h[j + 1][1]) for j in range(len(h) - 1)]
                if actions is not None:
                    next_rows += [
                        (k, h[-1][0], int(d.item_id)) for d in actions[k].decisions if d.watch
                    ]
        return user_pos, page_items, next_rows

    def _targets(self, actions: Sequence[PageAction], n_max: int) -> dict[str, Any]:
        """Watch / rating (0-based, -1 unrated) / exit targets of the human actions."""
        import torch

        b = len(actions)
        wt = torch.zeros((b, n_max), dtype=torch.long)
        rt = torch.full((b, n_max), -1, dtype=torch.long)
        xt = torch.zeros(b, dtype=torch.long)
        for k, a in enumerate(actions):
            for i, d in enumerate(a.decisions):
                wt[k, i] = int(d.watch)
                if d.watch:
                    rt[k, i] = min(max(int(d.rating), 1), self.max_rating) - 1
            xt[k] = int(a.exit)
        return {"watch": wt, "rating": rt, "exit": xt}
