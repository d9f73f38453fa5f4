"""The cues of a whole batch at once, and the cue inputs of the lean state text.

:func:`batch_cues` is the batch form of :func:`~alignuser.policy.cues.page_cues` and
:func:`~alignuser.policy.cues.exit_cues`, the scoring path of every forward pass: one numpy
pass over the batch instead of a dozen small array operations per page, the same float32
values bit for bit (``tests/policy/test_fast_paths.py``). :func:`add_cue_inputs` adds a lean
model's cue vectors to the input embeddings of the decision slots
(:func:`~alignuser.policy.cues.make_cue_head` with ``inputs``).

Example:
    >>> items, exits = batch_cues(states, n_max=4, space=space)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from alignuser.env.page import PageState
from alignuser.policy.cues import CUE_NAMES, HISTORY_CUES, base_cue_rows

__all__ = ["add_cue_inputs", "batch_cues"]


def batch_cues(states: Sequence[PageState], n_max: int, space=None) -> tuple[Any, Any]:
    """``(items (B, n_max, n_cues), exit (B, 2 n_cues))`` float tensors, zero-padded.

    The batch form of :func:`~alignuser.policy.cues.page_cues` and
    :func:`~alignuser.policy.cues.exit_cues` (the scoring path of every
    forward pass): one numpy pass over the batch instead of a dozen small array operations per
    page. Same values to float32 rounding (a test compares).
    """
    import torch

    n_max = max(n_max, 1)
    base = _base_cues(states, n_max)
    if space is not None:
        base = np.concatenate([base, _history_cues_batch(states, space, n_max)], axis=2)
    counts = np.asarray([len(s.items) for s in states], dtype=np.int64)
    valid = np.arange(n_max)[None, :] < counts[:, None]  # (B, N)
    n = np.maximum(counts, 1).astype(np.float32)[:, None]
    mean = np.where(valid[..., None], base, 0.0).sum(axis=1, dtype=np.float32) / n
    top = np.where(valid[..., None], base, -np.inf).max(axis=1, initial=-np.inf)
    ex = np.concatenate([mean, top], axis=1).astype(np.float32)
    ex[counts == 0] = 0.0
    return torch.from_numpy(base), torch.from_numpy(ex)


def _base_cues(states: Sequence[PageState], n_max: int) -> np.ndarray:
    """``(B, n_max, len(CUE_NAMES))`` float32 item cues of a batch (``page_cues``)."""
    out = np.zeros((len(states), n_max, len(CUE_NAMES)), dtype=np.float32)
    for k, state in enumerate(states):
        if state.items:
            out[k, : len(state.items)] = base_cue_rows(state)
    return out


def _history_cues_batch(states: Sequence[PageState], space, n_max: int) -> np.ndarray:
    """``(B, n_max, len(HISTORY_CUES))`` float32 history cues of a batch (``history_cues``).

    Histories are padded to the longest; padding is masked out of every statistic.
    """
    b = len(states)
    out = np.zeros((b, n_max, len(HISTORY_CUES)), dtype=np.float32)
    n_hist = np.asarray([len(s.history) if s.items else 0 for s in states], dtype=np.int64)
    width = int(n_hist.max()) if b else 0
    if width == 0:
        return out
    hist = np.full((b, width), -1, dtype=np.int64)
    ratings = np.full((b, width), np.nan)
    scale = np.ones((b, 2))  # (mid, half) of each state's rating scale
    for k, s in enumerate(states):
        h = n_hist[k]
        if not h:
            continue
        hist[k, :h] = s.history
        if len(s.history_ratings) == h:
            ratings[k, :h] = s.history_ratings
        top = max(int(s.max_rating), 2)
        scale[k] = (top + 1) / 2, (top - 1) / 2
    sims = np.zeros((b, n_max, width), dtype=np.float32)
    for k in np.flatnonzero(n_hist):  # per state (BLAS rounds a padded batch differently)
        s = states[k]
        sims[k, : len(s.items), : n_hist[k]] = space.sims(s.item_ids, s.history)
    in_hist = (np.arange(width)[None, :] < n_hist[:, None])[:, None, :]  # (B, 1, H)
    srt = -np.sort(-np.where(in_hist, sims, -np.inf), axis=2)
    two = np.minimum(n_hist, 2).astype(np.float32)[:, None]
    out[..., 0] = srt[..., 0]
    out[..., 1] = np.where(two > 1, srt[..., 0] + srt[..., 1 % width], srt[..., 0]) / two
    for k in np.flatnonzero(n_hist):  # numpy's pairwise sum of each history, as history_cues
        out[k, :, 2] = sims[k, :, : n_hist[k]].mean(axis=1)
    rated = in_hist & ~np.isnan(ratings)[:, None, :]
    r = np.where(np.isnan(ratings), 0.0, (ratings - scale[:, :1]) / scale[:, 1:])
    s_r = np.where(rated, sims, -np.inf)
    idx = np.argsort(-s_r, axis=2, kind="stable")[..., :5]
    w = np.maximum(np.take_along_axis(s_r, idx, 2), 0.0)
    tot = w.sum(axis=2)
    num = (w * np.take_along_axis(np.broadcast_to(r[:, None, :], s_r.shape), idx, 2)).sum(axis=2)
    out[..., 3] = np.where(tot > 0, num / np.maximum(tot, 1e-9), 0.0)
    out[..., 4] = (np.log1p(n_hist) / np.log(51))[:, None]
    out[np.arange(n_max)[None, :] >= np.asarray([len(s.items) for s in states])[:, None]] = 0.0
    out[n_hist == 0] = 0.0
    return out


def add_cue_inputs(head, emb, batch) -> Any:
    """``emb`` with the cue inputs added at the decision slots (the lean state text).

    ``head.inputs(cues)`` goes to each item's watch slot (first half) and rating slot (second
    half), ``head.exit_inputs(exit cues)`` to the exit slot, for the items ``batch.item_mask``
    marks; the same item inputs to the view slots of a block-layout batch (``view_pos``).
    """
    import torch

    if batch.cues is None:
        return emb
    dev, d = emb.device, emb.shape[-1]
    mask = batch.item_mask.to(dev)
    rows = torch.arange(emb.shape[0], device=dev)[:, None].expand_as(mask)[mask]
    x = head.inputs(batch.cues.to(dev)).to(emb.dtype)[mask]  # (M, 2d)
    emb = emb.index_put((rows, batch.watch_pos.to(dev)[mask]), x[:, :d], accumulate=True)
    emb = emb.index_put((rows, batch.rating_pos.to(dev)[mask]), x[:, d:], accumulate=True)
    if batch.view_pos is not None:  # the block layout's view slots read the same cues
        vp = batch.view_pos.to(dev)[mask]
        ok = vp[:, 0] >= 0
        emb = emb.index_put((rows[ok], vp[ok, 0]), x[ok, :d], accumulate=True)
        emb = emb.index_put((rows[ok], vp[ok, 1]), x[ok, d:], accumulate=True)
    if batch.exit_cues is not None:
        e = head.exit_inputs(batch.exit_cues.to(dev)).to(emb.dtype)
        ar = torch.arange(emb.shape[0], device=dev)
        emb = emb.index_put((ar, batch.exit_pos.to(dev)), e, accumulate=True)
    return emb
