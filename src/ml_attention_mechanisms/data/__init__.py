"""Market data: real exports in, leakage-free model tensors out (the guide: docs/data.md).

- Reading: :func:`load_ohlcv` (a :class:`QualityReport` with every load; bad input raises
  :class:`DataValidationError`).
- Panels: :func:`align` puts assets on one UTC grid with masks (:class:`MarketPanel`); resampling with
  :func:`resample_ohlcv` / :meth:`MarketPanel.resample`.
- Bundled data: :func:`load_dataset` (``"binance-1h"``), with its :data:`DEFAULT_SPLIT`.
- Model inputs: :func:`compute_features` (causal; :data:`DEFAULT_FEATURES`, width 17), per-asset causal
  scaling and a :class:`FeatureScaler` fitted on training rows, targets (``targets`` module),
  :func:`prepare_panel` then :class:`SingleAssetWindows` / :class:`MultiAssetWindows` (the batch contract
  is in ``windows``' docstring), walk-forward splits with purge and embargo (``splits``).
"""

from .bundled import DEFAULT_SPLIT, available_datasets, load_dataset
from .features import (
    DEFAULT_FEATURES,
    FEATURE_SETS,
    compute_features,
    feature_names,
    multi_timeframe_features,
)
from .loader import load_ohlcv
from .panel import MarketPanel, align, parse_timeframe, resample_ohlcv
from .scaling import FeatureScaler, rolling_standardize
from .splits import Split, default_split, run_split, split_by_share, split_by_time, walk_forward_splits
from .targets import (
    SIGNAL_BUY,
    SIGNAL_HOLD,
    SIGNAL_SELL,
    forward_returns,
    forward_volatility,
    future_drawdown,
    next_period_returns,
    regime_labels,
    triple_barrier_labels,
)
from .validation import DataValidationError, QualityReport, validate_ohlcv
from .windows import MultiAssetWindows, PreparedPanel, SingleAssetWindows, prepare_panel

__all__ = [
    "DEFAULT_FEATURES",
    "DEFAULT_SPLIT",
    "FEATURE_SETS",
    "SIGNAL_BUY",
    "SIGNAL_HOLD",
    "SIGNAL_SELL",
    "DataValidationError",
    "FeatureScaler",
    "MarketPanel",
    "MultiAssetWindows",
    "PreparedPanel",
    "QualityReport",
    "SingleAssetWindows",
    "Split",
    "align",
    "available_datasets",
    "compute_features",
    "default_split",
    "feature_names",
    "forward_returns",
    "forward_volatility",
    "future_drawdown",
    "load_dataset",
    "load_ohlcv",
    "multi_timeframe_features",
    "next_period_returns",
    "parse_timeframe",
    "prepare_panel",
    "regime_labels",
    "resample_ohlcv",
    "rolling_standardize",
    "run_split",
    "split_by_share",
    "split_by_time",
    "triple_barrier_labels",
    "validate_ohlcv",
    "walk_forward_splits",
]
