"""Volatility targeting of a run's strategies, chosen on the validation split only.

The signal strategy holds ``direction x min(1, target_vol / forecast_vol)`` (direction: the signal model's
long/flat decision; forecast vol: the price model's calibrated 24-bar variance, HAR-RV's when the run has
no price model), with a no-trade band; the portfolio scales the portfolio model's weights to the target
volatility (the assets' variance forecasts and their 30-day correlation) under a gross exposure of 1. The
target volatility and the band come from a small grid (:attr:`~.config.DemoConfig.target_vols` x
:attr:`~.config.DemoConfig.bands`): the pair with the highest net Sharpe after costs on the validation
split (pooled over the seen assets for the signal strategies), chosen the same way, each for itself, for the
volatility-targeted baselines (buy-and-hold sized by HAR-RV; equal weight and risk parity). The test split
is never read here. A run stores the choice (``calibration.json`` ``sizing``); ``evaluate`` applies it.

A strategy model's decisions must earn their place against the decisions of no model, sized the same way
by the same forecasts (:data:`NULL_STRATEGIES`): long on every bar for the signal strategy
(``signal_long``), equal weights over the listed assets for the portfolio (``portfolio_equal_weight``).
Each gets its own pair on the validation split, and the strategy holds it instead of the model's
decisions when its best validation net Sharpe is higher (:attr:`Sizing.holds`), as the price model's
residual weight chosen on validation can leave the variance anchor alone. How far validation tells the two
apart, a paired block-bootstrap interval of the difference, is stored beside the choice
(:attr:`Sizing.margins`).

Every strategy starts flat at the first bar of its span and decides at the close of each bar with the
forecasts made then; the engine fills at the next bar.

Shapes:
    T: bars; A: assets.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..evaluation.backtest import BacktestConfig, VolTargetConfig
from ._data import HORIZON, DemoData, asset_column, first_bar, listed_mask

__all__ = [
    "ALWAYS_LONG",
    "EQUAL_ALLOCATION",
    "NULL_STRATEGIES",
    "PORTFOLIO_BASELINES",
    "SIGNAL_BASELINE",
    "Sizing",
    "always_long",
    "asset_variances",
    "best_score",
    "choose_sizing",
    "equal_allocation",
    "held_portfolio",
    "held_signal",
    "sized_portfolio",
    "sized_signal",
]

SIGNAL_BASELINE = "buy_and_hold_vol_target"
PORTFOLIO_BASELINES = ("equal_weight_vol_target", "risk_parity_vol_target")
ALWAYS_LONG = "signal_long"  # long on every bar, sized like the signal strategy
EQUAL_ALLOCATION = "portfolio_equal_weight"  # equal weights sized like the portfolio model's
NULL_STRATEGIES = {"signal": (ALWAYS_LONG, "always_long"), "portfolio": (EQUAL_ALLOCATION, "equal_weight")}


@dataclass(eq=False)
class Sizing:
    """The sizing of each strategy and volatility-targeted baseline, and how it was chosen.

    Attributes:
        chosen: ``"signal"``, ``"portfolio"``, each null strategy's and each baseline's name -> its
            :class:`VolTargetConfig`.
        validation: the same keys -> one row per candidate with its validation net Sharpe.
        variance_source: what sized the model's strategies.
        chosen_on: the period the choice read.
        margins: strategy kind -> its model's best validation net Sharpe minus its null strategy's, with a
            90% block-bootstrap interval (:func:`~..evaluation.significance.block_bootstrap_sharpe_difference`,
            both at their chosen sizing, on the same resampled bars): how far the validation split can tell
            them apart.
    """

    chosen: dict[str, VolTargetConfig]
    validation: dict[str, list[dict[str, Any]]]
    variance_source: str
    chosen_on: str
    margins: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": {k: v.to_dict() for k, v in self.chosen.items()},
            "chosen_on": self.chosen_on,
            "variance_source": self.variance_source,
            "holds": self.holds,
            "margins": self.margins,
            "validation": self.validation,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sizing:
        chosen = {k: VolTargetConfig.from_dict(dict(v)) for k, v in data["chosen"].items()}
        return cls(chosen, dict(data.get("validation", {})), str(data.get("variance_source", "")),
                   str(data.get("chosen_on", "")), dict(data.get("margins", {})))  # fmt: skip

    @property
    def n_candidates(self) -> int:
        """Configurations tried per strategy (they deflate the Sharpe ratios)."""
        return max((len(v) for v in self.validation.values()), default=1)

    @property
    def holds(self) -> dict[str, str]:
        """Strategy kind (``"signal"``, ``"portfolio"``) -> what it holds: ``"model"``, or the null strategy's
        name (``"always_long"``, ``"equal_weight"``) where that had the higher best validation net Sharpe,
        sized the same way (a tie, or a run that compared none, keeps the model)."""
        out = {}
        for kind, (key, name) in NULL_STRATEGIES.items():
            model, null = best_score(self.validation.get(kind, ())), best_score(self.validation.get(key, ()))
            out[kind] = name if np.isfinite(null) and not null <= model else "model"
        return out


def best_score(rows: Sequence[Mapping[str, Any]]) -> float:
    """The highest finite ``score`` of a validation table (NaN: none)."""
    scores = [float(r["score"]) for r in rows if np.isfinite(float(r["score"]))]
    return max(scores) if scores else float("nan")


def asset_variances(assets: Mapping[str, Mapping[str, np.ndarray]], data: DemoData) -> tuple[np.ndarray, str]:
    """``(variance [T, A], source)``: each asset's 24-bar variance forecast in the panel's column order, the
    price model's calibrated one where the run has it, HAR-RV's (on the asset's own bars) otherwise."""
    from ..evaluation.baselines import har_rv_forecast

    out = np.full(data.returns.shape, np.nan)
    sources = set()
    for col, symbol in enumerate(data.symbols):
        name = next((a for a in assets if asset_column(data, a) == col), None)
        if name is not None and "variance" in assets[name]:
            out[:, col] = assets[name]["variance"]
            sources.add("the price model's calibrated 24-bar variance")
            continue
        first = first_bar(data, col)
        own = data.returns[first:, col]
        if own.shape[0] >= 2160:
            out[first:, col] = har_rv_forecast(own, horizon=HORIZON, min_train=2160, start=0)
            sources.add(f"HAR-RV ({symbol}: no price-model forecast)")
    return out, "; ".join(sorted(sources))


def sized_signal(signal: np.ndarray, variance: np.ndarray, span: slice, cfg: VolTargetConfig,
                 backtest: BacktestConfig) -> np.ndarray:  # fmt: skip
    """Positions ``[T]`` (0 outside ``span``): the signal model's decisions mapped by the backtest config
    (long/flat: buy = 1, sell = 0, hold keeps), starting flat at ``span.start``, sized by ``variance``."""
    from ..evaluation.backtest import signals_to_positions, vol_target_positions

    out = np.zeros(signal.shape[0])
    codes = np.nan_to_num(signal[span], nan=0.0).astype(np.int64)
    direction = signals_to_positions(codes, backtest)
    out[span] = vol_target_positions(direction, variance[span], cfg)
    return out


def sized_portfolio(weights: np.ndarray, variance: np.ndarray, data: DemoData, span: slice,
                    cfg: VolTargetConfig, backtest: BacktestConfig) -> np.ndarray:  # fmt: skip
    """The portfolio model's weights at the rebalance bars of ``span`` scaled to the target volatility
    (NaN elsewhere and where the band keeps the held weights), ``[T, A]``."""
    from ..evaluation.backtest import rebalance_mask, vol_target_weights
    from ..evaluation.baselines import listed_correlation

    rows = np.flatnonzero(np.asarray(rebalance_mask(data.timestamps, backtest), dtype=bool))
    rows = rows[(rows >= span.start) & (rows < span.stop) & np.isfinite(weights[rows]).all(axis=1)]
    w = np.full(weights.shape, np.nan)
    w[rows] = weights[rows]
    corr = listed_correlation(data.returns, rows, listed=listed_mask(data))
    return vol_target_weights(w, variance, corr, cfg)


def equal_allocation(weights: np.ndarray, data: DemoData) -> np.ndarray:
    """Equal weights over the assets listed at each row where ``weights`` ``[T, A]`` has a decision (NaN
    elsewhere): the allocation the portfolio model's weights are compared with."""
    listed = listed_mask(data).astype(np.float64)
    rows = np.isfinite(weights).all(axis=1) & (listed.sum(axis=1) > 0)
    out = np.full(weights.shape, np.nan)
    out[rows] = listed[rows] / listed[rows].sum(axis=1, keepdims=True)
    return out


def held_portfolio(
    weights: np.ndarray, data: DemoData, sizing: Sizing, holds: str
) -> tuple[np.ndarray, VolTargetConfig]:
    """``(weights [T, A], sizing)`` the portfolio holds: equal weights for ``holds="equal_weight"`` (the
    choice :attr:`Sizing.holds` made on validation), the model's otherwise."""
    if holds == "equal_weight":
        return equal_allocation(weights, data), sizing.chosen[EQUAL_ALLOCATION]
    return weights, sizing.chosen["portfolio"]


def always_long(signal: np.ndarray) -> np.ndarray:
    """Buy on every bar, shaped like ``signal`` ``[T]``: the decisions the signal model's are compared with."""
    return np.ones_like(signal, dtype=np.float64)


def held_signal(signal: np.ndarray, sizing: Sizing, holds: str) -> tuple[np.ndarray, VolTargetConfig]:
    """``(signal [T], sizing)`` the signal strategy holds: buy on every bar for ``holds="always_long"`` (the
    choice :attr:`Sizing.holds` made on validation), the model's decisions otherwise."""
    if holds == "always_long":
        return always_long(signal), sizing.chosen[ALWAYS_LONG]
    return signal, sizing.chosen["signal"]


def _sharpe(run: Callable[..., Any], *args: Any) -> float:
    """The net Sharpe of the backtest ``run(*args)`` (NaN for a flat strategy: never chosen)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(run(*args).metrics["sharpe"])


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def choose_sizing(
    signals: Mapping[str, np.ndarray],
    weights: np.ndarray | None,
    variance: tuple[np.ndarray, str],
    data: DemoData,
    seen: Sequence[str],
    candidates: Sequence[VolTargetConfig],
    backtest: BacktestConfig,
    *,
    baselines: bool = True,
) -> Sizing:
    """Each strategy's and baseline's sizing, the candidate with the best validation net Sharpe.

    Args:
        signals: asset -> the signal model's decisions ``[T]`` (NaN = hold).
        weights: the portfolio model's weights ``[T, A]`` at the rebalance bars, or None.
        variance: :func:`asset_variances`.
        seen: the assets the signal strategies' choice pools over (the run's training assets).
        candidates: the grid.
        baselines: size the volatility-targeted baselines and the null strategies (:data:`NULL_STRATEGIES`)
            too (False: the model's strategies only).
    """
    from ..evaluation.backtest import choose_vol_target
    from ..evaluation.baselines import listed_har_rv_forecast

    span = slice(int(data.val_start), int(data.test_start))
    var, source = variance
    pool = [a for a in signals if a in seen] or list(signals)
    har = listed_har_rv_forecast(
        data.returns, listed_mask(data), start=span.start
    )  # once for every candidate

    def buy_and_hold(c: VolTargetConfig) -> float:
        return _mean([_sharpe(_buy_and_hold, data, a, span, c, backtest, har) for a in pool])

    def baseline(name: str) -> Callable[[VolTargetConfig], float]:
        return lambda c: _sharpe(_baseline_portfolio, data, name, span, c, backtest, har)

    def signal(signals: Mapping[str, np.ndarray]) -> Callable[[VolTargetConfig], float]:
        return lambda c: _mean(
            [_sharpe(_signal_run, signals[a], var, data, a, span, c, backtest) for a in pool]
        )

    def portfolio(w: np.ndarray) -> Callable[[VolTargetConfig], float]:
        return lambda c: _sharpe(_portfolio_run, w, var, data, span, c, backtest)

    scores: dict[str, Callable[[VolTargetConfig], float]] = {
        **({"signal": signal(signals)} if pool else {}),
        **(
            {ALWAYS_LONG: signal({a: always_long(s) for a, s in signals.items()})}
            if pool and baselines
            else {}
        ),
        **({"portfolio": portfolio(weights)} if weights is not None else {}),
        **(
            {EQUAL_ALLOCATION: portfolio(equal_allocation(weights, data))}
            if weights is not None and baselines
            else {}
        ),
        **({SIGNAL_BASELINE: buy_and_hold} if baselines else {}),
        **({name: baseline(name) for name in PORTFOLIO_BASELINES} if baselines else {}),
    }
    chosen, tables = {}, {}
    for name, score in scores.items():
        chosen[name], tables[name] = choose_vol_target(candidates, score)
    margins = _margins(signals, weights, var, data, span, pool, chosen, backtest)
    period = data.split.describe(data.timestamps).get("val", ("", "", 0))
    return Sizing(chosen, tables, source, f"validation {period[0]} .. {period[1]} (net Sharpe after costs)",
                  margins)  # fmt: skip


def _margins(
    signals: Mapping[str, np.ndarray], weights: np.ndarray | None, var: np.ndarray, data: DemoData, span: slice,
    pool: Sequence[str], chosen: Mapping[str, VolTargetConfig], backtest: BacktestConfig,
) -> dict[str, dict[str, float]]:  # fmt: skip
    """Strategy kind -> its model's validation net Sharpe minus its null strategy's, both at their chosen
    sizing, with a 90% block-bootstrap interval (:attr:`Sizing.margins`)."""
    margins: dict[str, dict[str, float]] = {}  # each strategy model against its null, both at their sizing
    if pool and "signal" in chosen and ALWAYS_LONG in chosen:

        def signal_returns(decisions: Mapping[str, np.ndarray], name: str) -> np.ndarray:  # (N, assets)
            runs = [_signal_run(decisions[a], var, data, a, span, chosen[name], backtest) for a in pool]
            return np.stack([r.net_returns for r in runs], axis=1)

        longs = {a: always_long(s) for a, s in signals.items()}
        margins["signal"] = _margin(
            signal_returns(signals, "signal"), signal_returns(longs, ALWAYS_LONG), backtest
        )
    if weights is not None and "portfolio" in chosen and EQUAL_ALLOCATION in chosen:

        def portfolio_returns(w: np.ndarray, name: str) -> np.ndarray:  # (N,)
            return np.asarray(_portfolio_run(w, var, data, span, chosen[name], backtest).net_returns)

        equal = portfolio_returns(equal_allocation(weights, data), EQUAL_ALLOCATION)
        margins["portfolio"] = _margin(portfolio_returns(weights, "portfolio"), equal, backtest)
    return margins


def _margin(model: np.ndarray, null: np.ndarray, backtest: BacktestConfig) -> dict[str, float]:
    """The model's validation net Sharpe minus its null strategy's, with its 90% block-bootstrap interval."""
    from ..evaluation.significance import block_bootstrap_sharpe_difference

    with warnings.catch_warnings():  # a flat strategy has no Sharpe ratio: NaN, reported as such
        warnings.simplefilter("ignore", RuntimeWarning)
        return block_bootstrap_sharpe_difference(
            model, null, confidence=0.9, periods_per_year=backtest.periods_per_year
        )


def _signal_run(signal: np.ndarray, var: np.ndarray, data: DemoData, asset: str, span: slice,
                cfg: VolTargetConfig, backtest: BacktestConfig) -> Any:  # fmt: skip
    from ..evaluation.backtest import run_backtest

    col = asset_column(data, asset)
    pos = sized_signal(signal, var[:, col], span, cfg, backtest)
    return run_backtest(pos[span], data.returns[span, col], backtest)


def _buy_and_hold(data: DemoData, asset: str, span: slice, cfg: VolTargetConfig, backtest: BacktestConfig,
                  har: np.ndarray) -> Any:  # fmt: skip
    from ..evaluation.backtest import run_backtest
    from ..evaluation.baselines import vol_target_buy_and_hold_positions

    col = asset_column(data, asset)
    first = first_bar(data, col)
    own = data.returns[first:, col]
    start = max(span.start - first, 0)
    pos = vol_target_buy_and_hold_positions(own, cfg, start=start, variance=har[first:, col])
    return run_backtest(pos[start : span.stop - first], own[start : span.stop - first], backtest)


def _portfolio_run(weights: np.ndarray, var: np.ndarray, data: DemoData, span: slice, cfg: VolTargetConfig,
                   backtest: BacktestConfig) -> Any:  # fmt: skip
    from ..evaluation.backtest import run_portfolio_backtest

    w = sized_portfolio(weights, var, data, span, cfg, backtest)
    return run_portfolio_backtest(w[span], data.returns[span], backtest)


def _baseline_portfolio(data: DemoData, name: str, span: slice, cfg: VolTargetConfig, backtest: BacktestConfig,
                        har: np.ndarray) -> Any:  # fmt: skip
    from ..evaluation.backtest import rebalance_mask, run_portfolio_backtest
    from ..evaluation.baselines import vol_target_portfolio_weights

    mask = np.asarray(rebalance_mask(data.timestamps, backtest), dtype=bool).copy()
    mask[: span.start] = False
    mask[span.stop :] = False
    w = vol_target_portfolio_weights(data.returns, mask, cfg, allocation=name.removesuffix("_vol_target"),
                                     listed=listed_mask(data), variance=har)  # fmt: skip
    return run_portfolio_backtest(w[span], data.returns[span], backtest)
