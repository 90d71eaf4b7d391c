"""Forecasts of trained models at every decision time of a period, on the grid of the prepared panel
(their calibration: :mod:`._calibration`).

A forecast at decision time ``t`` reads the window of bars ``t-L+1..t`` (features scaled with the run's
training statistics) and targets bars after ``t``; arrays here are ``[T, ...]`` with NaN at the times not
forecast, the convention of :mod:`ml_attention_mechanisms.evaluation`.

Shapes:
    T: bars; L: window; F: features; A: assets; Q: quantile levels.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ._progress import progress_bar

if TYPE_CHECKING:
    from ..data import PreparedPanel

__all__ = ["asset_ids_for", "attention_map", "forecast_portfolio", "forecast_single"]

logger = logging.getLogger(__name__)

_CHUNK = 512


def asset_ids_for(symbols: tuple[str, ...], known: Mapping[str, int]) -> list[int]:
    """The run's id of each symbol of the data, by coin (``BTC/USD`` gets the id of a run's ``BTC/USDT``);
    0 (the reserved unknown-asset id) for a coin it never saw."""
    from ..data.loader import known_asset_id

    return [known_asset_id(s, known) for s in symbols]


def _chunks(positions: np.ndarray) -> Iterator[np.ndarray]:
    for i in range(0, positions.size, _CHUNK):
        yield positions[i : i + _CHUNK]


def _present(prepared: PreparedPanel, column: int, positions: np.ndarray, window: int) -> np.ndarray:
    p = np.asarray(positions, dtype=np.int64)
    p = p[(p >= window - 1) & (p < prepared.timestamps.size)]
    return p[prepared.mask[column, p]]


def _single_batch(
    prepared: PreparedPanel, column: int, ends: np.ndarray, window: int, asset_id: int
) -> dict[str, Any]:
    idx = ends[:, None] + np.arange(-window + 1, 1)[None, :]  # (N, L)
    return {
        "price_data": torch.from_numpy(prepared.features[column][idx]),  # (N, L, F)
        "timestamps": torch.from_numpy(prepared.timestamps[idx]),  # (N, L)
        "asset_ids": torch.full((ends.size,), asset_id, dtype=torch.int64),
        "mask": torch.from_numpy(prepared.mask[column][idx]),  # (N, L)
        "scale": torch.from_numpy(prepared.scale[column][ends]),  # (N,): the asset's scale at each end bar
    }


@torch.no_grad()
def forecast_single(
    model: nn.Module,
    kind: str,
    prepared: PreparedPanel,
    column: int,
    positions: np.ndarray,
    *,
    window: int,
    asset_id: int,
    progress: bool = False,
    desc: str = "",
) -> dict[str, np.ndarray]:
    """Run a single-asset model of ``kind`` (price, risk or signal) at each position where the asset's bar
    is present.

    Returns:
        Grid-aligned arrays (NaN where not forecast) by output kind: ``price``: ``return`` ``[T]`` (median
        1-bar log return), ``quantiles`` ``[T, Q]`` (1-bar return quantiles), ``variance`` ``[T]`` (the
        expected realised variance of the last horizon, ``volatility_forecast ** 2``: QLIKE's target); ``risk``: ``var``/``es`` ``[T, Lv]``,
        ``drawdown``, ``volatility`` ``[T]``; ``signal``: ``signal`` ``[T]`` in {-1, 0, 1},
        ``probabilities``/``logits`` ``[T, 3]``, ``confidence`` ``[T]``.
    """
    n = int(prepared.timestamps.size)
    ends = _present(prepared, column, positions, window)
    parts: dict[str, list[np.ndarray]] = {}
    model.eval()
    chunks = list(_chunks(ends))
    for chunk in progress_bar(chunks, len(chunks), desc, progress):
        out = model(**model.training_inputs(_single_batch(prepared, column, chunk, window, asset_id)))  # type: ignore[operator]
        for key, value in _pick(kind, out).items():
            parts.setdefault(key, []).append(value)
    result: dict[str, np.ndarray] = {}
    for key, values in parts.items():
        stacked = np.concatenate(values, axis=0)
        full = np.full((n, *stacked.shape[1:]), np.nan)
        full[ends] = stacked
        result[key] = full
    result["_positions"] = ends
    return result


def _pick(kind: str, out: Mapping[str, Any]) -> dict[str, np.ndarray]:
    def np64(t: torch.Tensor) -> np.ndarray:
        return t.detach().double().numpy()

    if kind == "price":
        q = out["quantiles"]  # (N, H, 2, Q): targets ("price", "volatility")
        med = q.shape[-1] // 2
        return {
            "return": np64(q[:, 0, 0, med]),
            "quantiles": np64(q[:, 0, 0, :]),
            "variance": np64(out["volatility_forecast"][:, -1]) ** 2,
        }
    if kind == "risk":
        return {
            "var": np64(out["var"]),
            "es": np64(out["es"]),
            "drawdown": np64(out["drawdown"]),
            "volatility": np64(out["volatility"]),
        }
    if kind == "signal":
        return {
            "signal": np64(out["signal"]),
            "probabilities": np64(out["probabilities"]),
            "logits": np64(out["logits"]),
            "confidence": np64(out["confidence"]),
        }
    raise ValueError(f"forecast_single: a {kind!r} model is not single-asset (price, risk or signal)")


@torch.no_grad()
def forecast_portfolio(
    model: nn.Module,
    prepared: PreparedPanel,
    positions: np.ndarray,
    *,
    window: int,
    progress: bool = False,
) -> np.ndarray:
    """Target weights ``[T, A]`` of a portfolio model at the positions (NaN elsewhere)."""
    n, a = int(prepared.timestamps.size), len(prepared.symbols)
    ends = np.asarray(positions, dtype=np.int64)
    ends = ends[(ends >= window - 1) & prepared.mask[:, ends].any(axis=0)] if ends.size else ends
    out = np.full((n, a), np.nan)
    feats = np.swapaxes(prepared.features, 0, 1)  # (T, A, F)
    mask, volume, scale = prepared.mask.T, prepared.volume.T, prepared.scale.T  # (T, A)
    chunks = list(_chunks(ends))
    for chunk in progress_bar(chunks, len(chunks), "portfolio", progress):
        idx = chunk[:, None] + np.arange(-window + 1, 1)[None, :]  # (N, L)
        res = model(  # type: ignore[operator]
            asset_features=torch.from_numpy(np.ascontiguousarray(feats[idx])),  # (N, L, A, F)
            volume_data=torch.from_numpy(np.ascontiguousarray(volume[idx])),
            timestamps=torch.from_numpy(prepared.timestamps[idx]),
            mask=torch.from_numpy(np.ascontiguousarray(mask[idx])),
            scale=torch.from_numpy(np.ascontiguousarray(scale[chunk])),  # (N, A)
        )
        out[chunk] = res["optimal_weights"].double().numpy()
    return out


@torch.no_grad()
def attention_map(
    model: nn.Module, prepared: PreparedPanel, column: int, end: int, *, window: int
) -> np.ndarray | None:
    """Head-averaged attention ``[L, L]`` of a single-asset model's first layer for the window ending at
    ``end`` (``None`` when the model returns none)."""
    batch = _single_batch(prepared, column, np.array([end]), window, 0)
    out = model(**model.training_inputs(batch), need_attention_weights=True)  # type: ignore[operator]
    maps = out.get("attention_weights") or {}
    if not maps:
        return None
    first = maps[sorted(maps)[0]]  # (1, H, L, L)
    return np.asarray(first[0].mean(0).double().numpy())
