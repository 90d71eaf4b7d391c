"""load_ohlcv on the shared real exports (counts from the shared README) and on every format family."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_attention_mechanisms.data import DataValidationError, load_ohlcv
from ml_attention_mechanisms.data.loader import normalise_symbol

LoadReal = Callable[[str], pd.DataFrame]

# file -> (rows, distinct hours, first, last) as the shared README's table states them
REAL = {
    "Binance_BTCUSDT_1h.csv": (36062, 33413, "2017-08-17 04:00", "2021-06-10 00:00"),
    "Binance_ETHUSDT_1h.csv": (36062, 33413, "2017-08-17 04:00", "2021-06-10 00:00"),
    "Binance_BNBUSDT_1h.csv": (7478, 7478, "2020-08-01 23:00", "2021-06-10 00:00"),
    "Binance_ADAUSDT_1h.csv": (7478, 7478, "2020-08-01 23:00", "2021-06-10 00:00"),
    "Binance_LTCUSDT_1h.csv": (33236, 30587, "2017-09-22 19:00", "2021-06-10 00:00"),
    "Binance_BTCUSDT_d.csv": (1396, 1395, "2017-08-17 00:00", "2021-06-11 00:00"),
    "Binance_BNBUSDT_d.csv": (1272, 1272, "2017-12-18 00:00", "2021-06-11 00:00"),
}


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_file_rows_and_span(load_real: LoadReal, name: str) -> None:
    rows, distinct, first, last = REAL[name]
    df = load_real(name)
    rep = df.attrs["quality_report"]
    assert rep.rows_read == rows
    assert len(df) == distinct == rep.rows_kept
    assert rep.duplicates == rows - distinct
    assert df.index[0] == _ts(first) and df.index[-1] == _ts(last)
    assert (
        isinstance(df.index, pd.DatetimeIndex) and str(df.index.tz) == "UTC" and df.index.name == "timestamp"
    )
    assert df.index.is_monotonic_increasing and df.index.is_unique
    assert rep.reordered  # newest first in the file
    for col in ("open", "high", "low", "close", "volume", "quote_volume", "trades"):
        assert df[col].dtype == np.float64
    assert df.attrs["symbol"] == name.split("_")[1][:3] + "/USDT"
    assert df.attrs["timeframe"] == ("1h" if name.endswith("1h.csv") else "1d")
    # the report's gaps agree with the index itself
    step = 3600 if df.attrs["timeframe"] == "1h" else 86400
    span_bars = int((df.index[-1] - df.index[0]).total_seconds()) // step + 1
    assert rep.missing_bars == span_bars - len(df)


@pytest.mark.parametrize(
    "name", ["Binance_BTCUSDT_1h.csv", "Binance_ETHUSDT_1h.csv", "Binance_LTCUSDT_1h.csv"]
)
def test_real_overlap_keeps_complete_candle(load_real: LoadReal, name: str) -> None:
    df = load_real(name)
    rep = df.attrs["quality_report"]
    assert rep.duplicates == 2649
    overlap = df.loc["2020-08-01 23:00":"2020-11-20 07:00"]
    assert len(overlap) == 2649
    assert overlap["trades"].notna().all()  # the row with a trade count won every duplicated hour
    # the old export's unfinished last candle is the one conflict
    assert rep.conflicts == 1 and rep.conflict_times == ["2020-11-20 07:00"]


def test_real_btc_facts(load_real: LoadReal) -> None:
    df = load_real("Binance_BTCUSDT_1h.csv")
    rep = df.attrs["quality_report"]
    last = df.iloc[-1]
    assert last["trades"] == 10796 and last["close"] == 37584.76
    assert rep.possibly_open == "2021-06-10 00:00" and bool(last["possibly_open"])
    assert df["possibly_open"].sum() == 1
    # BTC's first candle at listing: high 16199.91 against a close of 4308.83
    assert rep.suspicious[0] == "2017-08-17 04:00" and bool(df["suspicious"].iloc[0])
    assert 117 <= rep.zero_volume_bars <= 132
    assert rep.date_column_disagreements > 0  # old rows' local-clock dates; unix used
    assert df.loc["2017-09-26 18:00", "close"] > 0  # a local-clock row sits at its unix hour


def test_real_zero_volume_counts(load_real: LoadReal) -> None:
    for name in ("Binance_BNBUSDT_1h.csv", "Binance_ADAUSDT_1h.csv"):
        assert load_real(name).attrs["quality_report"].zero_volume_bars == 2
    for name in ("Binance_ETHUSDT_1h.csv", "Binance_LTCUSDT_1h.csv"):
        df = load_real(name)
        zero = df[(df["volume"] == 0)]
        assert 117 <= len(zero) <= 132
        assert (zero["open"] == zero["close"]).all() and (zero["high"] == zero["low"]).all()
        assert df.attrs["quality_report"].zero_volume_bars == len(zero)


@pytest.mark.parametrize(
    "name", ["Binance_BTCUSDT_1h.csv", "Binance_LTCUSDT_1h.csv", "Binance_ADAUSDT_1h.csv"]
)
def test_real_placeholders_read_as_downtime(load_real: LoadReal, name: str) -> None:
    """The real exports' zero-volume placeholders are downtime (``missing_hours`` ``"auto"`` resolves to
    ``"absent"``: under ``NO_TRADE_SHARE`` of the hours, with room to spare), so the panel masks them and
    nothing is written; so are those of the worst 60 days of a file."""
    from ml_attention_mechanisms.data.loader import NO_TRADE_SHARE

    df = load_real(name)
    rep = df.attrs["quality_report"]
    assert rep.missing_hours == "absent" and rep.zero_volume_kept == 0 and not df["no_trades"].any()
    flat = ((df["volume"] == 0) & (df["open"] == df["close"]) & (df["high"] == df["low"])).to_numpy()
    run = pd.Series(flat).groupby((~pd.Series(flat)).cumsum()).transform("sum")  # the run each row is in
    short = pd.Series(flat & (run.to_numpy() < 24))  # a run of a day or more stays masked in any case
    assert short.rolling(60 * 24).mean().max() < NO_TRADE_SHARE / 2


def test_real_ltc_damaged_unix_and_orphan(load_real: LoadReal) -> None:
    df = load_real("Binance_LTCUSDT_1h.csv")
    rep = df.attrs["quality_report"]
    # recent rows: unix damaged (1.62E+12), time from date+time (24-hour); old rows: 12-hour clock, unix used
    assert rep.timestamps_from_date > 7000 and rep.date_column_disagreements > 10000
    # the orphan first candle followed by a 1,951-hour gap
    assert rep.longest_gap == 1951 and rep.longest_gap_start == "2017-09-22 20:00"
    # the README's example: '20-11-20,12:00:00' is midnight (unix 1605830400)
    assert _ts("2020-11-20 00:00") in df.index
    assert df.index[-1] == _ts("2021-06-10 00:00") and df.iloc[-1]["close"] == 170.89


def test_real_ltc_read_back_and_saved_by_pandas(
    load_real: LoadReal, shared_dir: Path, tmp_path: Path
) -> None:
    """``pd.read_csv`` then ``to_csv`` turns the damaged ``1.62E+12`` into ``1620000000000.0``, repeated on
    hundreds of rows: still damaged, the times still come from the date and time columns, the same candles.
    An intact unix value with few digits on one row (``1566000000``, whose date has a 12-hour clock) stays."""
    original = load_real("Binance_LTCUSDT_1h.csv")
    path = tmp_path / "Binance_LTCUSDT_1h.csv"
    pd.read_csv(shared_dir / "Binance_LTCUSDT_1h.csv").to_csv(path, index=False)
    assert "1620000000000.0," in path.read_text()[:2000]
    again = load_ohlcv(path)
    pd.testing.assert_index_equal(again.index, original.index)
    for col in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(again[col].to_numpy(), original[col].to_numpy(), err_msg=col)
    assert _ts("2019-08-17 00:00") in again.index  # 1566000000 (its date says 12:00, a 12-hour clock)


# ---------------------------------------------------------------- format families (small written fixtures)

_A_ROWS = [
    ("1623283200000", "2021-06-10 00:00:00", "1.5", "2.0", "1.4", "1.9", "100", "190", "10"),
    ("1623279600000", "2021-06-09 23:00:00", "1.4", "1.6", "1.3", "1.5", "120", "180", "12"),
    ("1623276000.0", "2021-06-09 10-PM", "1.3", "1.5", "1.2", "1.4", "130", "170", "NULL"),
    ("1623272400.0", "2021-06-09 09-PM", "1.2", "1.4", "1.1", "1.3", "110", "140", "NULL"),
]


def _write_a(path: Path, *, banner: bool = False, headers: str = "unix,date,symbol") -> Path:
    head = f"{headers},open,high,low,close,Volume XRP,Volume USDT,tradecount"
    lines = (["Timestamps are UTC timezone,https://www.CryptoDataDownload.com"] if banner else []) + [head]
    lines += [",".join((r[0], r[1], "XRP/USDT", *r[2:])) for r in _A_ROWS]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("banner", [False, True])
@pytest.mark.parametrize("headers", ["unix,date,symbol", "Unix Timestamp,Date,Symbol"])
def test_cryptodatadownload_variants(tmp_path: Path, banner: bool, headers: str) -> None:
    df = load_ohlcv(_write_a(tmp_path / "x.csv", banner=banner, headers=headers))
    rep = df.attrs["quality_report"]
    assert rep.banner_lines == int(banner)
    assert list(df.index) == [_ts("2021-06-09 21:00") + pd.Timedelta(hours=h) for h in range(4)]
    assert df.attrs["symbol"] == "XRP/USDT" and df.attrs["timeframe"] == "1h"
    assert df["volume"].tolist() == [110, 130, 120, 100]  # "Volume XRP" is the base volume
    assert df["quote_volume"].tolist() == [140, 170, 180, 190]
    assert np.isnan(df["trades"].iloc[0]) and df["trades"].iloc[-1] == 10
    assert rep.reordered and rep.date_column_disagreements == 0


def test_format_b_damaged_unix_and_twelve_hour_clock(tmp_path: Path) -> None:
    # recent rows: damaged unix, 24-hour time; old rows: intact unix, 12-hour clock without AM/PM
    text = """unix,date,time,symbol,open,high,low,close,Volume LTC,Volume USDT,tradecount
1.61E+12,20-11-20,14:00:00,LTC/USDT,10,11,9,10.5,5,50,7
1.61E+12,20-11-20,13:00:00,LTC/USDT,10,11,9,10,5,50,7
1605877200,20-11-20,01:00:00,LTC/USDT,10,11,9,10,5,50,NULL
1605873600,20-11-20,12:00:00,LTC/USDT,10,11,9,10,5,50,NULL
"""
    df = load_ohlcv(_write(tmp_path / "b.csv", text))
    rep = df.attrs["quality_report"]
    assert list(df.index) == [_ts("2020-11-20 12:00"), _ts("2020-11-20 13:00"), _ts("2020-11-20 14:00")]
    assert (
        rep.duplicates == 1
    )  # 13:00 from the damaged row and from the intact unix (1 PM on a 12-hour clock)
    assert df.loc[_ts("2020-11-20 13:00"), "trades"] == 7  # the complete candle (with a trade count) kept
    assert rep.timestamps_from_date == 2 and rep.date_column_disagreements == 1  # 1 PM written as 01:00


def test_binance_klines_without_header_ms_and_us(tmp_path: Path) -> None:
    rows = []
    for i in range(5):
        t = 1_600_000_000 + 3600 * i
        rows.append(f"{t * 1000},1.0,1.2,0.9,1.1,{10 + i},{t * 1000 + 3_599_999},{11 + i},{100 + i},5,5,0")
    df = load_ohlcv(_write(tmp_path / "BTCUSDT-1h-2020-09.csv", "\n".join(rows) + "\n"))
    assert df.attrs["quality_report"].format == "binance-klines"
    assert df.index[0] == pd.Timestamp(1_600_000_000, unit="s", tz="UTC") and len(df) == 5
    assert df["quote_volume"].tolist() == [11, 12, 13, 14, 15] and df["trades"].tolist() == [
        100,
        101,
        102,
        103,
        104,
    ]
    assert df.attrs["symbol"] == "BTC/USDT" and not df.attrs["quality_report"].reordered
    # Binance's newer files carry microseconds
    us = [
        r.replace(str(1_600_000_000 + 3600 * i) + "000", str(1_600_000_000 + 3600 * i) + "000000", 1)
        for i, r in enumerate(rows)
    ]
    df_us = load_ohlcv(_write(tmp_path / "ETHUSDT-1h.csv", "\n".join(us) + "\n"))
    assert (df_us.index == df.index).all()


def test_a_zip_of_one_file_is_read_and_other_zips_are_refused(tmp_path: Path) -> None:
    """Binance's kline downloads come as ``BTCUSDT-1h-2020-09.zip`` holding one CSV: read as that CSV. A ZIP of
    several files, an Excel workbook (a ZIP too) and a damaged archive are refused naming the file."""
    import zipfile

    rows = [
        f"{(1_600_000_000 + 3600 * i) * 1000},1.0,1.2,0.9,1.1,{10 + i},{(1_600_000_000 + 3600 * i) * 1000 + 3_599_999},"
        f"{11 + i},{100 + i},5,5,0"
        for i in range(5)
    ]
    text = "\n".join(rows) + "\n"
    csv_path = _write(tmp_path / "BTCUSDT-1h-2020-09.csv", text)
    with zipfile.ZipFile(tmp_path / "BTCUSDT-1h-2020-09.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("BTCUSDT-1h-2020-09.csv", text)
    zipped = load_ohlcv(tmp_path / "BTCUSDT-1h-2020-09.zip")
    pd.testing.assert_frame_equal(zipped, load_ohlcv(csv_path))
    assert zipped.attrs["symbol"] == "BTC/USDT" and zipped.attrs["quality_report"].format == "binance-klines"
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as z:
        z.writestr("a.csv", text)
        z.writestr("b.csv", text)
    with zipfile.ZipFile(tmp_path / "book.xlsx", "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
    (tmp_path / "cut.zip").write_bytes((tmp_path / "BTCUSDT-1h-2020-09.zip").read_bytes()[:40])
    for name, pattern in (
        ("two.zip", r"two\.zip: a ZIP archive of 2 files \(a\.csv, b\.csv\); expected one file per archive"),
        (
            "book.xlsx",
            r"book\.xlsx: an Excel workbook; expected CSV, Parquet, Feather or JSON \(save the sheet as CSV\)",
        ),
        ("cut.zip", r"cut\.zip: damaged ZIP archive .*; expected a complete \.zip"),
    ):
        with pytest.raises(DataValidationError, match=pattern):
            load_ohlcv(tmp_path / name)


def test_generic_csv_iso_dates_and_gzip(tmp_path: Path) -> None:
    text = "Date,Open,High,Low,Close,Volume\n" + "\n".join(
        f"2022-01-0{d}T00:00:00Z,{d},{d + 1},{d - 0.5},{d + 0.5},{d * 10}" for d in range(1, 6)
    )
    plain = load_ohlcv(_write(tmp_path / "eth.csv", text), symbol="ETH/USD")
    assert plain.attrs["timeframe"] == "1d" and plain.attrs["symbol"] == "ETH/USD"
    assert plain["quote_volume"].isna().all() and plain["trades"].isna().all()
    gz = tmp_path / "eth.csv.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    zipped = load_ohlcv(gz, symbol="ETH/USD")
    pd.testing.assert_frame_equal(plain, zipped, check_exact=True)


def test_parquet_with_datetime_index_and_with_int_column(tmp_path: Path) -> None:
    idx = pd.date_range("2021-03-01", periods=6, freq="4h", tz="UTC", name="timestamp")
    frame = pd.DataFrame(
        {"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 3.0, "trades": 7}, index=idx
    )
    frame.to_parquet(tmp_path / "a.parquet")
    df = load_ohlcv(tmp_path / "a.parquet", symbol="SOLUSDT")
    assert (df.index == idx).all() and df.attrs["timeframe"] == "4h" and df.attrs["symbol"] == "SOL/USDT"
    assert df.attrs["quality_report"].format == "parquet"
    gz = tmp_path / "a.parquet.gz"
    gz.write_bytes(gzip.compress((tmp_path / "a.parquet").read_bytes()))
    assert (load_ohlcv(gz).index == idx).all()
    ints = frame.reset_index(drop=True).assign(open_time=(idx.asi8 // 10**6))  # ms
    ints.to_parquet(tmp_path / "b.parquet")
    assert (load_ohlcv(tmp_path / "b.parquet").index == idx).all()
    frame.assign(high=0.1).to_parquet(tmp_path / "c.parquet")
    with pytest.raises(
        DataValidationError, match=r"c\.parquet, row 1, column 'high': high 0\.1 is below low"
    ):
        load_ohlcv(tmp_path / "c.parquet")


def test_duplicates_prefer_trade_count_then_volume(tmp_path: Path) -> None:
    text = """timestamp,open,high,low,close,volume,trades
1600000000,1,2,0.5,1.5,10,
1600000000,1,2,0.5,1.9,8,40
1600003600,1,2,0.5,1.5,10,
1600003600,1,2,0.5,1.5,12,
1600007200,1,2,0.5,1.5,10,3
"""
    df = load_ohlcv(_write(tmp_path / "d.csv", text))
    rep = df.attrs["quality_report"]
    assert df["close"].iloc[0] == 1.9 and df["volume"].iloc[1] == 12
    assert rep.duplicates == 2 and rep.conflicts == 2  # close +27%; volume +20%


def test_zero_volume_and_open_candle_flags(tmp_path: Path) -> None:
    t0 = 1_600_000_000
    rows = [f"{t0 + 3600 * i},1,1.1,0.9,1,100,1000" for i in range(30)]
    rows[10] = f"{t0 + 36000},1,1,1,1,0,0"  # downtime placeholder
    rows.append(f"{t0 + 3600 * 30},1,1.1,0.9,1,5,20")  # taken mid-bar
    df = load_ohlcv(_write(tmp_path / "z.csv", "unix,open,high,low,close,volume,trades\n" + "\n".join(rows)))
    rep = df.attrs["quality_report"]
    assert rep.zero_volume_bars == 1 and len(df) == 31  # kept, counted
    assert rep.possibly_open == pd.Timestamp(t0 + 3600 * 30, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M")
    assert df["possibly_open"].tolist() == [False] * 30 + [True]


def test_normalise_symbol() -> None:
    assert normalise_symbol("btcusdt") == normalise_symbol("BTC-USDT") == "BTC/USDT"
    assert normalise_symbol("ETHBTC") == "ETH/BTC"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_other_exchange_quotes_and_month_first_dates(tmp_path: Path) -> None:
    # e.g. a Coinbase-style export quoted in BTC, with US month-first dates (13th day disambiguates)
    text = """Unix Timestamp,Date,Symbol,Open,High,Low,Close,Volume ETH,Volume BTC
,01/13/2021 02:00,ETHBTC,0.031,0.032,0.030,0.031,10,0.31
,01/13/2021 01:00,ETHBTC,0.030,0.031,0.029,0.031,12,0.36
"""
    df = load_ohlcv(_write(tmp_path / "Coinbase_ETHBTC_1h.csv", text))
    rep = df.attrs["quality_report"]
    assert df.attrs["symbol"] == "ETH/BTC" and df["volume"].tolist() == [12, 10]
    assert df.index[0] == _ts("2021-01-13 01:00") and rep.timestamps_from_date == 2


def test_twelve_hour_clock_in_date_rows_is_warned(tmp_path: Path) -> None:
    rows = [
        f"1.61E+12,{d:02d}-03-21,{h:02d}:00:00,LTC/USDT,1,2,0.5,1.5,5,7.5,3"
        for d in range(2, 6)
        for h in range(1, 13)
    ]
    df = load_ohlcv(
        _write(
            tmp_path / "b12.csv",
            "unix,date,time,symbol,open,high,low,close,Volume LTC,Volume USDT,tradecount\n" + "\n".join(rows),
        )
    )
    assert any("12-hour clock" in w for w in df.attrs["quality_report"].warnings)


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_other_field_separators(tmp_path: Path, sep: str) -> None:
    rows = ["timestamp,open,high,low,close,volume"] + [
        f"{1_600_000_000 + 3600 * i},1,2,0.5,1.5,3" for i in range(3)
    ]
    df = load_ohlcv(_write(tmp_path / "s.csv", "\n".join(r.replace(",", sep) for r in rows)))
    assert len(df) == 3 and df["high"].tolist() == [2, 2, 2]
