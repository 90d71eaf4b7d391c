"""Eager-mode input checks of the crypto models: each bad input raises ``ValueError`` naming the argument.

Checks step aside under tracing/scripting/compile/export (``is_tracing``), so that no data-dependent
``raise`` enters a traced graph.

Shapes:
    ``B`` batch, ``T`` bars, ``F`` features, ``A`` assets.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..encodings._time import int_range

__all__ = [
    "check_asset_ids",
    "check_finite",
    "check_mask",
    "check_series",
    "check_timestamps_shape",
    "zero_masked",
]


def check_series(
    x: Tensor, name: str, *, features: int, multi_asset: bool, max_assets: int | None = None
) -> None:
    """``x`` must be a floating tensor ``[B, T, F]`` (or ``[B, T, A, F]`` with ``multi_asset``)."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    want = "[batch, seq_len, assets, features]" if multi_asset else "[batch, seq_len, features]"
    if x.dim() != (4 if multi_asset else 3):
        raise ValueError(f"{name} must be {want}, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor, got dtype {x.dtype}")
    if x.shape[-1] != features:
        raise ValueError(
            f"{name} has {x.shape[-1]} features (last axis of shape {tuple(x.shape)}), expected "
            f"input_features={features}"
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must have at least one sample and one bar, got shape {tuple(x.shape)}")
    if multi_asset and max_assets is not None and x.shape[2] > max_assets:
        raise ValueError(f"{name} has {x.shape[2]} assets (axis 2), more than num_assets={max_assets}")


def check_mask(mask: Tensor | None, name: str, shapes: tuple[tuple[int, ...], ...]) -> None:
    """``mask`` must be bool with one of ``shapes``."""
    if mask is None:
        return
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"{name} must be a bool tensor (True = present), got {got}")
    if tuple(mask.shape) not in shapes:
        raise ValueError(
            f"{name} must have shape {' or '.join(str(s) for s in shapes)}, got {tuple(mask.shape)}"
        )


def check_timestamps_shape(timestamps: Tensor | None, name: str, shape: tuple[int, int]) -> None:
    """``timestamps`` must be ``[B, T]`` matching the series (values are checked by the encodings)."""
    if timestamps is None:
        return
    if not isinstance(timestamps, Tensor) or tuple(timestamps.shape) != shape:
        got = tuple(timestamps.shape) if isinstance(timestamps, Tensor) else type(timestamps).__name__
        raise ValueError(f"{name} must have shape [batch, seq_len] = {shape}, got {got}")


def check_asset_ids(
    asset_ids: Tensor | None, name: str, *, batch: int, seq_len: int, num_assets: int
) -> None:
    """``asset_ids`` int ``[B]`` or ``[B, T]`` with values in ``[0, num_assets)`` (0 = unknown asset)."""
    if asset_ids is None:
        return
    if not isinstance(asset_ids, Tensor) or asset_ids.is_floating_point() or asset_ids.dtype == torch.bool:
        got = asset_ids.dtype if isinstance(asset_ids, Tensor) else type(asset_ids).__name__
        raise ValueError(f"{name} must be an integer tensor, got {got}")
    if tuple(asset_ids.shape) not in ((batch,), (batch, seq_len)):
        raise ValueError(
            f"{name} must have shape [batch]={batch} or [batch, seq_len]={(batch, seq_len)}, got {tuple(asset_ids.shape)}"
        )
    if asset_ids.numel() > 0:
        lo, hi = int_range(asset_ids)
        if lo < 0 or hi >= num_assets:
            raise ValueError(
                f"{name} contains {lo if lo < 0 else hi}, outside [0, num_assets={num_assets}) "
                "(0 = unknown asset); raise num_assets or map the symbol to 0"
            )


def check_finite(x: Tensor, name: str, present: Tensor | None = None) -> None:
    """No NaN/inf in ``x`` where ``present`` (broadcast over trailing axes) is True."""
    bad = ~torch.isfinite(x)
    if present is not None:
        p = present
        while p.dim() < bad.dim():
            p = p.unsqueeze(-1)
        bad = bad & p
    if bool(bad.any()):
        idx = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"{name} contains NaN or inf (first at index {idx}) in a present entry")


def zero_masked(x: Tensor, present: Tensor | None) -> Tensor:
    """``x`` with absent entries replaced by 0 (so that NaN there has no effect); ``present`` broadcasts."""
    if present is None:
        return x
    p = present
    while p.dim() < x.dim():
        p = p.unsqueeze(-1)
    return torch.where(p, x, torch.zeros((), dtype=x.dtype, device=x.device))
