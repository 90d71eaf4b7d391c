"""``CryptoPredictionModelConfig``: the one config of the four crypto models.

Every field, and which models read it (P price, S signal, R risk, O portfolio optimizer). A field that a model
does not read must keep its default when that model is built: setting it raises a ``ValueError`` (so a
typo-free but meaningless setting, e.g. ``quantiles`` for the signal model, is not silently ignored).

=====================  =====  ==========================================================================
field                  used   meaning
=====================  =====  ==========================================================================
d_model                PSRO   width of every layer
num_heads              PSRO   attention heads (must divide ``d_model``)
num_encoder_layers     PSRO   causal temporal blocks (O: per asset, weights shared across assets)
d_ff                   PSRO   MLP hidden width (``None`` = ``4 * d_model``)
dropout                PSRO   dropout on residual branches and MLP hidden units
input_features         PSRO   ``F``, the last axis of ``price_data`` / ``asset_features``
attention_window       PSRO   sliding window ``W`` of the causal attention (bars, the query's own included)
patch_size             PSRO   bars per token: 1 = one token per bar; ``p > 1`` = patch tokens (PatchTST, Nie et
                              al. 2023): ``p`` consecutive bars (features and presence) projected into one
                              token whose time is its last bar's; the window counts bars, so a token attends
                              the ``attention_window / p`` latest tokens (``p`` must divide it). Fewer tokens:
                              faster training and inference; see ``_backbone.py``
time_unit_seconds      PSRO   one ALiBi distance unit in seconds (set it to the bar interval)
use_market_time        PSRO   add market-time features (daily and weekly cycles, trading sessions, weekend, funding
                              clock: ``_backbone.MODEL_MARKET_TIME``) when timestamps are given
                              (``attention_kind="crypto"`` only)
attention_kind         PSRO   the encoder's attention: ``"crypto"`` (time-aware ALiBi whose distance is the
                              elapsed time between bars, plus market time) or ``"standard"`` (plain causal
                              sliding-window multi-head attention with index-distance ALiBi: no elapsed-time
                              bias, no market-time encoding; timestamps are then ignored by the encoder)
num_assets             PSRO   P/S/R: asset-id vocabulary (ids ``0..num_assets-1``, 0 = unknown);
                              O: the largest number of assets accepted
asset_dropout          PSR    share of training samples whose asset id reads as 0 (unknown asset), so that
                              the unknown asset (any coin or exchange the training data did not hold) is a
                              trained case
use_mixed_precision    PSRO   forward under autocast (bfloat16 on CPU; bfloat16, else float16, on CUDA) with
                              float32 weights and float32 outputs; ``mlattn train --precision bf16-mixed``
                              sets it (the model carries mixed precision, Lightning then runs ``32-true``)
prediction_horizon     P R    ``H``: P forecasts ``h = 1..H``; R measures risk over the next ``H`` bars
prediction_targets     P      ``"price"`` (log return t -> t+h) and/or ``"volatility"`` (realised vol)
quantiles              P      forecast quantile levels (must contain 0.5; outermost = ``lower``/``upper``)
orderbook_features     P      ``F_ob`` of the optional ``orderbook_data`` (0 = no order book input)
target_scales          P      per prediction target, the fixed divisor of its pinball loss (the training
                              split's mean ``|y|``; ``None`` = 1); see "Losses" below
use_risk_metrics       P  O   P: adds ``var``/``es [B, H]``; O: adds the portfolio's ``var``/``es [B]``
var_confidence         P RO   tail probability of VaR/ES (0.05 = 95% VaR); R: a single level
var_levels             R      tail probabilities of the risk model (default 0.05 and 0.01)
class_weights          S      cross-entropy weights of (sell, hold, buy); ``None`` = 1, 1, 1 (training
                              sets balanced weights ``n / (3 n_c)`` from the training split)
drawdown_scale         R      fixed divisor of the drawdown's absolute error (the training split's mean
                              drawdown; ``None`` = 1)
risk_lookback          O      bars of history for the cross-asset correlation of the risk estimate
return_feature_index   O      column of ``asset_features`` holding each bar's return (for that correlation)
transaction_cost       O      proportional cost per unit traded at average liquidity (0.001 = 10 bp)
long_only              O      weights on the simplex; ``False`` = long-short with ``gross_exposure``
gross_exposure         O      long-short only: the cap on ``sum |w|``
num_cross_asset_layers O      attention blocks across assets (0 = none: each asset scored on its own)
=====================  =====  ==========================================================================

Losses: every loss is a mean of per-sample terms whose normalisers and class weights do not depend on the
batch (``target_scales``, ``class_weights``, ``drawdown_scale`` are plain data in the config, hence in the
checkpoint). ``model.loss_statistics(targets)`` computes them once from the training split's targets, and
``training`` fills in those the user did not set. So two DDP processes with batch ``b`` compute the same
gradient as one process with batch ``2b`` (gradients are averaged across processes). The exception is the
portfolio model: its Sharpe ratio (mean over standard deviation of the batch's portfolio returns, as in
Zhang, Zohren and Roberts 2020) is a statistic of the batch by definition, so a DDP run of it is the same
procedure on per-process batches, not the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from ..config import check_field

__all__ = [
    "ATTENTION_KINDS",
    "DEFAULT_VAR_LEVELS",
    "PREDICTION_TARGETS",
    "CryptoPredictionModelConfig",
    "changed_fields",
]

PREDICTION_TARGETS: tuple[str, ...] = ("price", "volatility")
ATTENTION_KINDS: tuple[str, ...] = ("crypto", "standard")
DEFAULT_VAR_LEVELS: tuple[float, ...] = (0.05, 0.01)
_DEFAULT_VAR_CONFIDENCE = 0.05


def _pos_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _pos_float(value: Any) -> bool:
    return isinstance(value, float | int) and not isinstance(value, bool) and 0.0 < value < math.inf


def _probs(value: Any) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) > 0
        and all(isinstance(v, float | int) and not isinstance(v, bool) and 0.0 < v < 1.0 for v in value)
    )


@dataclass(frozen=True, slots=True)
class CryptoPredictionModelConfig:
    """Configuration of the crypto models (see the module docstring for which model reads which field).

    Lists given for tuple fields (``prediction_targets``, ``quantiles``, ``var_levels``,
    ``class_weights``, ``target_scales``) are stored as tuples, so that the config stays hashable and ``dataclasses.asdict``
    is plain data.

    Raises:
        ValueError: a field breaks its rule; the message names the field, the value and the rule.

    Examples:
        >>> CryptoPredictionModelConfig(d_model=64, num_heads=4).head_dim
        16
    """

    d_model: int = 256
    num_heads: int = 8
    num_encoder_layers: int = 4
    d_ff: int | None = None  # None -> 4 * d_model
    dropout: float = 0.1
    input_features: int = 50  # the documented examples feed 50 features
    attention_window: int = 128  # bounded KV cache: streams one candle at a time forever
    patch_size: int = 1  # 1: a token per bar (streams bar by bar); > 1: patch tokens, fewer and faster
    time_unit_seconds: float = 3600.0  # the bundled data is hourly: one ALiBi unit = one bar
    use_market_time: bool = True
    attention_kind: str = "crypto"  # "standard": index-distance ALiBi, no elapsed time, no market time
    num_assets: int = 128  # id vocabulary as TradingTransformer's; the examples use ids < 10
    asset_dropout: float = 0.2  # 1 sample in 5 trains the unknown asset (new coins, other exchanges)
    use_mixed_precision: bool = False
    prediction_horizon: int = 5  # the Quick Start example's horizon
    prediction_targets: tuple[str, ...] = ("price", "volatility")
    quantiles: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)  # outermost pair: a 90% interval
    orderbook_features: int = 0
    target_scales: tuple[float, ...] | None = None  # None -> 1 (training: the training split's mean |y|)
    use_risk_metrics: bool = False
    var_confidence: float | None = None  # None -> 0.05 (95% VaR); risk model: None -> var_levels
    var_levels: tuple[float, ...] | None = None  # None -> (0.05, 0.01), i.e. 95% and 99%
    class_weights: tuple[float, ...] | None = None  # None -> 1, 1, 1 (training: balanced on the train split)
    drawdown_scale: float | None = None  # None -> 1 (training: the training split's mean drawdown)
    risk_lookback: int = 30
    return_feature_index: int = 0
    transaction_cost: float = 0.001  # 10 bp: a taker fee on a large exchange
    long_only: bool = True
    gross_exposure: float = 1.0
    num_cross_asset_layers: int = 1  # 0: no attention across assets

    def __post_init__(self) -> None:
        # Lists -> tuples (the Quick Start passes prediction_targets=["price", "volatility"]).
        for name in ("prediction_targets", "quantiles", "var_levels", "class_weights", "target_scales"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        n = "CryptoPredictionModelConfig"
        for name in (
            "d_model",
            "num_heads",
            "num_encoder_layers",
            "input_features",
            "attention_window",
            "num_assets",
            "prediction_horizon",
            "risk_lookback",
        ):
            value = getattr(self, name)
            check_field(_pos_int(value), n, name, value, "must be a positive int")
        check_field(_pos_int(self.patch_size), n, "patch_size", self.patch_size, "must be a positive int")
        check_field(
            self.attention_window % self.patch_size == 0,
            n,
            "patch_size",
            self.patch_size,
            f"must divide attention_window ({self.attention_window}): the window counts whole patches",
        )
        check_field(
            isinstance(self.num_cross_asset_layers, int)
            and not isinstance(self.num_cross_asset_layers, bool)
            and self.num_cross_asset_layers >= 0,
            n,
            "num_cross_asset_layers",
            self.num_cross_asset_layers,
            "must be an int >= 0 (0 = no attention across assets)",
        )
        check_field(
            self.attention_kind in ATTENTION_KINDS,
            n,
            "attention_kind",
            self.attention_kind,
            f"must be one of {ATTENTION_KINDS}",
        )
        check_field(
            self.d_model % self.num_heads == 0,
            n,
            "num_heads",
            self.num_heads,
            f"must divide d_model ({self.d_model})",
        )
        if self.d_ff is not None:
            check_field(_pos_int(self.d_ff), n, "d_ff", self.d_ff, "must be a positive int or None")
        check_field(0.0 <= self.dropout < 1.0, n, "dropout", self.dropout, "must be in [0, 1)")
        check_field(
            isinstance(self.asset_dropout, float | int)
            and not isinstance(self.asset_dropout, bool)
            and 0.0 <= self.asset_dropout < 1.0,
            n,
            "asset_dropout",
            self.asset_dropout,
            "must be in [0, 1)",
        )
        check_field(
            self.time_unit_seconds > 0, n, "time_unit_seconds", self.time_unit_seconds, "must be positive"
        )
        check_field(
            isinstance(self.orderbook_features, int) and self.orderbook_features >= 0,
            n,
            "orderbook_features",
            self.orderbook_features,
            "must be an int >= 0",
        )
        t = self.prediction_targets
        check_field(
            isinstance(t, tuple)
            and len(t) > 0
            and len(set(t)) == len(t)
            and all(x in PREDICTION_TARGETS for x in t),
            n,
            "prediction_targets",
            t,
            f"must be a non-empty list of distinct names from {PREDICTION_TARGETS}",
        )
        q = self.quantiles
        check_field(
            _probs(q) and list(q) == sorted(set(q)) and 0.5 in q,
            n,
            "quantiles",
            q,
            "must be increasing levels in (0, 1) containing 0.5",
        )
        if self.var_confidence is not None:
            check_field(
                0.0 < self.var_confidence < 0.5,
                n,
                "var_confidence",
                self.var_confidence,
                "must be a tail probability in (0, 0.5), e.g. 0.05 for 95% VaR",
            )
        if self.var_levels is not None:
            check_field(
                _probs(self.var_levels) and all(v < 0.5 for v in self.var_levels),
                n,
                "var_levels",
                self.var_levels,
                "must be tail probabilities in (0, 0.5)",
            )
            check_field(
                self.var_confidence is None,
                n,
                "var_levels",
                self.var_levels,
                f"set either var_levels or var_confidence, not both (var_confidence={self.var_confidence})",
            )
        if self.class_weights is not None:
            cw = self.class_weights
            check_field(
                isinstance(cw, tuple) and len(cw) == 3 and all(_pos_float(w) for w in cw),
                n,
                "class_weights",
                cw,
                "must be three positive weights (sell, hold, buy)",
            )
        if self.target_scales is not None:
            ts = self.target_scales
            check_field(
                isinstance(ts, tuple) and len(ts) == len(t) and all(_pos_float(v) for v in ts),
                n,
                "target_scales",
                ts,
                f"must be one positive finite scale per prediction target ({len(t)}: {list(t)})",
            )
        if self.drawdown_scale is not None:
            check_field(
                _pos_float(self.drawdown_scale),
                n,
                "drawdown_scale",
                self.drawdown_scale,
                "must be a positive finite float or None",
            )
        check_field(
            isinstance(self.use_mixed_precision, bool),
            n,
            "use_mixed_precision",
            self.use_mixed_precision,
            "must be a bool",
        )
        check_field(
            isinstance(self.return_feature_index, int)
            and 0 <= self.return_feature_index < self.input_features,
            n,
            "return_feature_index",
            self.return_feature_index,
            f"must be a column index in [0, input_features={self.input_features})",
        )
        check_field(
            0.0 <= self.transaction_cost < 1.0,
            n,
            "transaction_cost",
            self.transaction_cost,
            "must be in [0, 1)",
        )
        check_field(self.gross_exposure >= 1.0, n, "gross_exposure", self.gross_exposure, "must be >= 1")

    # -- derived values ----------------------------------------------------------------------------
    @property
    def head_dim(self) -> int:
        """``d_model // num_heads``."""
        return self.d_model // self.num_heads

    @property
    def hidden_dim(self) -> int:
        """MLP hidden width (``d_ff`` or ``4 * d_model``)."""
        return self.d_ff if self.d_ff is not None else 4 * self.d_model

    @property
    def var_alpha(self) -> float:
        """The single VaR tail probability of the price and portfolio models (``var_confidence`` or 0.05)."""
        return self.var_confidence if self.var_confidence is not None else _DEFAULT_VAR_CONFIDENCE

    @property
    def risk_levels(self) -> tuple[float, ...]:
        """The risk model's tail probabilities: ``var_levels``, else ``(var_confidence,)``, else (0.05, 0.01)."""
        if self.var_levels is not None:
            return self.var_levels
        if self.var_confidence is not None:
            return (self.var_confidence,)
        return DEFAULT_VAR_LEVELS


def changed_fields(config: CryptoPredictionModelConfig) -> list[str]:
    """Names of the fields of ``config`` that differ from the dataclass defaults."""
    default = CryptoPredictionModelConfig()
    return [f.name for f in fields(config) if getattr(config, f.name) != getattr(default, f.name)]
