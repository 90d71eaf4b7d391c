"""Shared helpers of the recipes' tests."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ml_attention_mechanisms.recipes._data import DemoData


def fake_data(r: np.ndarray, test_start: int) -> DemoData:
    """A two-asset run's data (BTC, ETH) of hourly bars from a midnight: returns ``r`` ``[T, 2]``, every bar
    priced, validation from ``test_start // 2``, test from ``test_start`` to the end."""
    n = r.shape[0]
    ts = 1_600_000_000 // 86400 * 86400 + 3600 * np.arange(n, dtype=np.int64)
    prepared = SimpleNamespace(symbols=("BTC/USDT", "ETH/USDT"), timestamps=ts, close=np.ones((2, n)))
    return DemoData(prepared=prepared, split=None, returns=r, val_start=test_start // 2,
                    test_start=test_start, test_end=n)  # fmt: skip
