"""Market-data files for tests that run commands on files: bundled bars written as OHLCV CSVs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

OHLCV = ["open", "high", "low", "close", "volume"]


def write_bars(path: Path, frame: pd.DataFrame, *, shift: pd.Timedelta | None = None) -> Path:
    """``frame``'s OHLCV bars as a CSV with ISO timestamps (optionally shifted)."""
    out = frame[OHLCV].copy()
    out.index = out.index + shift if shift is not None else out.index
    out.insert(0, "timestamp", out.index.strftime("%Y-%m-%dT%H:%M:%SZ"))
    out.to_csv(path, index=False)
    return path


def btc_january_2020() -> pd.DataFrame:
    """BTC's bundled hourly bars of 2020-01-01 .. 2020-02-08 (no gap there)."""
    from ml_attention_mechanisms.data import load_dataset

    return load_dataset("binance-1h", symbols=["BTC/USDT"], start="2020-01-01", end="2020-02-08").to_frame(
        "BTC/USDT"
    )
