"""Transformer blocks and the TradingTransformer (the guide: docs/transformers.md)."""

from ._config import TradingTransformerConfig
from ._losses import qlike_loss, regime_loss
from ._mlp import FeedForward
from ._norms import RMSNorm
from .trading_transformer import TradingTransformer, create_trading_transformer
from .transformer_block import (
    TransformerBlockConfig,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
    stochastic_depth_rates,
)

__all__ = [
    "FeedForward",
    "RMSNorm",
    "TradingTransformer",
    "TradingTransformerConfig",
    "TransformerBlockConfig",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
    "create_trading_transformer",
    "qlike_loss",
    "regime_loss",
    "stochastic_depth_rates",
]
