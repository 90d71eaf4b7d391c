"""Every kind of invalid input gives a DataValidationError naming file, line, column and expectation."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_attention_mechanisms.data import DataValidationError, QualityReport, load_ohlcv, validate_ohlcv

HEADER = "unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT,tradecount"
GOOD = [
    "1623283200000,2021-06-10 00:00:00,BTC/USDT,10,12,9,11,5,55,3",
    "1623279600000,2021-06-09 23:00:00,BTC/USDT,10,12,9,10,5,50,3",
    "1623276000000,2021-06-09 22:00:00,BTC/USDT,10,12,9,10,5,50,3",
]


def _file(tmp_path: Path, rows: list[str], header: str = HEADER, name: str = "p.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


BAD_ROWS = {
    # case: (bad row replacing GOOD[1], column in message, words in message)
    "number": (
        "1623279600000,2021-06-09 23:00:00,BTC/USDT,10,1x2,9,10,5,50,3",
        "open|high",
        "'1x2' is not a number",
    ),
    "missing": ("1623279600000,2021-06-09 23:00:00,BTC/USDT,10,12,9,,5,50,3", "close", "missing value"),
    "timestamp": ("16232x,2021-06-09 23:00:00,BTC/USDT,10,12,9,10,5,50,3", "unix", "not a unix timestamp"),
    "date": ("1.62E+12,2021-13-45 23:00:00,BTC/USDT,10,12,9,10,5,50,3", "date", "not a recognised date"),
    "nonpositive": ("1623279600000,2021-06-09 23:00:00,BTC/USDT,0,12,9,10,5,50,3", "open", "not positive"),
    "negative": ("1623279600000,2021-06-09 23:00:00,BTC/USDT,-10,12,9,10,5,50,3", "open", "not positive"),
    "high_low": ("1623279600000,2021-06-09 23:00:00,BTC/USDT,10,8,9,10,5,50,3", "high", "below low"),
    "open_range": (
        "1623279600000,2021-06-09 23:00:00,BTC/USDT,13,12,9,10,5,50,3",
        "open",
        "outside [low, high]",
    ),
    "close_range": (
        "1623279600000,2021-06-09 23:00:00,BTC/USDT,10,12,9,8.5,5,50,3",
        "close",
        "outside [low, high]",
    ),
    "volume": ("1623279600000,2021-06-09 23:00:00,BTC/USDT,10,12,9,10,-5,50,3", "Volume BTC", "negative"),
    "implausible_time": ("-5,2021-06-09 23:00:00,BTC/USDT,10,12,9,10,5,50,3", "unix", "outside 1990..2100"),
    "damaged_disagrees": ("1.50E+12,2021-06-09 23:00:00,BTC/USDT,10,12,9,10,5,50,3", "date", "disagrees"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_bad_row_raises_with_file_line_column(tmp_path: Path, case: str) -> None:
    row, column, words = BAD_ROWS[case]
    path = _file(tmp_path, [GOOD[0], row, GOOD[2]])
    with pytest.raises(DataValidationError) as info:
        load_ohlcv(path)
    msg = str(info.value)
    assert isinstance(info.value, ValueError)
    assert msg.startswith(f"{path}, line 3, column ")
    assert info.value.line == 3 and info.value.path == str(path)
    assert any(f"column {c!r}" in msg for c in column.split("|")), msg
    assert words in msg


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_errors_drop_lists_the_dropped_rows(tmp_path: Path, case: str) -> None:
    path = _file(tmp_path, [GOOD[0], BAD_ROWS[case][0], GOOD[2]])
    df = load_ohlcv(path, errors="drop")
    rep = df.attrs["quality_report"]
    assert len(df) == 2 and rep.rows_read == 3 and rep.rows_kept == 2
    assert len(rep.dropped) == 1 and rep.dropped[0].startswith("line 3, column ")


def test_several_bad_rows_counted_in_message(tmp_path: Path) -> None:
    bad = BAD_ROWS["high_low"][0]
    path = _file(tmp_path, [GOOD[0], bad, bad.replace("1623279600000", "1623276000000")])
    with pytest.raises(
        DataValidationError, match=r"line 3.*\(1 more invalid rows; errors='drop' drops them\)"
    ):
        load_ohlcv(path)


def test_damaged_unix_without_date_column(tmp_path: Path) -> None:
    path = _file(tmp_path, ["1.62E+12,10,12,9,11,5"], header="unix,open,high,low,close,volume")
    with pytest.raises(DataValidationError, match=r"line 2, column 'unix': damaged unix value '1.62E\+12'"):
        load_ohlcv(path)


def test_missing_required_column(tmp_path: Path) -> None:
    path = _file(tmp_path, ["1623283200,10,12,9,5"], header="unix,open,high,low,volume")
    with pytest.raises(DataValidationError, match=r"column 'close': required column missing"):
        load_ohlcv(path)
    two = _file(tmp_path, ["2021-01-01,5"], header="date,close", name="two.csv")
    with pytest.raises(DataValidationError, match=r"two\.csv, column 'open': required column missing"):
        load_ohlcv(two)
    no_time = _file(
        tmp_path, ["10,12,9,11,5"], header="foo,open,high,low,close,volume".replace("foo,", ""), name="t.csv"
    )
    no_time.write_text("open,high,low,close,volume\n10,12,9,11,5\n")
    with pytest.raises(DataValidationError, match=r"column 'timestamp': no timestamp column"):
        load_ohlcv(no_time)


def test_empty_header_only_truncated_binary(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataValidationError, match=r"empty\.csv: file is empty"):
        load_ohlcv(empty)
    header_only = _file(tmp_path, [], name="h.csv")
    with pytest.raises(DataValidationError, match="no data rows"):
        load_ohlcv(header_only)
    truncated = tmp_path / "trunc.csv"
    truncated.write_text("\n".join([HEADER, *GOOD[:2], GOOD[2][:20]]))
    with pytest.raises(
        DataValidationError, match=r"line 4: has 2 fields, expected 10 .*\(truncated file\?\)"
    ):
        load_ohlcv(truncated)
    assert len(load_ohlcv(truncated, errors="drop")) == 2
    binary = tmp_path / "model.pt"
    binary.write_bytes(b"\x80\x04\x95\x00\x00\x00binary")
    with pytest.raises(DataValidationError, match="not a text file"):
        load_ohlcv(binary)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("unix,open\n1,\xe9\n".encode("latin-1"))
    with pytest.raises(DataValidationError, match="not UTF-8 text"):
        load_ohlcv(latin)
    broken_gz = tmp_path / "b.csv.gz"
    broken_gz.write_bytes(gzip.compress(("\n".join([HEADER, *GOOD]) + "\n").encode())[:30])
    with pytest.raises(DataValidationError, match="damaged gzip"):
        load_ohlcv(broken_gz)


def test_missing_file_and_bad_errors_argument(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        load_ohlcv(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match=r"errors='ignore'; expected 'raise' or 'drop'"):
        load_ohlcv(_file(tmp_path, GOOD), errors="ignore")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load_ohlcv(tmp_path)


def test_validate_ohlcv_on_a_frame() -> None:
    idx = pd.date_range("2021-01-01", periods=6, freq="1h", tz="UTC", name="timestamp").delete([2, 3])
    df = pd.DataFrame(
        {"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": [0.0, 1, 1, 1]}, index=idx
    )
    rep = validate_ohlcv(df)
    assert isinstance(rep, QualityReport)
    assert (rep.missing_bars, rep.gaps, rep.longest_gap, rep.zero_volume_bars) == (2, 1, 2, 1)
    assert rep.longest_gap_start == "2021-01-01 02:00" and rep.timeframe == "1h"
    with pytest.raises(DataValidationError, match="column 'close': required column missing"):
        validate_ohlcv(df.drop(columns="close"))
    with pytest.raises(DataValidationError, match="ascending and unique"):
        validate_ohlcv(df.iloc[::-1])
    assert QualityReport.from_dict(rep.to_dict()) == rep
    assert "missing bars      2 in 1 gaps" in rep.format_text()


def test_data_layer_imports_pandas_only_when_used(
    modules_loaded_by: Callable[[str, tuple[str, ...]], list[str]],
) -> None:
    statements = "import ml_attention_mechanisms as m; m.load_ohlcv; m.prepare_panel; m.load_dataset"
    assert modules_loaded_by(statements, ("pandas",)) == []


def _hourly(volume: np.ndarray, close: np.ndarray) -> pd.DataFrame:
    idx = pd.date_range("2021-01-01", periods=volume.size, freq="1h", tz="UTC", name="timestamp")
    return pd.DataFrame({"open": close, "high": close * 1.01, "low": close * 0.99, "close": close,
                         "volume": volume}, index=idx)  # fmt: skip


def test_a_change_of_volume_units_is_a_volume_break() -> None:
    """Volume in the base currency, then in the quote currency from bar 1000 (x the price, about 370): one
    break, at that bar, named with the price hint; back to base units: 1/370; none for a file's genuine
    weeks of 10 times the usual volume, nor for zero volumes."""
    rng = np.random.default_rng(4)
    n = 2400
    close = 370.0 * np.exp(np.cumsum(rng.normal(0, 0.005, n)))
    base = np.exp(rng.normal(np.log(1500.0), 0.8, n))
    switched = np.where(np.arange(n) < 1000, base, base * close)
    rep = validate_ohlcv(_hourly(switched, close))
    assert rep.volume_breaks == ["2021-02-11 16:00"]  # bar 1000
    (warning,) = rep.warnings
    assert "the week from 2021-02-11 16:00 trades" in warning and "from the base currency's units" in warning
    back = validate_ohlcv(_hourly(np.where(np.arange(n) < 1000, base * close, base), close))
    assert back.volume_breaks == ["2021-02-11 16:00"] and "trades 1/" in back.warnings[0]
    surge = base * np.where((np.arange(n) >= 1000) & (np.arange(n) < 1168), 10.0, 1.0)
    surge[::50] = 0.0  # zero-volume bars are left out of the medians
    assert validate_ohlcv(_hourly(surge, close)).volume_breaks == []
    assert validate_ohlcv(_hourly(switched[:300], close[:300])).volume_breaks == []  # under two weeks


@pytest.mark.parametrize("name", ["Binance_BTCUSDT_1h.csv", "Binance_ETHUSDT_1h.csv", "Binance_LTCUSDT_1h.csv",
                                  "Binance_BNBUSDT_1h.csv", "Binance_ADAUSDT_1h.csv", "Binance_BTCUSDT_d.csv"])  # fmt: skip
def test_real_exports_have_no_volume_break(shared_dir: Path, name: str) -> None:
    """Years of real trading, listings included (their adjacent weeks' medians differ at most 5.6-fold):
    no break at the 100-fold level."""
    assert load_ohlcv(shared_dir / name).attrs["quality_report"].volume_breaks == []
