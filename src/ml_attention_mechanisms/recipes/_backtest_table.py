"""A table of positions, signals or portfolio weights backtested through the evaluation layer's engine
(``run_backtest``, ``run_portfolio_backtest``): what ``mlattn backtest`` runs on a file or on a run's outputs.

Input table (CSV or Parquet), one row per bar and asset, indexed by decision time::

    timestamp, [symbol], position | signal, close | return, [portfolio_weight]

``position`` is held from the close of bar ``t`` to the close of ``t+1``; ``signal`` (buy/sell/hold or
1/-1/0) is mapped to positions by the config; ``return`` is the bar's log return ``log(close_t/close_t-1)``.
Positions lie in ``[-1, 1]``; a NaN position or numeric signal is no decision (the previous position is
kept); one row per bar and symbol (duplicates are refused, not dropped); a NaN close or return is allowed
only where no position is held over it.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .._import_guard import needs_extra
from ..evaluation.backtest import BacktestConfig

__all__ = ["backtest_table", "read_table"]


def read_table(path: str | Path) -> Any:
    """A CSV or Parquet file as a DataFrame with a UTC ``timestamp`` column.

    Raises:
        FileNotFoundError: no such file.
        ValueError: another suffix, or no ``timestamp`` column.
    """
    with needs_extra("data"):
        import pandas as pd
        import pyarrow  # noqa: F401 - read_parquet's engine

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"--signals: file not found: {p}")
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ValueError(f"--signals {p}: expected a .csv or .parquet file")
    try:
        frame = pd.read_csv(p) if suffix == ".csv" else pd.read_parquet(p)
    except (ValueError, OSError, UnicodeDecodeError) as exc:  # empty, binary, malformed (pandas/pyarrow)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"--signals {p}: cannot read it as {suffix[1:].upper()} ({first})") from None
    if "timestamp" not in frame.columns:
        raise ValueError(
            f"--signals {p}: no 'timestamp' column (columns: {', '.join(map(str, frame.columns))})"
        )
    ts = frame["timestamp"]
    if pd.api.types.is_numeric_dtype(ts):
        stamps = pd.to_datetime(ts, unit="s", utc=True, errors="coerce")
    else:
        stamps = pd.to_datetime(ts, utc=True, errors="coerce")
    bad = np.flatnonzero(stamps.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        at = f"line {i + 2}" if suffix == ".csv" else f"row {i + 1}"
        raise ValueError(
            f"--signals {p}: {at}, column 'timestamp': {ts.iloc[i]!r} is not a date/time "
            "(expected ISO 8601 or Unix seconds)"
        )
    frame["timestamp"] = stamps
    return frame


def _numbers(group: Any, column: str, where: str) -> np.ndarray:
    """A column as float64; a cell that is no number (an empty cell is NaN) is refused, named."""
    with needs_extra("data"):
        import pandas as pd

    raw = group[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy() & raw.notna().to_numpy())
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{where}, column {column!r}: {raw.iloc[i]!r} at {group['timestamp'].iloc[i]} is not a number"
        )
    return np.asarray(values, dtype=np.float64)


def _returns(group: Any, where: str) -> np.ndarray:
    """The bars' log returns: the ``return`` column, else from ``close`` (positive prices; NaN = missing)."""
    if "return" in group.columns:
        return _numbers(group, "return", where)
    if "close" in group.columns:
        close = _numbers(group, "close", where)
        bad = np.flatnonzero(close <= 0)
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"{where}, column 'close': {close[i]:g} at {group['timestamp'].iloc[i]}; expected a positive price"
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.diff(np.log(close), prepend=np.nan)  # NaN next to a missing close
    raise ValueError(f"{where}: needs a 'close' or 'return' column")


def _check_rows(group: Any, where: str) -> None:
    dup = group["timestamp"].duplicated(keep=False).to_numpy()
    if dup.any():
        first = group["timestamp"].iloc[int(np.flatnonzero(dup)[0])]
        raise ValueError(
            f"{where}: {int(dup.sum())} rows share a timestamp (first: {first}); "
            "expected one row per bar (and symbol)"
        )


def _check_positions(pos: np.ndarray, group: Any, where: str) -> None:
    bad = np.flatnonzero(np.abs(pos) > 1.0)  # NaN compares False: NaN = no decision, allowed
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{where}, column 'position': {pos[i]:g} at {group['timestamp'].iloc[i]}; expected a value in "
            "[-1, 1] (1 = fully long, -1 = fully short, NaN = no decision)"
        )


def _run(pos: np.ndarray, r: np.ndarray, cfg: BacktestConfig, group: Any, where: str) -> Any:
    from ..evaluation.backtest import run_backtest

    try:
        return run_backtest(pos, r, cfg)
    except ValueError as exc:
        m = re.search(r"NaN at index (\d+)", str(exc))
        if m is None:
            raise
        at = group["timestamp"].iloc[int(m.group(1))]
        raise ValueError(
            f"{where}: no return for the bar at {at} (a missing or NaN close/return) while a position is held; "
            "fill the price or hold no position over it"
        ) from None


def backtest_table(
    frame: Any, config: BacktestConfig | None = None, *, n_configs: int = 1, n_boot: int = 1000
) -> dict[str, Any]:
    """Backtest every asset's positions (and the portfolio weights when given) of a table.

    Args:
        frame: see the module docstring.
        config: the costs and position rules. Default: ``BacktestConfig()`` (10 bps, long/flat, daily 00:00).
        n_configs: configurations tried, reported beside each Sharpe (and deflating it).
        n_boot: bootstrap draws of the Sharpe interval.

    Returns:
        ``{"backtest_config": {...}, "assets": {symbol: scores}, "portfolio": scores (if weights)}``.

    Raises:
        ValueError: no position/signal column, no close/return, a cell that is no number, a non-positive
            close, two rows of one symbol at one timestamp, a position outside ``[-1, 1]``, or a NaN
            close/return under a held position (each message names the symbol, column and time).
    """
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
    for symbol, group in frame.sort_values("timestamp", kind="stable").groupby("symbol", sort=True):
        where = f"symbol {symbol}"
        _check_rows(group, where)
        r = _returns(group, where)
        rets[str(symbol)] = group.set_index("timestamp")
        rets[str(symbol)]["_r"] = r
        pos = _positions(group, cfg, where)
        if pos is None:
            continue
        res = _run(pos, r, cfg, group, where)
        out["assets"][str(symbol)] = _strategy_scores(res, n_configs=n_configs, n_boot=n_boot)
    if "portfolio_weight" in frame.columns and len(rets) > 1:
        res = _run_portfolio(rets, cfg)
        out["portfolio"] = _strategy_scores(res, n_configs=n_configs, n_boot=n_boot)
    return out


def _strategy_scores(res: Any, **kwargs: Any) -> dict[str, Any]:
    from ..evaluation.scorecards import strategy_scores

    with warnings.catch_warnings():  # a flat strategy: no Sharpe, its interval is NaN (reported as null)
        warnings.filterwarnings("ignore", message="All-NaN slice", category=RuntimeWarning)
        return strategy_scores(res, **kwargs)


def _positions(group: Any, cfg: BacktestConfig, where: str) -> np.ndarray | None:
    """One symbol's positions: its ``position`` column (checked), else its signals mapped by the config;
    None when it has neither (a portfolio-weights table)."""
    from ..evaluation.backtest import signals_to_positions

    if "position" in group.columns:
        pos = _numbers(group, "position", where)
        _check_positions(pos, group, where)
        return pos
    if "signal" in group.columns:
        sig = group["signal"]
        if sig.dtype.kind in "biuf":
            sig = np.nan_to_num(np.asarray(sig, dtype=np.float64), nan=0.0).astype(np.int64)
        conf = np.asarray(group["confidence"], dtype=np.float64) if "confidence" in group.columns else None
        return signals_to_positions(np.asarray(sig), cfg, confidence=conf)
    return None


def _weights_and_returns(rets: dict[str, Any]) -> tuple[Any, np.ndarray]:
    """The symbols' weights (rows: the union of their timestamps) and returns ``[T, A]``: an hour an asset
    has no row (a gap) has no return, its jump booked at its next row, and keeps its last weight."""
    with needs_extra("data"):
        import pandas as pd

    w = pd.DataFrame(
        {
            s: pd.Series(_numbers(g.reset_index(), "portfolio_weight", f"symbol {s}"), index=g.index)
            for s, g in rets.items()
        }
    )
    big = np.abs(w.to_numpy(dtype=np.float64)) > 1.0
    if big.any():
        t, a = (int(x[0]) for x in np.nonzero(big))
        raise ValueError(
            f"symbol {w.columns[a]}, column 'portfolio_weight': {w.iat[t, a]:g} at {w.index[t]}; expected a "
            "weight in [-1, 1] (a fraction of the portfolio)"
        )
    r = pd.DataFrame({s: g["_r"] for s, g in rets.items()}).reindex(w.index)
    # a row of its own with no return (NaN close) is refused by the engine where a weight is held
    absent = (
        pd.DataFrame({s: pd.Series(True, index=g.index) for s, g in rets.items()}).reindex(w.index).isna()
    )
    w = w.where(~absent, w.mask(absent).ffill())  # an absent asset's decision: keep its last weight
    r_arr = np.where(absent.to_numpy(), 0.0, r.to_numpy(dtype=np.float64))
    first = np.zeros_like(r_arr, dtype=bool)  # each asset's first row has no previous close
    for a, (_, g) in enumerate(rets.items()):
        first[w.index.get_loc(g.index[0]), a] = True
    return w, np.where(first, 0.0, r_arr)


def _run_portfolio(rets: dict[str, Any], cfg: BacktestConfig) -> Any:
    """The portfolio of the table's weights, rebalanced on the config's schedule."""
    with needs_extra("data"):
        import pandas as pd

    from ..evaluation.backtest import rebalance_mask, run_portfolio_backtest

    w, r_arr = _weights_and_returns(rets)
    seconds = np.asarray(
        pd.DatetimeIndex(w.index).as_unit("s").asi8, dtype=np.int64
    )  # any unit (us from CSV)
    mask = np.asarray(rebalance_mask(seconds, cfg), dtype=bool)
    weights = w.to_numpy(dtype=np.float64)
    decided = mask & np.isfinite(weights).any(axis=1)
    weights = np.where(decided[:, None], np.nan_to_num(weights, nan=0.0), np.nan)
    try:
        return run_portfolio_backtest(weights, r_arr, cfg)
    except ValueError as exc:
        m = re.search(r"NaN at row (\d+)", str(exc))
        if m is None:
            raise
        t = int(m.group(1))
        held = [str(c) for c, v in zip(w.columns, np.isnan(r_arr[t])) if v]
        raise ValueError(
            f"portfolio: no return for {', '.join(held)} at {w.index[t]} (a NaN close/return) while it has a "
            "weight; fill the price or give it no weight"
        ) from None
