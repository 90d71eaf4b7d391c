"""Other data for a run's models: OHLCV files checked and prepared with the run's statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _market_files import btc_january_2020, write_bars
from ml_attention_mechanisms.data import load_dataset, prepare_panel
from ml_attention_mechanisms.recipes._data import MIN_HISTORY
from ml_attention_mechanisms.recipes._files import load_files_panel, predict_history


def test_load_files_panel_refuses_bad_ranges(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT_1h.csv"
    t = 1_600_000_000 // 3600 * 3600 + 3600 * np.arange(60)
    close = 100 + np.arange(60.0)
    rows = [f"{a},{c},{c + 1},{c - 1},{c},10" for a, c in zip(t, close)]
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="after --end"):
        load_files_panel([path], scaler={}, window=16, start="2021-01-02", end="2021-01-01")
    with pytest.raises(ValueError, match="fewer than the window"):
        load_files_panel([path], scaler={}, window=64)
    with pytest.raises(ValueError, match="HAR-RV"):
        load_files_panel([path], scaler={}, window=16)


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    return btc_january_2020()


def test_predict_history_is_the_feature_warm_up_plus_the_window(btc: pd.DataFrame) -> None:
    panel = load_dataset("binance-1h", symbols=["BTC/USDT"], start="2020-01-01", end="2020-02-08")
    prepared = prepare_panel(panel)
    scaler = prepared.scaler.to_dict()
    need, warm = predict_history(scaler, 64)
    # reference: the first bar of the (gap-free) real data whose features are finite
    first_featured = int(np.flatnonzero(prepared.mask[0])[0])
    assert panel.mask.all() and warm == first_featured and need == warm + 63
    assert need < MIN_HISTORY  # far less than the baselines' history


def test_predict_needs_only_its_own_history(tmp_path: Path, btc: pd.DataFrame) -> None:
    scaler = prepare_panel(
        load_dataset("binance-1h", symbols=["BTC/USDT"], end="2019-12-31")
    ).scaler.to_dict()
    window = 32
    need, _ = predict_history(scaler, window)
    n = need + 40  # fewer than the baselines' 755 bars: evaluate refuses, predict forecasts
    path = write_bars(tmp_path / "BTCUSDT_1h.csv", btc.iloc[:n])
    with pytest.raises(ValueError, match=f"the baselines need {MIN_HISTORY} bars"):
        load_files_panel([path], scaler=scaler, window=window)
    data = load_files_panel([path], scaler=scaler, window=window, predict=True)
    assert data.test_start == need and data.prepared.mask[0, need - window + 1 :].all()
    late = str(btc.index[n - 1])
    data = load_files_panel([path], scaler=scaler, window=window, predict=True, start=late)
    assert data.test_start == n - 1  # the newest bar alone can be predicted
    early = str(btc.index[need - 1])
    with pytest.raises(ValueError) as err:
        load_files_panel([path], scaler=scaler, window=window, predict=True, start=early)
    msg = str(err.value)
    assert f"only {need - 1} bars of the data before it; a forecast needs {need}" in msg
    assert f"model's {window}-bar window must lie after the features' {need - window + 1}-bar warm-up" in msg
    assert "baseline" not in msg
    short = write_bars(tmp_path / "ETHUSDT_1h.csv", btc.iloc[:need])
    with pytest.raises(ValueError, match=f"{need} bars; a forecast needs {need} bars of history"):
        load_files_panel([short], scaler=scaler, window=window, predict=True)


def test_the_default_start_leaves_30_days_of_bars_with_a_candle(tmp_path: Path) -> None:
    """A file shorter than HAR-RV's 90 days plus 30 scored days starts where 720 bars with features (a
    candle, and the candles its features need) stay to score: hours missing near its end move the start
    earlier, so the default never scores too few."""
    from ml_attention_mechanisms.recipes._data import HORIZON, MIN_SCORED_BARS

    n = 2100
    frame = load_dataset("binance-1h", symbols=["LTC/USDT"], start="2020-01-01").to_frame("LTC/USDT").iloc[:n]
    assert frame["close"].notna().all()
    gone = np.r_[1500:1506, 1800:1804, 2000:2003]  # three gaps of 6, 4 and 3 hours in the last 720 bars
    path = write_bars(tmp_path / "SOLUSDT_1h.csv", frame.drop(frame.index[gone]))
    scaler = prepare_panel(
        load_dataset("binance-1h", symbols=["BTC/USDT"], end="2019-12-31")
    ).scaler.to_dict()
    data = load_files_panel([path], scaler=scaler, window=16, missing_hours="absent")
    first, grid = data.test_start, int(data.timestamps.size)
    held = np.asarray(data.prepared.mask[0, first : grid - HORIZON])  # bars with features: those scored
    assert int(held.sum()) == MIN_SCORED_BARS and held[0]  # the latest start that leaves 720 to score
    assert grid - HORIZON - first >= MIN_SCORED_BARS + gone.size  # earlier than the grid alone would say
