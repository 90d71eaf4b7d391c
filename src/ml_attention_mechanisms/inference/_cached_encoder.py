"""Run a model's causal sliding-window encoder one bar at a time, with a rolling KV cache per layer.

The models' :class:`~ml_attention_mechanisms.models._backbone.TemporalEncoder` is causal with a sliding
window ``W`` in every layer, its only cross-bar operation is attention, and order enters only through the
time-aware ALiBi bias. So the state of bar ``t`` in layer ``l`` depends on the layer's keys and values of
bars ``t - W + 1 .. t`` only, and those keys and values, once computed, never change. This module reads the
encoder's own modules and weights (nothing is copied or re-implemented: the embedding, norms, projections,
MLPs and the library's attention dispatch are the model's) and

- keeps, per layer, a :class:`~ml_attention_mechanisms.attention.KVCache` of the last ``W`` *closed* bars
  (``max_len=W``: memory is bounded) with their key mask and timestamps;
- computes the *open* (newest) bar against the cache without storing it: an update of the open bar just
  recomputes it; when a later bar arrives the open bar's keys and values are committed.

The result equals the batch model run over the whole history with the same sliding-window mask, at every
step (tested to 1e-5). :class:`HeadView` runs the model's own forward after the encoder on that state.

Shapes:
    ``B = 1``, ``H`` heads, ``D`` head dim, ``L`` cached bars (``<= W``), ``d`` = ``d_model``.
"""

from __future__ import annotations

import copy
from typing import Any, cast

import torch
from torch import Tensor, nn

from ..attention.causal_attention import KVCache
from ._inputs import model_config

__all__ = ["CachedEncoder", "HeadView"]


class CachedEncoder:
    """Incremental runner of ``model.encoder`` for one series (batch 1).

    Args:
        encoder: the model's ``TemporalEncoder`` (eval mode).
    """

    def __init__(self, encoder: nn.Module) -> None:
        self.encoder: Any = cast(
            Any, encoder
        )  # a TemporalEncoder (typed loosely: its submodules are read by name)
        self.window = int(self.encoder.attention_window)
        self.caches = [KVCache(max_len=self.window) for _ in self.encoder.blocks]
        self._times: Tensor | None = None  # (1, L) timestamps of the cached bars
        self._present: Tensor | None = None  # (1, L) key mask of the cached bars
        self._pending: list[tuple[Tensor, Tensor]] | None = None
        self._pending_meta: tuple[Tensor, Tensor] | None = None  # (timestamp [1, 1], present [1, 1])

    def reset(self) -> None:
        """Forget every bar."""
        for cache in self.caches:
            cache.reset()
        self._times, self._present, self._pending, self._pending_meta = None, None, None, None

    @property
    def cache_lengths(self) -> list[int]:
        """Closed bars cached per layer (never more than ``W``)."""
        return [len(c) for c in self.caches]

    def commit(self) -> None:
        """Close the open bar: append its keys, values, mask and timestamp to the caches."""
        if self._pending is None or self._pending_meta is None:
            return
        ts, present = self._pending_meta
        for cache, (k, v) in zip(self.caches, self._pending):
            cache.append(k, v, present)
        times = ts if self._times is None else torch.cat((self._times, ts), dim=1)
        masks = present if self._present is None else torch.cat((self._present, present), dim=1)
        self._times, self._present = times[:, -self.window :], masks[:, -self.window :]
        self._pending, self._pending_meta = None, None

    def step(self, x: Tensor, timestamp: Tensor, present: Tensor, asset_ids: Tensor | None) -> Tensor | None:
        """Compute the open bar (replacing any previous version of it); returns its state ``[1, d]``.

        Args:
            x: scaled features ``[1, 1, F]`` (zeros when absent).
            timestamp: int64 ``[1, 1]``.
            present: bool ``[1, 1]`` (False: a missing bar; only its masked key is kept, None is returned).
            asset_ids: ``[1]`` or None.
        """
        enc = self.encoder
        if not bool(present.item()):
            # A missing bar is never attended (its key is masked) and never read: store zeros.
            self._pending = []
            for block in enc.blocks:
                attn = block.attn
                zeros = x.new_zeros(1, attn.num_kv_heads, 1, attn.head_dim)
                self._pending.append((zeros, zeros))
            self._pending_meta = (timestamp, present)
            return None
        h = enc.embed(x, timestamps=timestamp, asset_ids=asset_ids, mask=present)  # (1, 1, d)
        keep = self.window - 1  # cached bars the new query may reach (its own key is the W-th)
        pending: list[tuple[Tensor, Tensor]] = []
        past_times = past_mask = None
        if self._times is not None and self._present is not None and keep:
            past_times, past_mask = self._times[:, -keep:], self._present[:, -keep:]
        key_times = timestamp if past_times is None else torch.cat((past_times, timestamp), dim=1)
        key_mask = present if past_mask is None else torch.cat((past_mask, present), dim=1)
        bias = enc.alibi.attention_bias(1, key_times.shape[1], timestamp, key_times)  # (1, H, 1, L')
        for block, cache in zip(enc.blocks, self.caches):
            attn = block.attn
            a_in = block.attn_res.pre(h)
            q, k, v = attn.project_qkv(a_in, a_in, a_in)  # (1, H, 1, D)
            pending.append((k, v))
            keys, values = k, v
            if past_times is not None and cache.keys is not None and cache.values is not None:
                keys = torch.cat((cache.keys[:, :, -keep:], k), dim=2)  # (1, Hkv, L', D)
                values = torch.cat((cache.values[:, :, -keep:], v), dim=2)
            out, _ = attn.attend_heads(q, keys, values, key_mask=key_mask, is_causal=False, attn_bias=bias)
            h = block.attn_res.post(h, attn.merge_heads(out))
            h = block.mlp_res.post(h, block.mlp(block.mlp_res.pre(h)))
        self._pending, self._pending_meta = pending, (timestamp, present)
        return enc.norm(h)[:, 0]


class _StateEncoder(nn.Module):
    """Stands in for the encoder inside :class:`HeadView`: returns the states it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.states: Tensor | None = None

    def forward(self, x: Tensor, **_: Any) -> tuple[Tensor, dict[str, Tensor]]:
        assert self.states is not None
        return self.states, {}


class HeadView:
    """The model's forward with its encoder replaced by given states: the model's own heads and outputs.

    A shallow copy of the model shares every parameter; only its ``encoder`` entry differs, so the model
    itself is never modified.
    """

    def __init__(self, model: nn.Module) -> None:
        self.stub = _StateEncoder()
        view = copy.copy(model)
        view._modules = dict(model._modules)
        view._modules["encoder"] = self.stub
        self.view = view

    def __call__(
        self, state: Tensor, timestamp: Tensor, asset_ids: Tensor | None, scale: Tensor | None = None
    ) -> dict[str, Any]:
        """Outputs for one bar from its encoder state ``[1, d]`` and the asset's ``scale [1]`` (as
        ``model(...)`` over the history)."""
        self.stub.states = state.unsqueeze(1)  # (1, 1, d)
        features = state.new_zeros(1, 1, int(model_config(self.view).input_features))
        kwargs: dict[str, Any] = {"timestamps": timestamp}
        if asset_ids is not None:
            kwargs["asset_ids"] = asset_ids
        if scale is not None:
            kwargs["scale"] = scale
        return dict(self.view(features, **kwargs))
