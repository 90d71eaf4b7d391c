"""Positional and market-time encodings (the guide: docs/encodings.md).

Every encoding a transformer holds is a :class:`PositionalEncoding` (``forward(x, timestamps)``,
``rotary``, ``rotary_positions``, ``attention_bias``); :func:`create_positional_encoding` builds one per
``pos_encoding_type``. Timestamps are int64 Unix seconds, checked by :func:`to_unix_seconds`.
"""

from ._base import PositionalEncoding
from ._factory import POSITIONAL_ENCODING_KINDS, create_positional_encoding
from ._time import detect_time_unit, elapsed_seconds, to_unix_seconds
from .learnable_encoding import AdaptivePositionalEncoding, LearnablePositionalEncoding
from .positional_encoding import (
    ALiBi,
    ALiBiEncoding,
    LearnedPositionalEncoding,
    RoPEEncoding,
    RotaryPositionalEncoding,
    SinusoidalPositionalEncoding,
)
from .temporal_encoding import CryptoPositionalEncoding, MarketTimeConfig, MarketTimeEncoding

__all__ = [
    "POSITIONAL_ENCODING_KINDS",
    "ALiBi",
    "ALiBiEncoding",
    "AdaptivePositionalEncoding",
    "CryptoPositionalEncoding",
    "LearnablePositionalEncoding",
    "LearnedPositionalEncoding",
    "MarketTimeConfig",
    "MarketTimeEncoding",
    "PositionalEncoding",
    "RoPEEncoding",
    "RotaryPositionalEncoding",
    "SinusoidalPositionalEncoding",
    "create_positional_encoding",
    "detect_time_unit",
    "elapsed_seconds",
    "to_unix_seconds",
]
