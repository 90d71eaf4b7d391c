"""Causal features: each value at bar ``t`` uses only bars ``<= t`` of the same asset.

The default feature set (``"default"``, :data:`DEFAULT_FEATURES`, width 17), all on a panel's grid:

=====================  =====================================================================
``log_return_1/4/24``  ln(close_t / close_{t-k}); NaN when either bar is missing
``log_range``          ln(high_t / low_t)
``body``               ln(close_t / open_t)
``close_position``     (close - low) / (high - low) - 0.5 (0 for a flat bar)
``log_relative_volume``  ln(volume_t / mean volume of the last 720 bars + 0.01): volume relative to the
                       asset's own trailing volume, so neither the volume unit nor an exchange's liquidity
                       level enters (a zero-volume bar gives ln 0.01)
``volume_zscore_24``   z-score of ``log_relative_volume`` over the last 24 bars
``realized_vol_6/24/96``  sqrt(mean of squared 1-bar log returns over the last k bars)
``rsi_14``             Wilder's RSI(14) / 100 - 0.5
``macd``               (EMA12 - EMA26) of close, divided by close
``macd_signal``        EMA9 of ``macd``; ``macd_hist`` = ``macd - macd_signal``
``bollinger_width_20`` 4 * std20(close) / mean20(close)
``atr_14``             Wilder's ATR(14) / close
=====================  =====================================================================

Missing bars are NaN in, NaN out: a rolling window needs most of its bars present (``min_periods``), and
a return across a missing bar is NaN. Nothing is forward-filled. :func:`multi_timeframe_features` adds the
same features computed on coarser bars, each taken from the last coarse bar that had *closed* by the close
of bar ``t``.

Shapes: ``T`` bars, ``A`` assets, ``F`` features.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._import_guard import needs_extra
from .panel import MarketPanel, parse_timeframe

__all__ = [
    "DEFAULT_FEATURES",
    "FEATURE_SETS",
    "compute_features",
    "feature_names",
    "multi_timeframe_features",
]

DEFAULT_FEATURES: tuple[str, ...] = (
    "log_return_1", "log_return_4", "log_return_24", "log_range", "body", "close_position",
    "log_relative_volume", "volume_zscore_24", "realized_vol_6", "realized_vol_24", "realized_vol_96",
    "rsi_14", "macd", "macd_signal", "macd_hist", "bollinger_width_20", "atr_14",
)  # fmt: skip
_VOLUME_WINDOW = 720  # bars of the trailing mean volume that volume is measured against (30 days hourly)
_VOLUME_FLOOR = 0.01  # a zero-volume bar: ln 0.01, finite
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "default": DEFAULT_FEATURES,
    "returns": ("log_return_1", "log_return_4", "log_return_24", "log_range", "log_relative_volume"),
}


def feature_names(feature_set: str | Sequence[str] = "default", timeframes: Sequence[str] = ()) -> list[str]:
    """The column names of a feature set (``"4h:rsi_14"`` for a coarser timeframe's copy).

    Raises:
        ValueError: unknown set or feature name.
    """
    if isinstance(feature_set, str):
        if feature_set not in FEATURE_SETS:
            raise ValueError(f"feature_set={feature_set!r}: unknown; available: {', '.join(FEATURE_SETS)}")
        names = list(FEATURE_SETS[feature_set])
    else:
        names = list(feature_set)
        unknown = [n for n in names if n not in DEFAULT_FEATURES]
        if unknown:
            raise ValueError(f"features {unknown}: unknown; available: {', '.join(DEFAULT_FEATURES)}")
    return names + [f"{tf}:{n}" for tf in timeframes for n in names]


def _ewm(frame, span: float | None = None, alpha: float | None = None, min_periods: int = 0):  # type: ignore[no-untyped-def]
    return frame.ewm(span=span, alpha=alpha, adjust=False, min_periods=min_periods).mean()


def _one_timeframe(panel: MarketPanel, names: Sequence[str]) -> np.ndarray:
    with needs_extra("data"):
        import pandas as pd

    def df(arr: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(arr)

    o, h, lo, c, v = (df(panel.field(n)) for n in ("open", "high", "low", "close", "volume"))
    logc = np.log(c)
    r1 = logc.diff()
    out: dict[str, pd.DataFrame] = {}
    need = set(names)

    def want(*keys: str) -> bool:
        return bool(need.intersection(keys))

    for k in (1, 4, 24):
        if want(f"log_return_{k}"):
            out[f"log_return_{k}"] = logc - logc.shift(k)
    if want("log_range"):
        out["log_range"] = np.log(h / lo)
    if want("body"):
        out["body"] = np.log(c / o)
    if want("close_position"):
        rng = h - lo
        out["close_position"] = ((c - lo) / rng.where(rng > 0) - 0.5).where(rng > 0, 0.0).where(c.notna())
    mean_volume = v.rolling(_VOLUME_WINDOW, min_periods=24).mean()
    lv = np.log(v / mean_volume.where(mean_volume > 0) + _VOLUME_FLOOR)
    if want("log_relative_volume"):
        out["log_relative_volume"] = lv
    if want("volume_zscore_24"):
        roll = lv.rolling(24, min_periods=12)
        out["volume_zscore_24"] = (lv - roll.mean()) / roll.std().where(lambda s: s > 1e-12)
    for k in (6, 24, 96):
        if want(f"realized_vol_{k}"):
            out[f"realized_vol_{k}"] = np.sqrt((r1**2).rolling(k, min_periods=max(2, (3 * k) // 4)).mean())
    if want("rsi_14"):
        diff = c.diff()
        gain = _ewm(diff.clip(lower=0), alpha=1 / 14, min_periods=14)
        loss = _ewm((-diff).clip(lower=0), alpha=1 / 14, min_periods=14)
        total = gain + loss
        out["rsi_14"] = (
            (gain / total.where(total > 0) - 0.5).where(total > 0, 0.0).where(gain.notna()).where(c.notna())
        )
    if want("macd", "macd_signal", "macd_hist"):
        macd = (_ewm(c, span=12, min_periods=12) - _ewm(c, span=26, min_periods=26)) / c
        signal = _ewm(macd, span=9, min_periods=9)
        out["macd"], out["macd_signal"], out["macd_hist"] = macd, signal.where(c.notna()), (macd - signal)
    if want("bollinger_width_20"):
        roll = c.rolling(20, min_periods=15)
        out["bollinger_width_20"] = 4 * roll.std() / roll.mean()
    if want("atr_14"):
        prev = c.shift(1)
        tr = np.fmax(h - lo, np.fmax((h - prev).abs(), (lo - prev).abs()))
        out["atr_14"] = _ewm(tr, alpha=1 / 14, min_periods=14) / c
    stacked = np.stack([out[n].to_numpy(dtype=np.float64) for n in names], axis=-1)  # (T, A, F)
    stacked[~panel.mask] = np.nan  # a missing bar has no features (EWMs would carry the last value)
    return stacked


def compute_features(panel: MarketPanel, feature_set: str | Sequence[str] = "default") -> np.ndarray:
    """Features of every asset at every bar, from bars ``<= t`` only.

    Args:
        panel: the assets on one grid.
        feature_set: a name of :data:`FEATURE_SETS` or a list of feature names. Default: ``"default"``.

    Returns:
        float64 ``[T, A, F]``; NaN where a feature is undefined (missing bar, warm-up).
    """
    return _one_timeframe(panel, feature_names(feature_set))


def multi_timeframe_features(
    panel: MarketPanel, timeframes: Sequence[str], feature_set: str | Sequence[str] = "default"
) -> np.ndarray:
    """The features of coarser timeframes, on the panel's grid, without look-ahead.

    For each coarser timeframe the panel is resampled, the features are computed on the coarse bars, and
    bar ``t`` receives the features of the last coarse bar that closed at or before bar ``t``'s close (the
    coarse bar still forming at ``t`` is never used).

    Returns:
        float64 ``[T, A, F * len(timeframes)]`` in the order of :func:`feature_names` (after the base set).

    Raises:
        ValueError: a timeframe is not a multiple of the panel's.
    """
    names = feature_names(feature_set)
    step = panel.step_seconds
    parts = []
    for tf in timeframes:
        coarse_step = parse_timeframe(tf)
        coarse = panel.resample(tf)
        feats = _one_timeframe(coarse, names)  # (Tc, A, F)
        if coarse.num_bars == 0:
            parts.append(np.full((panel.num_bars, panel.num_assets, len(names)), np.nan))
            continue
        # the coarse bar starting at s closes at s + coarse_step; bar t closes at t + step
        closed_by = panel.timestamps + step - coarse_step
        idx = np.searchsorted(coarse.timestamps, closed_by, side="right") - 1
        ok = idx >= 0
        gathered = np.full((panel.num_bars, panel.num_assets, len(names)), np.nan)
        gathered[ok] = feats[idx[ok]]
        parts.append(gathered)
    return np.concatenate(parts, axis=-1) if parts else np.zeros((panel.num_bars, panel.num_assets, 0))
