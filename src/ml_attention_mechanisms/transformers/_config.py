"""``TradingTransformerConfig``: every field of the Advanced Configuration example, validated.

Shapes (for the model it configures):
    ``B`` batch, ``T`` bars, ``F`` input features, ``O`` output dim, ``R`` regimes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import check_field
from ._mlp import ACTIVATIONS
from ._norms import NORM_TYPES
from ._timeframes import parse_timeframe, timeframe_ratio

__all__ = ["DEFAULT_MODALITIES", "POS_ENCODING_TYPES", "TradingTransformerConfig"]

# the Quick Start example's modalities
DEFAULT_MODALITIES: tuple[str, ...] = ("price", "volume", "news", "orderbook")
POS_ENCODING_TYPES: tuple[str, ...] = ("sinusoidal", "learned", "rope", "alibi", "crypto")


@dataclass(frozen=True, slots=True)
class TradingTransformerConfig:
    """Configuration of :class:`~ml_attention_mechanisms.transformers.trading_transformer.TradingTransformer`.

    Architecture:
        d_model: width. Default: 512.
        num_heads: heads; must divide ``d_model``. Default: 8.
        num_encoder_layers: encoder blocks. Default: 6.
        d_ff: MLP hidden width; ``None`` = ``4 * d_model``. Default: None.
        dropout: residual/MLP dropout, in [0, 1). Default: 0.1.
        attn_dropout: attention-weight dropout, in [0, 1). Default: 0.0.
        norm_first: pre-norm (True) or post-norm. Default: True.
        norm_type: ``"layernorm"`` or ``"rmsnorm"``. Default: "layernorm".
        activation: MLP variant ``"gelu"``, ``"swiglu"`` or ``"geglu"``. Default: "gelu".
        causal: the output at bar ``t`` never sees bars after ``t``. Default: True.

    Input/output:
        input_features: ``F``, features per bar. Default: 64.
        output_dim: ``O``, targets per horizon. Default: 1.
        max_seq_len: longest window accepted. Default: 2048.
        prediction_horizon: horizons of the direct multi-horizon head (``predict_next_timestep`` returns up
            to this many). Default: 1.

    Trading-specific:
        use_multi_timeframe: add causal trailing-mean views at ``timeframes`` (and multi-timeframe windows in
            the temporal attention). Default: False.
        timeframes: timeframe strings, each a whole multiple of ``base_timeframe``. Default:
            ("1m", "5m", "15m", "1h", "4h", "1d").
        base_timeframe: the bar interval of ``x``. Default: "1m" (the documented examples use minute bars).
        use_multi_asset: add a learned asset embedding from ``asset_ids``. Default: False.
        num_assets: embedding rows; id 0 is reserved for an unknown asset. Default: 128.
        asset_symbols: symbols of ids 1, 2, ... (``asset_symbols[i]`` has id ``i + 1``); travels with the
            config and the state dict. Default: ().

    Advanced features:
        use_market_regime_detection: regime head (``regime_probabilities``). Default: False.
        num_regimes: regimes (>= 2). Default: 4.
        use_risk_management: risk head (``risk_score``, predicted realised volatility). Default: False.
        use_temporal_attention: a temporal-attention block (multi-timeframe + cyclical) before the encoder.
            Default: False.
        temporal_windows: its windows in bars, with ``use_multi_timeframe`` (else window 1 only). Default:
            (1, 5, 15, 60, 240).
        use_cross_modal_attention: fuse ``modality_data`` by cross-modal attention (``False`` here,
            ``True`` in ``create_trading_transformer``). Default: False.
        modalities: the declared modality names. Default: ("price", "volume", "news", "orderbook").

    Optimisation:
        use_gradient_checkpointing: recompute encoder blocks in backward (training only). Default: False.
        use_mixed_precision: forward under autocast (bfloat16 on CPU; bfloat16, else float16, on CUDA),
            weights stay float32, outputs float32. Default: False.
        stochastic_depth_rate: drop rate of the last block, scaled linearly over depth, in [0, 1).
            Default: 0.0.

    Positional encoding:
        pos_encoding_type: ``"sinusoidal"``, ``"learned"``, ``"rope"``, ``"alibi"`` or ``"crypto"`` (market
            time: calendar features and time-aware ALiBi). Default: "sinusoidal".

    Raises:
        ValueError: a field breaks its rule (message names field, value and rule).
    """

    d_model: int = 512
    num_heads: int = 8
    num_encoder_layers: int = 6
    d_ff: int | None = None  # None -> 4 * d_model
    dropout: float = 0.1
    attn_dropout: float = 0.0
    norm_first: bool = True  # pre-norm: stable without warm-up
    norm_type: str = "layernorm"
    activation: str = "gelu"
    causal: bool = True  # a forecaster must not read the future
    input_features: int = 64
    output_dim: int = 1
    max_seq_len: int = 2048
    prediction_horizon: int = 1
    use_multi_timeframe: bool = False
    timeframes: tuple[str, ...] = ("1m", "5m", "15m", "1h", "4h", "1d")
    base_timeframe: str = "1m"  # the documented examples use minute bars; training sets it from the data
    use_multi_asset: bool = False
    num_assets: int = 128  # room for 100 assets (the Advanced Configuration example) plus id 0 (unknown)
    asset_symbols: tuple[str, ...] = ()
    use_market_regime_detection: bool = False
    num_regimes: int = 4
    use_risk_management: bool = False
    use_temporal_attention: bool = False
    temporal_windows: tuple[int, ...] = (1, 5, 15, 60, 240)
    use_cross_modal_attention: bool = False
    modalities: tuple[str, ...] = DEFAULT_MODALITIES
    use_gradient_checkpointing: bool = False
    use_mixed_precision: bool = False
    stochastic_depth_rate: float = 0.0
    pos_encoding_type: str = "sinusoidal"

    def __post_init__(self) -> None:
        n = "TradingTransformerConfig"
        for name in ("timeframes", "asset_symbols", "temporal_windows", "modalities"):
            object.__setattr__(self, name, tuple(getattr(self, name)))  # lists (YAML, the examples) -> tuples
        for name in (
            "d_model",
            "num_heads",
            "num_encoder_layers",
            "input_features",
            "output_dim",
            "max_seq_len",
            "prediction_horizon",
            "num_assets",
        ):
            value = getattr(self, name)
            check_field(
                isinstance(value, int) and not isinstance(value, bool) and value > 0,
                n,
                name,
                value,
                "must be a positive int",
            )
        check_field(
            self.d_model % self.num_heads == 0,
            n,
            "d_model",
            self.d_model,
            f"must be divisible by num_heads ({self.num_heads})",
        )
        if self.d_ff is not None:
            check_field(
                isinstance(self.d_ff, int) and self.d_ff > 0, n, "d_ff", self.d_ff, "must be a positive int"
            )
        for name in ("dropout", "attn_dropout", "stochastic_depth_rate"):
            value = getattr(self, name)
            check_field(
                isinstance(value, (int, float)) and 0.0 <= value < 1.0, n, name, value, "must be in [0, 1)"
            )
        check_field(
            self.norm_type in NORM_TYPES, n, "norm_type", self.norm_type, f"must be one of {NORM_TYPES}"
        )
        check_field(
            self.activation in ACTIVATIONS, n, "activation", self.activation, f"must be one of {ACTIVATIONS}"
        )
        check_field(
            isinstance(self.num_regimes, int) and self.num_regimes >= 2,
            n,
            "num_regimes",
            self.num_regimes,
            "must be an int >= 2",
        )
        check_field(
            self.pos_encoding_type in POS_ENCODING_TYPES,
            n,
            "pos_encoding_type",
            self.pos_encoding_type,
            f"must be one of {POS_ENCODING_TYPES}",
        )
        self._check_timeframes(n)
        check_field(
            all(isinstance(s, str) and s for s in self.asset_symbols)
            and len(set(self.asset_symbols)) == len(self.asset_symbols),
            n,
            "asset_symbols",
            self.asset_symbols,
            "must be distinct non-empty strings",
        )
        check_field(
            len(self.asset_symbols) < self.num_assets,
            n,
            "asset_symbols",
            self.asset_symbols,
            f"needs at most num_assets - 1 = {self.num_assets - 1} symbols (id 0 is the unknown asset)",
        )
        check_field(
            len(self.modalities) > 0
            and all(isinstance(m, str) and m.isidentifier() for m in self.modalities)
            and len(set(self.modalities)) == len(self.modalities),
            n,
            "modalities",
            self.modalities,
            "must be distinct identifier strings",
        )
        w = self.temporal_windows
        check_field(
            len(w) > 0 and all(isinstance(v, int) and v >= 1 for v in w) and len(set(w)) == len(w),
            n,
            "temporal_windows",
            w,
            "must be distinct positive ints (bars)",
        )

    def _check_timeframes(self, n: str) -> None:
        for name, value in (
            ("base_timeframe", self.base_timeframe),
            *(("timeframes", tf) for tf in self.timeframes),
        ):
            try:
                parse_timeframe(value)
            except ValueError as err:
                raise ValueError(f"{n}.{name}={value!r}: {err}") from None
        check_field(len(self.timeframes) > 0, n, "timeframes", self.timeframes, "must not be empty")
        check_field(
            len(set(self.timeframes)) == len(self.timeframes),
            n,
            "timeframes",
            self.timeframes,
            "must be distinct",
        )
        for tf in self.timeframes:
            try:
                timeframe_ratio(tf, self.base_timeframe)
            except ValueError as err:
                raise ValueError(f"{n}.timeframes={self.timeframes!r}: {err}") from None

    @property
    def head_dim(self) -> int:
        """``d_model // num_heads``."""
        return self.d_model // self.num_heads

    @property
    def timeframe_ratios(self) -> tuple[int, ...]:
        """Base bars per bar of each timeframe (``"4h"`` on ``"1m"`` -> 240)."""
        return tuple(timeframe_ratio(tf, self.base_timeframe) for tf in self.timeframes)

    @property
    def bar_seconds(self) -> int:
        """Seconds per base bar."""
        return parse_timeframe(self.base_timeframe)
