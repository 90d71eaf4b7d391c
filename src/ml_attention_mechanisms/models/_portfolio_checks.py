"""Eager-mode input checks of the portfolio optimizer (each error names the argument).

Shapes:
    ``B`` batch, ``T`` bars, ``A`` assets, ``F`` features.
"""

from __future__ import annotations

from torch import Tensor

from ._inputs import check_finite, check_mask, check_series, check_timestamps_shape
from .config import CryptoPredictionModelConfig

__all__ = ["check_portfolio_inputs"]

WEIGHT_TOLERANCE = 1e-5


def check_portfolio_inputs(
    config: CryptoPredictionModelConfig,
    asset_features: Tensor,
    current_weights: Tensor | None,
    volume_data: Tensor | None,
    timestamps: Tensor | None,
    mask: Tensor | None,
) -> None:
    """Validate the optimizer's inputs.

    Raises:
        ValueError: wrong rank or feature count; more assets than ``num_assets``; asset or time axes that
            disagree between arguments; weights that do not sum to 1 (long-only: or are negative; long-short:
            gross above ``gross_exposure``); negative volume; NaN/inf in present entries.
    """
    check_series(
        asset_features,
        "asset_features",
        features=config.input_features,
        multi_asset=True,
        max_assets=config.num_assets,
    )
    b, t, a, _ = asset_features.shape
    check_mask(mask, "mask", ((b, a), (b, t, a)))
    check_timestamps_shape(timestamps, "timestamps", (b, t))
    bar_mask = None if mask is None else (mask.unsqueeze(1).expand(b, t, a) if mask.dim() == 2 else mask)
    check_finite(asset_features, "asset_features", bar_mask)
    if volume_data is not None:
        if not isinstance(volume_data, Tensor) or not volume_data.is_floating_point():
            raise ValueError("volume_data must be a floating tensor [batch, seq_len, assets]")
        if tuple(volume_data.shape) != (b, t, a):
            raise ValueError(
                f"volume_data must be [batch, seq_len, assets] = {(b, t, a)} as asset_features, "
                f"got {tuple(volume_data.shape)}"
            )
        check_finite(volume_data, "volume_data", bar_mask)
        neg = volume_data < 0 if bar_mask is None else (volume_data < 0) & bar_mask
        if bool(neg.any()):
            raise ValueError("volume_data contains negative volume in a present entry; expected >= 0")
    if current_weights is None:
        return
    if not isinstance(current_weights, Tensor) or not current_weights.is_floating_point():
        raise ValueError("current_weights must be a floating tensor [batch, assets]")
    if tuple(current_weights.shape) != (b, a):
        raise ValueError(
            f"current_weights must be [batch, assets] = {(b, a)} matching asset_features {tuple(asset_features.shape)}, "
            f"got {tuple(current_weights.shape)}"
        )
    check_finite(current_weights, "current_weights")
    if config.long_only:
        total = current_weights.double().sum(-1)
        worst = float((total - 1.0).abs().max())
        if worst > WEIGHT_TOLERANCE:
            raise ValueError(
                f"current_weights must sum to 1 within {WEIGHT_TOLERANCE} per sample (long-only); "
                f"a sample sums to {float(total[(total - 1.0).abs().argmax()]):.6g}"
            )
        if bool((current_weights < -WEIGHT_TOLERANCE).any()):
            raise ValueError(
                "current_weights has negative entries; the long-only optimizer needs weights >= 0"
            )
    else:
        gross = current_weights.abs().sum(-1)
        if bool((gross > config.gross_exposure + WEIGHT_TOLERANCE).any()):
            raise ValueError(
                f"current_weights has gross exposure {float(gross.max()):.6g} above gross_exposure="
                f"{config.gross_exposure}"
            )
