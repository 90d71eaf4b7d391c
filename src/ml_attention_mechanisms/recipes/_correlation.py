"""The risk model's correlation forecast in ``mlattn demo``: its correlation head fitted on multi-asset
windows of the training split (encoder frozen), then scored on the test split against the rolling baseline.

The demo trains the risk model one asset at a time, so its ``correlation [B, A, A]`` output is 1x1 there.
Afterwards :func:`fit_correlation_head` reads windows of several assets at once (each through the same
frozen causal encoder) and trains only ``correlation_proj`` to the realised correlation of the next
``horizon`` bars' returns. Targets come from the training period's bars only: a window ending at ``t`` has
the correlation of returns ``t+1..t+horizon``, and windows whose target would reach past the training period
are dropped (purged). Validation windows (targets inside validation) choose the step kept (early stopping);
the test split is read only by :func:`forecast_correlation`.

Shapes:
    T: bars; A: assets of the forecast; L: window length; d: the model's state size; N: windows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..data.loader import known_asset_id
from ._data import HORIZON, DemoData, asset_column, base_symbol
from ._models import RunModel
from ._progress import say

if TYPE_CHECKING:
    from .config import DemoConfig

__all__ = [
    "CorrelationResult",
    "correlation_figures",
    "correlation_step",
    "fit_correlation_head",
    "forecast_correlation",
]

logger = logging.getLogger(__name__)

_CHUNK = 256


def _batch(
    data: DemoData, cols: Sequence[int], ends: np.ndarray, window: int, ids: Sequence[int]
) -> dict[str, torch.Tensor]:
    p = data.prepared
    idx = ends[:, None] + np.arange(-window + 1, 1)[None, :]  # (N, L)
    feats = np.stack([p.features[c][idx] for c in cols], axis=2)  # (N, L, A, F)
    mask = np.stack([p.mask[c][idx] for c in cols], axis=2)  # (N, L, A)
    return {
        "price_data": torch.from_numpy(np.ascontiguousarray(feats)),
        "timestamps": torch.from_numpy(p.timestamps[idx]),
        "asset_ids": torch.tensor(np.tile(np.asarray(ids, dtype=np.int64), (ends.size, 1))),
        "mask": torch.from_numpy(np.ascontiguousarray(mask)),
    }


def _ids(payload: Any, data: DemoData, assets: Sequence[str]) -> list[int]:
    known = payload.get("symbols") or {}
    by_base = {base_symbol(s): known_asset_id(s, known) for s in data.symbols}
    return [by_base.get(a, 0) for a in assets]


def _targets(
    data: DemoData, cols: Sequence[int], lo: int, hi: int, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Window ends in ``[lo, hi)`` whose next-``HORIZON``-bar correlation lies inside ``[lo, hi)``, with
    every asset present at the end bar and on every target bar; returns ``(ends [N], targets [N, A, A])``."""
    from ..evaluation.targets import realized_correlation_target

    r = data.returns[lo:hi][:, list(cols)]  # only the period's own bars
    target = realized_correlation_target(r, HORIZON)  # (hi-lo, A, A), last HORIZON rows NaN: purged
    present = data.prepared.mask[list(cols)][:, lo:hi].all(axis=0)  # (hi-lo,)
    k = np.ones(HORIZON, dtype=np.int64)
    ahead = np.zeros(present.size, dtype=bool)  # all bars t+1..t+HORIZON present
    if present.size > HORIZON:
        ahead[: present.size - HORIZON] = np.convolve(present.astype(np.int64), k, "valid")[1:] == HORIZON
    ends = np.arange(lo, hi)
    ok = present & ahead & np.isfinite(target).all(axis=(1, 2)) & (ends >= window - 1)
    return ends[ok], target[ok]


@torch.no_grad()
def _states(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The final states ``[N, A, d]`` that the model feeds its ``correlation_proj`` (read by a hook)."""
    seen: list[torch.Tensor] = []
    hook = model.correlation_proj.register_forward_hook(lambda _m, inp, _o: seen.append(inp[0].detach()))  # type: ignore[union-attr,operator]
    try:
        model(**batch)  # type: ignore[operator]
    finally:
        hook.remove()
    return seen[0]


def _all_states(
    model: nn.Module, data: DemoData, cols: Sequence[int], ends: np.ndarray, window: int, ids: Sequence[int]
) -> torch.Tensor:
    return torch.cat(
        [
            _states(model, _batch(data, cols, ends[i : i + _CHUNK], window, ids))
            for i in range(0, ends.size, _CHUNK)
        ]
    )


def fit_correlation_head(
    model: nn.Module,
    payload: Any,
    data: DemoData,
    assets: Sequence[str],
    *,
    window: int,
    train_windows: int = 2048,
    val_windows: int = 512,
    steps: int = 300,
    batch_size: int = 128,
    learning_rate: float = 1e-2,
    seed: int = 0,
) -> dict[str, Any]:
    """Train only the risk model's ``correlation_proj`` on multi-asset windows (encoder frozen).

    Args:
        model: a trained :class:`~ml_attention_mechanisms.models.RiskAssessor` (changed in place: the head).
        payload: its checkpoint payload (``symbols`` -> asset ids).
        assets: the assets read together (``"BTC"``...; at least 2).
        window: bars per input window.
        train_windows, val_windows: fixed-seed subsamples of the training / validation windows.
        steps, batch_size, learning_rate: the head's Adam budget; the step with the lowest validation MSE
            (checked every 25 steps) is kept.

    Returns:
        ``{"assets", "train_windows", "val_windows", "steps", "best_step", "train_mse", "val_mse"}``.

    Raises:
        ValueError: fewer than 2 assets, or no training window with a complete target.
    """
    if len(assets) < 2:
        raise ValueError(f"assets {tuple(assets)}: the correlation head needs at least 2 assets")
    cols = [asset_column(data, a) for a in assets]
    ids = _ids(payload, data, assets)
    (tr_ends, tr_y), (va_ends, va_y) = _fit_windows(data, cols, window, train_windows, val_windows, seed)
    model.eval()
    h_tr = _all_states(model, data, cols, tr_ends, window, ids)
    h_va = _all_states(model, data, cols, va_ends, window, ids) if va_ends.size else None
    y_tr = torch.from_numpy(tr_y).to(h_tr.dtype)
    y_va = None if h_va is None else torch.from_numpy(va_y).to(h_va.dtype)
    proj: nn.Linear = model.correlation_proj  # type: ignore[assignment]
    best_step, best_val, train_mse = _train_head(
        proj, (h_tr, y_tr), None if h_va is None or y_va is None else (h_va, y_va),
        steps=steps, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
    )  # fmt: skip
    return {
        "assets": list(assets),
        "train_windows": int(tr_ends.size),
        "val_windows": int(va_ends.size),
        "steps": int(steps),
        "best_step": best_step,
        "train_mse": train_mse,
        "val_mse": None if h_va is None else best_val,
    }


def _fit_windows(
    data: DemoData, cols: Sequence[int], window: int, train_windows: int, val_windows: int, seed: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Fixed-seed subsamples of the training and validation windows with complete targets:
    ``((ends, targets), (ends, targets))``.

    Raises:
        ValueError: no training window with a complete target.
    """
    rng = np.random.default_rng(seed)
    train_stop = min(int(data.split.train_end) + 1, int(data.val_start))
    tr_ends, tr_y = _targets(data, cols, 0, train_stop, window)
    va_ends, va_y = _targets(data, cols, int(data.val_start), int(data.test_start), window)
    if tr_ends.size == 0:
        raise ValueError("fit_correlation_head: no training window with a complete next-24-bar target")
    pick = np.sort(rng.choice(tr_ends.size, size=min(train_windows, tr_ends.size), replace=False))
    tr_ends, tr_y = tr_ends[pick], tr_y[pick]
    if va_ends.size > val_windows:
        pick = np.sort(rng.choice(va_ends.size, size=val_windows, replace=False))
        va_ends, va_y = va_ends[pick], va_y[pick]
    return (tr_ends, tr_y), (va_ends, va_y)


def _train_head(
    proj: nn.Linear,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor] | None,
    *,
    steps: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
) -> tuple[int, float, float]:
    """Adam on ``proj`` alone (states ``[N, A, d]`` -> correlations ``[N, A, A]``); keeps the step with the
    lowest validation MSE (checked every 25 steps; the training batch's without validation). Returns
    ``(best step, its MSE, training MSE of the kept head)``."""
    from ..models._heads import unit_correlation

    h_tr, y_tr = train
    opt = torch.optim.Adam(proj.parameters(), lr=learning_rate)
    gen = torch.Generator().manual_seed(seed)

    def mse(h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (unit_correlation(proj(h)) - y).square().mean()

    best = (float("inf"), 0, {k: v.detach().clone() for k, v in proj.state_dict().items()})
    for step in range(1, steps + 1):
        idx = torch.randint(0, h_tr.shape[0], (min(batch_size, h_tr.shape[0]),), generator=gen)
        opt.zero_grad()
        loss = mse(h_tr[idx], y_tr[idx])
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        if step % 25 == 0 or step == steps:
            with torch.no_grad():
                score = float(mse(*val)) if val is not None else float(loss)
            if score < best[0]:
                best = (score, step, {k: v.detach().clone() for k, v in proj.state_dict().items()})
    proj.load_state_dict(best[2])
    with torch.no_grad():
        train_mse = float(mse(h_tr, y_tr))
    return int(best[1]), float(best[0]), train_mse


@torch.no_grad()
def forecast_correlation(
    model: nn.Module,
    payload: Any,
    data: DemoData,
    assets: Sequence[str],
    positions: np.ndarray,
    *,
    window: int,
) -> np.ndarray:
    """The risk model's correlation forecasts ``[T, A, A]`` at ``positions`` (batched windows; NaN at
    positions before the first full window or with an asset absent at the end bar)."""
    cols = [asset_column(data, a) for a in assets]
    ids = _ids(payload, data, assets)
    n = int(data.timestamps.size)
    ends = np.asarray(positions, dtype=np.int64)
    ends = ends[(ends >= window - 1) & (ends < n)]
    ends = ends[data.prepared.mask[cols][:, ends].all(axis=0)]
    out = np.full((n, len(cols), len(cols)), np.nan)
    model.eval()
    for i in range(0, ends.size, _CHUNK):
        chunk = ends[i : i + _CHUNK]
        out[chunk] = model(**_batch(data, cols, chunk, window, ids))["correlation"].double().numpy()  # type: ignore[operator]
    return out


def correlation_figures(
    model: nn.Module, payload: Any, data: DemoData, assets: Sequence[str], *, window: int
) -> dict[str, Any]:
    """The model's test-split correlation forecasts scored by :func:`.suite.evaluate_correlation_forecasts`
    against the rolling 720-bar correlation: ``{"assets", "horizon", "model": {...}, "rolling": {...}}``."""
    from ..evaluation.suite import evaluate_correlation_forecasts

    cols = [asset_column(data, a) for a in assets]
    fc = forecast_correlation(
        model, payload, data, assets, np.arange(data.test_start, data.test_end), window=window
    )
    res = evaluate_correlation_forecasts(
        data.returns[:, cols],
        fc,
        test_start=data.test_start,
        test_end=data.test_end,
        horizon=HORIZON,
        window=720,
    )
    return {"assets": list(assets), "horizon": HORIZON, **res}


@dataclass(frozen=True, slots=True)
class CorrelationResult:
    """The correlation step of a run.

    Attributes:
        head: the correlation head's fit when this run fitted it (recorded in the calibration), else None.
        scores: :func:`correlation_figures` on the test split, or None when the run has no fitted head or
            fewer than 2 of the assets.
    """

    head: dict[str, Any] | None
    scores: dict[str, Any] | None


def correlation_step(
    models: Mapping[str, RunModel],
    data: DemoData,
    config: DemoConfig,
    calibration: Mapping[str, Any],
    assets: tuple[str, ...],
    *,
    fit: bool,
    progress: bool,
) -> CorrelationResult:
    """The risk model's correlation forecast scored on the test split: in a demo (``fit``) its correlation
    head is first fitted on training windows (encoder frozen); ``evaluate`` scores a run whose head was
    fitted (``correlation_head`` in its stored calibration)."""
    if "risk" not in models or len(assets) < 2:
        return CorrelationResult(None, None)
    model, payload = models["risk"]
    head = None
    if "correlation_head" not in calibration:
        if not fit:
            return CorrelationResult(None, None)
        say("fitting the risk model's correlation head on multi-asset training windows", progress)
        head = fit_correlation_head(model, payload, data, assets, window=config.window, seed=config.seed)
    return CorrelationResult(head, correlation_figures(model, payload, data, assets, window=config.window))
