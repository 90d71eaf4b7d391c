"""Portfolio allocation across any number of assets, trained end to end on the net Sharpe ratio.

Pipeline (no weight depends on the asset axis, so any ``A <= num_assets`` works):

1. each asset's bars go through the same causal sliding-window encoder (time-aware ALiBi, market time; or
   index-distance ALiBi with ``attention_kind="standard"``);
2. ``num_cross_asset_layers`` blocks of attention across the assets (non-causal, absent assets masked) mix
   their last states (0 blocks: no mixing, each asset's scores read only its own bars; an ablation);
3. heads give per-asset next-period volatilities ``sigma = sqrt(scale) * exp(head)`` (relative to each asset's
   causal ``scale``, the data layer's variance anchor: a per-bar variance), expected next-period (simple)
   returns ``mu = sigma * head`` (in units of ``sigma``) and allocation scores (from scale-free states);
   target weights are the softmax of the scores over present assets (long-only, on the simplex) or
   ``tanh`` scores capped at ``gross_exposure`` in ``sum |w|`` (long-short);
4. liquidity: the cost of trading asset ``a`` is ``transaction_cost * sqrt(vbar / v_a)`` (square-root
   impact; ``v_a`` its mean traded value over the last ``risk_lookback`` bars, ``vbar`` the mean over present
   assets, so an asset of average liquidity costs ``transaction_cost``; only ratios between assets enter, so
   the unit and an exchange's liquidity level do not); the model moves each asset only a
   fraction ``eta_a = sigmoid(b - s log(cost_a / transaction_cost))`` (``s >= 0``) of the way from
   ``current_weights`` to the target, then renormalises: thinner volume -> costlier -> smaller trade;
5. risk: ``Sigma = diag(sigma) R diag(sigma)`` with ``R`` the correlation of the assets' return feature
   (column ``return_feature_index``) over the last ``risk_lookback`` bars, shrunk 10% to the identity;
   ``improvement_potential`` is the Sharpe ratio of the new weights net of the trading cost minus that of
   ``current_weights``; with ``use_risk_metrics`` the portfolio's Gaussian VaR/ES at ``var_confidence``.

Training: negative Sharpe ratio over the batch of realised next-period portfolio returns net of turnover
costs (Zhang, Zohren and Roberts 2020, https://arxiv.org/abs/2005.13665) plus a Gaussian likelihood that
anchors ``mu`` and ``sigma`` to the realised returns.

Shapes:
    ``B`` batch, ``T`` bars, ``A`` assets, ``F`` features, ``L`` = ``risk_lookback``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..attention._masks import is_tracing
from ..transformers.transformer_block import TransformerBlockConfig, TransformerEncoderBlock
from ._backbone import TemporalEncoder
from ._base import COMMON_FIELDS, CryptoModel
from ._heads import PositiveHead
from ._losses import gaussian_var_es, sharpe_with_costs
from ._portfolio_checks import check_portfolio_inputs
from ._scale import check_scale, scale_or_default
from .config import CryptoPredictionModelConfig

__all__ = ["CryptoPortfolioOptimizerModel"]

_SHRINK = 0.1  # correlation shrinkage towards the identity (Ledoit-Wolf style, fixed intensity)


class CryptoPortfolioOptimizerModel(CryptoModel):
    """Optimal weights, expected returns, trades and the expected Sharpe gain for up to ``num_assets`` assets.

    Args:
        config: :class:`CryptoPredictionModelConfig`; reads the common fields (``num_assets`` = the largest
            number of assets accepted; asset ids are not used), ``use_risk_metrics``, ``var_confidence``,
            ``risk_lookback``, ``return_feature_index``, ``transaction_cost``, ``long_only``,
            ``gross_exposure``, ``num_cross_asset_layers``.
    """

    DATA_KIND: ClassVar[str] = "multi_asset"
    OUTPUT_KIND: ClassVar[str] = "portfolio"
    TARGETS: ClassVar[tuple[str, ...]] = ("next_returns",)
    STREAMABLE: ClassVar[bool] = False  # streams per asset, but the allocation is recomputed each bar
    USED_FIELDS: ClassVar[frozenset[str]] = COMMON_FIELDS | {
        "use_risk_metrics",
        "var_confidence",
        "risk_lookback",
        "return_feature_index",
        "transaction_cost",
        "long_only",
        "gross_exposure",
        "num_cross_asset_layers",
    }

    def __init__(self, config: CryptoPredictionModelConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        self.encoder = TemporalEncoder(c, use_asset_ids=False)
        block = TransformerBlockConfig(
            d_model=c.d_model, num_heads=c.num_heads, d_ff=c.hidden_dim, dropout=c.dropout
        )
        self.cross_asset = nn.ModuleList(
            TransformerEncoderBlock(block) for _ in range(c.num_cross_asset_layers)
        )
        self.cross_names = [f"cross_asset_layer{i}" for i in range(c.num_cross_asset_layers)]
        self.return_head = nn.Linear(c.d_model, 1)
        nn.init.normal_(self.return_head.weight, std=1e-3)
        nn.init.zeros_(self.return_head.bias)
        self.volatility_head = PositiveHead(c.d_model, (1,), init=1.0)  # x sqrt(scale)
        self.score_head = nn.Linear(c.d_model, 1)
        self.trade_bias = nn.Parameter(torch.tensor(2.0))  # eta ~ 0.88 of the way at average liquidity
        self.trade_slope = nn.Parameter(torch.tensor(0.5))  # softplus -> s >= 0: monotone in liquidity

    @classmethod
    def test_kwargs(cls) -> dict[str, Any]:
        return {**super().test_kwargs(), "risk_lookback": 4, "use_risk_metrics": True}

    def training_inputs(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Multi-asset batch -> forward kwargs (``asset_features``, ``volume_data``, ``timestamps``, ``mask``
        from ``asset_mask``, ``scale``, ``current_weights`` when the batch has them)."""
        if "asset_features" not in batch:
            raise ValueError(
                f"{type(self).__name__}.training_inputs needs batch['asset_features']; got {sorted(batch)}"
            )
        return {
            "asset_features": batch["asset_features"],
            "current_weights": batch.get("current_weights"),
            "volume_data": batch.get("volume_data"),
            "timestamps": batch.get("timestamps"),
            "mask": batch.get("asset_mask", batch.get("mask")),
            "scale": batch.get("scale"),
        }

    # -- pieces ------------------------------------------------------------------------------------------
    def _correlation(self, x: Tensor, bar_mask: Tensor, present: Tensor) -> Tensor:
        """Shrunk correlation ``[B, A, A]`` of the return feature over the last ``risk_lookback`` bars."""
        r = x[:, -self.config.risk_lookback :, :, self.config.return_feature_index]  # (B, L, A)
        m = bar_mask[:, -self.config.risk_lookback :].to(r.dtype)
        r = r * m
        n = m.sum(1).clamp_min(1.0)  # (B, A)
        centred = (r - r.sum(1, keepdim=True) / n.unsqueeze(1)) * m
        pair_n = (m.transpose(1, 2) @ m).clamp_min(1.0)  # (B, A, A): bars both assets have
        cov = centred.transpose(1, 2) @ centred / pair_n
        sd = cov.diagonal(dim1=-2, dim2=-1).clamp_min(1e-12).sqrt()
        corr = cov / (sd.unsqueeze(-1) * sd.unsqueeze(-2))
        eye = torch.eye(corr.shape[-1], dtype=corr.dtype, device=corr.device)
        both = (present.unsqueeze(-1) & present.unsqueeze(-2)).to(corr.dtype)
        return (1.0 - _SHRINK) * corr * both + _SHRINK * eye + (1.0 - _SHRINK) * eye * (1.0 - both)

    def _cost_rate(self, volume_data: Tensor | None, bar_mask: Tensor, present: Tensor) -> Tensor:
        """Per-asset proportional cost ``[B, A]`` (square-root impact relative to the mean liquidity)."""
        tc = self.config.transaction_cost
        if volume_data is None:
            return torch.full(present.shape, tc, dtype=torch.float32, device=present.device)
        keep = bar_mask[:, -self.config.risk_lookback :]
        v = volume_data[:, -self.config.risk_lookback :]
        v = torch.where(keep, v, torch.zeros((), dtype=v.dtype, device=v.device)).clamp_min(0.0)  # NaN-safe
        m = keep.to(v.dtype)
        mean_v = (v * m).sum(1) / m.sum(1).clamp_min(1.0)  # (B, A)
        p = present.to(v.dtype)
        vbar = (mean_v * p).sum(1, keepdim=True) / p.sum(1, keepdim=True).clamp_min(1.0)
        ratio = (vbar / mean_v.clamp_min(1e-12)).clamp(1e-2, 1e4)
        return tc * ratio.sqrt()

    def _target_weights(self, scores: Tensor, present: Tensor) -> Tensor:
        if self.config.long_only:
            logits = scores.masked_fill(~present, float("-inf"))
            return torch.softmax(logits, dim=-1).nan_to_num(0.0)
        raw = torch.tanh(scores) * present
        gross = raw.abs().sum(-1, keepdim=True)
        return raw * (self.config.gross_exposure / gross.clamp_min(self.config.gross_exposure))

    def forward(
        self,
        asset_features: Tensor,
        current_weights: Tensor | None = None,
        volume_data: Tensor | None = None,
        timestamps: Tensor | None = None,
        need_attention_weights: bool = False,
        *,
        mask: Tensor | None = None,
        scale: Tensor | None = None,
    ) -> dict[str, Any]:
        """Allocate.

        Args:
            asset_features: ``[B, T, A, F]`` per-asset features (``A <= num_assets``).
            current_weights: weights held now ``[B, A]``: summing to 1 within 1e-5 and >= 0 (long-only), or
                ``sum |w| <= gross_exposure`` (long-short). Default: equal weights over present assets.
            volume_data: traded volume or value ``[B, T, A]`` (>= 0, any unit: only ratios between assets
                are used): sets each asset's trading cost. Default: every asset at average liquidity.
            timestamps: int64 Unix seconds ``[B, T]``.
            need_attention_weights: add ``attention_weights`` (``temporal_layer<i>`` ``[B*A, H, T, T]``,
                ``cross_asset_layer<i>`` ``[B, H, A, A]``).
            mask: bool ``[B, A]`` (asset present) or ``[B, T, A]`` (bars present; an asset is present when its
                last bar is). Absent assets get zero weight and have no effect on the others.
            scale: each asset's causal scale at the last bar ``[B, A]``, a per-bar variance (the data layer's
                ``batch["scale"]``): ``sigma`` and ``mu`` are relative to it. Default: None
                (:data:`~._scale.DEFAULT_SCALE` for every asset).

        Returns:
            dict: ``optimal_weights [B, A]``, ``expected_returns [B, A]``, ``improvement_potential [B]``,
            ``trades [B, A]`` (= optimal - current), ``volatility [B, A]``, ``cost_rate [B, A]``,
            ``current_weights [B, A]`` (as used: absent assets at 0), ``asset_mask [B, A]``, with
            ``use_risk_metrics`` ``var``/``es [B]`` of the new portfolio's next-period return.

        Raises:
            ValueError: wrong shapes, feature count, more assets than ``num_assets``, asset axes that disagree,
                weights not summing to 1, negative volume, NaN in present entries, a scale that is not positive (eager mode).
        """
        if not is_tracing():
            check_portfolio_inputs(
                self.config, asset_features, current_weights, volume_data, timestamps, mask
            )
            check_scale(scale, "scale", ((asset_features.shape[0], asset_features.shape[2]),))
        with self.mixed_precision(asset_features.device):
            out = self._allocate(
                asset_features, current_weights, volume_data, timestamps, need_attention_weights, mask, scale
            )
        return self.float_outputs(out)

    def _allocate(
        self,
        asset_features: Tensor,
        current_weights: Tensor | None,
        volume_data: Tensor | None,
        timestamps: Tensor | None,
        need_attention_weights: bool,
        mask: Tensor | None,
        scale: Tensor | None,
    ) -> dict[str, Any]:
        c = self.config
        b, t, a, f = asset_features.shape
        if mask is None:
            bar_mask = torch.ones(b, t, a, dtype=torch.bool, device=asset_features.device)
        elif mask.dim() == 2:
            bar_mask = mask.unsqueeze(1).expand(b, t, a)
        else:
            bar_mask = mask
        present = bar_mask[:, -1]  # (B, A)
        x = torch.where(
            bar_mask.unsqueeze(-1),
            asset_features,
            torch.zeros((), dtype=asset_features.dtype, device=asset_features.device),
        )
        if current_weights is None:
            p = present.to(x.dtype)
            current_weights = p / p.sum(-1, keepdim=True).clamp_min(1.0)
        current = current_weights * present  # absent assets are sold out
        flat = x.permute(0, 2, 1, 3).reshape(b * a, t, f)  # (B*A, T, F)
        flat_mask = bar_mask.permute(0, 2, 1).reshape(b * a, t)
        flat_ts = None if timestamps is None else timestamps.repeat_interleave(a, dim=0)
        states, weights = self.encoder(
            flat,
            timestamps=flat_ts,
            mask=flat_mask,
            need_weights=need_attention_weights,
            last_only=True,
        )
        h = states[:, -1].view(b, a, -1)  # (B, A, d): each asset's last present bar
        for name, block in zip(self.cross_names, self.cross_asset):
            res = block(h, key_mask=present, need_weights=need_attention_weights)
            if isinstance(res, tuple):
                h, weights[name] = res
            else:
                h = res
        zero = torch.zeros((), dtype=h.dtype, device=h.device)
        unit = torch.sqrt(scale_or_default(scale, (b, a), h))  # (B, A): each asset's per-bar volatility
        sigma = unit * self.volatility_head(h.reshape(b * a, -1)).view(b, a)
        mu = torch.where(present, sigma * self.return_head(h).squeeze(-1), zero)  # (B, A), in units of sigma
        target = self._target_weights(self.score_head(h).squeeze(-1), present)
        cost = self._cost_rate(volume_data, bar_mask, present).to(h.dtype)
        slope = F.softplus(self.trade_slope)
        eta = torch.sigmoid(
            self.trade_bias - slope * torch.log(cost / max(c.transaction_cost, 1e-12) + 1e-12)
        )
        moved = (current + eta * (target - current)) * present
        if c.long_only:
            new = moved / moved.sum(-1, keepdim=True).clamp_min(1e-12)
        else:
            gross = moved.abs().sum(-1, keepdim=True)
            new = moved * (c.gross_exposure / gross.clamp_min(c.gross_exposure))
        trades = new - current
        corr = self._correlation(x, bar_mask, present)
        cov = sigma.unsqueeze(-1) * corr * sigma.unsqueeze(-2)  # (B, A, A)

        def sd(w: Tensor) -> Tensor:
            return ((w.unsqueeze(-2) @ cov @ w.unsqueeze(-1)).squeeze(-1).squeeze(-1)).clamp_min(1e-12).sqrt()

        new_sd = sd(new)
        net = (mu * new).sum(-1) - (cost * trades.abs()).sum(-1)
        improvement = net / new_sd - (mu * current).sum(-1) / sd(current)
        out: dict[str, Any] = {
            "optimal_weights": new,
            "expected_returns": mu,
            "improvement_potential": improvement,
            "trades": trades,
            "volatility": sigma,
            "cost_rate": cost,
            "current_weights": current,
            "asset_mask": present,
        }
        if c.use_risk_metrics:
            out["var"], out["es"] = gaussian_var_es((mu * new).sum(-1), new_sd, c.var_alpha)
        if need_attention_weights:
            out["attention_weights"] = weights
        return out

    def loss(self, outputs: dict[str, Any], batch: dict[str, Any]) -> tuple[Tensor, dict[str, float]]:
        """Negative net Sharpe over the batch + 0.1 x Gaussian NLL of ``next_returns`` under (mu, sigma).

        The Sharpe ratio (mean / standard deviation of the batch's net portfolio returns; Zhang, Zohren and
        Roberts 2020) is a statistic of the whole batch by definition: unlike the other models' losses, it is
        not a mean of per-sample terms, so a DDP run with per-process batches ``b`` optimises the Sharpe of
        each process's batch, not that of the global batch ``2b`` (kept on purpose: the model's objective
        is the Sharpe ratio itself). The NLL is a mean over the present (asset, sample) entries.

        Reads ``batch["next_returns"]`` (or ``batch["targets"]["next_returns"]``) ``[B, A]``: simple returns
        over the next rebalance period, as the data layer's ``MultiAssetWindows`` give them; entries that are
        absent (``asset_mask`` of the last bar, ``batch["next_returns_mask"]`` False, or non-finite) count as
        0 and are left out of the likelihood.
        """
        y = batch.get("next_returns")
        if y is None and isinstance(batch.get("targets"), dict):
            y = batch["targets"].get("next_returns")
        if y is None:
            raise ValueError(
                f"{type(self).__name__}.loss needs batch['next_returns'] [batch, assets]; got {sorted(batch)}"
            )
        w = outputs["optimal_weights"]
        if tuple(y.shape) != tuple(w.shape):
            raise ValueError(
                f"next_returns has shape {tuple(y.shape)}, expected [batch, assets] = {tuple(w.shape)}"
            )
        used = torch.isfinite(y) & outputs["asset_mask"]
        if batch.get("next_returns_mask") is not None:
            used = used & batch["next_returns_mask"].to(torch.bool)
        y = torch.where(used, y.to(w.dtype), torch.zeros((), dtype=w.dtype, device=w.device))
        sharpe_loss, parts = sharpe_with_costs(w, y, outputs["current_weights"], outputs["cost_rate"])
        mu, sigma = outputs["expected_returns"], outputs["volatility"]
        nll_all = torch.log(sigma) + 0.5 * ((y - mu) / sigma).square()
        nll = (nll_all * used).sum() / used.sum().clamp_min(1)
        total = sharpe_loss + 0.1 * nll
        parts.update({"loss": float(total.detach()), "nll": float(nll.detach())})
        return total, parts
