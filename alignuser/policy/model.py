r"""``PolicyModel``: a causal LM that scores every legal decision of a page in one pass.

The decision format
-------------------
The page state (:func:`alignuser.env.text.render_state`, or its compact form
:func:`~alignuser.env.text.render_state_compact` for the tiny base) is tokenised line by line
and each item line is followed by two decision **slots**, placeholder tokens (``<slot>`` for
the tiny base, `` ?`` for BPE bases); one more slot closes the page::

    PERSONA: "..."
    MEMORIES: ...
    PAGE 2 (rate 1-5)
    1. "Toy Story (1995)" | year 1995 | ... | similar [...] <slot> <slot>
    2. "Heat (1995)" | year 1995 | ... | similar [...] <slot> <slot>
    END <slot>

The model's output at the first slot after item ``i`` is read as the distribution over
``{SKIP, WATCH}``, at the second over the ratings ``1..max`` (given watch), at the last over
``{NEXT, EXIT}``. Slots sit right after the evidence they decide on (the item line, with its
similar-item memories), which a small model learns far faster than matching numbered slots
to numbered lines at the end. The slot inputs are constants, never earlier sampled decisions,
so every marginal of a page comes out of **one forward pass**, and a batch of pages out of one
right-padded pass (logits gathered at the slot positions). Decisions of one page are therefore
conditionally independent given the state, and an item's decision sees the items above it,
not below; the exit probability does not see what was watched on this page. This is the
price of one-pass scoring.

A linear **cue head** (:mod:`alignuser.policy.cues`) adds ``w · cues(item)`` to each item's
watch logit and ``W · cues(item)`` to its rating logits, from the numbers of the item line
(mean rating, popularity, taste, persona genres, rater bias, position, page); checkpoints
record whether a model has one (``info["cues"]``).

The **lean** state text (``info["render"] == "lean"``, :func:`~alignuser.env.text.
render_state_lean`; the tiny base with an item tower and a cue head) keeps only the persona
keywords and the page number as words. Each item is its tower vector at its two slots, and
its cue vector enters the LM there too: ``inputs(cues)`` is added to the input embeddings of
the watch and rating slots, ``exit_inputs(exit cues)`` to the exit slot's (both in the cue
head module). About 40 tokens a page instead of about 130, so the same LM scores a page in
about half the time, and its own part of the logit can use the numbers non-linearly.

Training appends the world-model segment after the last slot (causal attention keeps the slot
outputs identical to inference): ``TAKEN:`` (watch/skip and next/exit, without ratings) then
``RESULT:`` (memory changes and the next page). The counterfactual-alignment sequence uses the
*block* layout instead: the whole state, ``REFLECTION: <text>``, then ``ACTION:`` with
numbered slots (``1. <slot> <slot>``), i.e. state -> reflection -> action.

Filled in, the decisions read like :func:`alignuser.env.text.render_action`
(``1. WATCH 4`` / ``2. SKIP`` / ``NEXT``), see :func:`filled_action_text`.

The model is assembled from mixins: :class:`~alignuser.policy.encoding.PageEncoding` (states
to token batches), :class:`~alignuser.policy.generation.TextGeneration` (next states and
thoughts) and :class:`~alignuser.policy.scoring.PageScoring` (the slot logits as calibrated
:class:`~alignuser.policy.scoring.PageScores`); this module holds construction and the
forward pass.

Example:
    >>> from alignuser.policy.model import PolicyModel  # doctest: +SKIP
    >>> pm = PolicyModel.create("tiny", corpus=texts)  # doctest: +SKIP
    >>> scores = pm.score(states)  # doctest: +SKIP
    >>> scores[0].watch  # P(watch) per item  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from alignuser.env.actions import PageAction
from alignuser.env.text import render_state, render_state_compact, render_state_lean
from alignuser.policy.encoding import EncodedBatch, PageEncoding
from alignuser.policy.generation import TextGeneration, taken_text
from alignuser.policy.scoring import PageScoring

__all__ = ["EncodedBatch", "PolicyModel", "filled_action_text", "taken_text"]

log = logging.getLogger(__name__)


def filled_action_text(action: PageAction) -> str:
    """The action block with its slots filled (same words as ``render_action``)."""
    from alignuser.env.text import render_action

    return render_action(action)


class PolicyModel(PageEncoding, TextGeneration, PageScoring):
    """A causal LM plus the slot format that turns it into a batched decision scorer.

    Args:
        lm: A transformers causal LM (optionally a peft model).
        tokenizer: Its tokenizer.
        info: Base description (``base``, ``max_rating``, ``add_bos``, ``slot``...) stored in
            checkpoints.

    Example:
        >>> pm = PolicyModel.create("tiny", corpus=["PAGE 1"])  # doctest: +SKIP
        >>> pm.score([state])[0].exit  # doctest: +SKIP
    """

    def __init__(self, lm, tokenizer, info: dict[str, Any]):
        self.lm = lm
        self.tokenizer = tokenizer
        self.info = dict(info)
        self.max_rating = int(self.info.get("max_rating", 5))
        # tiny bases read the compact state text (about a third of the tokens); pretrained
        # chat bases, and checkpoints saved before the option existed, the full one
        render = self.info.get("render")
        if render == "compact":  # the first compact text (titles, separators), since replaced
            raise ValueError(
                "this checkpoint reads the first compact state text, which was replaced by "
                "'compact2' (no titles, persona keywords); retrain it with `alignuser train`"
            )
        self.compact = render in ("compact2", "lean")  # compact world-model texts too
        self.lean_text = render == "lean"
        self.render = {"compact2": render_state_compact, "lean": render_state_lean}.get(
            render, render_state
        )
        items = self.info.get("items")
        self.history_length = int(items["history"]) if items else 0
        self.block_view = bool(self.info.get("block_view"))
        self.item_space = None  # ItemSpace, attached by set_items (create / load)
        self.item_tower = None
        self.calibration = dict(self.info.get("calibration") or {})
        self.cue_head = None
        if self.info.get("cues"):
            from alignuser.policy.cues import CUE_NAMES, CUE_VERSION, HISTORY_CUES, make_cue_head

            names = tuple(self.info["cues"].get("names", ()))
            want = CUE_NAMES + HISTORY_CUES if items else CUE_NAMES
            if names != want or self.info["cues"].get("version") != CUE_VERSION:
                raise ValueError(
                    f"this checkpoint's cue head reads cues {list(names)} (version "
                    f"{self.info['cues'].get('version')}), this version computes {list(want)} "
                    f"(version {CUE_VERSION}); retrain it with `alignuser train`"
                )
            width = lm.get_input_embeddings().weight.shape[1] if self.lean_text else 0
            self.cue_head = make_cue_head(self.max_rating, len(want), inputs=width)
        self.device = next(lm.parameters()).device
        if self.cue_head is not None:
            self.cue_head.to(self.device)
        self._resolve_tokens()
        self.lean = True  # inference through fastlm.LeanLlama where it applies

    def set_items(self, space, tower=None, seed: int = 0) -> None:
        """Attach the item space and tower (:mod:`alignuser.policy.items`).

        A fresh tower when ``tower`` is ``None``.
        """
        from alignuser.policy.items import make_item_tower

        if not self.info.get("items"):
            raise ValueError("this model was built without an item tower (info['items'])")
        if space.n_items != int(self.info["items"]["n_items"]):
            raise ValueError(
                f"item space has {space.n_items} items, the model was built for "
                f"{self.info['items']['n_items']}"
            )
        width = self.lm.get_input_embeddings().weight.shape[1]
        self.item_space = space
        self.item_tower = tower or make_item_tower(space, width, self.max_rating, seed)
        self.item_tower.to(self.device)

    # ------------------------------------------------------------------ construction

    @classmethod
    def create(
        cls,
        base: str = "tiny",
        *,
        corpus: Sequence[str] = (),
        tiny: Any = None,
        path: str | None = None,
        lora: dict[str, Any] | None = None,
        max_rating: int = 5,
        dtype: str = "float32",
        seed: int = 0,
        cues: bool = True,
        items: Any = None,
        history: int = 20,
        state_text: str = "compact",
    ) -> PolicyModel:
        """Build a fresh policy model on a base.

        Args:
            base: ``"tiny"`` (from scratch on ``corpus``), ``"smollm2"`` or ``"local"``.
            corpus: Texts to build the tiny tokenizer from.
            tiny: A :class:`~alignuser.policy.bases.TinySpec` (tiny base only).
            path: Folder or hub id (``local`` base).
            lora: LoRA settings (``r``, ``alpha``, ``target_modules``) to wrap a pretrained
                base with peft; ``None`` trains all weights (always for ``tiny``).
            max_rating: Top of the rating scale the model scores.
            dtype: Weights dtype for pretrained bases.
            seed: Initialisation seed.
            cues: Add the linear cue head (:mod:`alignuser.policy.cues`) beside the LM.
            items: An :class:`~alignuser.policy.items.ItemSpace`: read items as identities
                (the item tower and history tokens); ``None``: items as text only.
            history: History tokens per state (the most recent items of the state's history).
            state_text: ``"compact"`` (:func:`~alignuser.env.text.render_state_compact`) or
                ``"lean"`` (:func:`~alignuser.env.text.render_state_lean`: items as tower
                vectors and cue inputs only; the tiny base with ``items`` and ``cues``).
        """
        from alignuser.policy import bases

        if state_text not in ("compact", "lean"):
            raise ValueError(f"state_text must be 'compact' or 'lean', got {state_text!r}")
        if state_text == "lean" and (base != "tiny" or items is None or not cues):
            raise ValueError(
                "state_text 'lean' reads items through the item tower and their numbers "
                "through the cue inputs: it needs base 'tiny', an item tower and the cue head"
            )
        info: dict[str, Any] = {"base": base, "max_rating": max_rating, "dtype": dtype}
        if items is not None:
            info["items"] = {"n_items": int(items.n_items), "dim": int(items.dim),
                             "history": int(history)}  # fmt: skip
            info["block_view"] = True
        if cues:
            from alignuser.policy.cues import CUE_VERSION, cue_names

            info["cues"] = {"version": CUE_VERSION, "names": list(cue_names(items))}
        if base == "tiny":
            spec = tiny or bases.TinySpec()
            lm, tok = bases.build_tiny(corpus, spec, seed=seed)
            render = "lean" if state_text == "lean" else "compact2"
            info.update(tiny=spec.model_dump(), add_bos=True, slot="<slot>", render=render)
        elif base in ("smollm2", "local"):
            if base == "smollm2":
                lm, tok = bases.load_smollm2(dtype)
            else:
                if path is None:
                    raise ValueError("base 'local' needs path=<folder or hub id>")
                lm, tok = bases.load_local(path, dtype)
                info["path"] = str(path)
            if tok.pad_token_id is None:
                tok.pad_token = tok.eos_token
            info.update(add_bos=False, slot=" ?")
            if lora is not None:
                lm = bases.wrap_lora(lm, lora, seed)
                info["lora"] = dict(lora)
        else:
            raise ValueError(f"unknown base {base!r}; known: tiny, smollm2, local")
        pm = cls(lm, tok, info)
        if items is not None:
            pm.set_items(items, seed=seed)
        return pm

    def to(self, device: str) -> PolicyModel:
        """Move the model to ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``...); returns self."""
        self.lm.to(device)
        self.device = next(self.lm.parameters()).device
        if self.cue_head is not None:
            self.cue_head.to(self.device)
        if self.item_tower is not None:
            self.item_tower.to(self.device)
        return self

    def parameters(self) -> list[Any]:
        """The trainable parameters: LM (or adapter), item tower, cue head."""
        params = [p for p in self.lm.parameters() if p.requires_grad]
        if self.item_tower is not None:
            params += list(self.item_tower.parameters())
        if self.cue_head is not None:
            params += list(self.cue_head.parameters())
        return params

    def result_of(self, step) -> str:
        """A trajectory step's world-model target in this model's text (compact or full)."""
        return step.result_compact if self.compact and step.result_compact else step.result

    # ------------------------------------------------------------------ forward

    def embed(self, input_ids, item_marks=None):
        """Input embeddings of ``input_ids``, item tower vectors added where marked.

        ``item_marks`` rows: batch index, position, item id, role.
        """
        emb = self.lm.get_input_embeddings()(input_ids)
        if self.item_tower is None or item_marks is None or not len(item_marks):
            return emb
        m = item_marks.to(emb.device)
        vec = self.item_tower(m[:, 2], m[:, 3]).to(emb.dtype)
        return emb.index_put((m[:, 0], m[:, 1]), vec, accumulate=True)

    def _parts(self):
        inner = self.lm.get_base_model() if hasattr(self.lm, "get_base_model") else self.lm
        body = getattr(inner, inner.base_model_prefix)
        return body, inner.get_output_embeddings()

    def _hidden(self, batch: EncodedBatch, lm_loss: bool):
        """Last hidden states ``(B, L, d)``; in inference, only the read positions are filled.

        Without gradients and LM loss, a Llama body runs :class:`~alignuser.policy.fastlm.
        LeanLlama` (the same arithmetic, the last layer only where decisions are read); the
        other positions are zeros, which nothing reads.
        """
        import torch

        dev = self.device
        emb = self.embed(batch.input_ids.to(dev), batch.item_marks)
        if self.cue_head is not None and self.cue_head.has_inputs:
            from alignuser.policy.cue_batch import add_cue_inputs

            emb = add_cue_inputs(self.cue_head, emb, batch)
        lean = None if lm_loss else self._lean_body()
        if lean is None:
            body, _ = self._parts()
            out = body(inputs_embeds=emb, attention_mask=batch.attention_mask.to(dev))
            return out.last_hidden_state
        parts = [batch.watch_pos, batch.rating_pos, batch.exit_pos[:, None]]
        if batch.user_pos is not None:
            parts.append(batch.user_pos.clamp(min=0)[:, None])
        pos = torch.cat(parts, 1).to(dev)
        hq = lean(emb, pos)
        h = hq.new_zeros(emb.shape[0], emb.shape[1], hq.shape[-1])
        h[torch.arange(emb.shape[0], device=dev)[:, None], pos] = hq
        return h

    def _lean_body(self):
        """The lean forward of the current weights, or ``None`` (training, gradients, LoRA)."""
        import torch

        if not self.lean or self.lm.training or torch.is_grad_enabled():
            return None
        key = tuple((id(p), p._version) for p in self.lm.parameters())
        if getattr(self, "_lean_key", None) != key:
            from alignuser.policy.fastlm import lean_body

            self._lean, self._lean_key = lean_body(self.lm), key
        return self._lean

    def forward(self, batch: EncodedBatch, lm_loss: bool = True, direct: bool = True) -> dict:
        """Run the LM once; return label logits at the slots and the LM loss of segments.

        ``direct=False``: without the tower's affinity and the cue head's logits (decisions
        after a thought are the LM's reading of it, in training and in scoring).

        Returns:
            ``watch`` ``(B, N, 2)``, ``rating`` ``(B, N, R)``, ``exit`` ``(B, 2)`` logits over
            the label tokens, and ``lm_loss`` (mean token NLL, or ``None``); with an item
            tower also ``user`` ``(B, d)``, the hidden state at the last history token.
        """
        import torch
        import torch.nn.functional as F

        _, head = self._parts()
        dev = self.device
        h = self._hidden(batch, lm_loss)
        b = h.shape[0]
        ar = torch.arange(b, device=dev)

        def at(pos):
            pos = pos.to(dev)
            if pos.dim() == 1:
                return h[ar, pos]
            return h[ar[:, None], pos]

        label_ids = torch.tensor(
            self.watch_ids + self.rating_ids + self.exit_ids, device=dev, dtype=torch.long
        )
        nw, nr = 2, len(self.rating_ids)
        hw, hr, hx = at(batch.watch_pos), at(batch.rating_pos), at(batch.exit_pos)
        res: dict[str, Any] = {
            "watch": head(hw)[..., label_ids[:nw]].float(),
            "rating": head(hr)[..., label_ids[nw : nw + nr]].float(),
            "exit": head(hx)[..., label_ids[nw + nr :]].float(),
            "lm_loss": None,
            "next_item_loss": None,
        }
        if self.item_tower is not None and batch.user_pos is not None and direct:
            tower = self.item_tower
            has = batch.user_pos.to(dev) >= 0
            user = h[ar, batch.user_pos.to(dev).clamp(min=0)].float()  # (B, d)
            items = batch.page_items.to(dev)
            vec = tower(items.reshape(-1), torch.zeros_like(items.reshape(-1)))
            aff = tower.affinity(user[:, None, :], vec.reshape(*items.shape, -1))
            aff = aff * (has[:, None] & (items >= 0))
            res["watch"] = res["watch"] + torch.stack([torch.zeros_like(aff), aff], -1)
            res["user"] = user  # the user state: next_item_logits(user) ranks the catalog
            rows = batch.targets.get("next_item")
            if lm_loss and rows is not None and len(rows):
                rows = rows.to(dev)
                logits = tower.next_item_logits(h[rows[:, 0], rows[:, 1]].float())
                res["next_item_loss"] = F.cross_entropy(logits, rows[:, 2])
        if self.cue_head is not None and batch.cues is not None and direct:
            d = self.cue_head(batch.cues.to(dev))  # (B, N, 1 + R)
            res["watch"] = res["watch"] + torch.cat([torch.zeros_like(d[..., :1]), d[..., :1]], -1)
            res["watch_cue"] = d[..., 0]  # the cue head's part of the watch logit
            res["rating"] = res["rating"] + d[..., 1:]
            res["rating_cue"] = d[..., 1:]  # the cue head's part of the rating logits
            if batch.exit_cues is not None:
                e = self.cue_head.exit(batch.exit_cues.to(dev))  # (B, 1)
                res["exit"] = res["exit"] + torch.cat([torch.zeros_like(e), e], -1)
        if lm_loss:
            labels = batch.lm_labels.to(dev)
            tgt = labels[:, 1:]
            sel = tgt != -100
            if sel.any():
                logits = head(h[:, :-1][sel]).float()
                res["lm_loss"] = F.cross_entropy(logits, tgt[sel])
        return res
