"""Volatility targeting: positions and portfolio weights sized from a variance forecast, with a no-trade band.

A position decided at the close of bar ``t`` is sized from the forecast made with bars ``<= t``::

    vol[t]      = sqrt(variance[t] / horizon * periods_per_year)      # the forecast, annualised
    position[t] = direction[t] * min(max_position, target_vol / vol[t])

(Moreira and Muir 2017, "Volatility-Managed Portfolios", J. Finance 72(4); Harvey et al. 2018, "The Impact
of Volatility Targeting", J. Portfolio Management 45(1)). The engine fills it at ``t+1``
(:func:`.engine.run_backtest`). A portfolio's target weights are scaled as a whole by
``min(max_position / gross, target_vol / portfolio_vol)``, its volatility from the assets' variance forecasts
and a correlation matrix.

The no-trade band keeps the held position while a new target lies within ``band`` times its size of it
(and on the same side; a portfolio: while the sum of absolute weight changes is within ``band`` times the
gross exposure held): vol-sized positions move a little at every bar, and paying 10 bps on each small move
costs more than the sizing earns (the no-trade region of proportional costs: Davis and Norman 1990, Math.
Oper. Res. 15(4)). The band is relative, so it means the same whatever the target volatility: doubling the
target doubles every position and leaves the trades' timing unchanged.

Shapes:
    T: bars; A: assets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...config import check_field
from .._checks import as_array, check_same_length

__all__ = [
    "VolTargetConfig",
    "annualised_volatility",
    "choose_vol_target",
    "no_trade_band",
    "portfolio_volatility",
    "vol_target_positions",
    "vol_target_scale",
    "vol_target_weights",
]


@dataclass(frozen=True, slots=True)
class VolTargetConfig:
    """How a variance forecast sizes a position.

    Args:
        target_vol: the annualised volatility a full-size position aims for. Default: 0.5.
        max_position: the largest absolute position (a portfolio: gross exposure), 1 = no leverage.
            Default: 1.0.
        band: the no-trade band, relative to the position held (0.2: resize when the target differs from it
            by more than 20%). Default: 0.0 (trade every change).
        horizon: bars of the variance forecast (a forecast of the next ``horizon`` bars' summed squared log
            returns). Default: 24.
        periods_per_year: bars per year, to annualise. Default: 8760 (hourly bars, around the clock).

    Raises:
        ValueError: a field breaks its rule.
    """

    target_vol: float = 0.5
    max_position: float = 1.0  # long/flat without leverage
    band: float = 0.0
    horizon: int = 24  # the models' variance horizon
    periods_per_year: int = 24 * 365

    def __post_init__(self) -> None:
        n = "VolTargetConfig"
        check_field(_positive(self.target_vol), n, "target_vol", self.target_vol, "must be a number > 0")
        check_field(
            _positive(self.max_position), n, "max_position", self.max_position, "must be a number > 0"
        )
        ok_band = isinstance(self.band, int | float) and np.isfinite(self.band) and self.band >= 0
        check_field(ok_band, n, "band", self.band, "must be a number >= 0")
        for name in ("horizon", "periods_per_year"):
            v = getattr(self, name)
            check_field(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1, n, name, v, "must be an int >= 1"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain data (stored in ``metrics.json`` and a run's ``calibration.json``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VolTargetConfig:
        """The config :meth:`to_dict` wrote (unknown keys refused by the dataclass)."""
        return cls(**data)


def _positive(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and bool(np.isfinite(x)) and x > 0


def annualised_volatility(
    variance: Any, *, horizon: int = 24, periods_per_year: int = 24 * 365
) -> np.ndarray:
    """``sqrt(variance / horizon * periods_per_year)``: a ``horizon``-bar variance forecast as an annualised
    volatility; NaN where the forecast is missing or not positive. Same shape as ``variance``."""
    v = np.asarray(variance, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(
            np.isfinite(v) & (v > 0), np.sqrt(np.where(v > 0, v, 1.0) / horizon * periods_per_year), np.nan
        )


def vol_target_scale(variance: Any, config: VolTargetConfig) -> np.ndarray:
    """``min(max_position, target_vol / vol)`` of each forecast; NaN where there is none. Shape ``(T,)``."""
    vol = annualised_volatility(variance, horizon=config.horizon, periods_per_year=config.periods_per_year)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.minimum(config.max_position, config.target_vol / vol)


def no_trade_band(positions: Any, band: float, *, initial: float = 0.0) -> np.ndarray:
    """Positions with the no-trade band applied: the held position is kept while the target is within
    ``band * |held|`` of it and on the same side (flat counts as a side of its own, so an entry and an exit
    always trade); a NaN target is no decision (kept too). Shape ``(T,)``, no NaN.

    Examples:
        >>> no_trade_band(np.array([0.5, 0.54, 0.7, np.nan, 0.0]), 0.1).tolist()
        [0.5, 0.5, 0.7, 0.7, 0.0]
    """
    target = as_array(positions, "positions")
    if not (np.isfinite(band) and band >= 0):
        raise ValueError(f"band={band!r}: expected a number >= 0")
    out = np.empty(target.shape[0])
    held = float(initial)
    for t, x in enumerate(target.tolist()):
        if x == x and (abs(x - held) > band * abs(held) or np.sign(x) != np.sign(held)):
            held = x
        out[t] = held
    return out


def vol_target_positions(direction: Any, variance: Any, config: VolTargetConfig) -> np.ndarray:
    """Volatility-targeted positions: ``direction * min(max_position, target_vol / vol)``, then the band.

    Args:
        direction: the side decided at each bar, shape ``(T,)``: 1 long, -1 short, 0 flat, values in between
            scale the size; NaN = no decision (the held position is kept).
        variance: the ``config.horizon``-bar variance forecast made at each bar, shape ``(T,)``. Where it is
            missing a non-flat decision is no decision (kept); going flat needs no forecast.
        config: the target, the cap and the band.

    Returns:
        Positions indexed by decision time, shape ``(T,)``, starting flat.

    Raises:
        ValueError: lengths differ, or a direction outside [-1, 1].
    """
    d = as_array(direction, "direction")
    v = as_array(variance, "variance")
    check_same_length(direction=d, variance=v)
    if (np.abs(d[np.isfinite(d)]) > 1).any():
        raise ValueError("direction: expected values in [-1, 1] (NaN = no decision)")
    target = np.where(d == 0, 0.0, d * vol_target_scale(v, config))
    return no_trade_band(target, config.band)


def portfolio_volatility(
    weights: Any, variance: Any, correlation: Any, *, horizon: int = 24, periods_per_year: int = 24 * 365
) -> np.ndarray:
    """Annualised volatility ``sqrt(w' S w)`` of each row's weights, ``S = D R D`` from the assets' variance
    forecasts (``D`` their annualised volatilities) and the correlation ``R``; only the assets with a non-zero
    weight enter. NaN where the weights are not given or one of their forecasts is missing.

    Args:
        weights: shape ``(T, A)``; NaN rows = no decision.
        variance: ``horizon``-bar variance forecasts, shape ``(T, A)``.
        correlation: correlation matrices, shape ``(T, A, A)``.

    Returns:
        Shape ``(T,)``.
    """
    w = as_array(weights, "weights", ndim=2)
    sd = annualised_volatility(
        as_array(variance, "variance", ndim=2), horizon=horizon, periods_per_year=periods_per_year
    )
    rho = as_array(correlation, "correlation", ndim=3)
    if not (w.shape == sd.shape and rho.shape == (*w.shape, w.shape[1])):
        raise ValueError(
            f"weights {w.shape}, variance {sd.shape}, correlation {rho.shape}: expected (T, A), (T, A), (T, A, A)"
        )
    out = np.full(w.shape[0], np.nan)
    for t in np.flatnonzero(np.isfinite(w).all(axis=1)):
        live = w[t] != 0
        if not live.any():
            out[t] = 0.0
            continue
        x = w[t, live] * sd[t, live]
        r = rho[t][np.ix_(live, live)]
        if np.isfinite(x).all() and np.isfinite(r).all():
            out[t] = float(np.sqrt(max(x @ r @ x, 0.0)))
    return out


def vol_target_weights(weights: Any, variance: Any, correlation: Any, config: VolTargetConfig) -> np.ndarray:
    """Target weights scaled to the target volatility: each decision row times ``min(max_position / gross,
    target_vol / portfolio_vol)`` (the rest in cash), then the band: a row whose weights differ from the
    last ones traded by at most ``band`` times their gross exposure, in sum of absolute changes, is no
    decision (NaN: the engine lets the
    held weights drift; with ``band=0`` every decision row trades, rebalancing the drift away). A row whose
    volatility cannot be forecast is no decision too.

    Args:
        weights: target weights at the decision rows, NaN rows elsewhere, shape ``(T, A)``.
        variance: the assets' variance forecasts (see :func:`portfolio_volatility`).
        correlation: the assets' correlation (see :func:`portfolio_volatility`).
        config: the target, the gross-exposure cap and the band.

    Returns:
        Shape ``(T, A)``: scaled weights at the rows that trade, NaN elsewhere.
    """
    w = as_array(weights, "weights", ndim=2)
    vol = portfolio_volatility(
        w, variance, correlation, horizon=config.horizon, periods_per_year=config.periods_per_year
    )
    out = np.full(w.shape, np.nan)
    held = np.zeros(w.shape[1])
    for t in np.flatnonzero(np.isfinite(vol)):
        gross = float(np.abs(w[t]).sum())
        scale = config.max_position / gross if gross > 0 else 0.0
        if vol[t] > 0:
            scale = min(scale, config.target_vol / float(vol[t]))
        target = w[t] * scale
        change = np.abs(target - held).sum()
        if config.band == 0 or change > config.band * np.abs(held).sum():  # band 0: every decision trades
            out[t] = target
            held = target
    return out


def choose_vol_target(
    candidates: Sequence[VolTargetConfig], score: Callable[[VolTargetConfig], float]
) -> tuple[VolTargetConfig, list[dict[str, Any]]]:
    """The candidate with the highest ``score`` (e.g. a strategy's net Sharpe on the validation split; never
    the test split): ``(chosen, rows)``, one row per candidate with its ``score`` and ``chosen``.

    Ties go to the earlier candidate; NaN scores are never chosen; when every score is NaN the first
    candidate is kept and every row says so (``chosen_by``).

    Raises:
        ValueError: no candidates.
    """
    if not candidates:
        raise ValueError("candidates: expected at least one VolTargetConfig")
    scores = [float(score(c)) for c in candidates]
    finite = [i for i, s in enumerate(scores) if np.isfinite(s)]
    best = max(finite, key=lambda i: (scores[i], -i)) if finite else 0
    how = "highest score" if finite else "first candidate: no candidate has a finite score"
    rows = [
        {"target_vol": c.target_vol, "band": c.band, "max_position": c.max_position, "score": s,
         "chosen": i == best, "chosen_by": how}
        for i, (c, s) in enumerate(zip(candidates, scores))
    ]  # fmt: skip
    return candidates[best], rows
