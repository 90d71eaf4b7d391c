"""Bars on a grid offset from the UTC epoch multiples (hourly bars opening at :30), the time-source wording
of the report, and a directory given as a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _data_fixtures import random_walk_frame

from ml_attention_mechanisms.data import align, load_ohlcv, parse_timeframe, resample_ohlcv
from ml_attention_mechanisms.data.validation import DataValidationError

HALF_HOUR = 1800


def _csv(path: Path, frame: pd.DataFrame, *, unix: bool = True) -> Path:
    """``frame`` written as a plain CSV: a ``unix`` column in ms, or only an ISO ``timestamp`` column."""
    out = frame[["open", "high", "low", "close", "volume"]].copy()
    if unix:
        out.insert(0, "unix", out.index.as_unit("s").asi8 * 1000)
    else:
        out.insert(0, "timestamp", out.index.strftime("%Y-%m-%dT%H:%M:%SZ"))
    out.to_csv(path, index=False)
    return path


def _half_hour(n: int = 48, seed: int = 0) -> pd.DataFrame:
    frame = random_walk_frame(n, seed=seed)
    frame.index = frame.index + pd.Timedelta(seconds=HALF_HOUR)
    return frame


def test_constant_offset_is_accepted_and_reported(tmp_path: Path) -> None:
    df = load_ohlcv(_csv(tmp_path / "BTCUSDT_1h.csv", _half_hour()))
    rep = df.attrs["quality_report"]
    assert rep.timeframe == "1h" and rep.grid_offset_seconds == HALF_HOUR and rep.off_grid == 0
    assert rep.warnings == []
    assert "grid offset       30min" in rep.format_text() and "off-grid" not in rep.format_text()
    on_hour = load_ohlcv(_csv(tmp_path / "ETHUSDT_1h.csv", random_walk_frame(48))).attrs["quality_report"]
    assert on_hour.grid_offset_seconds == 0 and "grid offset" not in on_hour.format_text()


def test_mixed_offsets_name_the_first_off_grid_row(tmp_path: Path) -> None:
    frame = _half_hour()
    frame.index = frame.index.where(np.arange(len(frame)) != 10, frame.index[10] + pd.Timedelta(minutes=10))
    path = _csv(tmp_path / "BTCUSDT_1h.csv", frame)
    df = load_ohlcv(path)
    rep = df.attrs["quality_report"]
    assert rep.grid_offset_seconds == HALF_HOUR and rep.off_grid == 1
    # row 10 of the data is line 12 of the file (header on line 1)
    assert any("first: line 12, 2021-01-01 10:40:00" in w for w in rep.warnings), rep.warnings
    with pytest.raises(DataValidationError, match=r"2021-01-01 10:40:00\+00:00 is not on the 1h grid") as err:
        align([df])
    assert str(path) in str(err.value) and "1800 s" in str(err.value)


def test_align_keeps_a_common_offset(tmp_path: Path) -> None:
    a = load_ohlcv(_csv(tmp_path / "BTCUSDT_1h.csv", _half_hour(seed=1)))
    b = load_ohlcv(_csv(tmp_path / "ETHUSDT_1h.csv", _half_hour(30, seed=2)))
    panel = align([a, b])
    expected = a.index.as_unit("s").asi8
    assert np.array_equal(panel.timestamps, expected) and (panel.timestamps % 3600 == HALF_HOUR).all()
    assert np.array_equal(panel.close[:, 0], a["close"].to_numpy())
    assert np.array_equal(panel.close[:30, 1], b["close"].to_numpy()) and not panel.mask[30:, 1].any()
    clipped = align([a, b], start="2021-01-01 05:00", end="2021-01-01 09:59")
    assert [pd.Timestamp(t, unit="s").strftime("%H:%M") for t in clipped.timestamps] == [
        "05:30", "06:30", "07:30", "08:30", "09:30",
    ]  # fmt: skip


def test_align_refuses_assets_on_different_offsets(tmp_path: Path) -> None:
    a_path = _csv(tmp_path / "BTCUSDT_1h.csv", _half_hour())
    b_path = _csv(tmp_path / "ETHUSDT_1h.csv", random_walk_frame(48))
    with pytest.raises(DataValidationError) as err:
        align([load_ohlcv(a_path), load_ohlcv(b_path)])
    msg = str(err.value)
    for part in ("ETH/USDT", str(b_path), "BTC/USDT", str(a_path), "1800 s", "0 s", "different offsets"):
        assert part in msg, msg


@pytest.mark.parametrize("timeframe", ["4h", "1d"])
def test_resample_keeps_the_offset(tmp_path: Path, timeframe: str) -> None:
    df = load_ohlcv(_csv(tmp_path / "BTCUSDT_1h.csv", _half_hour(24 * 3 + 5)))
    out = resample_ohlcv(df, timeframe)
    k = parse_timeframe(timeframe) // 3600
    # by hand: consecutive groups of k bars starting at the first bar whose open is 00:30 past a boundary
    first = int(np.flatnonzero((df.index.hour % k == 0) & (df.index.minute == 30))[0])
    rows = []
    for s in range(first, len(df) - k + 1, k):
        g = df.iloc[s : s + k]
        rows.append((g.index[0], g["open"].iloc[0], g["high"].max(), g["low"].min(), g["close"].iloc[-1],
                     g["volume"].sum()))  # fmt: skip
    assert list(out.index) == [r[0] for r in rows] and all(t.minute == 30 for t in out.index)
    for col, i in (("open", 1), ("high", 2), ("low", 3), ("close", 4), ("volume", 5)):
        np.testing.assert_allclose(out[col].to_numpy(), [r[i] for r in rows], rtol=1e-12)


def test_time_source_wording(tmp_path: Path) -> None:
    iso = load_ohlcv(_csv(tmp_path / "BTCUSDT_1h.csv", random_walk_frame(30), unix=False))
    rep = iso.attrs["quality_report"]
    text = rep.format_text()
    assert rep.time_column == "timestamp" and rep.date_column is None and rep.timestamps_from_date == 0
    assert "time from         column 'timestamp'" in text
    assert "damaged or missing unix" not in text and "date disagrees" not in text
    cdd = tmp_path / "cdd.csv"
    cdd.write_text(
        "unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT\n"
        "1.62E+12,2021-06-10 00:00:00,BTC/USDT,10,12,9,11,5,55\n"
        "1623279600000,2021-06-09 23:00:00,BTC/USDT,10,12,9,10,5,50\n"
    )
    rep = load_ohlcv(cdd).attrs["quality_report"]
    assert (rep.time_column, rep.date_column, rep.timestamps_from_date) == ("unix", "date", 1)
    assert "time from date    1 rows (damaged or missing unix)" in rep.format_text()


def test_directory_is_an_os_error_not_invalid_data(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError, match=f"{tmp_path}: is a directory") as err:
        load_ohlcv(tmp_path)
    assert not isinstance(err.value, DataValidationError)
