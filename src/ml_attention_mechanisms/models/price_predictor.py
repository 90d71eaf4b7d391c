"""Multi-horizon price and volatility forecasts with quantiles that cannot cross.

Targets (from the data layer): ``"price"`` is the log return from bar ``t`` to ``t + h``; ``"volatility"`` is
the realised volatility from ``t + 1`` to ``t + h`` (square root of the sum of squared log returns), for
``h = 1..H``. The point forecast is the median.

Forecasts are relative to the asset's causal ``scale`` (the data layer's variance anchor at bar ``t``, a
per-bar variance; see ``_scale.py``) and mapped back at the output: the expected ``h``-bar variance is
``h * scale * exp(w * r_h)`` with a learned log residual ``r`` that starts at 0 (the anchor) and a residual
weight ``w`` chosen on validation data; every quantile and VaR/ES is in units of ``volatility_forecast`` (its
square root; location-scale), so they follow the asset's own volatility level and clustering. Loss: pinball
over the quantiles in units of ``sqrt(h * scale)`` (so every sample and target weighs alike; without a scale,
each target divided by ``target_scales``) plus QLIKE on ``volatility_forecast`` (the only loss on the variance
forecast: QLIKE is minimised by the expected variance, not the median), plus FZ0 on VaR/ES with
``use_risk_metrics``.

Shapes:
    ``B`` batch, ``T`` bars, ``F`` features, ``F_ob`` order-book features, ``H`` horizon,
    ``N`` targets, ``Q`` quantile levels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ..attention._masks import is_tracing
from ._backbone import TemporalEncoder
from ._base import COMMON_FIELDS, CryptoModel, require_targets
from ._heads import MonotoneQuantileHead, TailRiskHead
from ._inputs import (
    check_asset_ids,
    check_finite,
    check_mask,
    check_series,
    check_timestamps_shape,
    zero_masked,
)
from ._losses import fz0_loss, pinball_loss, qlike_loss
from ._scale import VarianceResidualHead, check_scale, drop_asset_ids, scale_or_default
from .config import CryptoPredictionModelConfig

__all__ = ["CryptoPricePredictionModel"]

_TARGET_KEYS = {"price": "returns", "volatility": "volatility"}


class CryptoPricePredictionModel(CryptoModel):
    """Forecast log returns and/or realised volatility for ``h = 1..H`` bars ahead, with quantiles.

    A causal sliding-window transformer with time-aware ALiBi (see ``_backbone.py``) reads the bars; the
    state at the last present bar feeds a monotone quantile head (and, with ``use_risk_metrics``, a VaR/ES
    head).

    Args:
        config: :class:`CryptoPredictionModelConfig`; reads the common fields and ``prediction_horizon``,
            ``prediction_targets``, ``quantiles``, ``orderbook_features``, ``use_risk_metrics``,
            ``var_confidence``. Default: the default config.

    Examples:
        >>> model = CryptoPricePredictionModel(CryptoPredictionModelConfig(d_model=32, num_heads=4,
        ...     num_encoder_layers=1, input_features=5, prediction_horizon=3))
        >>> out = model(torch.randn(2, 20, 5))
        >>> list(out)[:4], tuple(out["predictions"].shape), tuple(out["quantiles"].shape)
        (['predictions', 'quantiles', 'lower', 'upper'], (2, 3, 2), (2, 3, 2, 5))
    """

    DATA_KIND: ClassVar[str] = "single_asset"
    OUTPUT_KIND: ClassVar[str] = "price"
    TARGETS: ClassVar[tuple[str, ...]] = ("returns", "volatility")
    USED_FIELDS: ClassVar[frozenset[str]] = COMMON_FIELDS | {
        "prediction_horizon",
        "prediction_targets",
        "quantiles",
        "orderbook_features",
        "use_risk_metrics",
        "var_confidence",
        "target_scales",
        "asset_dropout",
    }
    LOSS_STATISTICS: ClassVar[tuple[str, ...]] = ("target_scales",)
    QLIKE_WEIGHT: ClassVar[float] = 1.0

    horizon_bars: Tensor

    def __init__(self, config: CryptoPredictionModelConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        self.targets = c.prediction_targets
        self.encoder = TemporalEncoder(c)
        self.orderbook_proj = nn.Linear(c.orderbook_features, c.d_model) if c.orderbook_features > 0 else None
        self.median_index = c.quantiles.index(0.5)
        self.register_buffer(
            "horizon_bars", torch.arange(1, c.prediction_horizon + 1, dtype=torch.float32), persistent=False
        )
        # QLIKE's minimiser is the conditional mean of the variance, not the median: a separate output, the
        # anchor times a learned residual.
        self.volatility_head = (
            VarianceResidualHead(c.d_model, tuple(range(1, c.prediction_horizon + 1)))
            if "volatility" in c.prediction_targets
            else None
        )
        # Location-scale in units of that forecast (or of the anchor's sqrt(h * scale) without one): every
        # quantile is the scale x (a standardised location + width x learned shape), so the asset's level and
        # its volatility clustering come from the variance forecast and the quantile head only learns
        # residual shifts and the shape.
        self.quantile_head = MonotoneQuantileHead(
            c.d_model,
            (c.prediction_horizon, len(c.prediction_targets)),
            c.quantiles,
            log_space=tuple(t == "volatility" for t in c.prediction_targets),
            scaled=(True,) * len(c.prediction_targets),
        )
        self.risk_head = (
            TailRiskHead(c.d_model, (c.var_alpha,), shape=(c.prediction_horizon,), scaled=True)
            if c.use_risk_metrics
            else None
        )

    @classmethod
    def test_kwargs(cls) -> dict[str, Any]:
        return {
            **super().test_kwargs(),
            "prediction_horizon": 2,
            "quantiles": (0.1, 0.5, 0.9),
            "use_risk_metrics": True,
        }

    def _check(
        self,
        price_data: Tensor,
        timestamps: Tensor | None,
        asset_ids: Tensor | None,
        orderbook_data: Tensor | None,
        mask: Tensor | None,
    ) -> None:
        c = self.config
        check_series(price_data, "price_data", features=c.input_features, multi_asset=False)
        b, t = price_data.shape[0], price_data.shape[1]
        check_mask(mask, "mask", ((b, t),))
        check_timestamps_shape(timestamps, "timestamps", (b, t))
        check_asset_ids(asset_ids, "asset_ids", batch=b, seq_len=t, num_assets=c.num_assets)
        check_finite(price_data, "price_data", mask)
        if orderbook_data is not None:
            if self.orderbook_proj is None:
                raise ValueError(
                    "orderbook_data was given but the model was built with orderbook_features=0; "
                    "set orderbook_features to its last-axis size"
                )
            check_series(orderbook_data, "orderbook_data", features=c.orderbook_features, multi_asset=False)
            if tuple(orderbook_data.shape[:2]) != (b, t):
                raise ValueError(
                    f"orderbook_data must be [batch, seq_len, orderbook_features] with batch, seq_len = {(b, t)} "
                    f"as price_data, got {tuple(orderbook_data.shape)}"
                )
            check_finite(orderbook_data, "orderbook_data", mask)

    def encode(
        self,
        price_data: Tensor,
        timestamps: Tensor | None = None,
        asset_ids: Tensor | None = None,
        orderbook_data: Tensor | None = None,
        need_attention_weights: bool = False,
        *,
        mask: Tensor | None = None,
        last_only: bool = False,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Per-bar states ``[B, T, d_model]`` (causal: the state at ``t`` reads bars ``<= t`` only); per-patch
        ``[B, N, d_model]`` with ``patch_size > 1``; ``[B, 1, d_model]`` at the last present bar with
        ``last_only``."""
        if not is_tracing():
            self._check(price_data, timestamps, asset_ids, orderbook_data, mask)
        asset_ids = drop_asset_ids(asset_ids, self.config.asset_dropout, self.training)
        extra = None
        if orderbook_data is not None and self.orderbook_proj is not None:
            extra = self.orderbook_proj(zero_masked(orderbook_data, mask))  # (B, T, d), fused per bar
        return self.encoder(
            price_data,
            timestamps=timestamps,
            asset_ids=asset_ids,
            mask=mask,
            extra=extra,
            need_weights=need_attention_weights,
            last_only=last_only,
        )

    def heads(self, h: Tensor, scale: Tensor | None = None) -> dict[str, Tensor]:
        """Outputs from the states ``h [B, d_model]`` of the bar to forecast from and the asset's per-bar
        ``scale [B]`` (None: :data:`~._scale.DEFAULT_SCALE`)."""
        s = scale_or_default(scale, (h.shape[0],), h)  # (B,)
        anchor_sd = torch.sqrt(s.unsqueeze(-1) * self.horizon_bars.to(h.dtype))  # (B, H): sqrt(h * scale)
        vol = None
        if self.volatility_head is not None:
            vol = torch.sqrt(self.volatility_head(h, s))  # (B, H), root of the expected variance
        # The quantiles' and VaR's unit: the variance forecast, detached (QLIKE alone trains it).
        unit = anchor_sd if vol is None else vol.detach()
        q = self.quantile_head(h, unit.unsqueeze(-1).expand(-1, -1, len(self.targets)))  # (B, H, N, Q)
        out = {
            "predictions": q[..., self.median_index],
            "quantiles": q,
            "lower": q[..., 0],
            "upper": q[..., -1],
        }
        if vol is not None:
            out["volatility_forecast"] = vol  # (B, H), root of the expected variance
        if self.risk_head is not None:
            var, es = self.risk_head(h, unit)  # (B, H, 1)
            out["var"], out["es"] = var.squeeze(-1), es.squeeze(-1)
        return out

    def forward(
        self,
        price_data: Tensor,
        timestamps: Tensor | None = None,
        asset_ids: Tensor | None = None,
        orderbook_data: Tensor | None = None,
        need_attention_weights: bool = False,
        *,
        mask: Tensor | None = None,
        scale: Tensor | None = None,
    ) -> dict[str, Any]:
        """Forecast from the last present bar.

        Args:
            price_data: features ``[B, T, F]`` (``F = input_features``), normalised.
            timestamps: int64 Unix seconds ``[B, T]`` (time-aware attention and market-time features).
            asset_ids: ``[B]`` or ``[B, T]`` ids in ``[0, num_assets)``, 0 = unknown asset.
            orderbook_data: bring-your-own order-book features ``[B, T, F_ob]`` (e.g. bid/ask prices and
                sizes of the top levels, normalised), projected and added per bar. Needs
                ``orderbook_features = F_ob``.
            need_attention_weights: add ``attention_weights``: ``{"temporal_layer<i>": [B, H, T, T]}``.
            mask: bool ``[B, T]``, True = the bar exists; absent bars have no effect (NaN allowed there).
            scale: the asset's causal scale at the last present bar ``[B]``, a per-bar variance (the data
                layer's ``batch["scale"]``); forecasts are relative to it and mapped back. Default: None
                (:data:`~._scale.DEFAULT_SCALE`, 1% per bar).

        Returns:
            dict: ``predictions [B, H, N]`` (median; ``N`` follows ``prediction_targets``), ``quantiles
            [B, H, N, Q]``, ``lower``/``upper [B, H, N]`` (outermost quantiles: 90% by default), with a
            ``"volatility"`` target ``volatility_forecast [B, H]`` (root of the expected realised variance), with
            ``use_risk_metrics`` ``var``/``es [B, H]`` (positive losses of the ``h``-bar log return at tail
            probability ``var_confidence``), and ``attention_weights`` on request.

        Raises:
            ValueError: wrong shapes, feature count, dtypes, NaN/inf in present bars, asset id out of range,
                a scale that is not positive (eager mode).
        """
        check_scale(scale, "scale", ((price_data.shape[0],),))
        with self.mixed_precision(price_data.device):
            states, weights = self.encode(
                price_data,
                timestamps,
                asset_ids,
                orderbook_data,
                need_attention_weights,
                mask=mask,
                last_only=True,
            )
            out: dict[str, Any] = dict(self.heads(states[:, -1], scale))
        if need_attention_weights:
            out["attention_weights"] = weights
        return self.float_outputs(out)

    def loss_statistics(self, targets: Mapping[str, Tensor]) -> dict[str, Any]:
        """``{"target_scales": (mean |y| per prediction target over the first H horizons, ...)}``.

        Non-finite entries are left out; a target of zero size gets scale 1.
        """
        h = self.config.prediction_horizon
        scales = []
        for name in self.targets:
            y = targets[_TARGET_KEYS[name]].double()
            y = (y.view(-1, 1) if y.dim() == 1 else y.reshape(y.shape[0], -1))[:, :h]
            y = y[torch.isfinite(y)].abs()
            m = float(y.mean()) if y.numel() else 0.0
            scales.append(m if m > 1e-12 else 1.0)
        return {"target_scales": tuple(scales)}

    def training_inputs(self, batch: dict[str, Any]) -> dict[str, Any]:
        inputs = {**super().training_inputs(batch), "scale": batch.get("scale")}
        if self.orderbook_proj is not None and "orderbook_data" in batch:
            inputs["orderbook_data"] = batch["orderbook_data"]
        return inputs

    def loss(self, outputs: dict[str, Any], batch: dict[str, Any]) -> tuple[Tensor, dict[str, float]]:
        """Pinball per target in units of ``sqrt(h * scale)`` (without ``batch["scale"]``: divided by
        ``target_scales``) + ``QLIKE_WEIGHT`` x QLIKE on ``volatility_forecast`` (+ FZ0 with
        ``use_risk_metrics``): means of per-sample terms with fixed normalisers.

        Reads ``batch["targets"]["returns"]`` and/or ``["volatility"]`` ``[B, H]`` and ``batch["scale"] [B]``.
        """
        keys = tuple(_TARGET_KEYS[t] for t in self.targets)
        targets = require_targets(batch, keys, type(self).__name__)
        quantiles = outputs["quantiles"]
        horizon = quantiles.shape[1]
        scale = batch.get("scale")
        unit = None  # (B, H, 1): sqrt(h * scale), the per-sample unit of the pinball terms
        if scale is not None:
            unit = torch.sqrt(
                scale.to(quantiles.dtype).unsqueeze(-1) * self.horizon_bars[:horizon]
            ).unsqueeze(-1)
        total = quantiles.new_zeros(())
        parts: dict[str, float] = {}
        for i, name in enumerate(self.targets):
            y = targets[_TARGET_KEYS[name]].to(quantiles.dtype)
            if tuple(y.shape) != tuple(quantiles.shape[:2]):
                raise ValueError(
                    f"batch['targets'][{_TARGET_KEYS[name]!r}] has shape {tuple(y.shape)}, expected "
                    f"[batch, prediction_horizon] = {tuple(quantiles.shape[:2])}"
                )
            if unit is not None:
                pin = pinball_loss(quantiles[:, :, i] / unit, y / unit[..., 0], self.quantile_head.levels)
            else:
                divisor = 1.0 if self.config.target_scales is None else self.config.target_scales[i]
                pin = pinball_loss(quantiles[:, :, i], y, self.quantile_head.levels) / divisor
            total = total + pin
            parts[f"pinball_{name}"] = float(pin.detach())
            if name == "volatility":
                ql = qlike_loss(outputs["volatility_forecast"], y)
                total = total + self.QLIKE_WEIGHT * ql
                parts["qlike"] = float(ql.detach())
        if "var" in outputs and "returns" in targets:
            y = targets["returns"].to(quantiles.dtype)[:, :horizon]
            fz = fz0_loss(y, outputs["var"], outputs["es"], self.config.var_alpha)
            total = total + fz  # FZ0 is homogeneous of degree 0: its gradients do not depend on the scale
            parts["fz0"] = float(fz.detach())
        parts["loss"] = float(total.detach())
        return total, parts

    def residual_scores(self, outputs: dict[str, Any], batch: dict[str, Any]) -> tuple[Tensor, Tensor] | None:
        """Summed QLIKE of each candidate residual weight (:data:`~._scale.RESIDUAL_WEIGHTS`) on a batch and
        the number of terms, from outputs computed with weight 1; None without a variance forecast or a
        ``batch["scale"]``. Training sums them over the validation set and keeps the best weight."""
        scale = batch.get("scale")
        if self.volatility_head is None or scale is None or "volatility_forecast" not in outputs:
            return None
        y = require_targets(batch, ("volatility",), type(self).__name__)["volatility"]
        return self.volatility_head.residual_scores(
            outputs["volatility_forecast"].square(), scale, y.square()
        )
