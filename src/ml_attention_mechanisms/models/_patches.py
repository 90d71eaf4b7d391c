"""Patch tokens for the temporal encoder (PatchTST, Nie et al. 2023, https://arxiv.org/abs/2211.14730).

A window of ``T`` bars becomes ``N = ceil(T / p)`` tokens of ``p`` consecutive, non-overlapping bars:

- **the grid ends at each row's last present bar**: bars after it (absent, by the mask) are dropped and the
  row is padded on the left with absent bars to ``N * p`` bars, so the last token always ends at the bar the
  model forecasts from, exactly as a bar-token model reads its last present bar, and a window whose last
  bars are missing gives the forecast of the window cut at its last present bar;
- a token's input is its ``p`` bars' features (absent bars read as zeros, so NaN there has no effect) and
  their ``p`` presence flags, projected to ``d_model`` by the encoder;
- a token is **present when any of its bars is present**; its **time is its last bar's timestamp** (the
  market-time encoding and the time-aware ALiBi distance are taken there) and its asset id is its last
  bar's;
- an additive per-bar embedding (the price model's order book) is averaged over the token's present bars.

Causality: a token depends only on its own bars, which all lie at or before its last bar, and the encoder's
attention over tokens is causal, so a token's state never depends on a later bar.

Shapes:
    ``B`` batch, ``T`` bars, ``F`` features, ``p`` bars per patch, ``N`` tokens, ``L = N * p``,
    ``d`` = ``d_model``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["PatchTokens", "last_present_index", "patch_input_features", "patch_tokens"]


@dataclass(frozen=True)
class PatchTokens:
    """The token-level inputs of the encoder (see the module docstring)."""

    features: Tensor  # (B, N, p*F + p): the p bars' features, then their presence flags
    timestamps: Tensor | None  # (B, N): the last bar's
    asset_ids: Tensor | None  # (B,) or (B, N): the last bar's
    mask: Tensor | None  # (B, N): any bar present (None: every token is)
    extra: Tensor | None  # (B, N, d): mean over the present bars


def last_present_index(mask: Tensor) -> Tensor:
    """Index ``[B]`` of each row's last True in ``mask [B, T]`` (0 for a row without any)."""
    position = torch.arange(1, mask.shape[1] + 1, device=mask.device).unsqueeze(0)  # (1, T)
    return (mask.long() * position).argmax(dim=1)


def _take(x: Tensor, index: Tensor) -> Tensor:
    """``x [B, T, ...]`` at ``index [B, L]`` along the bar axis: ``[B, L, ...]``."""
    if x.dim() == 2:
        return x.gather(1, index)
    return x.gather(1, index.view(*index.shape, 1).expand(-1, -1, x.shape[-1]))


def patch_tokens(
    x: Tensor,
    patch_size: int,
    *,
    timestamps: Tensor | None = None,
    asset_ids: Tensor | None = None,
    mask: Tensor | None = None,
    extra: Tensor | None = None,
) -> PatchTokens:
    """Group the bars of ``x [B, T, F]`` into patch tokens ending at each row's last present bar.

    Args:
        x: features ``[B, T, F]`` (any value at absent bars).
        patch_size: ``p``, bars per token.
        timestamps: int64 ``[B, T]``.
        asset_ids: ``[B]`` or ``[B, T]``.
        mask: bool ``[B, T]``, True = the bar exists. Default: every bar exists.
        extra: an additive per-bar embedding ``[B, T, d]``.

    Returns:
        :class:`PatchTokens`.
    """
    b, t, f = x.shape
    p = patch_size
    n = (t + p - 1) // p
    length = n * p
    pad = length - t  # absent bars on the left (< p: no token is padding only)
    slots = torch.arange(length, device=x.device)  # (L,)
    if mask is None:
        # One grid for every row: ends at the last bar.
        src = (slots - pad).clamp_min(0).unsqueeze(0).expand(b, -1)  # (B, L) source bar
        present = (slots >= pad).unsqueeze(0).expand(b, -1)  # (B, L)
    else:
        shift = (t - 1 - last_present_index(mask)) + pad  # (B,): slots each row moves right
        src_raw = slots.unsqueeze(0) - shift.unsqueeze(1)  # (B, L); < 0: left padding
        src = src_raw.clamp_min(0)
        present = (src_raw >= 0) & mask.gather(1, src)
    bars = _take(x, src)  # (B, L, F)
    bars = bars.masked_fill(~present.unsqueeze(-1), 0.0)  # absent bars read as zeros (NaN too)
    flags = present.to(x.dtype)  # (B, L)
    features = torch.cat((bars.reshape(b, n, p * f), flags.reshape(b, n, p)), dim=-1)  # (B, N, p*F + p)
    token_ts = None if timestamps is None else timestamps.gather(1, src).view(b, n, p)[..., -1]
    ids = asset_ids
    if asset_ids is not None and asset_ids.dim() == 2:
        ids = asset_ids.gather(1, src).view(b, n, p)[..., -1]  # (B, N)
    token_mask = None if mask is None else present.view(b, n, p).any(dim=-1)  # (B, N)
    token_extra = None
    if extra is not None:
        per_bar = _take(extra, src) * flags.unsqueeze(-1).to(extra.dtype)  # (B, L, d)
        count = flags.view(b, n, p).sum(-1, keepdim=True).clamp_min(1.0).to(extra.dtype)  # (B, N, 1)
        token_extra = per_bar.view(b, n, p, -1).sum(2) / count  # (B, N, d)
    return PatchTokens(features, token_ts, ids, token_mask, token_extra)


def patch_input_features(input_features: int, patch_size: int) -> int:
    """Width of a token's input: ``p * F + p`` (features and presence flags); ``F`` for bar tokens."""
    return input_features if patch_size == 1 else patch_size * input_features + patch_size
