"""Output heads of the trading transformer: multi-horizon forecast, market regime, risk (volatility).

Every head maps per-bar features ``[B, T, d_model]`` to per-bar outputs, so that the model can train on
every bar and the causal test can compare outputs bar by bar.

Shapes:
    ``B`` batch, ``T`` bars, ``O`` output dim, ``R`` regimes.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MultiHorizonHead", "RegimeHead", "RiskHead"]


class MultiHorizonHead(nn.Module):
    """Direct multi-horizon forecast: one linear map to ``horizon * output_dim`` values per bar.

    Direct (not recursive) because the model's inputs (``input_features``) are not its outputs, so a
    forecast cannot be fed back as the next bar.

    Returns ``[B, T, horizon, O]``.
    """

    def __init__(self, d_model: int, output_dim: int, horizon: int) -> None:
        super().__init__()
        self.output_dim, self.horizon = output_dim, horizon
        self.proj = nn.Linear(d_model, output_dim * horizon)

    def forward(self, h: Tensor) -> Tensor:
        b, t, _ = h.shape
        return self.proj(h).view(b, t, self.horizon, self.output_dim)  # (B, T, horizon, O)


class RegimeHead(nn.Module):
    """Market-regime logits ``[B, T, R]`` (softmax gives the regime probabilities)."""

    def __init__(self, d_model: int, num_regimes: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.Linear(d_model, num_regimes))

    def forward(self, h: Tensor) -> Tensor:
        return self.proj(h)  # type: ignore[no-any-return]


class RiskHead(nn.Module):
    """Predicted realised volatility of the next horizon ``[B, T, 1]``, positive (softplus + floor).

    Trained with :func:`~ml_attention_mechanisms.transformers._losses.qlike_loss` against the realised value.
    """

    def __init__(self, d_model: int, min_vol: float = 1e-6) -> None:
        super().__init__()
        self.min_vol = min_vol
        self.proj = nn.Linear(d_model, 1)

    def forward(self, h: Tensor) -> Tensor:
        return F.softplus(self.proj(h).float()) + self.min_vol
