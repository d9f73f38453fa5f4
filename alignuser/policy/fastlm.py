"""A lean inference forward for Llama-architecture bases: hidden states at chosen positions.

Scoring a page needs the final hidden state at a few positions only (each item's two
decision slots, the exit slot, the user state), not at every token. :class:`LeanLlama` runs
the same arithmetic as ``transformers``' ``LlamaModel`` (RMSNorm, rotary embeddings, causal
attention, SwiGLU MLP) with three savings, none of which changes what is computed:

* the last layer's query, output projection and MLP run only at the chosen positions (its
  keys and values still read every token);
* q/k/v and gate/up projections are fused into one matrix product each, and the rotary
  tables are built once;
* right-padded batches need no padding mask: under a causal mask a real token never sees
  the padding that follows it, so attention runs with ``is_causal`` (padding rows are
  computed and ignored).

Results match ``LlamaModel`` to float rounding (max difference ~1e-6 on logits; a test
compares). It is used only where it applies (see :func:`lean_body`): a plain
``LlamaModel`` in eval mode with default rotary embeddings and no adapter; anything else
takes the ``transformers`` forward.

Example:
    >>> lean = lean_body(policy_model.lm)  # doctest: +SKIP
    >>> h = lean(embeds, positions)  # (B, Q, d_model), final norm applied  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__all__ = ["LeanLlama", "lean_body"]


def lean_body(lm) -> LeanLlama | None:
    """A :class:`LeanLlama` over ``lm``'s body when it applies, else ``None``."""
    if hasattr(lm, "get_base_model") or hasattr(lm, "peft_config"):
        return None  # LoRA adapters: keep the transformers path
    cfg = getattr(lm, "config", None)
    if cfg is None or getattr(cfg, "model_type", None) != "llama":
        return None
    rope = getattr(cfg, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default" or getattr(cfg, "mlp_bias", False):
        return None
    if getattr(cfg, "hidden_act", "silu") != "silu" or getattr(cfg, "attention_bias", False):
        return None
    body = getattr(lm, "model", None)
    if body is None or not hasattr(body, "layers"):
        return None
    return LeanLlama(body, cfg)


class LeanLlama:
    """Inference-only forward of a ``LlamaModel`` returning states at chosen positions.

    The fused weights are copies taken at construction: build a new one after the weights
    change (:class:`~alignuser.policy.model.PolicyModel` rebuilds it whenever it leaves
    training mode).
    """

    def __init__(self, body, cfg):
        import torch

        self.body = body
        self.n_heads = int(cfg.num_attention_heads)
        self.n_kv = int(getattr(cfg, "num_key_value_heads", None) or self.n_heads)
        self.head_dim = int(
            getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        )
        self.eps = float(cfg.rms_norm_eps)
        theta = float((cfg.rope_parameters or {}).get("rope_theta", 10000.0))
        dim = self.head_dim
        self.inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))
        self._rope: dict[tuple[int, Any], tuple[Any, Any]] = {}
        with torch.no_grad():
            self.layers = []
            for layer in body.layers:
                a, m = layer.self_attn, layer.mlp
                self.layers.append(
                    {
                        "in_norm": layer.input_layernorm.weight.detach(),
                        "post_norm": layer.post_attention_layernorm.weight.detach(),
                        "q": a.q_proj.weight.detach(),
                        "kv": torch.cat([a.k_proj.weight, a.v_proj.weight]).detach(),
                        "qkv": torch.cat(
                            [a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]
                        ).detach(),
                        "o": a.o_proj.weight.detach(),
                        "gate_up": torch.cat([m.gate_proj.weight, m.up_proj.weight]).detach(),
                        "down": m.down_proj.weight.detach(),
                    }
                )
            self.final_norm = body.norm.weight.detach()

    def _norm(self, x, weight):
        import torch

        dtype = x.dtype
        x = x.to(torch.float32)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return weight * x.to(dtype)

    def _cos_sin(self, length: int, dtype):
        """Rotary tables ``(length, head_dim)`` as ``LlamaRotaryEmbedding`` computes them."""
        import torch

        key = (length, dtype)
        if key not in self._rope:
            pos = torch.arange(length, dtype=torch.float)
            freqs = pos[:, None] * self.inv_freq[None, :]
            emb = torch.cat((freqs, freqs), dim=-1)
            self._rope[key] = (emb.cos().to(dtype), emb.sin().to(dtype))
        return self._rope[key]

    @staticmethod
    def _rotate(x, cos, sin):
        import torch

        half = x.shape[-1] // 2
        rot = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rot * sin

    def _mlp(self, x, lw):
        import torch.nn.functional as F

        gu = F.linear(x, lw["gate_up"])
        gate, up = gu.split(gu.shape[-1] // 2, dim=-1)
        return F.linear(F.silu(gate) * up, lw["down"])

    def __call__(self, embeds, positions):
        """Final-normed hidden states ``(B, Q, d)`` at ``positions`` ``(B, Q)`` (long).

        ``embeds`` ``(B, L, d)``: input embeddings of right-padded sequences.
        """
        import torch
        import torch.nn.functional as F

        b, length, _ = embeds.shape
        nh, nkv, hd = self.n_heads, self.n_kv, self.head_dim
        cos, sin = self._cos_sin(length, embeds.dtype)
        x = embeds
        *first, last = self.layers
        for lw in first:
            h = self._norm(x, lw["in_norm"])
            qkv = F.linear(h, lw["qkv"]).view(b, length, nh + 2 * nkv, hd).transpose(1, 2)
            qk, v = qkv.split([nh + nkv, nkv], dim=1)
            q, k = self._rotate(qk, cos, sin).split([nh, nkv], dim=1)  # one pass for both
            att = F.scaled_dot_product_attention(
                q, k, v, is_causal=True, enable_gqa=nh != nkv, scale=hd**-0.5
            )
            x = x + F.linear(att.transpose(1, 2).reshape(b, length, nh * hd), lw["o"])
            x = x + self._mlp(self._norm(x, lw["post_norm"]), lw)
        # last layer: keys and values everywhere, the rest only at the chosen positions
        n_q = positions.shape[1]
        ar = torch.arange(b, device=x.device)[:, None]
        h = self._norm(x, last["in_norm"])
        kv = F.linear(h, last["kv"]).view(b, length, 2 * nkv, hd).transpose(1, 2)
        k, v = kv.split([nkv, nkv], dim=1)
        k = self._rotate(k, cos, sin)
        hq = h[ar, positions]  # (B, Q, d)
        q = F.linear(hq, last["q"]).view(b, n_q, nh, hd).transpose(1, 2)
        q = self._rotate(q, cos[positions][:, None], sin[positions][:, None])
        mask = torch.arange(length, device=x.device)[None, None, :] <= positions[:, :, None]
        att = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask[:, None], enable_gqa=nh != nkv, scale=hd**-0.5
        )
        xq = x[ar, positions] + F.linear(att.transpose(1, 2).reshape(b, n_q, nh * hd), last["o"])
        xq = xq + self._mlp(self._norm(xq, last["post_norm"]), last)
        return self._norm(xq, self.final_norm)
