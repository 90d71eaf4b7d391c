"""load_ohlcv on export variants: each built in tmp_path from 30 known candles and read back exactly, or refused
with a DataValidationError naming the file, the line or column, the value and what was expected."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_attention_mechanisms.data import DataValidationError, load_ohlcv
from ml_attention_mechanisms.data.loader import (
    _symbol_from_name,
    asset_name,
    base_currency,
    known_asset_id,
    normalise_symbol,
)

N = 30
OHLCV = ("open", "high", "low", "close", "volume")


def known(step: str = "1h", start: str = "2021-03-13 00:00") -> pd.DataFrame:
    """30 candles with values exact in binary (quarters) and a quote volume that round-trips through str()."""
    i = np.arange(N, dtype=np.float64)
    o = 37_000 + 12.25 * i
    c = o + np.where(i % 2 == 0, 0.5, -0.5)
    index = pd.date_range(start, periods=N, freq=step, tz="UTC", name="timestamp")
    frame = pd.DataFrame(
        {
            "open": o,
            "high": np.maximum(o, c) + 0.75,
            "low": np.minimum(o, c) - 0.25,
            "close": c,
            "volume": 10 + 0.5 * i,
            "trades": 100 + i,
        },
        index=index,
    )
    frame["quote_volume"] = [round(v * p, 2) for v, p in zip(frame["volume"], frame["close"])]
    return frame


def unix(ref: pd.DataFrame) -> np.ndarray:
    return np.asarray(ref.index.as_unit("s").asi8)


Row = dict[str, str]


def cells(
    ref: pd.DataFrame, ts: Callable[[pd.Timestamp, int], str], num: Callable[[float], str] = str
) -> list[Row]:
    secs = unix(ref)
    rows = []
    for k, (t, r) in enumerate(ref.iterrows()):
        row = {col: num(float(r[col])) for col in (*OHLCV, "quote_volume")}
        row.update(ts=ts(t, int(secs[k])), trades=str(int(r["trades"])), iso=t.strftime("%Y-%m-%d %H:%M:%S"))
        row.update(day=t.strftime("%Y-%m-%d"), clock=t.strftime("%H:%M:%S"))
        rows.append(row)
    return rows


def table(
    header: str, keys: str, rows: list[Row], *, sep: str = ",", eol: str = "\n", reverse: bool = False
) -> str:
    order = rows[::-1] if reverse else rows
    body = [sep.join(row.get(k, k[1:]) for k in keys.split(",")) for row in order]  # "=X": the literal X
    return eol.join(([header] if header else []) + body) + eol


def by_secs(t: pd.Timestamp, s: int) -> str:
    return str(s)


PLAIN = "timestamp,open,high,low,close,volume"
KEYS = "ts,open,high,low,close,volume"


def plain(rows: list[Row], **kw: object) -> str:
    return table(PLAIN, KEYS, rows, **kw)  # type: ignore[arg-type]


# name -> (file name, text from the known frame's rows, expected symbol, columns beyond OHLCV read)
Variant = tuple[str, Callable[[pd.DataFrame], str | bytes], str | None, tuple[str, ...]]
S = by_secs
SUPPORTED: dict[str, Variant] = {
    # line and field layout
    "crlf": ("x.csv", lambda f: plain(cells(f, S), eol="\r\n"), None, ()),
    "utf8-bom": ("x.csv", lambda f: "\ufeff" + plain(cells(f, S)), None, ()),
    "trailing-blank-lines": ("x.csv", lambda f: plain(cells(f, S)) + "\n\n \n", None, ()),
    "trailing-comma-rows": ("x.csv", lambda f: table(PLAIN, KEYS + ",=", cells(f, S)), None, ()),
    "trailing-comma-all": ("x.csv", lambda f: table(PLAIN + ",", KEYS + ",=", cells(f, S)), None, ()),
    "spaces": (
        "x.csv",
        lambda f: table(" timestamp , open , high , low , close , volume ", KEYS, cells(f, S), sep=" , "),
        None,
        (),
    ),
    # header names
    "Title-case": (
        "x.csv",
        lambda f: table("Timestamp,Open,High,Low,Close,Volume", KEYS, cells(f, S)),
        None,
        (),
    ),
    "time-unix": ("x.csv", lambda f: table("time,open,high,low,close,volume", KEYS, cells(f, S)), None, ()),
    "open_time-ms": (
        "x.csv",
        lambda f: table("open_time,open,high,low,close,volume", KEYS, cells(f, lambda t, s: f"{s}000")),
        None,
        (),
    ),
    "open_time-iso": (
        "x.csv",
        lambda f: table(
            "Open Time,open,high,low,close,volume",
            KEYS,
            cells(f, lambda t, s: t.strftime("%Y-%m-%d %H:%M:%S")),
        ),
        None,
        (),
    ),
    "Date-iso": (
        "x.csv",
        lambda f: table(
            "Date,Open,High,Low,Close,Volume", KEYS, cells(f, lambda t, s: t.strftime("%Y-%m-%d %H:%M:%S"))
        ),
        None,
        (),
    ),
    "Date-unix": ("x.csv", lambda f: table("Date,Open,High,Low,Close,Volume", KEYS, cells(f, S)), None, ()),
    # a time column whose header names its unit; newest first, with CRLF and an extra column (a Kraken SOL/USD
    # export: "time[s],close,open,high,low,volume,change%")
    "time[s]": (
        "x.csv",
        lambda f: table(
            "time[s],close,open,high,low,volume,change%",
            "ts,close,open,high,low,volume,=0.5",
            cells(f, S),
            eol="\r\n",
            reverse=True,
        ),
        None,
        (),
    ),
    "Timestamp (ms)": (
        "x.csv",
        lambda f: table("Timestamp (ms),Open,High,Low,Close,Volume", KEYS, cells(f, lambda t, s: f"{s}000")),
        None,
        (),
    ),
    "open_time_us": (
        "x.csv",
        lambda f: table("open_time_us,open,high,low,close,volume", KEYS, cells(f, lambda t, s: f"{s}000000")),
        None,
        (),
    ),
    "datetime": (
        "x.csv",
        lambda f: table("datetime,open,high,low,close,volume", KEYS, cells(f, lambda t, s: t.isoformat())),
        None,
        (),
    ),
    "Date (UTC)": (
        "x.csv",
        lambda f: table(
            "Date (UTC),Open,High,Low,Close,Volume", KEYS, cells(f, lambda t, s: t.strftime("%Y-%m-%d %H:%M"))
        ),
        None,
        (),
    ),
    # volumes by currency
    "Volume-BTC-USDT": (
        "x.csv",
        lambda f: table(
            "unix,open,high,low,close,Volume BTC,Volume USDT", KEYS + ",quote_volume", cells(f, S)
        ),
        None,
        ("quote_volume",),
    ),
    "Volume-USDT-BTC": (
        "x.csv",
        lambda f: table(
            "unix,open,high,low,close,Volume USDT,Volume BTC",
            "ts,open,high,low,close,quote_volume,volume",
            cells(f, S),
        ),
        None,
        ("quote_volume",),
    ),
    "bitstamp-cdd": (
        "Bitstamp_BTCUSD_1h.csv",
        lambda f: table(
            "https://www.CryptoDataDownload.com\nUnix Timestamp,Date,Symbol,Open,High,Low,Close,Volume BTC,Volume USD",
            "ts,iso,=BTC/USD,open,high,low,close,volume,quote_volume",
            cells(f, S),
            reverse=True,
        ),
        "BTC/USD",
        ("quote_volume",),
    ),
    "coinbase-cdd-ms": (
        "Coinbase_ETHUSD_1h.csv",
        lambda f: table(
            "unix,date,symbol,open,high,low,close,Volume ETH,Volume USD",
            "ts,iso,=ETH-USD,open,high,low,close,volume,quote_volume",
            cells(f, lambda t, s: f"{s}000"),
            reverse=True,
        ),
        "ETH/USD",
        ("quote_volume",),
    ),
    "coinbase-pro-api": (
        "BTC-USD.csv",  # named after the pair as Coinbase writes it
        lambda f: table(
            "time,low,high,open,close,volume", "ts,low,high,open,close,volume", cells(f, S), reverse=True
        ),
        "BTC/USD",
        (),
    ),
    "cryptocompare": (
        "x.csv",
        lambda f: table(
            "time,high,low,open,volumefrom,volumeto,close",
            "ts,high,low,open,volume,quote_volume,close",
            cells(f, S),
        ),
        None,
        ("quote_volume",),
    ),
    "kaggle-bitstamp": (
        "x.csv",
        lambda f: table(
            "Timestamp,Open,High,Low,Close,Volume_(BTC),Volume_(Currency),Weighted_Price",
            "ts,open,high,low,close,volume,quote_volume,close",
            cells(f, S),
        ),
        None,
        ("quote_volume",),
    ),
    # timestamps
    "unix-ms": ("x.csv", lambda f: plain(cells(f, lambda t, s: f"{s}000")), None, ()),
    "unix-us": ("x.csv", lambda f: plain(cells(f, lambda t, s: f"{s}000000")), None, ()),
    "unix-ns": ("x.csv", lambda f: plain(cells(f, lambda t, s: f"{s}000000000")), None, ()),
    "unix-float": ("x.csv", lambda f: plain(cells(f, lambda t, s: f"{s}.0")), None, ()),
    "iso-T-Z": ("x.csv", lambda f: plain(cells(f, lambda t, s: t.strftime("%Y-%m-%dT%H:%M:%SZ"))), None, ()),
    "iso-+00:00": ("x.csv", lambda f: plain(cells(f, lambda t, s: t.isoformat())), None, ()),
    "iso-+02:00": (
        "x.csv",
        lambda f: plain(cells(f, lambda t, s: t.tz_convert("Etc/GMT-2").isoformat())),
        None,
        (),
    ),
    "no-seconds": ("x.csv", lambda f: plain(cells(f, lambda t, s: t.strftime("%Y-%m-%d %H:%M"))), None, ()),
    "UTC-suffix": (
        "x.csv",
        lambda f: plain(cells(f, lambda t, s: t.strftime("%Y-%m-%d %H:%M:%S UTC"))),
        None,
        (),
    ),
    "US-month-first": (
        "x.csv",
        lambda f: plain(cells(f, lambda t, s: f"{t.month}/{t.day}/{t.year} {t.hour}:00")),
        None,
        (),
    ),
    # numbers
    "quoted": ("x.csv", lambda f: plain(cells(f, lambda t, s: f'"{s}"', lambda x: f'"{x}"')), None, ()),
    "scientific": ("x.csv", lambda f: plain(cells(f, S, lambda x: f"{x:.6e}")), None, ()),
    "thousands-quoted": ("x.csv", lambda f: plain(cells(f, S, lambda x: f'"{x:,.2f}"')), None, ()),
    "euro-decimal-comma": (
        "x.csv",
        lambda f: plain(cells(f, S, lambda x: f"{x:.2f}".replace(".", ",")), sep=";").replace(",", ";", 5),
        None,
        (),
    ),
    "euro-grouped": (
        "x.csv",
        lambda f: plain(
            cells(f, S, lambda x: f"{x:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")), sep=";"
        ).replace(",", ";", 5),
        None,
        (),
    ),
    # headerless
    "binance-klines": (
        "BTCUSDT-1h-2021-03.csv",
        lambda f: table(
            "",
            "ts,open,high,low,close,volume,close_time,quote_volume,trades,=1,=2,=0",
            [{**r, "close_time": str(int(r["ts"]) + 3_599_999)} for r in cells(f, lambda t, s: f"{s}000")],
        ),
        "BTC/USDT",
        ("quote_volume", "trades"),
    ),
    "kraken-ohlcvt": (
        "XBTUSD_60.csv",
        lambda f: table("", "ts,open,high,low,close,volume,trades", cells(f, S)),
        "XBT/USD",
        ("trades",),
    ),
    "binance-klines-header": (
        "ETHUSDT-1h-2021-03.csv",
        lambda f: table(
            "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
            "taker_buy_quote_volume,ignore",
            "ts,open,high,low,close,volume,close_time,quote_volume,trades,=1,=2,=0",
            [{**r, "close_time": str(int(r["ts"]) + 3_599_999)} for r in cells(f, lambda t, s: f"{s}000")],
        ),
        "ETH/USDT",
        ("quote_volume", "trades"),
    ),
    "date-and-time-columns": (
        "x.csv",
        lambda f: table(
            "Date,Time,Open,High,Low,Close,Volume", "day,clock,open,high,low,close,volume", cells(f, S)
        ),
        None,
        (),
    ),
    "utf16-tab": (
        "x.csv",
        lambda f: plain(cells(f, S), sep="\t").replace(",", "\t").encode("utf-16"),
        None,
        (),
    ),
    "headerless-6": ("x.csv", lambda f: table("", KEYS, cells(f, S)), None, ()),
    # yfinance: `yf.download("BTC-USD", interval="1h").to_csv(...)` writes three header rows (since 0.2.51)
    "yfinance": (
        "x.csv",
        lambda f: (
            "Price,Close,High,Low,Open,Volume\nTicker,BTC-USD,BTC-USD,BTC-USD,BTC-USD,BTC-USD\nDatetime,,,,,\n"
            + table("", "ts,close,high,low,open,volume", cells(f, lambda t, s: t.isoformat(sep=" ")))
        ),
        "BTC/USD",
        (),
    ),
    # Polygon's aggregate bars written out as they come (vw: VWAP, not read)
    "polygon": (
        "x.csv",
        lambda f: table(
            "v,vw,o,c,h,l,t,n", "volume,close,open,close,high,low,ts,trades", cells(f, lambda t, s: f"{s}000")
        ),
        None,
        ("trades",),
    ),
    "yfinance-one-header": (
        "x.csv",
        lambda f: table(
            "Datetime,Open,High,Low,Close,Adj Close,Volume",
            "ts,open,high,low,close,close,volume",
            cells(f, lambda t, s: t.isoformat(sep=" ")),
        ),
        None,
        (),
    ),
}


@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_variant_reads_the_known_candles(tmp_path: Path, name: str) -> None:
    file_name, build, symbol, extra = SUPPORTED[name]
    ref = known()
    text = build(ref)
    path = tmp_path / file_name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    df = load_ohlcv(path)
    assert isinstance(df.index, pd.DatetimeIndex) and str(df.index.tz) == "UTC"
    pd.testing.assert_index_equal(df.index, ref.index.as_unit(df.index.unit), check_freq=False)
    for col in (*OHLCV, *extra):
        np.testing.assert_array_equal(df[col].to_numpy(), ref[col].to_numpy(), err_msg=col)
    for col in {"quote_volume", "trades"} - set(extra):
        assert df[col].isna().all(), col
    rep = df.attrs["quality_report"]
    assert rep.rows_read == rep.rows_kept == N and rep.dropped == [] and rep.duplicates == 0
    assert df.attrs["symbol"] == symbol and df.attrs["timeframe"] == "1h"
    assert rep.warnings == [] and rep.missing_bars == 0 and rep.off_grid == 0


@pytest.mark.parametrize(
    ("step", "name"),
    [("1min", "1min"), ("5min", "5min"), ("15min", "15min"), ("4h", "4h"), ("1D", "1d"), ("7D", "1w")],
)
def test_intervals_are_inferred(tmp_path: Path, step: str, name: str) -> None:
    ref = known(step, start="2021-03-15")  # a Monday: weekly bars start on Mondays
    df = load_ohlcv(_write(tmp_path / "x.csv", plain(cells(ref, S))))
    pd.testing.assert_index_equal(df.index, ref.index.as_unit(df.index.unit), check_freq=False)
    assert df.attrs["timeframe"] == name and df.attrs["quality_report"].missing_bars == 0


def test_daily_date_only_rows(tmp_path: Path) -> None:
    ref = known("1D")
    for ts in ("%Y-%m-%d", "%Y%m%d"):
        df = load_ohlcv(_write(tmp_path / "d.csv", plain(cells(ref, lambda t, s, ts=ts: t.strftime(ts)))))
        pd.testing.assert_index_equal(df.index, ref.index.as_unit(df.index.unit), check_freq=False)
        assert df.attrs["timeframe"] == "1d"


def test_irregular_timestamps_are_reported(tmp_path: Path) -> None:
    ref = known().iloc[[0, 1, 4, 6, 11, 12, 20, 29]]
    df = load_ohlcv(_write(tmp_path / "x.csv", plain(cells(ref, S))), missing_hours="absent")
    rep = df.attrs["quality_report"]
    assert len(df) == 8 and df.attrs["timeframe"] == "1h"
    assert rep.missing_bars == 29 - 7 and rep.gaps == 5 and rep.longest_gap == 8
    assert any(w.startswith("irregular timestamps: only 2 of 7 intervals are 1h") for w in rep.warnings)


@pytest.mark.parametrize(
    ("fmt", "chosen"), [("%d/%m/%Y %H:%M", "day-first"), ("%m/%d/%Y %H:%M", "month-first")]
)
def test_ambiguous_day_month_takes_the_shorter_span_and_warns(tmp_path: Path, fmt: str, chosen: str) -> None:
    ref = known(start="2021-03-01")  # every date has day and month <= 12: both readings parse
    df = load_ohlcv(_write(tmp_path / "x.csv", plain(cells(ref, lambda t, s: t.strftime(fmt)))))
    pd.testing.assert_index_equal(df.index, ref.index.as_unit(df.index.unit), check_freq=False)
    (warning,) = df.attrs["quality_report"].warnings
    assert warning.startswith(
        f"dates like {ref.index[0].strftime(fmt)!r} are ambiguous (day and month both <= 12); "
        f"read as {chosen}, whose span is shorter (1.21 days against"
    )


def test_parquet_other_timezone_and_float32(tmp_path: Path) -> None:
    ref = known()
    berlin = ref[list(OHLCV)].set_axis(ref.index.tz_convert("Europe/Berlin").rename("Date"))
    berlin.to_parquet(tmp_path / "a.parquet")
    df = load_ohlcv(tmp_path / "a.parquet")
    pd.testing.assert_index_equal(df.index, ref.index.as_unit(df.index.unit), check_freq=False)
    np.testing.assert_array_equal(df[list(OHLCV)].to_numpy(), ref[list(OHLCV)].to_numpy())
    ref[list(OHLCV)].astype(np.float32).to_parquet(tmp_path / "b.parquet")
    df32 = load_ohlcv(tmp_path / "b.parquet")
    assert (df32[list(OHLCV)].dtypes == np.float64).all()
    # the file's float32 values, exactly (37,000.25 etc. are representable; nothing re-rounded)
    np.testing.assert_array_equal(
        df32["close"].to_numpy(), ref["close"].to_numpy(np.float32).astype(np.float64)
    )


def test_freqtrade_and_binance_api_files(tmp_path: Path) -> None:
    """freqtrade's data files (``.feather``, its default, and ``.json``) and a dump of Binance's klines API
    (a JSON array of 12-field arrays, prices as strings) give the known candles and the pair of their name."""
    import json

    ref = known()
    secs = unix(ref)
    freqtrade = ref[list(OHLCV)].reset_index(names="date")
    freqtrade.to_feather(tmp_path / "BTC_USDT-1h.feather")
    rows = [[int(t) * 1000, *(float(ref[c].iloc[k]) for c in OHLCV)] for k, t in enumerate(secs)]
    (tmp_path / "BTC_USDT-1h.json").write_text(json.dumps(rows))
    api = [[int(t) * 1000, *(str(ref[c].iloc[k]) for c in OHLCV), int(t) * 1000 + 3_599_999, "1.0", 7, "0.5", "0.5", "0"]
           for k, t in enumerate(secs)]  # fmt: skip
    (tmp_path / "ETHUSDT_klines.json").write_text(json.dumps(api))
    for name, fmt, symbol in (
        ("BTC_USDT-1h.feather", "feather", "BTC/USDT"),
        ("BTC_USDT-1h.json", "headerless-ohlcv", "BTC/USDT"),
        ("ETHUSDT_klines.json", "binance-klines", "ETH/USDT"),
    ):
        df = load_ohlcv(tmp_path / name)
        pd.testing.assert_index_equal(df.index, ref.index.as_unit(df.index.unit), check_freq=False)
        np.testing.assert_array_equal(df[list(OHLCV)].to_numpy(), ref[list(OHLCV)].to_numpy(), err_msg=name)
        rep = df.attrs["quality_report"]
        assert (rep.format, df.attrs["symbol"], rep.rows_kept, rep.warnings) == (fmt, symbol, N, []), name
    (tmp_path / "x.json").write_text('{"data": []}')
    with pytest.raises(
        DataValidationError, match=r"x\.json: a JSON file that is not an array of candle arrays"
    ):
        load_ohlcv(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("[[1614556800000, 1, 2")
    with pytest.raises(DataValidationError, match=r"y\.json, line 1: not valid JSON"):
        load_ohlcv(tmp_path / "y.json")


def test_concatenated_exports_and_sub_second_times(tmp_path: Path) -> None:
    rows = cells(known(), lambda t, s: f"{s}000")
    banner = "Timestamps are UTC timezone,https://www.CryptoDataDownload.com\n"
    text = banner + plain(rows[:15]) + banner + plain(rows[15:])  # two exports pasted together
    df = load_ohlcv(_write(tmp_path / "x.csv", text))
    rep = df.attrs["quality_report"]
    assert len(df) == N and (df["close"].to_numpy() == known()["close"].to_numpy()).all()
    assert rep.dropped == [
        "line 18: a repeated banner line, skipped",
        "line 19: a repeated header line, skipped",
    ]
    rows[4]["ts"] = rows[4]["ts"][:-3] + "250"  # 250 ms after the hour
    df = load_ohlcv(_write(tmp_path / "x.csv", plain(rows)))
    assert df.index[4] == known().index[4]
    assert df.attrs["quality_report"].warnings == [
        f"1 unix times have fractions of a second (e.g. {rows[4]['ts']!r}); rounded to the second"
    ]


def test_gzip_of_a_variant(tmp_path: Path) -> None:
    ref = known()
    (tmp_path / "x.csv.gz").write_bytes(gzip.compress(("\ufeff" + plain(cells(ref, S), eol="\r\n")).encode()))
    assert (load_ohlcv(tmp_path / "x.csv.gz")["close"].to_numpy() == ref["close"].to_numpy()).all()


def test_symbol_names() -> None:
    assert normalise_symbol("XBTUSD") == "XBT/USD"  # not XB/TUSD
    assert normalise_symbol("BTCTUSD") == "BTC/TUSD" and normalise_symbol("ETHBTC") == "ETH/BTC"
    assert normalise_symbol("BTCKRW") == "BTC/KRW" and normalise_symbol("btc_jpy") == "BTC/JPY"
    # the quote first (Upbit's and Bittrex's market codes) is turned round; two fiat or stable coins are not
    assert normalise_symbol("KRW-BTC") == "BTC/KRW" and normalise_symbol("USDT-ETH") == "ETH/USDT"
    assert normalise_symbol("EUR/USDT") == "EUR/USDT" and normalise_symbol("ETH-BTC") == "ETH/BTC"


@pytest.mark.parametrize(
    ("file_name", "symbol"),
    [
        ("Binance_BTCUSDT_1h.csv", "BTC/USDT"),
        ("XBTUSD_60.csv", "XBT/USD"),
        ("BTC-USD.csv", "BTC/USD"),
        ("coinbase_ETH-BTC_3600.csv.gz", "ETH/BTC"),
        ("BTCUSDT-1h-2021-03.csv", "BTC/USDT"),
        ("bitstampUSD_1-min_data_2012-01-01_to_2021-03-31.csv", "BTC/USD"),  # bitcoincharts: bitcoin markets
        ("krakenEUR.csv", "BTC/EUR"),
        ("BTC_USD_1h.csv", "BTC/USD"),  # a ccxt symbol with its "/" replaced
        ("binance_ETH_BTC_1h.csv", "ETH/BTC"),  # the last pair of words: not BINANCE/ETH
        ("SOL_USDT.parquet", "SOL/USDT"),
        ("BITSTAMP_BTCUSD, 60.csv", "BTC/USD"),  # TradingView's export
        ("X_ETHUSD_polygon.csv", "ETH/USD"),  # Polygon's ticker X:ETHUSD
        ("ETH_USDT-1h.csv", "ETH/USDT"),  # freqtrade's name
        ("upbit_KRW-BTC_60.csv", "BTC/KRW"),  # Upbit's market code, the quote first
        ("KRW_ETH_minute60.csv", "ETH/KRW"),  # as pyupbit users save it
        ("bitflyer_BTC_JPY_1h.csv", "BTC/JPY"),
        ("registry_entry.csv", None),  # no quote ends a word here
        ("exchange_BTC_1h.csv", None),  # a base alone names no pair
        ("data_2024_USD.csv", None),  # a number is no coin
        ("okx_BTC_1h.csv", None),  # an exchange is no coin
        ("prices.csv", None),
    ],
)
def test_symbol_from_the_file_name(file_name: str, symbol: str | None) -> None:
    assert _symbol_from_name(Path(file_name)) == symbol


def test_a_coin_is_known_on_any_market() -> None:
    """A run's ids are per coin: BTC/USD, Kraken's XBT/USD and BTCUSDT get the id of a run's BTC/USDT."""
    assert base_currency("XBTUSD") == "BTC" and base_currency("xdg-eur") == "DOGE"
    assert base_currency("eth/btc") == "ETH" and base_currency("SYN") == "SYN"
    known = {"BTC/USDT": 1, "ETH/USDT": 2}
    ids = [known_asset_id(s, known) for s in ("BTC/USDT", "BTC/USD", "XBT/USD", "BTCUSDT", "ETH/EUR")]
    assert ids == [1, 1, 1, 1, 2]
    assert known_asset_id("SOL/USDT", known) == 0  # a coin the run never saw: the unknown asset
    assert known_asset_id("BTC/USD", {"BTC/USDT": 1, "BTC/EUR": 2}) == 0  # two markets of it: ambiguous
    assert known_asset_id("BTC/EUR", {"BTC/USDT": 1, "BTC/EUR": 2}) == 2  # its own entry first
    assert known_asset_id("btc-eur", {"BTC/USDT": 1, "BTC/EUR": 2}) == 2  # written another way


def test_a_pair_priced_in_another_coin_is_an_asset_of_its_own() -> None:
    """ETH in bitcoin is another price series than ETH in dollars: ETH/BTC is ``ETHBTC``, unknown to a run
    trained on ETH/USDT, known to one trained on ETH/BTC itself (in any spelling, Kraken's XBT included)."""
    names = [asset_name(s) for s in ("BTC/USDT", "XBTUSD", "btc-eur", "BTC", "ETH/BTC", "eth-xbt", "SOLETH")]
    assert names == ["BTC", "BTC", "BTC", "BTC", "ETHBTC", "ETHBTC", "SOLETH"]
    assert known_asset_id("ETH/BTC", {"BTC/USDT": 1, "ETH/USDT": 2}) == 0
    assert known_asset_id("ETH/XBT", {"ETH/BTC": 3, "ETH/USDT": 2}) == 3
    assert known_asset_id("ETH/USD", {"ETH/BTC": 3, "ETH/USDT": 2}) == 2


def test_dropped_row_is_reported(tmp_path: Path) -> None:
    rows = cells(known(), S)
    rows[3]["high"] = '"37,0"'  # a decimal comma in a file with '.' decimals
    df = load_ohlcv(_write(tmp_path / "x.csv", plain(rows)), errors="drop")
    rep = df.attrs["quality_report"]
    assert len(df) == N - 1 and rep.rows_read == N
    assert rep.dropped == [
        "line 5, column 'high': '37,0' is ambiguous: the file writes decimals both with '.' and with ',' "
        "(expected e.g. 37584.76)"
    ]


# name -> (file name, text, regex the message must match)
def _refused() -> dict[str, tuple[str, str, str]]:
    ref = known()
    rows = cells(ref, S)
    iso = cells(ref, lambda t, s: t.strftime("%Y-%m-%d %H:%M:%S"))
    ints = cells(
        ref.assign(open=37_000.0, high=37_100.0, low=36_900.0, close=37_000.0), S, lambda x: f'"{x:,.0f}"'
    )
    mixed = [dict(r) for r in cells(ref, S, lambda x: f"{x:.2f}".replace(".", ","))]
    mixed[7]["close"] = mixed[7]["close"].replace(",", ".")
    two = [{**r, "sym": "BTCUSDT"} for r in rows] + [{**r, "sym": "ETHUSDT"} for r in rows]
    return {
        "quote-volume-only": (
            "Bitstamp_BTCUSD_1h.csv",
            table("unix,open,high,low,close,Volume USD", "ts,open,high,low,close,quote_volume", rows),
            r"Bitstamp_BTCUSD_1h\.csv, column 'Volume USD': the only volume column is in the quote currency "
            r"\(symbol BTC/USD\); expected the base-asset volume",
        ),
        "thousands-ambiguous": (
            "x.csv",
            plain(ints),
            r"x\.csv, line 2, column 'open': '37,000' is ambiguous: nothing else in the file says whether ',' "
            r"is a thousands separator or a decimal comma \(expected e\.g\. 37584\.76\)",
        ),
        "mixed-decimal-marks": (
            "x.csv",
            plain(mixed, sep=";").replace(",", ";", 5),
            r"x\.csv, line 2, column 'open': '37000,00' is ambiguous: the file writes decimals both with '\.' "
            r"and with ','",
        ),
        "comma-not-grouping": (
            "x.csv",
            plain([{**r, "low": '"36,9999.75"'} if k == 2 else r for k, r in enumerate(rows)]),
            r"x\.csv, line 4, column 'low': '36,9999\.75' is not a number in this file, which writes decimals "
            r"with a dot \(expected e\.g\. 37584\.76 or 37,584\.76\)",
        ),
        "headerless-iso": (
            "x.csv",
            table("", KEYS, iso),
            r"x\.csv, line 1: the first row \['2021-03-13 00:00:00', '37000\.0', .*looks like data, not a "
            r"header; expected a header row",
        ),
        "headerless-9-fields": (
            "x.csv",
            table("", KEYS + ",trades,=1,=2", rows),
            r"x\.csv, line 1: headerless row of 9 fields whose 7th field '100' is not a close time",
        ),
        "two-symbols": (
            "x.csv",
            table(PLAIN + ",symbol", KEYS + ",sym", two),
            r"x\.csv, line 32, column 'symbol': symbol 'ETHUSDT' differs from 'BTCUSDT' \(line 2\); expected "
            r"one symbol per file",
        ),
        "unknown-date": (
            "x.csv",
            plain(cells(ref, lambda t, s: t.strftime("%d %b %Y %H:%M"))),
            r"x\.csv, line 2, column 'timestamp': '13 Mar 2021 00:00' is not a recognised date \(expected e\.g\.",
        ),
        "yfinance-two-tickers": (
            "x.csv",
            "Price,Close,Close\nTicker,BTC-USD,ETH-USD\nDatetime,,\n" + table("", "ts,close,close", rows),
            r"x\.csv, line 2: a yfinance file of 2 tickers \(BTC-USD, ETH-USD\); expected one asset per file",
        ),
    }


@pytest.mark.parametrize(
    "name",
    [
        "quote-volume-only",
        "thousands-ambiguous",
        "mixed-decimal-marks",
        "comma-not-grouping",
        "headerless-iso",
        "headerless-9-fields",
        "two-symbols",
        "unknown-date",
        "yfinance-two-tickers",
    ],
)
def test_variant_is_refused_clearly(tmp_path: Path, name: str) -> None:
    file_name, text, pattern = _refused()[name]
    with pytest.raises(DataValidationError, match=pattern) as err:
        load_ohlcv(_write(tmp_path / file_name, text))
    assert isinstance(err.value, ValueError) and str(tmp_path) in str(err.value)
    assert re.search(pattern, str(err.value))


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())
    return path


@pytest.mark.parametrize(
    ("file_name", "header", "keys"),
    [
        ("XBTUSD_60.csv", "", "ts,open,high,low,close,volume,trades"),  # Kraken's OHLCVT
        ("BTC-USD.csv", "time,low,high,open,close,volume", "ts,low,high,open,close,volume"),  # Coinbase's API
    ],
)
def test_no_trade_intervals_are_written(tmp_path: Path, file_name: str, header: str, keys: str) -> None:
    """Kraken's OHLCVT files and Coinbase's candle API have no candle for an interval without trades: a hole
    shorter than a day becomes flat candles at the previous close, zero volume and trades, flagged
    ``no_trades`` and kept by the panel (so is a zero-volume flat candle the file holds: an hour without
    trades too); a day-long hole stays a gap; ``missing_hours="absent"`` leaves the holes out and masks the
    zero-volume candle as a downtime placeholder."""
    from ml_attention_mechanisms.data import align
    from ml_attention_mechanisms.data.loader import NO_TRADE_FILL

    ref = known()
    rows = cells(ref, S)
    rows[20] = {**rows[20], **{k: rows[19]["close"] for k in ("open", "high", "low", "close")}, "volume": "0"}
    hole = [r for k, r in enumerate(rows) if k not in (5, 6, 7)]
    path = tmp_path / file_name
    path.write_text(table(header, keys, hole))
    df = load_ohlcv(path)
    rep = df.attrs["quality_report"]
    assert len(df) == N and rep.no_trade_bars == 3 and rep.missing_bars == 3 and rep.rows_kept == N - 3
    filled = df.iloc[5:8]
    assert df["no_trades"].to_numpy().nonzero()[0].tolist() == [5, 6, 7, 20]  # 20: a zero-volume candle
    for col in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(filled[col].to_numpy(), [ref["close"].iloc[4]] * 3, err_msg=col)
    assert (filled[["volume", "trades"]] == 0).all().all()
    kept = df.drop(filled.index).drop(df.index[20])
    np.testing.assert_array_equal(
        kept["close"].to_numpy(), ref["close"].drop(ref.index[[5, 6, 7, 20]]).to_numpy()
    )
    mask = align({"BTC/USDT": df}).mask[:, 0]
    assert mask.all() and df["no_trades"].iloc[20] and rep.zero_volume_kept == 1
    assert "no-trade bars     3 written" in rep.format_text()
    assert "zero-volume bars  1 (1 read as hours without trades, kept" in rep.format_text()

    day = [r for k, r in enumerate(rows) if not 2 <= k < 2 + NO_TRADE_FILL]  # a day-long hole stays a gap
    path.write_text(table(header, keys, day))
    df = load_ohlcv(path)
    assert len(df) == N - NO_TRADE_FILL and df.attrs["quality_report"].no_trade_bars == 0
    path.write_text(table(header, keys, hole))
    df = load_ohlcv(path, missing_hours="absent")
    assert len(df) == N - 3 and not df["no_trades"].any()  # the holes left out, on request
    assert align({"BTC/USDT": df}).mask[:, 0].sum() == N - 4  # and the zero-volume candle masked


def test_frequent_hours_without_trades_are_read_as_such(tmp_path: Path) -> None:
    """``missing_hours="auto"`` in a file of another format: where holes and zero-volume flat candles (in runs
    shorter than a day) cover at least ``NO_TRADE_SHARE`` of its hours, the market traded thinly: the holes
    are written as hours without trades and the zero-volume candles kept by the panel; rarer ones are outages
    (left out and masked, as with ``"absent"``), and ``"no-trades"`` reads them as hours without trades anyway.
    A run of a day or more stays masked. A row dropped as invalid is no hour without trades."""
    from ml_attention_mechanisms.data import align
    from ml_attention_mechanisms.data.loader import NO_TRADE_FILL, NO_TRADE_SHARE

    ref = known()
    rows = cells(ref, S)
    path = tmp_path / "x.csv"
    path.write_text(plain([r for k, r in enumerate(rows) if k not in (5, 6, 7)]))
    assert 3 / N >= NO_TRADE_SHARE
    df = load_ohlcv(path)
    rep = df.attrs["quality_report"]
    assert len(df) == N and rep.no_trade_bars == 3 and rep.missing_hours == "no-trades"
    assert df["no_trades"].to_numpy().nonzero()[0].tolist() == [5, 6, 7]
    assert (df.iloc[5:8][["open", "high", "low", "close"]] == ref["close"].iloc[4]).all().all()
    absent = load_ohlcv(path, missing_hours="absent")
    assert len(absent) == N - 3 and absent.attrs["quality_report"].missing_hours == "absent"

    n = 400  # a market written hour by hour, as Binance writes one: zero-volume candles for no trades
    i = np.arange(n, dtype=np.float64)
    index = pd.date_range("2021-01-01", periods=n, freq="1h", tz="UTC", name="timestamp")
    calm = pd.DataFrame(
        {"open": 37_000 + i, "high": 37_001.5 + i, "low": 36_999.5 + i, "close": 37_001 + i,
         "volume": 10 + i, "trades": 100 + i, "quote_volume": 1.0},
        index=index,
    )  # fmt: skip

    def zero_volume(frame: pd.DataFrame, at: list[int]) -> pd.DataFrame:
        out = frame.copy()
        for k in at:
            out.iloc[k, :4] = out["close"].iloc[k - 1]
            out.iloc[k, 4:6] = 0.0
        return out

    rare = zero_volume(calm, [40]).drop(index[90])  # two hours in 400 (0.5%): outages
    assert 2 / n < NO_TRADE_SHARE
    path.write_text(plain(cells(rare, S)))
    df = load_ohlcv(path)
    assert len(df) == n - 1 and df.attrs["quality_report"].missing_hours == "absent"
    assert align({"BTC/USDT": df}).mask[:, 0].sum() == n - 2
    df = load_ohlcv(path, missing_hours="no-trades")
    assert df["no_trades"].to_numpy().nonzero()[0].tolist() == [40, 90] and align({"BTC/USDT": df}).mask.all()
    thin = [100 + 3 * k for k in range(int(NO_TRADE_SHARE * n) + 1)] + list(range(200, 200 + NO_TRADE_FILL))
    path.write_text(plain(cells(zero_volume(calm, thin), S)))
    df = load_ohlcv(path)
    rep = df.attrs["quality_report"]
    assert rep.missing_hours == "no-trades" and rep.zero_volume_kept == len(thin) - NO_TRADE_FILL
    mask = align({"BTC/USDT": df}).mask[:, 0]
    assert not mask[200 : 200 + NO_TRADE_FILL].any() and mask.sum() == n - NO_TRADE_FILL  # a day-long run

    dropped = [dict(r) for r in rows]
    dropped[12]["high"] = "abc"
    path.write_text(plain([r for k, r in enumerate(dropped) if k not in (5, 6, 7)]))
    df = load_ohlcv(path, errors="drop")
    assert len(df) == N - 1 and df.index[12] - df.index[11] == pd.Timedelta("2h")
    assert df.attrs["quality_report"].no_trade_bars == 3


def test_missing_hours_must_be_a_known_choice(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(plain(cells(known(), S)))
    with pytest.raises(
        ValueError, match="missing_hours='fill'; expected one of 'auto', 'no-trades', 'absent'"
    ):
        load_ohlcv(path, missing_hours="fill")


def test_rows_without_a_candle_are_holes(tmp_path: Path) -> None:
    """A row with a time and no open, high, low, close or volume (``NaN``, empty: Bitstamp's minute data
    writes one for each minute without trades) is no candle: counted in ``empty_rows``, a hole read as
    ``missing_hours`` says, never an invalid row; a row missing only some of them is still invalid."""
    rows = cells(known(), S)
    for k in (5, 6, 7):
        rows[k] = {**rows[k], **{c: "NaN" for c in (*OHLCV, "quote_volume", "trades")}}
    rows[9] = {**rows[9], **{c: "" for c in OHLCV}}
    path = tmp_path / "x.csv"
    path.write_text(plain(rows))
    df = load_ohlcv(path)
    rep = df.attrs["quality_report"]
    assert rep.empty_rows == 4 and rep.rows_kept == N - 4 and rep.dropped == []
    assert len(df) == N and df["no_trades"].to_numpy().nonzero()[0].tolist() == [5, 6, 7, 9]
    assert "rows read / kept  30 / 26 (4 empty rows: no candle)" in rep.format_text()
    assert len(load_ohlcv(path, missing_hours="absent")) == N - 4
    rows[9]["volume"] = "3.5"  # a volume without prices: not an empty row
    path.write_text(plain(rows))
    with pytest.raises(DataValidationError, match="line 11, column 'open': missing value"):
        load_ohlcv(path)
    path.write_text(plain([{**r, **{c: "" for c in OHLCV}} for r in rows]))
    with pytest.raises(DataValidationError, match="every row is empty"):
        load_ohlcv(path)


def test_an_unnamed_index_column_holds_the_times(tmp_path: Path) -> None:
    """``df.to_csv`` of a frame whose DatetimeIndex has no name (pyupbit's candles) writes an empty first
    header cell; read back and saved again it is ``Unnamed: 0``. Either is the time column where the file
    has no other; a file with its own time column keeps it (the unnamed column is then a row number)."""
    ref = known()
    frame = ref[["open", "high", "low", "close", "volume"]].copy()
    frame.index = frame.index.tz_localize(None).rename(None)
    frame.to_csv(tmp_path / "BTCUSDT_1h.csv")
    pd.read_csv(tmp_path / "BTCUSDT_1h.csv").to_csv(tmp_path / "ETHUSDT_1h.csv")  # ",Unnamed: 0,open,..."
    assert (tmp_path / "BTCUSDT_1h.csv").read_text().startswith(",open,high")
    for name in ("BTCUSDT_1h.csv", "ETHUSDT_1h.csv"):
        df = load_ohlcv(tmp_path / name)
        assert df.index.equals(ref.index) and (df["close"].to_numpy() == ref["close"].to_numpy()).all()
    assert "time from         the first column, unnamed" in str(
        load_ohlcv(tmp_path / "BTCUSDT_1h.csv").attrs["quality_report"]
    )
    numbered = frame.reset_index(names="timestamp")
    numbered.to_csv(tmp_path / "LTCUSDT_1h.csv")  # ",timestamp,open,...": a row number first
    assert load_ohlcv(tmp_path / "LTCUSDT_1h.csv").index.equals(ref.index)
