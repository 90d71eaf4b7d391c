"""Times written without a zone, read in the zone ``load_ohlcv(timezone=...)`` names: the same candles as
the file written in UTC, whichever way the file runs and across daylight-saving changes; unix values and
dates with an offset keep their time."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _data_fixtures import random_walk_frame

from ml_attention_mechanisms.data import load_ohlcv
from ml_attention_mechanisms.data._timestamps import parse_timezone
from ml_attention_mechanisms.data.validation import DataValidationError

COLUMNS = ["open", "high", "low", "close", "volume"]


def _local_csv(path: Path, frame: pd.DataFrame, zone: str | None, *, newest_first: bool = False) -> Path:
    """``frame`` written with naive ``date`` strings: its UTC times shown as ``zone``'s clocks show them."""
    index = frame.index if zone is None else frame.index.tz_convert(zone)
    out = frame[COLUMNS].copy()
    out.insert(0, "date", index.strftime("%Y-%m-%d %H:%M:%S"))
    (out.iloc[::-1] if newest_first else out).to_csv(path, index=False)
    return path


def _same_candles(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert a.index.equals(b.index)
    np.testing.assert_array_equal(a[COLUMNS].to_numpy(), b[COLUMNS].to_numpy())


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC+8", "+08:00", "Asia/Kolkata", "UTC-3"])
def test_local_times_read_back_to_the_utc_candles(tmp_path: Path, zone: str) -> None:
    frame = random_walk_frame(72, start="2024-01-01")
    tz = parse_timezone(zone)
    utc = load_ohlcv(_local_csv(tmp_path / "BTCUSDT_1h.csv", frame, None))
    local = load_ohlcv(_local_csv(tmp_path / "BTCUSDT_1h_local.csv", frame, tz), timezone=zone)
    _same_candles(utc, local)
    report = local.attrs["quality_report"]
    assert report.timezone == str(tz) and report.warnings == []
    assert f"time zone         {tz} (times without a zone; converted to UTC)" in report.format_text()
    read_as_utc = load_ohlcv(tmp_path / "BTCUSDT_1h_local.csv")  # without timezone: the clock times as UTC
    shift = (read_as_utc.index[0] - utc.index[0]).total_seconds()
    assert shift == utc.index[0].astimezone(tz).utcoffset().total_seconds()
    as_utc = read_as_utc.attrs["quality_report"]
    assert as_utc.timezone is None and as_utc.naive_times == 72  # the assumption is said, with --timezone
    assert (
        "time zone         UTC, assumed (72 times without a zone; --timezone reads another zone's clock)"
        in str(as_utc)
    )


@pytest.mark.parametrize("newest_first", [False, True])
@pytest.mark.parametrize("start", ["2021-11-06 20:00", "2021-03-13 20:00"])  # autumn (repeated 01:00), spring
def test_daylight_saving_changes(tmp_path: Path, newest_first: bool, start: str) -> None:
    """New York's clocks: the hour written twice in November is placed by the rows' order, in either
    direction; the hour skipped in March is simply absent. The candles are the UTC file's, none missing."""
    frame = random_walk_frame(
        48, start=pd.Timestamp(start, tz="America/New_York").tz_convert("UTC").isoformat()
    )
    local = load_ohlcv(
        _local_csv(tmp_path / "BTCUSD_1h.csv", frame, "America/New_York", newest_first=newest_first),
        timezone="America/New_York",
    )
    _same_candles(load_ohlcv(_local_csv(tmp_path / "BTCUSD_utc.csv", frame, None), symbol="BTC/USD"), local)
    assert local.attrs["quality_report"].missing_bars == 0


def test_an_hour_that_cannot_be_placed_is_an_invalid_row(tmp_path: Path) -> None:
    """The repeated autumn hour written once, or an hour the spring change skipped: the line is named."""
    frame = random_walk_frame(12, start="2021-11-07 03:00")  # New York 2021-11-06 23:00 .. 11-07 09:00 EST
    path = _local_csv(tmp_path / "BTCUSD_1h.csv", frame, "America/New_York")
    lines = path.read_text().splitlines()
    assert sum(line.startswith("2021-11-07 01:00:00") for line in lines) == 2
    first = next(i for i, line in enumerate(lines) if line.startswith("2021-11-07 01:00:00"))
    path.write_text("\n".join(lines[:first] + lines[first + 1 :]) + "\n")  # one of the two 01:00 rows
    with pytest.raises(DataValidationError, match=r"line 4, column 'date'.*not one time in America/New_York"):
        load_ohlcv(path, timezone="America/New_York")
    kept = load_ohlcv(path, timezone="America/New_York", errors="drop", missing_hours="absent")
    assert (
        len(kept) == 10 and "'2021-11-07 01:00:00' is not one time" in kept.attrs["quality_report"].dropped[0]
    )
    skipped = tmp_path / "ETHUSD_1h.csv"
    skipped.write_text("date,open,high,low,close,volume\n2021-03-14 02:00:00,1,2,0.5,1.5,3\n")
    with pytest.raises(
        DataValidationError, match="'2021-03-14 02:00:00' is not one time in America/New_York"
    ):
        load_ohlcv(skipped, timezone="America/New_York")


def test_exact_times_ignore_the_timezone(tmp_path: Path) -> None:
    """Unix values and dates with an offset keep their time; a file of only those says the zone was not used."""
    frame = random_walk_frame(30, start="2024-01-01")
    unix = frame[COLUMNS].copy()
    unix.insert(0, "unix", frame.index.as_unit("s").asi8 * 1000)
    unix.to_csv(tmp_path / "BTCUSDT_1h.csv", index=False)
    zoned = frame[COLUMNS].copy()
    zoned.insert(0, "date", frame.index.tz_convert("Asia/Tokyo").strftime("%Y-%m-%dT%H:%M:%S%z"))
    zoned.to_csv(tmp_path / "ETHUSDT_1h.csv", index=False)
    for name in ("BTCUSDT_1h.csv", "ETHUSDT_1h.csv"):
        df = load_ohlcv(tmp_path / name, timezone="Asia/Shanghai")
        assert df.index.equals(frame.index)
        report = df.attrs["quality_report"]
        assert report.timezone is None and report.naive_times == 0 and "time zone" not in str(report)
        assert report.warnings == [
            "timezone 'Asia/Shanghai' not used: every time is a unix value or carries its own zone (exact)"
        ]


def test_naive_parquet_datetimes_are_read_in_the_zone(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    frame = random_walk_frame(30, start="2024-01-01")
    out = frame[COLUMNS].copy()
    out.insert(0, "timestamp", frame.index.tz_convert("Asia/Shanghai").tz_localize(None))
    out.to_parquet(tmp_path / "BTCUSDT_1h.parquet", index=False)
    df = load_ohlcv(tmp_path / "BTCUSDT_1h.parquet", timezone="UTC+8")
    assert df.index.equals(frame.index) and df.attrs["quality_report"].timezone == "UTC+08:00"


@pytest.mark.parametrize("bad", ["UTC+15", "Mars/Olympus", "8", "", "+08:75"])
def test_a_zone_that_is_not_one_is_refused(tmp_path: Path, bad: str) -> None:
    path = _local_csv(tmp_path / "BTCUSDT_1h.csv", random_walk_frame(5), None)
    with pytest.raises(
        ValueError, match=re.escape(f"timezone={bad!r}: not a time zone (expected an IANA name")
    ):
        load_ohlcv(path, timezone=bad)


def test_offsets_that_change_with_daylight_saving_are_exact(tmp_path: Path) -> None:
    """Times written with their offset in a zone with daylight saving (Binance klines saved in Israel's
    clock: ``01:00:00+03:00`` then ``01:00:00+02:00`` at the autumn change): each is its own UTC hour, with
    or without ``timezone``; no hour is doubled or lost."""
    frame = random_walk_frame(72, start="2020-10-24 12:00")  # across 2020-10-25 02:00 local, back to 01:00
    out = frame[COLUMNS].copy()
    out.insert(0, "open_time", frame.index.tz_convert("Asia/Jerusalem").strftime("%Y-%m-%d %H:%M:%S%z"))
    out["open_time"] = out["open_time"].str.replace(r"(\d\d)(\d\d)$", r"\1:\2", regex=True)
    assert out["open_time"].str.startswith("2020-10-25 01:00:00").sum() == 2
    out.to_csv(tmp_path / "LINKUSDT_1h.csv", index=False)
    for zone in (None, "Asia/Jerusalem"):
        df = load_ohlcv(tmp_path / "LINKUSDT_1h.csv", timezone=zone)
        assert df.index.equals(frame.index) and df.attrs["quality_report"].missing_bars == 0
