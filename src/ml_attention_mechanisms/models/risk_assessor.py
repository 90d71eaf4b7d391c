"""Tail risk (VaR and ES), volatility, drawdown and cross-asset correlation.

Risk is measured over the next ``H = prediction_horizon`` bars: ``var``/``es`` refer to the ``H``-bar log
return (``targets["returns"][:, H-1]``), ``volatility`` to the realised volatility over bars ``t+1..t+H``
(``targets["volatility"][:, H-1]``) and ``drawdown`` to the maximum drawdown over the same bars
(``targets["drawdown"]``).

Every output is relative to the asset's causal ``scale`` (the data layer's variance anchor, a per-bar variance;
see ``_scale.py``) and mapped back: the ``H``-bar variance is ``H * scale * exp(w * r)`` with a learned log
residual ``r`` starting at 0 and a residual weight ``w`` chosen on validation data, trained with QLIKE; VaR
and ES are that volatility times learned tail multipliers (a location-scale model, as filtered historical
simulation), trained jointly with the FZ0 loss (Patton, Ziegel and Chen 2019); drawdown is ``sqrt(H * scale)``
times a learned positive factor, trained with the absolute error (its median) in units of ``sqrt(H * scale)``.

With several assets (``price_data [B, T, A, F]``) each asset is encoded by the same causal encoder; the
risk metrics describe the equally weighted basket of the present assets (for one asset: that asset) and
``correlation [B, A, A]`` compares the assets' states (absent assets: zero correlation with the others).

Shapes:
    ``B`` batch, ``T`` bars, ``A`` assets, ``F`` features, ``L`` tail levels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ..attention._masks import is_tracing
from ._backbone import TemporalEncoder
from ._base import COMMON_FIELDS, CryptoModel, require_targets
from ._heads import PositiveHead, TailRiskHead, unit_correlation
from ._inputs import check_asset_ids, check_finite, check_mask, check_series, check_timestamps_shape
from ._losses import fz0_loss, qlike_loss
from ._scale import VarianceResidualHead, check_scale, drop_asset_ids, scale_or_default
from .config import CryptoPredictionModelConfig

__all__ = ["CryptoRiskAssessorModel"]


class CryptoRiskAssessorModel(CryptoModel):
    """VaR/ES at several levels, volatility, drawdown and correlation from a causal transformer.

    Args:
        config: :class:`CryptoPredictionModelConfig`; reads the common fields, ``prediction_horizon``,
            ``var_levels`` and ``var_confidence`` (levels: ``var_levels``, else ``(var_confidence,)``, else
            (0.05, 0.01), i.e. 95% and 99%).
    """

    DATA_KIND: ClassVar[str] = "single_asset"
    OUTPUT_KIND: ClassVar[str] = "risk"
    TARGETS: ClassVar[tuple[str, ...]] = ("returns", "volatility", "drawdown")
    USED_FIELDS: ClassVar[frozenset[str]] = COMMON_FIELDS | {
        "prediction_horizon",
        "var_levels",
        "var_confidence",
        "drawdown_scale",
        "asset_dropout",
    }
    LOSS_STATISTICS: ClassVar[tuple[str, ...]] = ("drawdown_scale",)

    levels: Tensor

    def __init__(self, config: CryptoPredictionModelConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        self.var_levels = c.risk_levels
        self.register_buffer("levels", torch.tensor(self.var_levels, dtype=torch.float32), persistent=False)
        self.encoder = TemporalEncoder(c)
        self.tail_head = TailRiskHead(c.d_model, self.var_levels, scaled=True)
        self.volatility_head = VarianceResidualHead(c.d_model, (c.prediction_horizon,))
        self.drawdown_head = PositiveHead(c.d_model, init=1.0)  # in units of sqrt(H * scale)
        self.correlation_proj = nn.Linear(c.d_model, max(c.d_model // 2, 2))

    @classmethod
    def test_kwargs(cls) -> dict[str, Any]:
        return {**super().test_kwargs(), "prediction_horizon": 2}

    def _check(
        self, price_data: Tensor, timestamps: Tensor | None, asset_ids: Tensor | None, mask: Tensor | None
    ) -> None:
        c = self.config
        multi = isinstance(price_data, Tensor) and price_data.dim() == 4
        check_series(price_data, "price_data", features=c.input_features, multi_asset=multi)
        b, t = price_data.shape[0], price_data.shape[1]
        shapes = ((b, t, price_data.shape[2]), (b, t)) if multi else ((b, t),)
        check_mask(mask, "mask", shapes)
        check_timestamps_shape(timestamps, "timestamps", (b, t))
        if multi and asset_ids is not None and tuple(asset_ids.shape) != (b, price_data.shape[2]):
            raise ValueError(
                f"asset_ids must be [batch, assets] = {(b, price_data.shape[2])} for multi-asset price_data, "
                f"got {tuple(asset_ids.shape)}"
            )
        check_asset_ids(
            asset_ids if not multi else (None if asset_ids is None else asset_ids.reshape(-1)),
            "asset_ids",
            batch=b if not multi else b * price_data.shape[2],
            seq_len=t,
            num_assets=c.num_assets,
        )
        check_finite(price_data, "price_data", mask)

    def forward(
        self,
        price_data: Tensor,
        timestamps: Tensor | None = None,
        asset_ids: Tensor | None = None,
        need_attention_weights: bool = False,
        *,
        mask: Tensor | None = None,
        scale: Tensor | None = None,
    ) -> dict[str, Any]:
        """Risk over the next ``prediction_horizon`` bars, from the last present bar.

        Args:
            price_data: ``[B, T, F]`` (one asset) or ``[B, T, A, F]`` (several).
            timestamps: int64 Unix seconds ``[B, T]``.
            asset_ids: ``[B]``/``[B, T]`` (one asset) or ``[B, A]`` ids in ``[0, num_assets)``.
            need_attention_weights: add ``attention_weights`` ``{"temporal_layer<i>": [B*A, H, T, T]}``.
            mask: bool ``[B, T]`` (bars) or ``[B, T, A]`` (bars per asset), True = present.
            scale: each asset's causal scale at its last present bar, a per-bar variance: ``[B]`` (one asset)
                or ``[B, A]`` (the data layer's ``batch["scale"]``); outputs are relative to it and mapped back.
                Default: None (:data:`~._scale.DEFAULT_SCALE`, 1% per bar).

        Returns:
            dict: ``var``/``es [B, L]`` (positive losses of the ``H``-bar log return at each tail probability
            of ``var_levels``; ``es >= var``), ``volatility [B]``, ``drawdown [B]`` (>= 0, as a fraction),
            ``correlation [B, A, A]`` (symmetric, unit diagonal, PSD; ``A = 1`` for one asset).

        Raises:
            ValueError: bad shapes, feature count, NaN in present bars, asset id out of range, a scale that is
                not positive (eager).
        """
        if not is_tracing():
            self._check(price_data, timestamps, asset_ids, mask)
            b = price_data.shape[0]
            check_scale(scale, "scale", ((b, price_data.shape[2]),) if price_data.dim() == 4 else ((b,),))
        with self.mixed_precision(price_data.device):
            out = self._risk(price_data, timestamps, asset_ids, need_attention_weights, mask, scale)
        return self.float_outputs(out)

    def _risk(
        self,
        price_data: Tensor,
        timestamps: Tensor | None,
        asset_ids: Tensor | None,
        need_attention_weights: bool,
        mask: Tensor | None,
        scale: Tensor | None,
    ) -> dict[str, Any]:
        multi = price_data.dim() == 4
        x = price_data if multi else price_data.unsqueeze(2)  # (B, T, A, F)
        b, t, a, f = x.shape
        if mask is None:
            bar_mask = None
        elif mask.dim() == 2:
            bar_mask = mask.unsqueeze(-1).expand(b, t, a)
        else:
            bar_mask = mask
        flat = x.permute(0, 2, 1, 3).reshape(b * a, t, f)  # (B*A, T, F)
        flat_mask = None if bar_mask is None else bar_mask.permute(0, 2, 1).reshape(b * a, t)
        flat_ts = None if timestamps is None else timestamps.repeat_interleave(a, dim=0)  # (B*A, T)
        flat_ids = None
        if asset_ids is not None:
            flat_ids = drop_asset_ids(
                asset_ids.reshape(-1) if multi else asset_ids, self.config.asset_dropout, self.training
            )
        states, weights = self.encoder(
            flat,
            timestamps=flat_ts,
            asset_ids=flat_ids,
            mask=flat_mask,
            need_weights=need_attention_weights,
            last_only=True,
        )
        h = states[:, -1].view(b, a, -1)  # (B, A, d): each asset's last present bar
        present = torch.ones(b, a, dtype=torch.bool, device=h.device) if bar_mask is None else bar_mask.any(1)
        w = present.to(h.dtype)
        pooled = (h * w.unsqueeze(-1)).sum(1) / w.sum(1, keepdim=True).clamp_min(1.0)  # (B, d)
        s = scale_or_default(scale, (b, a), pooled).reshape(b, a)  # (B, A)
        # the basket's per-bar scale: the equal-weight mean of the present assets' scales
        s = (s * w).sum(1) / w.sum(1).clamp_min(1.0)  # (B,)
        volatility = torch.sqrt(self.volatility_head(pooled, s)[:, 0])  # (B,), trained by QLIKE
        # VaR/ES = volatility x learned tail multipliers; FZ0 shapes the tail, QLIKE alone sets the scale.
        var, es = self.tail_head(pooled, volatility.detach())  # (B, L)
        unit = torch.sqrt(s * self.config.prediction_horizon)  # (B,): sqrt(H * scale)
        corr = unit_correlation(self.correlation_proj(h))  # (B, A, A)
        both = present.unsqueeze(-1) & present.unsqueeze(-2)
        eye = torch.eye(a, dtype=torch.bool, device=h.device)
        corr = torch.where(both | eye, corr, torch.zeros((), dtype=corr.dtype, device=corr.device))
        out: dict[str, Any] = {
            "var": var,
            "es": es,
            "volatility": volatility,
            "drawdown": unit * self.drawdown_head(pooled),
            "correlation": corr,
        }
        if need_attention_weights:
            out["attention_weights"] = weights
        return out

    def loss_statistics(self, targets: Mapping[str, Tensor]) -> dict[str, Any]:
        """``{"drawdown_scale": mean |drawdown|}`` over the training split (finite entries; 0 -> 1)."""
        dd = targets["drawdown"].double().reshape(-1)
        dd = dd[torch.isfinite(dd)].abs()
        m = float(dd.mean()) if dd.numel() else 0.0
        return {"drawdown_scale": m if m > 1e-12 else 1.0}

    def loss(self, outputs: dict[str, Any], batch: dict[str, Any]) -> tuple[Tensor, dict[str, float]]:
        """FZ0 (VaR/ES, all levels) + QLIKE (volatility) + absolute error (drawdown) in units of
        ``sqrt(H * scale)`` (without ``batch["scale"]``: divided by ``drawdown_scale``).

        Each a mean of per-sample terms with fixed normalisers (no statistic of the batch). ``batch["scale"]``
        ``[B]``, or ``[B, A]`` for multi-asset windows (then their mean over the assets).

        Reads ``targets["returns"]``/``["volatility"]`` ``[B, H']`` (column ``prediction_horizon - 1``; a
        ``[B]`` tensor is taken as that column) and ``targets["drawdown"] [B]``; with an optional
        ``targets["correlation"] [B, A, A]`` (realised correlations) adds their mean squared error. Without it
        the correlation head is constrained (symmetric, unit diagonal, PSD) but not trained.
        """
        targets = require_targets(batch, self.TARGETS, type(self).__name__)
        var = outputs["var"]
        col = self.config.prediction_horizon - 1

        def pick(name: str) -> Tensor:
            y = targets[name].to(var.dtype)
            if y.dim() == 1:
                return y
            if y.dim() != 2 or y.shape[1] <= col:
                raise ValueError(
                    f"batch['targets'][{name!r}] has shape {tuple(y.shape)}; expected [batch] or [batch, H'] "
                    f"with H' >= prediction_horizon={col + 1}"
                )
            return y[:, col]

        returns, vol = pick("returns"), pick("volatility")
        fz = fz0_loss(returns.unsqueeze(-1), var, outputs["es"], self.levels.to(var.dtype))
        ql = qlike_loss(outputs["volatility"], vol)
        dd = targets["drawdown"].to(var.dtype).view(-1)
        scale = batch.get("scale")
        if scale is not None:
            s = scale.to(var.dtype)
            unit = torch.sqrt((s.mean(-1) if s.dim() == 2 else s) * self.config.prediction_horizon)  # (B,)
            dd_loss = ((outputs["drawdown"] - dd).abs() / unit).mean()
        else:
            dd_scale = 1.0 if self.config.drawdown_scale is None else self.config.drawdown_scale
            dd_loss = (outputs["drawdown"] - dd).abs().mean() / dd_scale
        total = fz + ql + dd_loss
        corr_target = targets.get("correlation")
        if corr_target is not None:  # optional: realised correlations [B, A, A] of multi-asset batches
            c = outputs["correlation"]
            if tuple(corr_target.shape) != tuple(c.shape):
                raise ValueError(
                    f"batch['targets']['correlation'] has shape {tuple(corr_target.shape)}, expected {tuple(c.shape)}"
                )
            corr_loss = (c - corr_target.to(c.dtype)).square().mean()
            total = total + corr_loss
        breach = (returns.unsqueeze(-1) < -var).float().mean(0)
        parts = {"loss": float(total.detach()), "fz0": float(fz.detach()), "qlike": float(ql.detach())}
        parts["drawdown"] = float(dd_loss.detach())
        if corr_target is not None:
            parts["correlation"] = float(corr_loss.detach())
        for level, rate in zip(self.var_levels, breach.tolist()):
            parts[f"breach_rate_{level:g}"] = rate
        return total, parts

    def training_inputs(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The base contract's inputs plus ``scale`` (``batch["scale"]``)."""
        return {**super().training_inputs(batch), "scale": batch.get("scale")}

    def residual_scores(self, outputs: dict[str, Any], batch: dict[str, Any]) -> tuple[Tensor, Tensor] | None:
        """Summed QLIKE of each candidate residual weight on a single-asset batch and the number of terms
        (outputs computed with weight 1); None without ``batch["scale"] [B]``. See the price model's."""
        scale = batch.get("scale")
        if scale is None or scale.dim() != 1:
            return None
        y = require_targets(batch, ("volatility",), type(self).__name__)["volatility"]
        y = y[:, self.config.prediction_horizon - 1] if y.dim() == 2 else y
        return self.volatility_head.residual_scores(
            outputs["volatility"].square().unsqueeze(-1), scale, y.square().unsqueeze(-1)
        )
