"""Small synthetic OHLCV frames for the data tests (imported by the test modules of tests/data)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def random_walk_frame(
    n: int = 300, *, seed: int = 0, start: str = "2021-01-01", step: str = "1h"
) -> pd.DataFrame:
    """A valid synthetic OHLCV frame in load_ohlcv's layout (for panel/feature/target tests)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.004, n)))
    volume = rng.uniform(10, 100, n)
    index = pd.date_range(start, periods=n, freq=step, tz="UTC", name="timestamp")
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume,
         "quote_volume": volume * close, "trades": rng.integers(100, 1000, n).astype(float)},
        index=index,
    )  # fmt: skip
    frame["suspicious"] = False
    frame["possibly_open"] = False
    frame.attrs["symbol"] = "SYN/USDT"
    return frame
