"""Features: reference formulas computed here, and no look-ahead (perturbing bars after t changes nothing <= t)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _data_fixtures import random_walk_frame

from ml_attention_mechanisms.data import align
from ml_attention_mechanisms.data.features import (
    DEFAULT_FEATURES,
    compute_features,
    feature_names,
    multi_timeframe_features,
)


def _panel(n: int = 400, gap: int | None = None):  # type: ignore[no-untyped-def]
    a = random_walk_frame(n, seed=1)
    b = random_walk_frame(n, seed=2)
    if gap is not None:
        b = b.drop(b.index[gap])
    return align({"A/USDT": a, "B/USDT": b})


def _perturb_after(frame: pd.DataFrame, t: int, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = frame.copy()
    k = len(out) - t - 1
    factor = np.exp(rng.normal(0, 0.2, k))
    for col in ("open", "high", "low", "close"):
        out.iloc[t + 1 :, out.columns.get_loc(col)] *= factor
    out.iloc[t + 1 :, out.columns.get_loc("volume")] *= rng.uniform(0.1, 10, k)
    return out


def test_default_set_width_and_names() -> None:
    assert len(DEFAULT_FEATURES) == 17 and feature_names() == list(DEFAULT_FEATURES)
    assert feature_names("returns", ["4h"])[-1] == "4h:log_relative_volume"
    with pytest.raises(ValueError, match="unknown; available: default, returns"):
        feature_names("nope")
    with pytest.raises(ValueError, match=r"features \['bogus'\]: unknown"):
        feature_names(["bogus"])


def test_no_look_ahead_every_feature_and_timeframe() -> None:
    n, t = 24 * 20, 24 * 12 + 5
    frames = {"A/USDT": random_walk_frame(n, seed=1), "B/USDT": random_walk_frame(n, seed=2)}
    base = align(frames)
    moved = align({k: _perturb_after(v, t) for k, v in frames.items()})
    f0, f1 = compute_features(base), compute_features(moved)
    np.testing.assert_array_equal(f0[: t + 1], f1[: t + 1])
    assert not np.allclose(np.nan_to_num(f0[t + 1 :]), np.nan_to_num(f1[t + 1 :]))  # the perturbation bites
    m0, m1 = multi_timeframe_features(base, ["4h", "1d"]), multi_timeframe_features(moved, ["4h", "1d"])
    np.testing.assert_array_equal(m0[: t + 1], m1[: t + 1])


def test_reference_formulas() -> None:
    panel = _panel()
    f = compute_features(panel)
    col = {n: i for i, n in enumerate(DEFAULT_FEATURES)}
    c, h, lo, o, v = (panel.field(n)[:, 0] for n in ("close", "high", "low", "open", "volume"))
    t = 250
    assert f[t, 0, col["log_return_1"]] == pytest.approx(np.log(c[t] / c[t - 1]))
    assert f[t, 0, col["log_return_24"]] == pytest.approx(np.log(c[t] / c[t - 24]))
    assert f[t, 0, col["log_range"]] == pytest.approx(np.log(h[t] / lo[t]))
    assert f[t, 0, col["body"]] == pytest.approx(np.log(c[t] / o[t]))
    assert f[t, 0, col["close_position"]] == pytest.approx((c[t] - lo[t]) / (h[t] - lo[t]) - 0.5)
    r = np.diff(np.log(c))
    assert f[t, 0, col["realized_vol_24"]] == pytest.approx(np.sqrt(np.mean(r[t - 24 : t] ** 2)))
    rel = [np.log(v[i] / v[max(0, i - 719) : i + 1].mean() + 0.01) for i in range(t - 23, t + 1)]
    assert f[t, 0, col["log_relative_volume"]] == pytest.approx(rel[-1])
    lv = np.array(rel)
    assert f[t, 0, col["volume_zscore_24"]] == pytest.approx((lv[-1] - lv.mean()) / lv.std(ddof=1))
    win = c[t - 19 : t + 1]
    assert f[t, 0, col["bollinger_width_20"]] == pytest.approx(4 * win.std(ddof=1) / win.mean())
    # Wilder RSI and ATR, and the EMAs of MACD, by plain loops
    gain = loss = 0.0
    atr = 0.0
    e12 = e26 = c[0]
    sig = None
    for i in range(1, t + 1):
        d = c[i] - c[i - 1]
        if i == 1:  # pandas' EWM (adjust=False) starts at the first value
            gain, loss = max(d, 0), max(-d, 0)
        else:
            gain += (max(d, 0) - gain) / 14
            loss += (max(-d, 0) - loss) / 14
        tr = max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1]))
        atr += (tr - atr) / 14
        e12 += (c[i] - e12) * 2 / 13
        e26 += (c[i] - e26) * 2 / 27
        m = (e12 - e26) / c[i]
        sig = m if sig is None else sig + (m - sig) * 2 / 10
    # the pandas EWMs start at bar 0/1; after 250 bars the start-up difference is below 1e-9 relative
    assert f[t, 0, col["rsi_14"]] == pytest.approx(gain / (gain + loss) - 0.5, abs=1e-9)
    atr_first = h[0] - lo[0]  # pandas seeds the ATR EWM with bar 0's range (no previous close)
    assert f[t, 0, col["atr_14"]] * c[t] == pytest.approx(atr + atr_first * (13 / 14) ** t, rel=1e-9)
    assert f[t, 0, col["macd"]] == pytest.approx((e12 - e26) / c[t], rel=1e-9, abs=1e-12)
    assert f[t, 0, col["macd_signal"]] == pytest.approx(sig, rel=1e-6, abs=1e-9)


def test_missing_bar_is_never_bridged() -> None:
    panel = _panel(gap=200)
    f = compute_features(panel)
    lr1 = DEFAULT_FEATURES.index("log_return_1")
    assert not panel.mask[200, 1]
    assert np.isnan(f[200, 1]).all()  # the missing bar has no features
    assert np.isnan(f[201, 1, lr1])  # the return into the bar after the gap spans two hours: undefined
    assert np.isfinite(f[202, 1, lr1])


def test_multi_timeframe_uses_the_last_closed_coarse_bar() -> None:
    panel = _panel(24 * 4)
    coarse = panel.resample("4h")
    mt = multi_timeframe_features(panel, ["4h"], ["log_return_1"])[:, 0, 0]
    coarse_r = np.log(coarse.close[1:, 0] / coarse.close[:-1, 0])  # coarse bar k's return, k >= 1
    # hourly bar 03:00 closes at 04:00, with the 00:00-04:00 bar: it sees coarse bar 0's return (NaN: first)
    # hourly bar 07:00 sees coarse bar 1 (04:00-08:00); hourly bars 04:00-06:00 still see bar 0
    assert np.isnan(mt[3]) and np.isnan(mt[6])
    assert mt[7] == pytest.approx(coarse_r[0]) and mt[10] == pytest.approx(coarse_r[0])
    assert mt[11] == pytest.approx(coarse_r[1])
