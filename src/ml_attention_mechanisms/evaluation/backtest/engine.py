"""Cost-aware backtest engine: decisions indexed by decision time, filled at the next bar.

A position decided with data up to the close of bar ``t`` earns the return from close ``t`` to close
``t+1``; the engine does the shift itself, so a caller cannot fill on the bar that produced a decision.
Fees (and optional slippage) are charged per unit of turnover when the position changes.

Shapes:
    T: bars; A: assets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...config import check_field
from .._checks import as_array, check_log_returns, check_same_length

__all__ = ["BacktestConfig", "BacktestResult", "performance_metrics", "run_backtest", "signals_to_positions"]

_MODES = ("long_flat", "long_short", "confidence")
_SIGNAL_CODES = {"buy": 1, "sell": -1, "hold": 0}


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """How decisions become positions and what trading costs.

    Args:
        fee_bps: fee per unit of turnover, in basis points. Default: 10.
        slippage_bps: extra cost per unit of turnover, in basis points. Default: 0.
        position_mode: ``"long_flat"`` (buy = 1, sell = 0, hold keeps), ``"long_short"`` (buy = 1,
            sell = -1, hold keeps) or ``"confidence"`` (buy = +confidence, sell = 0, hold keeps; with
            ``allow_short`` sell = -confidence). Default: ``"long_flat"``.
        allow_short: with ``"confidence"``, sell goes short. Default: False.
        rebalance_hour_utc: portfolios rebalance once a day at this UTC hour (at the bar that closes at
            HH:00); None = at every bar a decision is given. Default: 0.
        periods_per_year: bars per year, for annualisation. Default: 8760 (24 x 365 hourly bars).

    Raises:
        ValueError: a field breaks its rule.
    """

    fee_bps: float = 10.0
    slippage_bps: float = 0.0
    position_mode: str = "long_flat"  # buy = long, sell = flat, hold keeps the position
    allow_short: bool = False
    rebalance_hour_utc: int | None = 0  # daily at 00:00 UTC
    periods_per_year: int = 24 * 365  # hourly bars trade around the clock

    def __post_init__(self) -> None:
        n = "BacktestConfig"
        check_field(self.fee_bps >= 0, n, "fee_bps", self.fee_bps, "must be >= 0")
        check_field(self.slippage_bps >= 0, n, "slippage_bps", self.slippage_bps, "must be >= 0")
        check_field(self.position_mode in _MODES, n, "position_mode", self.position_mode, f"one of {_MODES}")
        h = self.rebalance_hour_utc
        check_field(h is None or 0 <= h <= 23, n, "rebalance_hour_utc", h, "None or an hour in 0..23")
        check_field(self.periods_per_year >= 1, n, "periods_per_year", self.periods_per_year, "must be >= 1")

    @property
    def cost_rate(self) -> float:
        """Cost per unit of turnover as a fraction (fees plus slippage)."""
        return (self.fee_bps + self.slippage_bps) * 1e-4

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict, for ``metrics.json``."""
        return dataclasses.asdict(self)


def signals_to_positions(
    signals: Any, config: BacktestConfig | None = None, *, confidence: Any = None, initial: float = 0.0
) -> np.ndarray:
    """Map buy/sell/hold decisions to positions, indexed by decision time.

    Args:
        signals: shape ``(T,)``: strings ``"buy"``/``"sell"``/``"hold"`` (any case) or integers
            ``1``/``-1``/``0`` with the same meaning.
        config: the mapping (``position_mode``, ``allow_short``). Default: ``BacktestConfig()``.
        confidence: shape ``(T,)`` in [0, 1]; required for ``"confidence"``.
        initial: position before the first decision. Default: 0.

    Returns:
        Positions, shape ``(T,)``.

    Raises:
        ValueError: an unknown signal (its index and value named), or a missing/bad ``confidence``.
    """
    cfg = config or BacktestConfig()
    raw = np.asarray(getattr(signals, "to_numpy", lambda: signals)())
    if raw.ndim != 1:
        raise ValueError(f"signals: expected a 1-D sequence, got shape {raw.shape}")
    codes = np.empty(raw.shape[0], dtype=np.int64)
    for i, s in enumerate(raw.tolist()):  # python scalars: clean messages, 'buy' == np.str_('buy')
        code = _SIGNAL_CODES.get(s.lower()) if isinstance(s, str) else (int(s) if s in (1, -1, 0) else None)
        if code is None:
            raise ValueError(f"signals[{i}]={s!r}: expected 'buy'/'sell'/'hold' or 1/-1/0")
        codes[i] = code
    size = np.ones(raw.shape[0])
    if cfg.position_mode == "confidence":
        if confidence is None:
            raise ValueError("confidence: required with position_mode='confidence'")
        size = as_array(confidence, "confidence", allow_nan=False)
        check_same_length(signals=codes, confidence=size)
        if size.min() < 0 or size.max() > 1:
            raise ValueError("confidence: expected values in [0, 1]")
    short = cfg.position_mode == "long_short" or (cfg.position_mode == "confidence" and cfg.allow_short)
    target = np.where(codes == 1, size, np.where(codes == -1, -size if short else 0.0, np.nan))
    # hold (NaN) keeps the last decided position: forward fill.
    idx = np.where(np.isnan(target), -1, np.arange(target.shape[0]))
    last = np.maximum.accumulate(idx)
    return np.where(last >= 0, target[np.maximum(last, 0)], initial)


def performance_metrics(
    net_returns: np.ndarray, turnover: np.ndarray, exposure: np.ndarray, periods_per_year: int
) -> dict[str, float]:
    """Summary figures of a per-bar net simple-return series.

    Args:
        net_returns: per-bar net simple returns, shape ``(N,)``.
        turnover: per-bar turnover (sum of absolute position changes), shape ``(N,)``.
        exposure: per-bar gross exposure held over the bar, shape ``(N,)``; the hit rate counts bars with
            non-zero exposure only.
        periods_per_year: annualisation factor.

    Returns:
        ``net_return`` (total, compounded), ``annual_return`` (geometric), ``sharpe``, ``sortino``
        (annualised, zero risk-free rate), ``max_drawdown`` (a positive fraction), ``calmar``,
        ``turnover`` (total), ``annual_turnover``, ``hit_rate``, ``n_bars``. Ratios with a zero
        denominator are NaN.
    """
    n = net_returns.shape[0]
    equity = np.cumprod(1.0 + net_returns)
    final = float(equity[-1]) if n else 1.0
    with np.errstate(over="ignore"):  # a short, wild sample annualises to inf rather than raising
        annual = float(np.expm1(np.log(final) * periods_per_year / n)) if n and final > 0 else float("nan")
    mean, std = (float(net_returns.mean()), float(net_returns.std(ddof=1))) if n > 1 else (0.0, 0.0)
    downside = float(np.sqrt(np.mean(np.minimum(net_returns, 0.0) ** 2))) if n else 0.0
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))
    max_dd = float(np.max(1.0 - np.concatenate([[1.0], equity]) / peak))
    active = exposure != 0
    root = np.sqrt(periods_per_year)
    return {
        "net_return": final - 1.0,
        "annual_return": annual,
        "sharpe": float(mean / std * root) if std > 0 else float("nan"),
        "sortino": float(mean / downside * root) if downside > 0 else float("nan"),
        "max_drawdown": max_dd,
        "calmar": annual / max_dd if max_dd > 0 else float("nan"),
        "turnover": float(turnover.sum()),
        "annual_turnover": float(turnover.sum()) * periods_per_year / n if n else float("nan"),
        "hit_rate": float(np.mean(net_returns[active] > 0)) if active.any() else float("nan"),
        "n_bars": float(n),
    }


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """One backtest's series and figures.

    Attributes:
        net_returns: per-bar net simple returns realised at bars ``1 .. T-1``, shape ``(T-1,)``.
        gross_returns: the same before costs, shape ``(T-1,)``.
        equity: compounded net equity starting from 1 at bar 0, shape ``(T,)``.
        positions: the positions (or weights, ``(T, A)``) held from each decision time to the next bar.
        turnover: turnover charged at each bar ``1 .. T-1`` (decided at the bar before), shape ``(T-1,)``.
        metrics: :func:`performance_metrics` plus ``"config"``: the :class:`BacktestConfig` as a dict.
        index: the timestamps of the input, if a pandas object was given, else None.
    """

    net_returns: np.ndarray
    gross_returns: np.ndarray
    equity: np.ndarray
    positions: np.ndarray
    turnover: np.ndarray
    metrics: dict[str, Any]
    index: Any = None


def _common_index(positions: Any, returns: Any) -> Any:
    """The returns' pandas index; if both inputs carry one they must be equal (no silent realignment)."""
    index = getattr(returns, "index", None)
    other = getattr(positions, "index", None)
    if index is not None and other is not None and not index.equals(other):
        raise ValueError("positions and returns: pandas indexes differ; align them (decision time) first")
    return index


def run_backtest(positions: Any, returns: Any, config: BacktestConfig | None = None) -> BacktestResult:
    """Backtest one asset's positions, filled at the next bar.

    ``positions[t]`` is decided with data up to the close of bar ``t`` and earns the simple return of bar
    ``t+1``: ``net[t+1] = positions[t] * (exp(r[t+1]) - 1) - cost * |positions[t] - positions[t-1]|``
    (``positions[-1] = 0``). NaN positions keep the previous one (no decision).

    Args:
        positions: shape ``(T,)``, indexed by decision time (see :func:`signals_to_positions`).
        returns: hourly log returns ``r[t] = log(close[t] / close[t-1])``, shape ``(T,)``; ``r[0]`` is
            never used. NaN returns are allowed only where the held position is 0.
        config: costs and annualisation. Default: ``BacktestConfig()``.

    Returns:
        :class:`BacktestResult`; ``metrics`` carries the config.

    Raises:
        ValueError: lengths differ, pandas indexes differ, a non-zero position faces a NaN return, or a
            return is no one-bar log return (``|r| > 5``: prices or percent passed by mistake).

    Examples:
        >>> import numpy as np
        >>> res = run_backtest(np.array([1.0, 1.0, 0.0]), np.log([1.0, 1.1, 1.2]), BacktestConfig(fee_bps=0))
        >>> [round(float(x), 4) for x in res.net_returns]
        [0.1, 0.2]
    """
    cfg = config or BacktestConfig()
    index = _common_index(positions, returns)
    pos = as_array(positions, "positions")
    r = as_array(returns, "returns")
    check_same_length(positions=pos, returns=r)
    check_log_returns(r)
    idx = np.where(np.isnan(pos), -1, np.arange(pos.shape[0]))
    last = np.maximum.accumulate(idx)
    pos = np.where(last >= 0, pos[np.maximum(last, 0)], 0.0)
    held, nxt = pos[:-1], r[1:]  # position decided at t, return of bar t+1
    bad = np.isnan(nxt) & (held != 0)
    if bad.any():
        raise ValueError(f"returns: NaN at index {int(np.flatnonzero(bad)[0]) + 1} while a position is held")
    gross = held * np.expm1(np.nan_to_num(nxt))
    turnover = np.abs(np.diff(np.concatenate([[0.0], held])))
    net = gross - cfg.cost_rate * turnover
    metrics: dict[str, Any] = performance_metrics(net, turnover, held, cfg.periods_per_year)
    metrics["config"] = cfg.to_dict()
    equity = np.concatenate([[1.0], np.cumprod(1.0 + net)])
    return BacktestResult(net, gross, equity, pos, turnover, metrics, index)
