"""TradingTransformer: a causal encoder for bar series with regime, risk and multi-horizon heads.

Pipeline: input projection -> asset embedding -> multi-timeframe views (causal trailing means at the
configured timeframes) -> positional encoding -> cross-modal attention over ``modality_data`` -> temporal
attention (multi-timeframe + cyclical) -> encoder blocks -> final norm -> heads applied at every bar.

Causality ("outputs up to t"): every module is causal, so the per-bar outputs of :meth:`forward_steps` at
bars ``<= t`` are bit-for-bit unchanged when bars after ``t`` change. :meth:`forward` returns the outputs at
the last present bar; by the same property they equal ``forward_steps`` of the truncated window.

Missing bars (``mask`` False): their inputs are zeroed, they are never attended to, never pooled and never
read out (the outputs come from the last present bar), so their values have no effect on any output. Their
timestamps must still be the grid's (increasing), as the data layer's panels provide.

Shapes:
    ``B`` batch, ``T`` bars, ``F`` input features, ``O`` output dim, ``R`` regimes, ``H`` heads,
    ``M`` modalities, ``d`` = ``d_model``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import torch
from torch import Tensor, nn

from ..attention._masks import is_tracing
from ..attention.multi_head_attention import MultiHeadAttention
from ..attention.temporal_attention import TemporalAttention, TemporalAttentionConfig
from ..config import AttentionConfig, replace_config
from ..encodings import create_positional_encoding
from ._config import TradingTransformerConfig
from ._fusion import CrossModalFusion, TimeframeFusion
from ._heads import MultiHorizonHead, RegimeHead, RiskHead
from ._norms import make_norm
from ._precision import forward_autocast
from .transformer_block import TransformerBlockConfig, TransformerEncoderBlock, stochastic_depth_rates

__all__ = ["TradingTransformer", "create_trading_transformer"]

logger = logging.getLogger(__name__)


class TradingTransformer(nn.Module):
    """Complete transformer for trading series (see the module docstring).

    Args:
        config: :class:`TradingTransformerConfig`.

    Examples:
        >>> cfg = TradingTransformerConfig(d_model=32, num_heads=4, num_encoder_layers=2, input_features=8)
        >>> TradingTransformer(cfg)(torch.randn(2, 16, 8))["predictions"].shape
        torch.Size([2, 1])
    """

    def __init__(self, config: TradingTransformerConfig) -> None:
        super().__init__()
        if not isinstance(config, TradingTransformerConfig):
            raise TypeError(f"config must be a TradingTransformerConfig, got {type(config).__name__}")
        self.config = c = config
        self.input_proj = nn.Linear(c.input_features, c.d_model)
        self.asset_embedding = nn.Embedding(c.num_assets, c.d_model) if c.use_multi_asset else None
        self.timeframe_fusion = (
            TimeframeFusion(c.d_model, c.timeframe_ratios) if c.use_multi_timeframe else None
        )
        self.pos_encoding = create_positional_encoding(
            c.pos_encoding_type, d_model=c.d_model, num_heads=c.num_heads, max_seq_len=c.max_seq_len
        )
        attn_cfg = AttentionConfig(d_model=c.d_model, num_heads=c.num_heads, dropout=c.attn_dropout)
        self.cross_modal = (
            CrossModalFusion(c.modalities, attn_cfg, norm_type=c.norm_type, dropout=c.dropout)
            if c.use_cross_modal_attention
            else None
        )
        self.temporal: TemporalAttention | None = None
        if c.use_temporal_attention:
            self.temporal_norm = make_norm(c.norm_type, c.d_model)
            self.temporal = TemporalAttention(
                TemporalAttentionConfig(
                    d_model=c.d_model,
                    num_heads=c.num_heads,
                    dropout=c.attn_dropout,
                    use_multi_timeframe=c.use_multi_timeframe,
                    timeframe_windows=c.temporal_windows,
                    bar_seconds=c.bar_seconds,
                    causal=c.causal,
                )
            )
            self.temporal_dropout = nn.Dropout(c.dropout)
        rates = stochastic_depth_rates(c.stochastic_depth_rate, c.num_encoder_layers)
        self.blocks = nn.ModuleList(
            TransformerEncoderBlock(
                TransformerBlockConfig(
                    d_model=c.d_model,
                    num_heads=c.num_heads,
                    d_ff=c.d_ff,
                    dropout=c.dropout,
                    attn_dropout=c.attn_dropout,
                    norm_first=c.norm_first,
                    norm_type=c.norm_type,
                    activation=c.activation,
                    drop_path_rate=rate,
                    causal=c.causal,
                    use_gradient_checkpointing=c.use_gradient_checkpointing,
                ),
                rotary=self.pos_encoding.rotary,
            )
            for rate in rates
        )
        self.final_norm = make_norm(c.norm_type, c.d_model) if c.norm_first else nn.Identity()
        self.forecast_head = MultiHorizonHead(c.d_model, c.output_dim, c.prediction_horizon)
        self.regime_head = RegimeHead(c.d_model, c.num_regimes) if c.use_market_regime_detection else None
        self.risk_head = RiskHead(c.d_model) if c.use_risk_management else None

    # -- assets ------------------------------------------------------------------------------------------
    def asset_id(self, symbol: str) -> int:
        """Id of ``symbol`` (``asset_symbols[i]`` -> ``i + 1``); 0 for an unknown symbol."""
        symbols = self.config.asset_symbols
        return symbols.index(symbol) + 1 if symbol in symbols else 0

    def get_extra_state(self) -> dict[str, Any]:
        """The symbol-to-id map travels in the state dict."""
        return {"asset_symbols": list(self.config.asset_symbols)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        saved = tuple(state.get("asset_symbols", ()))
        if saved != self.config.asset_symbols:
            raise ValueError(
                f"checkpoint asset_symbols {list(saved)} differ from this model's {list(self.config.asset_symbols)}: "
                "asset ids would mean different assets"
            )

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameters (all, or those with ``requires_grad``)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # -- checks ------------------------------------------------------------------------------------------
    def _check_inputs(
        self,
        x: Tensor,
        timestamps: Tensor | None,
        asset_ids: Tensor | None,
        modality_data: dict[str, Tensor] | None,
        mask: Tensor | None,
    ) -> None:
        c = self.config
        if x.dim() != 3 or x.shape[-1] != c.input_features:
            raise ValueError(
                f"x must be [batch, seq, input_features={c.input_features}], got {tuple(x.shape)}"
            )
        b, t = x.shape[:2]
        if t > c.max_seq_len:
            raise ValueError(
                f"sequence length {t} exceeds TradingTransformerConfig.max_seq_len={c.max_seq_len}"
            )
        if timestamps is not None:
            if tuple(timestamps.shape) != (b, t) or timestamps.is_floating_point():
                raise ValueError(
                    f"timestamps must be int64 Unix seconds [batch, seq] = {(b, t)}, "
                    f"got {timestamps.dtype} {tuple(timestamps.shape)}"
                )
        if mask is not None:
            if mask.dtype != torch.bool or tuple(mask.shape) != (b, t):
                raise ValueError(
                    f"mask must be bool [batch, seq] = {(b, t)}, got {mask.dtype} {tuple(mask.shape)}"
                )
            if not bool(mask.any(dim=1).all()):
                raise ValueError("mask has a window with no present bar; nothing to predict from")
        if asset_ids is not None:
            if self.asset_embedding is None:
                raise ValueError("asset_ids given but TradingTransformerConfig.use_multi_asset is False")
            if (
                asset_ids.is_floating_point()
                or asset_ids.dtype == torch.bool
                or tuple(asset_ids.shape) not in ((b,), (b, t))
            ):
                raise ValueError(
                    f"asset_ids must be integer [batch] or [batch, seq], got {asset_ids.dtype} {tuple(asset_ids.shape)}"
                )
            lo, hi = int(asset_ids.min()), int(asset_ids.max())
            if lo < 0 or hi >= c.num_assets:
                bad = lo if lo < 0 else hi
                raise ValueError(
                    f"asset id {bad} out of range [0, num_assets={c.num_assets}) (0 = unknown asset); "
                    "raise TradingTransformerConfig.num_assets"
                )
        if modality_data is not None and self.cross_modal is None:
            raise ValueError(
                f"modality_data given ({sorted(modality_data)}) but use_cross_modal_attention is False; "
                f"enable it (declared modalities: {list(c.modalities)})"
            )

    def _precision(self, device: torch.device) -> contextlib.AbstractContextManager[None]:
        return forward_autocast(self.config.use_mixed_precision, device)

    # -- forward -----------------------------------------------------------------------------------------
    def forward_steps(
        self,
        x: Tensor,
        timestamps: Tensor | None = None,
        asset_ids: Tensor | None = None,
        modality_data: dict[str, Tensor] | None = None,
        need_attention_weights: bool = False,
        *,
        mask: Tensor | None = None,
    ) -> dict[str, Any]:
        """Outputs at every bar (same arguments as :meth:`forward`).

        Returns:
            ``horizon_predictions [B, T, horizon, O]``, ``predictions [B, T, O]`` (horizon 1), ``hidden
            [B, T, d]``, with the regime head ``regime_logits``/``regime_probabilities [B, T, R]``, with the risk
            head ``risk_score [B, T, 1]``, and ``attention_weights`` (layer name -> ``[B, H, T, Tk]``) when
            asked. All float32.
        """
        if not is_tracing():
            self._check_inputs(x, timestamps, asset_ids, modality_data, mask)
        with self._precision(x.device):
            out = self._steps(x, timestamps, asset_ids, modality_data, need_attention_weights, mask)
        for key, value in out.items():
            if isinstance(value, Tensor):
                out[key] = value.float()
            elif isinstance(value, dict):
                out[key] = {k: v.float() for k, v in value.items()}
        return out

    def _steps(
        self,
        x: Tensor,
        timestamps: Tensor | None,
        asset_ids: Tensor | None,
        modality_data: dict[str, Tensor] | None,
        need_weights: bool,
        mask: Tensor | None,
    ) -> dict[str, Any]:
        c = self.config
        t = x.shape[1]
        weights: dict[str, Tensor] = {}
        if mask is not None:
            x = torch.where(
                mask.unsqueeze(-1), x, torch.zeros_like(x)
            )  # missing bars carry nothing (even NaN)
        h = self.input_proj(x)  # (B, T, d)
        if self.asset_embedding is not None and asset_ids is not None:
            emb = self.asset_embedding(asset_ids.long())
            h = h + (emb.unsqueeze(1) if emb.dim() == 2 else emb)  # (B, 1|T, d)
        if self.timeframe_fusion is not None:
            h = self.timeframe_fusion(h, mask)
        h = self.pos_encoding(h, timestamps)
        if self.cross_modal is not None and modality_data is not None:
            h, w = self.cross_modal(
                h, modality_data, present=mask, causal=c.causal, need_weights=need_weights
            )
            if w is not None:
                weights["cross_modal"] = w
        if self.temporal is not None:
            h = h + self.temporal_dropout(self.temporal(self.temporal_norm(h), timestamps, key_mask=mask))
        positions = (
            self.pos_encoding.rotary_positions(t, timestamps)
            if self.pos_encoding.rotary is not None
            else None
        )
        bias = self.pos_encoding.attention_bias(t, t, timestamps)
        for i, block in enumerate(self.blocks):
            res = block(h, key_mask=mask, positions=positions, attn_bias=bias, need_weights=need_weights)
            if isinstance(res, tuple):
                h, weights[f"encoder_layer_{i}"] = res
            else:
                h = res
        h = self.final_norm(h)
        horizons = self.forecast_head(h)  # (B, T, horizon, O)
        out: dict[str, Any] = {"horizon_predictions": horizons, "predictions": horizons[:, :, 0], "hidden": h}
        if self.regime_head is not None:
            logits = self.regime_head(h).float()  # (B, T, R)
            out["regime_logits"] = logits
            out["regime_probabilities"] = torch.softmax(logits, dim=-1)
        if self.risk_head is not None:
            out["risk_score"] = self.risk_head(h)  # (B, T, 1)
        if need_weights:
            out["attention_weights"] = weights
        return out

    def forward(
        self,
        x: Tensor,
        timestamps: Tensor | None = None,
        asset_ids: Tensor | None = None,
        modality_data: dict[str, Tensor] | None = None,
        need_attention_weights: bool = False,
        *,
        mask: Tensor | None = None,
    ) -> dict[str, Any]:
        """Outputs at the last present bar of each window.

        Args:
            x: ``[B, T, F]``.
            timestamps: int64 Unix seconds ``[B, T]`` (increasing for the cyclical and time-aware parts).
            asset_ids: ``[B]`` or ``[B, T]`` ids in ``[0, num_assets)``; 0 = unknown asset.
            modality_data: name -> ``[B, T, d_model]``, names among ``config.modalities``.
            need_attention_weights: add ``attention_weights``: layer name -> ``[B, H, T, Tk]`` for the
                cross-modal layer and every encoder layer (the temporal-attention block attends to per-bar
                key sets, not to a ``[T, Tk]`` grid, so it has no map).
            mask: bool ``[B, T]``, True = the bar exists.

        Returns:
            ``predictions [B, O]``, ``horizon_predictions [B, horizon, O]``; with regime detection
            ``regime_probabilities [B, R]`` and ``regime_logits``; with risk management ``risk_score [B, 1]``
            (predicted realised volatility of the next horizon); ``attention_weights`` when asked.

        Raises:
            ValueError: bad shapes, out-of-range asset ids, undeclared modalities, sequence too long.
        """
        steps = self.forward_steps(x, timestamps, asset_ids, modality_data, need_attention_weights, mask=mask)
        b, t = x.shape[:2]
        if mask is None:
            last = torch.full((b,), t - 1, dtype=torch.long, device=x.device)
        else:
            last = t - 1 - torch.flip(mask, dims=[1]).to(torch.int8).argmax(dim=1)  # last present bar
        rows = torch.arange(b, device=x.device)
        out: dict[str, Any] = {}
        for key, value in steps.items():
            if key == "hidden":
                continue
            out[key] = value[rows, last] if isinstance(value, Tensor) else value
        return out

    def predict_next_timestep(self, x: Tensor, num_predictions: int = 1, **kwargs: Any) -> Tensor:
        """Forecasts for the next ``num_predictions`` bars from the direct multi-horizon head.

        Args:
            x: ``[B, T, F]``.
            num_predictions: horizons, at most ``config.prediction_horizon``.
            **kwargs: the other :meth:`forward` arguments.

        Returns:
            ``[B, num_predictions, O]``.

        Raises:
            ValueError: ``num_predictions`` outside ``[1, prediction_horizon]``.
        """
        if not 1 <= num_predictions <= self.config.prediction_horizon:
            raise ValueError(
                f"num_predictions={num_predictions}: must be in [1, prediction_horizon="
                f"{self.config.prediction_horizon}] (raise TradingTransformerConfig.prediction_horizon)"
            )
        return self.forward(x, **kwargs)["horizon_predictions"][:, :num_predictions]  # type: ignore[no-any-return]

    def get_attention_maps(self, x: Tensor, **kwargs: Any) -> dict[str, Tensor]:
        """The ``attention_weights`` dict of :meth:`forward` (layer name -> ``[B, H, T, Tk]``)."""
        kwargs["need_attention_weights"] = True
        return self.forward(x, **kwargs)["attention_weights"]  # type: ignore[no-any-return]

    def attention_layers(self) -> dict[str, MultiHeadAttention]:
        """Layer name (as in ``attention_weights``) -> attention module."""
        layers = {f"encoder_layer_{i}": blk.attn for i, blk in enumerate(self.blocks)}
        if self.cross_modal is not None:
            layers = {"cross_modal": self.cross_modal.attn, **layers}
        return layers  # type: ignore[return-value]


def create_trading_transformer(**kwargs: Any) -> TradingTransformer:
    """Build a :class:`TradingTransformer` from :class:`TradingTransformerConfig` fields.

    Cross-modal attention is on unless ``use_cross_modal_attention=False`` is passed, so that the
    Quick Start example (``modality_data`` with price, volume, news, orderbook) runs as written.

    Raises:
        TypeError: an unknown keyword (the message lists the valid fields).
        ValueError: a field breaks its rule.

    Examples:
        >>> model = create_trading_transformer(input_features=8, d_model=32, num_heads=4, num_encoder_layers=1)
        >>> model.config.use_cross_modal_attention
        True
    """
    kwargs.setdefault("use_cross_modal_attention", True)
    config = replace_config(TradingTransformerConfig(), **kwargs)
    model = TradingTransformer(config)
    logger.info("TradingTransformer with %d parameters", model.num_parameters())
    return model
