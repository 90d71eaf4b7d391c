"""The variance anchor: causal, homogeneous (a k-times variance gives a k-times anchor), unmoved by longer or
shorter wicks, QLIKE-fitted."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from _data_fixtures import random_walk_frame

from ml_attention_mechanisms.data import align, prepare_panel
from ml_attention_mechanisms.data.anchor import VarianceAnchor, parkinson_variance

SMALL = VarianceAnchor(horizon=4, level_window=48, windows=(1, 6, 24, 96), min_periods=12, ratio_window=120)


def _bars(n: int, assets: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar Parkinson variances and squared returns ``[n, assets]`` (NaN at missing bars and at the
    return across them)."""
    rng = np.random.default_rng(seed)
    vol = np.exp(np.cumsum(rng.normal(0, 0.05, (n, assets)), axis=0)) * 0.01  # slowly moving volatility
    p = (vol * rng.normal(size=(n, assets))) ** 2
    r2 = 0.7 * (vol * rng.normal(size=(n, assets))) ** 2
    p[37, 0] = np.nan  # a missing bar
    r2[37:39, 0] = np.nan
    p[100:103, 1] = np.nan
    r2[100:104, 1] = np.nan
    return p, r2


def _reference_design(p: np.ndarray, r2: np.ndarray, anchor: VarianceAnchor) -> tuple[np.ndarray, np.ndarray]:
    """The module's formulas with pandas rolling means (an independent implementation)."""
    frame = pd.DataFrame(p)
    level = frame.rolling(anchor.level_window, min_periods=anchor.min_periods).mean().to_numpy()
    both = np.isfinite(p) & np.isfinite(r2)
    rolling = {"window": anchor.ratio_window, "min_periods": anchor.min_periods}
    ret = pd.DataFrame(np.where(both, r2, np.nan)).rolling(**rolling).sum().to_numpy()
    rng_ = pd.DataFrame(np.where(both, p, np.nan)).rolling(**rolling).sum().to_numpy()
    cols = []
    for w in anchor.windows:
        m = frame.rolling(w, min_periods=max(1, min(w // 2, anchor.min_periods))).mean().to_numpy()
        x = np.clip(np.log(m / level), math.log(anchor.min_ratio), math.log(1e3))
        cols.append(np.where(np.isfinite(x), x, 0.0))
    return np.stack(cols, -1), np.log(level * ret / rng_)


def test_design_matches_a_pandas_reference() -> None:
    p, r2 = _bars(400)
    x, log_level = SMALL.design(p, r2)
    ref_x, ref_level = _reference_design(p, r2, SMALL)
    np.testing.assert_allclose(log_level, ref_level, rtol=1e-10, equal_nan=True)
    ok = np.isfinite(ref_level)
    np.testing.assert_allclose(x[ok], ref_x[ok], rtol=1e-8, atol=1e-10)
    assert (
        np.isnan(log_level[: SMALL.min_periods - 1]).all()
        and np.isfinite(log_level[SMALL.min_periods :]).all()
    )


def test_homogeneous_causal_and_unmoved_by_wicks() -> None:
    p, r2 = _bars(400)
    anchor = dataclasses.replace(SMALL, coef=[0.1, 0.2, 0.3, -0.1, 0.25])
    base = anchor.scale(p, r2)
    for k in (1e-6, 9.0, 1e4):  # a wilder or calmer period, or any price unit (ranges are unit-free)
        np.testing.assert_allclose(anchor.scale(k * p, k * r2), k * base, rtol=1e-10, equal_nan=True)
        # ranges k times as wide for the same closes (another venue's wicks): the same anchor
        np.testing.assert_allclose(anchor.scale(k * p, r2), base, rtol=1e-10, equal_nan=True)
    t = 250
    later = np.arange(p.shape[0])[:, None] > t
    for after in (
        anchor.scale(np.where(later, 50 * p, p), r2),
        anchor.scale(p, np.where(later, 50 * r2, r2)),
    ):
        np.testing.assert_array_equal(after[: t + 1], base[: t + 1])  # only later bars move
        assert not np.allclose(after[t + 1 :], base[t + 1 :], equal_nan=True)


def test_fit_is_the_qlike_minimiser_and_recovers_planted_coefficients() -> None:
    n, assets = 6000, 3
    rng = np.random.default_rng(1)
    p, r2 = _bars(n, assets, seed=2)
    truth = np.array([0.2, 0.15, 0.3, 0.25, 0.1])
    x, log_level = SMALL.design(p, r2)
    mean = np.exp(log_level + truth[0] + x @ truth[1:])
    target = mean * rng.exponential(size=mean.shape)  # E[target | past] = mean: QLIKE is consistent for it
    rows = np.ones(p.shape, dtype=bool)
    rows[-SMALL.horizon :] = False
    fitted = dataclasses.replace(SMALL, coef=[]).fit(p, r2, target, rows)
    np.testing.assert_allclose(fitted.coef, truth, atol=0.06)

    def qlike(coef: np.ndarray) -> float:
        f = np.exp(log_level + coef[0] + x @ coef[1:])
        ok = rows & np.isfinite(f)
        r = target[ok] / f[ok]
        return float(np.mean(r - np.log(r) - 1))

    best = qlike(np.asarray(fitted.coef))
    for i in range(len(truth)):
        for step in (-0.01, 0.01):
            other = np.asarray(fitted.coef).copy()
            other[i] += step
            assert qlike(other) > best


def test_windows_by_bar_interval_and_plain_data() -> None:
    hourly = VarianceAnchor.for_bar_seconds(3600, level_window=720, min_periods=168)
    assert (hourly.horizon, hourly.windows, hourly.level_window) == (24, (1, 6, 24, 168, 8760), 720)
    assert hourly.ratio_window == 2160
    daily = VarianceAnchor.for_bar_seconds(86_400)
    assert (daily.horizon, daily.windows, daily.level_window, daily.ratio_window) == (1, (1, 7, 365), 30, 90)
    anchor = dataclasses.replace(SMALL, coef=[0.0, 0.1, 0.2, 0.3, 0.4])
    assert VarianceAnchor.from_dict(anchor.to_dict()) == anchor
    stored_without_floor = {k: v for k, v in anchor.to_dict().items() if k != "min_ratio"}
    assert VarianceAnchor.from_dict(stored_without_floor).min_ratio == 1e-3  # the floor it was fitted with
    with pytest.raises(ValueError, match=r"min_ratio=0.0, expected a value in \(0, 1\]"):
        VarianceAnchor(min_ratio=0.0)
    with pytest.raises(ValueError, match="missing key 'coef'"):
        VarianceAnchor.from_dict({k: v for k, v in anchor.to_dict().items() if k != "coef"})
    with pytest.raises(ValueError, match="older version: retrain"):
        VarianceAnchor.from_dict({**anchor.to_dict(), "kind": "parkinson_log_har"})
    with pytest.raises(ValueError, match="expected integers >= 1"):
        VarianceAnchor(windows=(0, 4))
    with pytest.raises(ValueError, match="coef has 2 values, expected 6"):
        VarianceAnchor(coef=[0.0, 1.0])
    with pytest.raises(ValueError, match="min_periods <= level_window and ratio_window"):
        VarianceAnchor(min_periods=200, ratio_window=100)
    with pytest.raises(RuntimeError, match="not fitted"):
        VarianceAnchor().scale(np.ones((10, 1)), np.ones((10, 1)))
    p, r2 = _bars(200)
    with pytest.raises(ValueError, match="squared_returns shape"):
        SMALL.design(p, r2[:-1])
    rows = np.zeros((200, 2), dtype=bool)
    rows[50:53, 0] = True
    with pytest.raises(ValueError, match=r"3 training rows .* at least 100"):
        SMALL.fit(p, r2, np.ones((200, 2)), rows)


def test_a_bar_without_range_counts_as_min_ratio_of_the_level() -> None:
    """A bar that printed no range (no trade, a stale quote) is not read as a market 1000 times calmer: each
    window's term is floored at ``ln(min_ratio)``, so stale bars move the anchor by a bounded factor."""
    p, r2 = _bars(400)
    stale = np.zeros(p.shape, dtype=bool)
    stale[200::3] = True  # every third bar from 200 on traded nothing
    p_stale = np.where(stale, 0.0, p)
    for floor in (0.2, 0.05):
        anchor = dataclasses.replace(SMALL, min_ratio=floor)
        x, log_level = anchor.design(p_stale, r2)
        assert x.min() == pytest.approx(math.log(floor))
        on = stale & np.isfinite(log_level)
        np.testing.assert_allclose(x[on][:, 0], math.log(floor))  # the 1-bar term sits on the floor
    wide = dataclasses.replace(SMALL, min_ratio=1e-3, coef=[0.1, 0.3, 0.0, 0.0, 0.0])
    tight = dataclasses.replace(wide, min_ratio=0.2)
    ok = stale & np.isfinite(tight.scale(p_stale, r2))
    base = dataclasses.replace(wide, coef=[0.1, 0.0, 0.0, 0.0, 0.0]).scale(p_stale, r2)[ok]
    # the 1-bar term alone: a stale bar lowers the anchor by 0.2 ** 0.3 at most, not 1000 ** -0.3
    np.testing.assert_allclose(tight.scale(p_stale, r2)[ok] / base, 0.2**0.3, rtol=1e-10)
    np.testing.assert_allclose(wide.scale(p_stale, r2)[ok] / base, 1e-3**0.3, rtol=1e-10)


def test_parkinson_variance() -> None:
    assert parkinson_variance(np.array([math.log(1.02)]))[0] == pytest.approx(
        math.log(1.02) ** 2 / (4 * math.log(2))
    )


def test_prepared_scale_ignores_units_and_travels_with_the_scaler() -> None:
    frames = {"A/USDT": random_walk_frame(600, seed=1), "B/USDT": random_walk_frame(600, seed=2)}
    kw = {"window": 96, "min_periods": 24, "horizons": (1, 4), "signal_horizon": 6, "num_regimes": 3}
    base = prepare_panel(align(frames), fit_end=400, **kw)
    assert base.scaler.to_dict()["anchor"]["coef"] == pytest.approx(base.anchor.coef)
    unit = {}
    for k, f in frames.items():
        g = f.copy()
        g[["open", "high", "low", "close"]] *= 1000.0
        g[["volume", "quote_volume"]] *= 0.001
        unit[k] = g
    other = prepare_panel(align(unit), fit_end=400, **kw)
    np.testing.assert_allclose(other.scale, base.scale, rtol=1e-9)
    np.testing.assert_allclose(other.features, base.features, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(other.mask, base.mask)
    reused = prepare_panel(align(frames), scaler=base.scaler.to_dict(), **kw)
    np.testing.assert_array_equal(reused.scale, base.scale)
    stale = {k: v for k, v in base.scaler.to_dict().items() if k != "anchor"}
    with pytest.raises(ValueError, match="carry no variance anchor"):
        prepare_panel(align(frames), scaler=stale, **kw)


def test_prepared_scale_ignores_the_length_of_the_wicks() -> None:
    """Another venue's candles: the same closes, every range c times as wide in log terms (a thinner book's
    longer wicks). Range variances grow c^2-fold; the scale the models forecast relative to does not move."""
    frames = {"A/USDT": random_walk_frame(900, seed=3), "B/USDT": random_walk_frame(900, seed=4)}
    kw = {"window": 96, "min_periods": 24, "horizons": (1, 4), "signal_horizon": 6, "num_regimes": 3}
    base = prepare_panel(align(frames), fit_end=600, **kw)
    wide = {}
    for k, f in frames.items():
        g = f.copy()
        mid = np.sqrt(g["high"] * g["low"])  # ln(high / low) doubles around the range's geometric middle
        g["high"], g["low"] = mid * (g["high"] / mid) ** 2, mid * (g["low"] / mid) ** 2
        wide[k] = g
    other = prepare_panel(align(wide), scaler=base.scaler.to_dict(), **kw)
    ok = base.mask & other.mask
    assert ok.mean() > 0.5
    np.testing.assert_allclose(other.scale[ok], base.scale[ok], rtol=1e-9)


def test_log_scale_last_is_the_last_row_of_log_scale() -> None:
    """The live form computes only the newest row: the same figure as the whole design's last row, with
    missing bars, before the level's warm-up ends and over several assets."""
    rng = np.random.default_rng(5)
    n = 140
    p = rng.uniform(0.5, 2.0, (n, 2)) * 1e-4
    r2 = p * rng.uniform(0.2, 3.0, (n, 2))
    p[[10, 11, 60], 0] = np.nan
    r2[[10, 12, 90], 1] = np.nan
    anchor = VarianceAnchor(
        horizon=4, level_window=20, windows=(1, 3, 10, 40), min_periods=5, ratio_window=30
    )
    anchor.coef = [0.1, 0.2, 0.15, 0.1, 0.05]
    full = anchor.log_scale(p, r2)
    for end in (3, 8, 21, 41, 61, 140):  # warm-up, partial windows, full windows
        np.testing.assert_allclose(anchor.log_scale_last(p[:end], r2[:end]), full[end - 1], rtol=1e-12)
    with pytest.raises(RuntimeError, match="not fitted"):
        VarianceAnchor().log_scale_last(p, r2)
