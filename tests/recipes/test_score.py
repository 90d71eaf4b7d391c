"""Scoring a run's strategies through the evaluation suite (references computed here)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ml_attention_mechanisms.recipes._data import DemoData
from ml_attention_mechanisms.recipes._score import score_strategies


def _fake_data(r: np.ndarray, test_start: int) -> DemoData:
    n = r.shape[0]
    ts = 1_600_000_000 // 86400 * 86400 + 3600 * np.arange(n, dtype=np.int64)
    prepared = SimpleNamespace(symbols=("BTC/USDT", "ETH/USDT"), timestamps=ts)
    return DemoData(prepared=prepared, split=None, returns=r, val_start=test_start // 2,
                    test_start=test_start, test_end=n)  # fmt: skip


def test_always_buy_signal_matches_buy_and_hold_but_for_the_entry_fee() -> None:
    from ml_attention_mechanisms.evaluation import BacktestConfig

    rng = np.random.default_rng(5)
    r = rng.normal(0.0002, 0.01, (1500, 2))
    data = _fake_data(r, 1000)
    out = score_strategies(data, {"BTC": np.ones(1500)}, None, config=BacktestConfig(fee_bps=0.0),
                           n_configs={"signal": 3}, n_boot=50)  # fmt: skip
    block = out["signal_BTC"]
    assert block["model"]["sharpe"] == pytest.approx(block["baselines"]["buy_and_hold"]["sharpe"], rel=1e-9)
    assert block["model"]["n_configs_tried"] == 3
    expected = np.exp(r[1001:, 0]).prod() - 1.0  # held from the close of the first test bar
    assert block["model"]["net_return"] == pytest.approx(expected, rel=1e-9)
