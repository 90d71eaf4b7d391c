"""Panels on one UTC grid with masks; resampling against a hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _data_fixtures import random_walk_frame

from ml_attention_mechanisms.data import MarketPanel, align, parse_timeframe, resample_ohlcv
from ml_attention_mechanisms.data.validation import DataValidationError


def _hand_frame() -> pd.DataFrame:
    # 8 hourly bars from 2021-01-01 00:00; 02:00 is missing; 05:00 is a zero-volume placeholder
    rows = {
        0: (10, 12, 9, 11, 1.0, 3),
        1: (11, 13, 10, 12, 2.0, 4),
        3: (12, 15, 11, 14, 3.0, 5),
        4: (14, 14.5, 13, 13.5, 4.0, 6),
        5: (13.5, 13.5, 13.5, 13.5, 0.0, 0),
        6: (13.5, 16, 8, 15, 5.0, 7),
        7: (15, 15.5, 14, 14.2, 6.0, 8),
    }
    idx = pd.DatetimeIndex(
        [pd.Timestamp("2021-01-01", tz="UTC") + pd.Timedelta(hours=h) for h in rows], name="timestamp"
    )
    df = pd.DataFrame(
        list(rows.values()), index=idx, columns=["open", "high", "low", "close", "volume", "trades"]
    ).astype(float)
    df["quote_volume"] = df["volume"] * df["close"]
    df["suspicious"] = False
    df["possibly_open"] = False
    df.attrs.update(symbol="HAND/USDT", timeframe="1h")
    return df


def test_resample_against_hand_computation() -> None:
    out = resample_ohlcv(_hand_frame(), "4h")
    assert list(out.index) == [
        pd.Timestamp("2021-01-01 00:00", tz="UTC"),
        pd.Timestamp("2021-01-01 04:00", tz="UTC"),
    ]
    # 00:00-03:59 from bars 0, 1, 3 (02:00 missing)
    assert out.iloc[0][["open", "high", "low", "close", "volume", "trades"]].tolist() == [
        10,
        15,
        9,
        14,
        6.0,
        12,
    ]
    assert out.iloc[0]["quote_volume"] == 1 * 11 + 2 * 12 + 3 * 14
    # 04:00-07:59 from bars 4, 6, 7 (the placeholder at 05:00 is missing, not a price)
    assert out.iloc[1][["open", "high", "low", "close", "volume", "trades"]].tolist() == [
        14,
        16,
        8,
        14.2,
        15.0,
        21,
    ]
    assert out.attrs["timeframe"] == "4h" and out.attrs["symbol"] == "HAND/USDT"


def test_resample_daily_drops_partial_ends_and_matches_pandas() -> None:
    df = random_walk_frame(24 * 5 + 7, start="2021-03-01 05:00")
    out = resample_ohlcv(df, "1d")
    # the first day (from 05:00) and the last (7 hours... from 05:00 + 127 h) are partial: left out
    assert out.index[0] == pd.Timestamp("2021-03-02", tz="UTC") and len(out) == 4
    ref = df.resample("1D").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    ref = ref.loc[out.index]
    ref.index = ref.index.as_unit(out.index.unit)  # pandas 3 resamples at its frame's unit (us), ours is s
    pd.testing.assert_frame_equal(out[["open", "high", "low", "close", "volume"]], ref, check_freq=False)


def test_weekly_bars_start_on_monday() -> None:
    df = random_walk_frame(24 * 21, start="2021-03-01")  # a Monday
    out = resample_ohlcv(df, "1w")
    assert all(ts.day_of_week == 0 and ts.hour == 0 for ts in out.index) and len(out) == 3


def test_align_masks_listing_gaps_placeholders_and_flags() -> None:
    a = random_walk_frame(10, seed=1)
    b = random_walk_frame(6, seed=2, start="2021-01-01 04:00").drop(
        pd.Timestamp("2021-01-01 06:00", tz="UTC")
    )
    b.loc[pd.Timestamp("2021-01-01 07:00", tz="UTC"), ["open", "high", "low", "close", "volume"]] = [
        5.0,
        5.0,
        5.0,
        5.0,
        0.0,
    ]
    a.loc[a.index[-1], "possibly_open"] = True
    a.loc[a.index[0], "suspicious"] = True
    panel = align({"AAA/USDT": a, "BBB/USDT": b})
    assert isinstance(panel, MarketPanel)
    assert panel.num_bars == 10 and panel.symbols == ("AAA/USDT", "BBB/USDT")
    assert panel.symbol_to_id == {"AAA/USDT": 1, "BBB/USDT": 2}
    assert np.all(np.diff(panel.timestamps) == 3600) and panel.timestamps.dtype == np.int64
    expected_b = np.array(
        [0, 0, 0, 0, 1, 1, 0, 0, 1, 1], dtype=bool
    )  # listing at 04:00, gap 06:00, placeholder 07:00
    assert (panel.mask[:, 1] == expected_b).all()
    assert (panel.mask[:, 0] == np.r_[False, [True] * 8, False]).all()  # suspicious first, unfinished last
    # masked bars hold NaN in every field: nothing forward-filled into a return
    for name in ("open", "close", "volume"):
        assert (
            np.isnan(panel.field(name)[~panel.mask]).all()
            and np.isfinite(panel.field(name)[panel.mask]).all()
        )
    assert align({"AAA/USDT": a}, mask_suspicious=False).mask[0, 0]


def test_align_errors() -> None:
    a = random_walk_frame(5)
    with pytest.raises(ValueError, match="frames is empty"):
        align({})
    with pytest.raises(ValueError, match="timeframes differ"):
        align({"A": a, "B": _with_tf(random_walk_frame(5, step="4h"), "4h")})
    off = a.copy()
    off.index = off.index + pd.Timedelta(minutes=30)
    with pytest.raises(DataValidationError, match="not on the 1h grid"):
        align({"A": a, "B": off}, timeframe="1h")
    with pytest.raises(ValueError, match=r"expected e\.g\. '15min'"):
        parse_timeframe("fortnight")
    assert parse_timeframe("15min") == parse_timeframe("15m") == 900 and parse_timeframe("1d") == 86400


def test_panel_select_between_resample_to_frame() -> None:
    panel = align({"A/USDT": random_walk_frame(48, seed=1), "B/USDT": random_walk_frame(48, seed=2)})
    sub = panel.select(["B/USDT"])
    assert sub.symbols == ("B/USDT",) and np.array_equal(sub.close[:, 0], panel.close[:, 1], equal_nan=True)
    window = panel.between("2021-01-01 05:00", "2021-01-01 10:00")
    assert window.num_bars == 6
    coarse = panel.resample("4h")
    assert coarse.timeframe == "4h" and coarse.num_bars == 12
    assert coarse.high[0, 0] == panel.high[:4, 0].max() and coarse.close[0, 0] == panel.close[3, 0]
    frame = panel.to_frame("A/USDT")
    assert len(frame) == 48 and frame.attrs["symbol"] == "A/USDT"
    with pytest.raises(ValueError, match="not in the panel"):
        panel.select(["C/USDT"])


def _with_tf(df: pd.DataFrame, tf: str) -> pd.DataFrame:
    df.attrs["timeframe"] = tf
    return df
