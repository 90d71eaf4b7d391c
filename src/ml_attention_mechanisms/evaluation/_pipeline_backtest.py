"""The backtest alone (``mlattn backtest``): positions or signals from a file, or a run's outputs, through
the evaluation layer's engine (:func:`.backtest.run_backtest`, :func:`.backtest_portfolio.run_portfolio_backtest`).

Input table (CSV or Parquet), one row per bar and asset, indexed by decision time::

    timestamp, [symbol], position | signal, close | return, [portfolio_weight]

``position`` is held from the close of bar ``t`` to the close of ``t+1``; ``signal`` (buy/sell/hold or
1/-1/0) is mapped to positions by the config; ``return`` is the bar's log return ``log(close_t/close_t-1)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["backtest_table", "read_table"]


def read_table(path: str | Path) -> Any:
    """A CSV or Parquet file as a DataFrame with a UTC ``timestamp`` column.

    Raises:
        FileNotFoundError: no such file.
        ValueError: another suffix, or no ``timestamp`` column.
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"--signals: file not found: {p}")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        frame = pd.read_csv(p)
    elif suffix == ".parquet":
        frame = pd.read_parquet(p)
    else:
        raise ValueError(f"--signals {p}: expected a .csv or .parquet file")
    if "timestamp" not in frame.columns:
        raise ValueError(
            f"--signals {p}: no 'timestamp' column (columns: {', '.join(map(str, frame.columns))})"
        )
    ts = frame["timestamp"]
    if pd.api.types.is_numeric_dtype(ts):
        frame["timestamp"] = pd.to_datetime(ts, unit="s", utc=True)
    else:
        frame["timestamp"] = pd.to_datetime(ts, utc=True)
    return frame


def _returns(group: Any, where: str) -> np.ndarray:
    if "return" in group.columns:
        return np.asarray(group["return"], dtype=np.float64)
    if "close" in group.columns:
        close = np.asarray(group["close"], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.diff(np.log(close), prepend=np.nan)
        return np.where(np.isfinite(r), r, np.nan)
    raise ValueError(f"{where}: needs a 'close' or 'return' column")


def backtest_table(
    frame: Any, config: Any = None, *, n_configs: int = 1, n_boot: int = 1000
) -> dict[str, Any]:
    """Backtest every asset's positions (and the portfolio weights when given) of a table.

    Args:
        frame: see the module docstring.
        config: :class:`.backtest.BacktestConfig`. Default: its defaults (10 bps, long/flat, daily 00:00).
        n_configs: configurations tried, reported beside each Sharpe (and deflating it).
        n_boot: bootstrap draws of the Sharpe interval.

    Returns:
        ``{"backtest_config": {...}, "assets": {symbol: scores}, "portfolio": scores (if weights)}``.

    Raises:
        ValueError: no position/signal column, no close/return, NaN return under a held position.
    """
    import warnings

    from .backtest import BacktestConfig, run_backtest, signals_to_positions
    from .backtest_portfolio import run_portfolio_backtest
    from .scorecards import strategy_scores as _scores

    def strategy_scores(res: Any, **kwargs: Any) -> dict[str, Any]:
        with warnings.catch_warnings():  # a flat strategy: no Sharpe, its interval is NaN (reported as null)
            warnings.filterwarnings("ignore", message="All-NaN slice", category=RuntimeWarning)
            return _scores(res, **kwargs)

    cfg = config or BacktestConfig()
    if (
        "position" not in frame.columns
        and "signal" not in frame.columns
        and "portfolio_weight" not in frame.columns
    ):
        raise ValueError("the table needs a 'position', 'signal' or 'portfolio_weight' column")
    if "symbol" not in frame.columns:
        frame = frame.assign(symbol="asset")
    out: dict[str, Any] = {"backtest_config": cfg.to_dict(), "assets": {}}
    rets: dict[str, Any] = {}
    for symbol, group in frame.sort_values("timestamp").groupby("symbol", sort=True):
        group = group.drop_duplicates("timestamp", keep="last")
        r = _returns(group, f"symbol {symbol}")
        rets[str(symbol)] = group.set_index("timestamp")
        rets[str(symbol)]["_r"] = r
        if "position" in group.columns:
            pos = np.asarray(group["position"], dtype=np.float64)
        elif "signal" in group.columns:
            sig = group["signal"]
            if sig.dtype.kind in "biuf":
                sig = np.nan_to_num(np.asarray(sig, dtype=np.float64), nan=0.0).astype(np.int64)
            conf = (
                np.asarray(group["confidence"], dtype=np.float64) if "confidence" in group.columns else None
            )
            pos = signals_to_positions(np.asarray(sig), cfg, confidence=conf)
        else:
            continue
        res = run_backtest(pos, np.where(np.isfinite(r), r, 0.0), cfg)
        out["assets"][str(symbol)] = strategy_scores(res, n_configs=n_configs, n_boot=n_boot)
    if "portfolio_weight" in frame.columns and len(rets) > 1:
        import pandas as pd

        w = pd.DataFrame({s: g["portfolio_weight"] for s, g in rets.items()})
        r = pd.DataFrame({s: g["_r"] for s, g in rets.items()}).reindex(w.index)
        from .backtest_portfolio import rebalance_mask

        mask = np.asarray(rebalance_mask(np.asarray(w.index.asi8 // 10**9, dtype=np.int64), cfg), dtype=bool)
        weights = w.to_numpy(dtype=np.float64)
        decided = mask & np.isfinite(weights).any(axis=1)
        weights = np.where(decided[:, None], np.nan_to_num(weights, nan=0.0), np.nan)
        res = run_portfolio_backtest(weights, np.nan_to_num(r.to_numpy(dtype=np.float64)), cfg)
        out["portfolio"] = strategy_scores(res, n_configs=n_configs, n_boot=n_boot)
    return out
