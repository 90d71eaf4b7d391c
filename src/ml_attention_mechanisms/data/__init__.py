"""Market data: real exports in, leakage-free model tensors out (see ARCHITECTURE.md and the README).

Reading: :func:`load_ohlcv` (with a :class:`QualityReport`; bad input raises :class:`DataValidationError`).
Panels: :func:`align` puts assets on one UTC grid with masks (:class:`MarketPanel`); :func:`resample_ohlcv`.
Bundled data: :func:`load_dataset` (``"binance-1h"``).
"""

from .bundled import DEFAULT_SPLIT, available_datasets, load_dataset
from .loader import load_ohlcv
from .panel import MarketPanel, align, parse_timeframe, resample_ohlcv
from .validation import DataValidationError, QualityReport, validate_ohlcv

__all__ = [
    "DEFAULT_SPLIT",
    "DataValidationError",
    "MarketPanel",
    "QualityReport",
    "align",
    "available_datasets",
    "load_dataset",
    "load_ohlcv",
    "parse_timeframe",
    "resample_ohlcv",
    "validate_ohlcv",
]
