"""Forecasting relative to each asset's causal scale, and mapping back at the output.

The data layer gives every window the asset's ``scale`` at the decision bar: the variance anchor's per-bar
variance forecast from bars ``<= t`` (``data/anchor.py``: a pooled log-HAR forecast on range variances).
The models' inputs carry no volatility level (features are relative to each asset's own history); their
outputs are mapped back through the scale (the reversible normalisation of RevIN, Kim et al. 2022,
https://openreview.net/forum?id=cGDAkQo1C0p, and of NeuralForecast's temporal scalers, with the strong
classical forecast as the scale):

- :class:`VarianceResidualHead`: ``variance_h = h * scale * exp(w * r_h(state))``, a learned log residual
  ``r`` that starts at exactly 0 (the anchor) and a residual weight ``w`` chosen on validation data
  (:data:`RESIDUAL_WEIGHTS`; ``w = 0`` *is* the anchor), so a model never does worse than its anchor on
  validation by construction and the attention earns whatever it adds (the anchored residual of HARNet,
  Reisenhofer et al. 2022, https://arxiv.org/abs/2205.07719, and GNNHAR, Zhang et al. 2025);
- return quantiles, VaR and ES are then in units of the square root of that variance (location-scale).

Without a ``scale`` (``None``) the models use :data:`DEFAULT_SCALE`, so a model called on bare normalised
features (the library's examples) gives outputs of the size of hourly crypto returns.

Shapes:
    ``B`` batch, ``A`` assets, ``H`` horizons, ``K`` candidate residual weights.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..attention._masks import is_tracing

__all__ = [
    "DEFAULT_SCALE",
    "RESIDUAL_WEIGHTS",
    "VarianceResidualHead",
    "check_scale",
    "drop_asset_ids",
    "scale_or_default",
]

DEFAULT_SCALE = 1e-4  # per-bar variance without a scale input: 1% per bar, the size of hourly crypto returns
RESIDUAL_WEIGHTS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)  # 0: the anchor alone


def check_scale(scale: Tensor | None, name: str, shapes: tuple[tuple[int, ...], ...]) -> None:
    """``scale`` must be a floating tensor of one of ``shapes`` with positive finite values (eager only)."""
    if scale is None or is_tracing():
        return
    if not isinstance(scale, Tensor) or not scale.is_floating_point():
        got = scale.dtype if isinstance(scale, Tensor) else type(scale).__name__
        raise ValueError(f"{name} must be a floating tensor (per-bar variances), got {got}")
    if tuple(scale.shape) not in shapes:
        raise ValueError(
            f"{name} must have shape {' or '.join(str(list(s)) for s in shapes)}, got {list(scale.shape)}"
        )
    bad = ~(torch.isfinite(scale) & (scale > 0))
    if bool(bad.any()):
        idx = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"{name} must be positive and finite (a per-bar variance), got {float(scale[idx])} at index {idx}"
        )


def scale_or_default(scale: Tensor | None, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """``scale`` in ``like``'s dtype, or :data:`DEFAULT_SCALE` of ``shape`` when it is None."""
    if scale is None:
        return torch.full(shape, DEFAULT_SCALE, dtype=like.dtype, device=like.device)
    return scale.to(like.dtype)


def drop_asset_ids(asset_ids: Tensor | None, rate: float, training: bool) -> Tensor | None:
    """In training, each sample's asset id becomes 0 (unknown) with probability ``rate``.

    So the unknown-asset embedding is trained (the embedding's row 0 stays the zero vector: the unknown
    asset is the model without an asset offset), and a coin or exchange the training data never held is a
    case the model has learnt, not a fallback. Ids ``[B]`` or ``[B, T]`` (a whole row is dropped).
    """
    if asset_ids is None or not training or rate <= 0.0:
        return asset_ids
    keep = torch.rand(asset_ids.shape[0], device=asset_ids.device) >= rate  # (B,)
    if asset_ids.dim() == 2:
        keep = keep.unsqueeze(-1)
    return torch.where(keep, asset_ids, torch.zeros_like(asset_ids))


class VarianceResidualHead(nn.Module):
    """Variance forecasts ``[B, *shape]``: ``bars * scale * exp(w * r(h))`` with ``r`` starting at 0.

    Args:
        d_model: input width.
        bars: the horizon in bars of each output entry (``1..H`` for the price model's horizons, ``(H,)``
            for one ``H``-bar variance).

    Attributes:
        residual_weight: buffer ``[len(bars)]`` (saved in the state dict), ``w`` of each output entry in eval
            mode; training uses ``w = 1``. :meth:`residual_scores` compares the candidates of
            :data:`RESIDUAL_WEIGHTS` on validation data, entry by entry (horizon by horizon).
    """

    bars: Tensor
    residual_weight: Tensor

    def __init__(self, d_model: int, bars: tuple[int, ...]) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, len(bars))
        nn.init.zeros_(self.proj.weight)  # the residual starts at exactly 0: the anchor's forecast
        nn.init.zeros_(self.proj.bias)
        self.register_buffer("bars", torch.tensor(bars, dtype=torch.float32), persistent=False)
        self.register_buffer("residual_weight", torch.ones(len(bars)))

    def forward(self, h: Tensor, scale: Tensor) -> Tensor:
        """Variances ``[B, len(bars)]`` from states ``h [B, d]`` and per-bar scales ``[B]``."""
        r = self.proj(h)  # (B, len(bars))
        w = torch.ones_like(self.residual_weight) if self.training else self.residual_weight
        return scale.unsqueeze(-1) * self.bars.to(r.dtype) * torch.exp((w.to(r.dtype) * r).clamp(-20.0, 20.0))

    def residual_scores(self, variance: Tensor, scale: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """Summed QLIKE of each candidate weight per output entry and the number of terms, for the residual
        weights' choice.

        Args:
            variance: this head's output with ``w = 1`` ``[B, len(bars)]``.
            scale: the per-bar scales ``[B]``.
            target: realised variances ``[B, len(bars)]`` (non-finite entries are left out).

        Returns:
            ``(sums [K, len(bars)], counts [len(bars)])`` in float64.
        """
        base = (scale.double().unsqueeze(-1) * self.bars.double()).expand_as(variance)  # (B, len(bars))
        r = torch.log(variance.double() / base)
        y = target.double()
        ok = torch.isfinite(y) & torch.isfinite(r)
        sums = []
        for w in RESIDUAL_WEIGHTS:
            f = base * torch.exp(w * r)
            ratio = (y + 1e-12) / (f + 1e-12)
            sums.append(torch.where(ok, ratio - torch.log(ratio) - 1.0, torch.zeros_like(ratio)).sum(0))
        return torch.stack(sums), ok.sum(0).double()

    def choose_residual_weights(self, sums: Tensor, counts: Tensor) -> None:
        """Keep, per output entry with validation terms, the candidate weight of lowest summed QLIKE
        (``sums [K, len(bars)]``, ``counts [len(bars)]`` from :meth:`residual_scores`, summed)."""
        best = torch.tensor(RESIDUAL_WEIGHTS, dtype=torch.float64)[torch.argmin(sums, dim=0).cpu()]
        keep = counts.cpu() > 0
        current = self.residual_weight.detach().cpu().double()
        self.residual_weight.copy_(torch.where(keep, best, current).to(self.residual_weight))
