"""The calibration of a run's forecasts: fitted on validation only, then the causal rolling calibration (references computed here)."""

from __future__ import annotations

import numpy as np
import pytest

from ml_attention_mechanisms.recipes._calibration import (
    apply_calibration,
    fit_calibration,
    var_scale,
    variance_scale,
)


def _qlike(y: np.ndarray, f: np.ndarray) -> float:
    return float(np.mean(y / f - np.log(y / f) - 1.0))


def test_variance_scale_minimises_qlike() -> None:
    rng = np.random.default_rng(0)
    f = rng.uniform(0.5, 2.0, 4000)
    y = 3.0 * f * rng.chisquare(4, 4000) / 4
    c = variance_scale(y, f)
    grid = np.linspace(0.5 * c, 1.5 * c, 201)
    best = grid[np.argmin([_qlike(y, g * f) for g in grid])]
    assert abs(c - best) <= grid[1] - grid[0]
    assert _qlike(y, c * f) <= _qlike(y, f)


@pytest.mark.parametrize("level", [0.05, 0.01])
def test_var_scale_hits_the_level_on_calibration_rows(level: float) -> None:
    rng = np.random.default_rng(1)
    sigma = rng.uniform(0.5, 2.0, 20000)
    loss = sigma * rng.standard_t(4, 20000)
    s = var_scale(loss, sigma, level)
    rate = float(np.mean(loss > s * sigma))
    assert abs(rate - level) <= 2.0 / 20000 + 1e-12


def test_fit_and_apply_calibration_cover_fresh_data() -> None:
    rng = np.random.default_rng(2)
    n = 6000
    r = rng.normal(0, 0.01, n)
    levels = (0.05, 0.25, 0.5, 0.75, 0.95)
    too_narrow = np.tile(np.array([-1.0, -0.4, 0.0, 0.4, 1.0]) * 0.008, (n, 1))  # true 5/95%: +-0.0164
    forecast = {"quantiles": too_narrow, "variance": np.full(n, 1e-4), "var": np.full((n, 2), 0.01),
                "es": np.full((n, 2), 0.012)}  # fmt: skip
    rows = np.zeros(n, dtype=bool)
    rows[: n // 2] = True
    cal = fit_calibration({"BTC": forecast}, {"BTC": r}, rows, quantile_levels=levels, var_levels=(0.05, 0.01),
                          horizon=24)  # fmt: skip
    out = apply_calibration(forecast, cal)
    y = np.r_[r[1:], np.nan]
    test = ~rows & np.isfinite(y)
    raw_cov = np.mean((y[test] >= too_narrow[test, 0]) & (y[test] <= too_narrow[test, -1]))
    cov = np.mean((y[test] >= out["quantiles"][test, 0]) & (y[test] <= out["quantiles"][test, -1]))
    assert raw_cov < 0.8 and abs(cov - 0.9) < 0.02
    np.testing.assert_allclose(out["quantiles_raw"], too_narrow)
    # the models' 24-bar variance is not rescaled (anchored, residual weights chosen on validation)
    assert "variance_scale" not in cal
    np.testing.assert_array_equal(out["variance"], forecast["variance"])
    exceed = np.mean(-y[test] > out["var"][test, 0])
    assert abs(exceed - 0.05) < 0.015


def _regime_shift(seed: int = 6) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, object]]:
    rng = np.random.default_rng(seed)
    n = 4000
    sigma = np.where(np.arange(n) < 2000, 0.01, 0.025)  # volatility jumps at bar 2000
    r = rng.normal(0, 1, n) * sigma
    base = np.array([-1.645, -0.674, 0.0, 0.674, 1.645]) * 0.01  # right for the first regime only
    forecast = {"quantiles": np.tile(base, (n, 1)), "variance": np.full(n, 24 * 1e-4),
                "var": np.tile([1.645e-2, 2.326e-2], (n, 1)), "es": np.tile([2.06e-2, 2.67e-2], (n, 1))}  # fmt: skip
    cal = {"quantile_levels": [0.05, 0.25, 0.5, 0.75, 0.95], "cqr_offsets": {"0.05": 0.0, "0.25": 0.0},
           "variance_scale": 1.0, "var_scale": {"0.05": 1.0, "0.01": 1.0}, "var_levels": [0.05, 0.01]}  # fmt: skip
    return r, forecast, cal


def test_rolling_calibration_follows_a_regime_change() -> None:
    from ml_attention_mechanisms.recipes._calibration import rolling_calibration

    r, forecast, cal = _regime_shift()
    out = rolling_calibration(forecast, r, cal, window=720, min_rows=168)
    y = np.r_[r[1:], np.nan]
    late = np.arange(3000, 3999)  # a month after the change
    cover = np.mean((y[late] >= out["quantiles"][late, 0]) & (y[late] <= out["quantiles"][late, -1]))
    static = np.mean(
        (y[late] >= forecast["quantiles"][late, 0]) & (y[late] <= forecast["quantiles"][late, -1])
    )
    assert static < 0.6 and abs(cover - 0.9) < 0.04
    assert abs(np.mean(-y[late] > out["var"][late, 0]) - 0.05) < 0.025
    rv = np.array([np.sum(r[t + 1 : t + 25] ** 2) for t in late])
    assert np.mean(out["variance"][late]) == pytest.approx(np.mean(rv), rel=0.15)


def test_rolling_calibration_is_causal() -> None:
    from ml_attention_mechanisms.recipes._calibration import rolling_calibration

    r, forecast, cal = _regime_shift()
    k = 2500
    moved = r.copy()
    moved[k + 1 :] = np.random.default_rng(9).normal(0, 0.05, r.size - k - 1)
    a = rolling_calibration(forecast, r, cal, window=720, min_rows=168)
    b = rolling_calibration(forecast, moved, cal, window=720, min_rows=168)
    for key in ("quantiles", "var", "es"):  # these read outcomes up to bar t
        np.testing.assert_array_equal(a[key][: k + 1], b[key][: k + 1])
    np.testing.assert_array_equal(
        a["variance"][: k + 1], b["variance"][: k + 1]
    )  # 24-bar targets resolved by t


@pytest.mark.parametrize("level", [0.05, 0.01])
def test_rolling_var_is_the_split_conformal_rank_of_the_known_ratios(level: float) -> None:
    """At bar t the VaR factor is the ceil((n + 1)(1 - level))-th smallest of the n = window ratios
    loss / VaR whose outcomes are known by t (bars t - window .. t - 1), not the interpolated quantile."""
    from ml_attention_mechanisms.recipes._calibration import rolling_calibration

    r, forecast, cal = _regime_shift(seed=11)
    window = 720
    out = rolling_calibration(forecast, r, cal, window=window, min_rows=168)
    i = [0.05, 0.01].index(level)
    ratio = np.r_[r[1:], np.nan] / -forecast["var"][:, i]  # loss / VaR of the forecast made at each bar
    k = int(np.ceil((window + 1) * (1 - level)))
    for t in (1500, 2600, 3900):
        known = np.sort(ratio[t - window : t])
        assert out["var"][t, i] == pytest.approx(forecast["var"][t, i] * known[k - 1], rel=1e-12)
        assert known[k - 1] > np.quantile(known, 1 - level)  # strictly more conservative here


@pytest.mark.parametrize("level", [0.05, 0.01])
def test_a_bar_without_a_price_is_no_outcome_of_the_calibration(level: float) -> None:
    """Previous-tick returns are 0 at a bar without a price: with ``observed`` those zeros are not loss
    ratios of the rolling VaR calibration (nor CQR scores), so the rank is taken over the priced bars."""
    from ml_attention_mechanisms.recipes._calibration import rolling_calibration

    r, forecast, cal = _regime_shift(seed=12)
    observed = np.ones(r.size, dtype=bool)
    observed[np.arange(1000, r.size, 7)] = False
    r = np.where(observed, r, 0.0)
    window = 720
    out = rolling_calibration(forecast, r, cal, window=window, min_rows=168, observed=observed)
    i = [0.05, 0.01].index(level)
    ratio = np.r_[r[1:], np.nan] / -forecast["var"][:, i]
    ratio[:-1][~observed[1:]] = np.nan  # decision t, bar t + 1 without a price: no outcome
    for t in (1500, 2600, 3900):
        known = np.sort(ratio[t - window : t][np.isfinite(ratio[t - window : t])])
        k = int(np.ceil((known.size + 1) * (1 - level)))
        assert out["var"][t, i] == pytest.approx(forecast["var"][t, i] * known[k - 1], rel=1e-12)
    plain = rolling_calibration(forecast, r, cal, window=window, min_rows=168)
    assert not np.allclose(plain["quantiles"][1500:], out["quantiles"][1500:])  # the zeros count without it


def test_fit_calibration_skips_bars_without_a_price() -> None:
    r, forecast, _ = _regime_shift(seed=13)
    rows = np.zeros(r.size, dtype=bool)
    rows[200:1800] = True
    observed = np.ones(r.size, dtype=bool)
    observed[np.arange(201, 1800, 3)] = False
    r = np.where(observed, r, 0.0)
    kw = dict(quantile_levels=(0.05, 0.25, 0.5, 0.75, 0.95), var_levels=(0.05, 0.01), horizon=24)
    with_gaps = fit_calibration({"A": forecast}, {"A": r}, rows, observed={"A": observed}, **kw)  # type: ignore[arg-type]
    keep = rows & np.r_[observed[1:], False]
    only_priced = fit_calibration({"A": forecast}, {"A": r}, keep, **kw)  # type: ignore[arg-type]
    assert with_gaps == only_priced
    assert with_gaps != fit_calibration({"A": forecast}, {"A": r}, rows, **kw)  # type: ignore[arg-type]


def test_live_rolling_calibrator_equals_the_runs_rolling_calibration_bar_for_bar() -> None:
    """``RollingConformalCalibrator``, fed one bar at a time (bars without a price and bars without a
    forecast included), gives the calibrated intervals and VaR/ES that ``evaluate``/``predict`` compute on
    the whole series, before and after enough outcomes are known to replace the stored calibration."""
    from ml_attention_mechanisms.evaluation import RollingConformalCalibrator
    from ml_attention_mechanisms.recipes._calibration import rolling_calibration

    rng = np.random.default_rng(7)
    n = 900
    sigma = np.exp(np.cumsum(rng.normal(0, 0.05, n))) * 0.01
    r = sigma * rng.standard_t(4, n)
    observed = rng.uniform(size=n) > 0.05  # 5% of the bars have no price: no outcome there
    z = np.array([-1.4, -0.6, 0.0, 0.6, 1.4])
    q = (0.9 * sigma)[:, None] * z[None, :] + rng.normal(0, 0.001, (n, 1))
    var = (0.9 * sigma)[:, None] * np.array([1.5, 2.2])
    es = var * 1.3
    none = rng.uniform(size=n) < 0.03  # no forecast at these bars
    q[none], var[none], es[none] = np.nan, np.nan, np.nan
    calibration = {
        "quantile_levels": [0.05, 0.25, 0.5, 0.75, 0.95],
        "cqr_offsets": {"0.05": 0.002, "0.25": -0.0005},
        "var_levels": [0.05, 0.01],
        "var_scale": {"0.05": 1.1, "0.01": 0.95},
    }
    batch = rolling_calibration({"quantiles": q, "var": var, "es": es}, r, calibration, window=200,
                                min_rows=60, observed=observed)  # fmt: skip
    live = RollingConformalCalibrator.from_calibration(calibration, window=200, min_rows=60)
    stored_rows = 0
    for t in range(n):
        kw = {} if none[t] else {"quantiles": q[t], "var": var[t], "es": es[t]}
        out = live.step(r[t] if observed[t] else None, **kw)
        if none[t]:
            assert out == {}
            continue
        np.testing.assert_allclose(out["quantiles"], batch["quantiles"][t], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(out["var"], batch["var"][t], rtol=1e-12)
        np.testing.assert_allclose(out["es"], batch["es"][t], rtol=1e-12)
        stored_rows += bool(np.allclose(out["var"], var[t] * [1.1, 0.95]))
    assert 60 <= stored_rows < 100  # the stored calibration until 60 outcomes are known, then rolling


def test_any_quantiles_get_the_models_rolling_calibration() -> None:
    """``rolling_calibrated_quantiles`` (the empirical quantiles' calibration beside the model's intervals)
    is the runs' rolling calibration without a stored one: each pair moved by the split-conformal quantile
    of its last ``window`` resolved CQR scores (the ``ceil((n + 1)(1 - alpha))``-th smallest), computed here
    by hand; unchanged until ``min_rows`` are resolved."""
    import math

    from ml_attention_mechanisms.recipes._calibration import rolling_calibrated_quantiles, rolling_calibration

    rng = np.random.default_rng(3)
    n, window, levels = 700, 150, [0.05, 0.25, 0.5, 0.75, 0.95]
    sigma = np.exp(np.cumsum(rng.normal(0, 0.05, n))) * 0.01
    r = sigma * rng.standard_t(4, n)
    q = (0.8 * sigma)[:, None] * np.array([-1.6, -0.7, 0.0, 0.7, 1.6])
    q[:40] = np.nan  # a forecaster's warm-up
    out = rolling_calibrated_quantiles(q, r, levels, window=window, min_rows=50)
    batch = rolling_calibration({"quantiles": q}, r, {"quantile_levels": levels}, window=window, min_rows=50)
    np.testing.assert_array_equal(out, batch["quantiles"])
    y = np.r_[r[1:], np.nan]
    for t in (60, 200, 699):
        for i, alpha in ((0, 0.1), (1, 0.5)):
            lo, hi = q[:, i], q[:, 4 - i]
            s = [
                max(lo[u] - y[u], y[u] - hi[u])
                for u in range(max(0, t - 1 - window + 1), t)
                if np.isfinite(lo[u])
            ]
            if len(s) < 50:
                shift = 0.0
            else:
                k = math.ceil((len(s) + 1) * (1 - alpha))
                shift = sorted(s)[k - 1] if k <= len(s) else math.inf
            assert out[t, i] == pytest.approx(lo[t] - shift, rel=1e-12)
            assert out[t, 4 - i] == pytest.approx(hi[t] + shift, rel=1e-12)
    assert np.isnan(out[:40]).all()
