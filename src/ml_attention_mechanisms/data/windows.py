"""Windowed ``torch.utils.data.Dataset``s over a prepared panel: the batch contract of the models.

Batch contract (per sample; the DataLoader's default collate adds the batch axis ``B``):

Single asset (:class:`SingleAssetWindows`), one asset's window of ``L`` bars ending at bar ``t``:

- ``price_data`` float32 ``[L, F]``: scaled features (0 where ``mask`` is False)
- ``timestamps`` int64 ``[L]``: bar open times, Unix seconds
- ``asset_ids`` int64 ``[]``: the asset's id (1..N in the panel's symbol order; 0 = unknown asset, also for
  an asset with fewer than :data:`MIN_TRAINING_BARS` training bars: its own embedding would be untrained)
- ``mask`` bool ``[L]``: True = the bar is present and its features and scale are defined
- ``scale`` float32 ``[]``: the asset's causal scale at the window's last bar, the variance anchor's
  per-bar variance forecast of the next bars (:mod:`.anchor`); models forecast relative to it
- ``targets`` dict: ``returns`` float32 ``[H]`` (ln close_{t+h}/close_t for each horizon), ``volatility``
  float32 ``[H]`` (sqrt of the sum of squared log returns t+1..t+h), ``signal`` int64 ``[]`` (0 sell,
  1 hold, 2 buy; triple barrier net of cost), ``drawdown`` float32 ``[]`` (max drawdown over the signal
  horizon), ``regime`` int64 ``[]`` (0..num_regimes-1, from bars <= t)

Multi asset (:class:`MultiAssetWindows`), all ``A`` assets' windows ending at bar ``t``:

- ``asset_features`` float32 ``[L, A, F]``, ``asset_mask`` bool ``[L, A]``, ``timestamps`` int64 ``[L]``,
  ``asset_ids`` int64 ``[A]``, ``scale`` float32 ``[A]`` (each asset's scale at the last bar; 1 where the
  asset is absent there)
- ``volume_data`` float32 ``[L, A]``: the bar's traded value in the quote currency (quote volume, else
  volume x close), 0 where missing; a liquidity measure of which only ratios are used (between assets),
  so its unit does not matter
- ``next_returns`` float32 ``[A]``: simple return close_{t+k}/close_t - 1 over the next rebalance period
  ``k`` (0 where undefined), ``next_returns_mask`` bool ``[A]``
- ``targets`` dict: the single-asset targets with a leading ``[A]`` axis, and ``target_mask`` bool ``[A]``

Every sample's targets are defined (single asset) or masked (multi asset); features use bars <= t and
targets bars > t (see ``features`` and ``targets``). Arrays are computed once in :func:`prepare_panel`;
``__getitem__`` only slices.

Shapes: ``L`` window bars, ``F`` features, ``A`` assets, ``H`` horizons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .anchor import VarianceAnchor, parkinson_variance
from .features import compute_features, feature_names, multi_timeframe_features
from .loader import normalise_symbol
from .panel import MarketPanel
from .scaling import FeatureScaler, rolling_standardize
from .targets import (
    forward_returns,
    forward_volatility,
    future_drawdown,
    next_period_returns,
    regime_labels,
    triple_barrier_labels,
)

__all__ = ["MIN_TRAINING_BARS", "MultiAssetWindows", "PreparedPanel", "SingleAssetWindows", "prepare_panel"]

MIN_TRAINING_BARS = 48  # an asset with fewer training bars reads as the unknown asset (id 0)


@dataclass(eq=False)
class PreparedPanel:
    """Model-ready arrays of a panel, computed once.

    Attributes:
        symbols: asset symbols; ``symbol_to_id`` maps them to 1..A (0 = unknown asset).
        timeframe: the bar interval.
        timestamps: int64 ``[T]``.
        features: float32 ``[A, T, F]`` scaled features, 0 where not ``mask`` (asset-major: a single-asset
            window is a contiguous slice).
        mask: bool ``[A, T]``: bar present, every feature and the scale defined.
        volume: float32 ``[A, T]``: traded value in the quote currency, 0 where missing.
        scale: float32 ``[A, T]``: each asset's causal scale (the variance anchor's per-bar variance
            forecast from bars <= t), 1 where not ``mask``.
        asset_ids: int64 ``[A]``: each asset's id in the windows (column + 1; 0 for an asset with fewer
            than :data:`MIN_TRAINING_BARS` training bars, whose own embedding would be untrained).
        targets: name -> ``[A, T, ...]`` arrays (``returns``/``volatility`` float32 ``[A, T, H]``,
            ``signal``/``regime`` int64, ``drawdown`` float32).
        target_valid: bool ``[A, T]``: every target defined.
        next_returns: float32 ``[A, T]`` and ``next_returns_valid`` bool ``[A, T]``.
        close: float64 ``[A, T]`` closes, NaN where missing (for backtests and evaluation).
        feature_names, horizons, max_horizon: what the arrays mean.
        scaler: the fitted :class:`FeatureScaler` (``scaler.to_dict()`` goes into checkpoints, with the
            fitted anchor under ``"anchor"``).
        anchor: the fitted :class:`~.anchor.VarianceAnchor`.
    """

    symbols: tuple[str, ...]
    timeframe: str
    timestamps: np.ndarray
    features: np.ndarray
    mask: np.ndarray
    volume: np.ndarray
    targets: dict[str, np.ndarray]
    target_valid: np.ndarray
    next_returns: np.ndarray
    next_returns_valid: np.ndarray
    close: np.ndarray
    feature_names: list[str]
    horizons: tuple[int, ...]
    max_horizon: int
    scaler: FeatureScaler
    scale: np.ndarray
    asset_ids: np.ndarray
    anchor: VarianceAnchor
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def symbol_to_id(self) -> dict[str, int]:
        """``{symbol: id}`` of the assets with their own id (the others read as 0, unknown)."""
        return {s: int(i) for s, i in zip(self.symbols, self.asset_ids) if i > 0}

    @property
    def num_features(self) -> int:
        return len(self.feature_names)


def prepare_panel(
    panel: MarketPanel,
    *,
    feature_set: str | Sequence[str] = "default",
    timeframes: Sequence[str] = (),
    horizons: Sequence[int] = (1, 4, 24),
    signal_horizon: int = 24,
    cost: float = 0.002,
    num_regimes: int = 7,
    rebalance_horizon: int = 1,
    scaler: FeatureScaler | dict[str, Any] | None = None,
    fit_end: int | None = None,
    window: int = 720,
    min_periods: int = 168,
) -> PreparedPanel:
    """Features, scaling, targets and masks of a panel, as arrays ready for the window datasets.

    Args:
        panel: the assets on one grid.
        feature_set: see :func:`features.feature_names`. Default: ``"default"`` (17 features).
        timeframes: coarser timeframes whose features are appended (e.g. ``("4h", "1d")``). Default: none.
        horizons: return / volatility horizons in bars. Default: (1, 4, 24).
        signal_horizon: horizon of the signal labels and the drawdown target. Default: 24.
        cost: the signal labels' minimum barrier (a log return). Default: 0.002.
        num_regimes: regime classes (>= 2). Default: 7.
        rebalance_horizon: bars of the multi-asset ``next_returns``. Default: 1.
        scaler: fitted statistics (a :class:`FeatureScaler` or its ``to_dict()``, with the fitted variance
            anchor) to reuse, e.g. from a checkpoint; ``None`` fits new ones (and the anchor) on grid
            positions ``<= fit_end``.
        fit_end: last grid position of the training period (``Split.train_end``); ``None`` = all bars.
        window: bars of the per-asset trailing scaling window, also the variance anchor's level window.
            Default: 720.
        min_periods: bars the per-asset scaling (and the anchor's level) needs before its first value.
            Default: 168.

    Raises:
        ValueError: bad horizons or names, no training rows to fit the scaler or the anchor on, or given
            statistics without an anchor.
    """
    names = feature_names(feature_set, timeframes)
    raw = compute_features(panel, feature_set)
    if timeframes:
        raw = np.concatenate([raw, multi_timeframe_features(panel, timeframes, feature_set)], axis=-1)
    if isinstance(scaler, dict):
        scaler = FeatureScaler.from_dict(scaler)
    if scaler is not None and scaler.feature_names != names:
        raise ValueError(f"prepare_panel: the scaler's features {scaler.feature_names} differ from {names}")
    if scaler is not None and scaler.fitted and not scaler.anchor:
        raise ValueError(
            "prepare_panel: the given scaler statistics carry no variance anchor ('anchor' key), which the "
            "models forecast relative to; they come from an older version: retrain the run"
        )
    if scaler is None:
        scaler = FeatureScaler(names, window=window, min_periods=min_periods)
    z = rolling_standardize(raw, scaler.window, scaler.min_periods)
    parkinson = parkinson_variance(np.log(panel.field("high") / panel.field("low")))
    parkinson[~panel.mask] = np.nan
    squared_returns = np.square(np.diff(np.log(panel.close), axis=0, prepend=np.nan))  # NaN across a gap
    fitting = not scaler.fitted
    rows = panel.mask & np.isfinite(z).all(axis=-1)
    if fit_end is not None:
        rows[fit_end + 1 :] = False
    if fitting:
        scaler.fit(z, rows)
        anchor = VarianceAnchor.for_bar_seconds(
            panel.step_seconds, level_window=scaler.window, min_periods=scaler.min_periods
        )
        fit_rows = panel.mask.copy()  # any present training bar; its target ends inside the training period
        fit_rows[max((panel.num_bars if fit_end is None else fit_end + 1) - anchor.horizon, 0) :] = False
        target = forward_volatility(panel.close, (anchor.horizon,))[..., 0] ** 2 / anchor.horizon  # (T, A)
        anchor.fit(parkinson, squared_returns, target, fit_rows)
        scaler.anchor = anchor.to_dict()
    else:
        anchor = VarianceAnchor.from_dict(scaler.anchor or {})
    scale = anchor.scale(parkinson, squared_returns)  # (T, A)
    valid = panel.mask & np.isfinite(z).all(axis=-1) & np.isfinite(scale)
    scaled = np.where(valid[..., None], scaler.apply(z), 0.0).astype(np.float32)
    # an asset gets its own id with enough training bars; otherwise it is the (trained) unknown asset
    trained = (rows & valid).sum(axis=0) >= MIN_TRAINING_BARS if fitting else np.ones(panel.num_assets, bool)

    close = panel.close
    ret = forward_returns(close, horizons)
    vol = forward_volatility(close, horizons)
    signal = triple_barrier_labels(close, signal_horizon, cost=cost)
    drawdown = future_drawdown(close, signal_horizon)
    regime = regime_labels(close, num_regimes)
    nxt = next_period_returns(close, rebalance_horizon)
    target_valid = (
        np.isfinite(ret).all(-1)
        & np.isfinite(vol).all(-1)
        & np.isfinite(signal)
        & np.isfinite(drawdown)
        & (regime >= 0)
    )
    hs = tuple(int(h) for h in horizons)

    def asset_major(x: np.ndarray, dtype: Any) -> np.ndarray:
        return np.ascontiguousarray(np.swapaxes(np.nan_to_num(x), 0, 1).astype(dtype))  # (A, T, ...)

    traded = np.where(np.isfinite(panel.quote_volume), panel.quote_volume, panel.field("volume") * close)
    return PreparedPanel(
        symbols=panel.symbols,
        timeframe=panel.timeframe,
        timestamps=panel.timestamps.astype(np.int64),
        features=np.ascontiguousarray(np.swapaxes(scaled, 0, 1)),
        mask=np.ascontiguousarray(valid.T),
        volume=asset_major(np.where(panel.mask, traded, 0.0), np.float32),
        targets={
            "returns": asset_major(ret, np.float32),
            "volatility": asset_major(vol, np.float32),
            "signal": asset_major(signal, np.int64),
            "drawdown": asset_major(drawdown, np.float32),
            "regime": asset_major(np.maximum(regime, 0), np.int64),
        },
        target_valid=np.ascontiguousarray((target_valid & valid).T),
        next_returns=asset_major(nxt, np.float32),
        next_returns_valid=np.ascontiguousarray((np.isfinite(nxt) & valid).T),
        close=np.ascontiguousarray(close.T),
        feature_names=names,
        horizons=hs,
        max_horizon=max(*hs, signal_horizon, rebalance_horizon),
        scaler=scaler,
        scale=asset_major(np.where(valid, scale, 1.0), np.float32),
        asset_ids=np.where(trained, np.arange(1, panel.num_assets + 1), 0).astype(np.int64),
        anchor=anchor,
        settings={"feature_set": feature_set if isinstance(feature_set, str) else list(feature_set),
                  "timeframes": list(timeframes), "signal_horizon": signal_horizon, "cost": cost,
                  "num_regimes": num_regimes, "rebalance_horizon": rebalance_horizon},
    )  # fmt: skip


def _positions(
    prepared: PreparedPanel, positions: np.ndarray | None, seq_len: int, stride: int
) -> np.ndarray:
    if seq_len < 1 or stride < 1:
        raise ValueError(f"seq_len={seq_len}, stride={stride}: expected >= 1")
    t = np.arange(prepared.timestamps.size) if positions is None else np.asarray(positions, dtype=np.int64)
    t = t[t >= seq_len - 1]
    return t[::stride] if stride > 1 else t


class SingleAssetWindows(Dataset[dict[str, Any]]):
    """One asset's window per sample (see the module docstring for the keys and shapes).

    Args:
        prepared: from :func:`prepare_panel`.
        seq_len: bars per window.
        positions: grid positions of the window end bars allowed (e.g. ``Split.train``); ``None`` = all.
        symbols: assets to draw from; ``None`` = all.
        stride: keep every ``stride``-th end bar. Default: 1.

    A sample exists for each asset and end bar ``t`` with the bar present and every target defined;
    ``index[i]`` is sample ``i``'s ``(asset column, end position t)``.
    """

    def __init__(
        self,
        prepared: PreparedPanel,
        seq_len: int,
        *,
        positions: np.ndarray | None = None,
        symbols: Sequence[str] | None = None,
        stride: int = 1,
    ) -> None:
        self.prepared = prepared
        self.seq_len = seq_len
        ends = _positions(prepared, positions, seq_len, stride)
        if symbols is not None:
            unknown = [s for s in symbols if normalise_symbol(s) not in prepared.symbols]
            if unknown:
                raise ValueError(
                    f"symbols {unknown}: not in the data; available: {', '.join(prepared.symbols)}"
                )
        wanted = (
            [prepared.symbols.index(normalise_symbol(s)) for s in symbols] if symbols is not None else None
        )
        cols = range(len(prepared.symbols)) if wanted is None else wanted
        pairs = [
            np.stack([np.full(ends.size, a), ends], axis=1)[prepared.target_valid[a, ends]] for a in cols
        ]
        self.index = (
            np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
        )  # (N, 2): asset, end
        self._features = torch.from_numpy(prepared.features)
        self._mask = torch.from_numpy(prepared.mask)
        self._timestamps = torch.from_numpy(prepared.timestamps)
        self._targets = {k: torch.from_numpy(v) for k, v in prepared.targets.items()}
        self._ids = torch.from_numpy(prepared.asset_ids)
        self._scale = torch.from_numpy(prepared.scale)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def __getitem__(self, i: int) -> dict[str, Any]:
        a, t = (int(v) for v in self.index[i])
        lo = t - self.seq_len + 1
        return {
            "price_data": self._features[a, lo : t + 1],
            "timestamps": self._timestamps[lo : t + 1],
            "asset_ids": self._ids[a],
            "mask": self._mask[a, lo : t + 1],
            "scale": self._scale[a, t],
            "targets": {k: v[a, t] for k, v in self._targets.items()},
        }


class MultiAssetWindows(Dataset[dict[str, Any]]):
    """All assets' windows per sample (see the module docstring for the keys and shapes).

    Args:
        prepared: from :func:`prepare_panel`.
        seq_len: bars per window.
        positions: grid positions of the window end bars allowed; ``None`` = all.
        stride: keep every ``stride``-th end bar. Default: 1.

    A sample exists for each end bar ``t`` at which at least one asset has a defined next return;
    ``index[i]`` is sample ``i``'s end position ``t``.
    """

    def __init__(
        self, prepared: PreparedPanel, seq_len: int, *, positions: np.ndarray | None = None, stride: int = 1
    ) -> None:
        self.prepared = prepared
        self.seq_len = seq_len
        ends = _positions(prepared, positions, seq_len, stride)
        self.index = ends[prepared.next_returns_valid[:, ends].any(axis=0)]
        # time-major copies for [L, A, ...] slices
        self._features = torch.from_numpy(np.ascontiguousarray(np.swapaxes(prepared.features, 0, 1)))
        self._mask = torch.from_numpy(np.ascontiguousarray(prepared.mask.T))
        self._volume = torch.from_numpy(np.ascontiguousarray(prepared.volume.T))
        self._timestamps = torch.from_numpy(prepared.timestamps)
        self._next = torch.from_numpy(np.ascontiguousarray(prepared.next_returns.T))
        self._next_ok = torch.from_numpy(np.ascontiguousarray(prepared.next_returns_valid.T))
        self._targets = {
            k: torch.from_numpy(np.ascontiguousarray(np.swapaxes(v, 0, 1)))
            for k, v in prepared.targets.items()
        }
        self._target_ok = torch.from_numpy(np.ascontiguousarray(prepared.target_valid.T))
        self._ids = torch.from_numpy(prepared.asset_ids)
        self._scale = torch.from_numpy(np.ascontiguousarray(prepared.scale.T))

    def __len__(self) -> int:
        return int(self.index.size)

    def __getitem__(self, i: int) -> dict[str, Any]:
        t = int(self.index[i])
        lo = t - self.seq_len + 1
        ok = self._next_ok[t]
        return {
            "asset_features": self._features[lo : t + 1],
            "asset_mask": self._mask[lo : t + 1],
            "volume_data": self._volume[lo : t + 1],
            "timestamps": self._timestamps[lo : t + 1],
            "asset_ids": self._ids,
            "scale": self._scale[t],
            "next_returns": torch.where(ok, self._next[t], 0.0),
            "next_returns_mask": ok,
            "targets": {**{k: v[t] for k, v in self._targets.items()}, "target_mask": self._target_ok[t]},
        }
