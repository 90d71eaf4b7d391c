"""Volatility baselines: last window and HAR-RV against loops and OLS; GARCH against `arch` itself."""

from __future__ import annotations

import numpy as np
import pytest

from ml_attention_mechanisms.evaluation import (
    finite_rows,
    garch_forecast,
    har_rv_forecast,
    last_window_variance_forecast,
    qlike,
    realized_variance_target,
)


def _simulate_garch(
    n: int, seed: int, omega: float = 2e-6, alpha: float = 0.1, beta: float = 0.85
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r, s2 = np.empty(n), omega / (1 - alpha - beta)
    for t in range(n):
        r[t] = np.sqrt(s2) * rng.standard_normal()
        s2 = omega + alpha * r[t] ** 2 + beta * s2
    return r


def test_last_window_matches_loop() -> None:
    r = np.random.default_rng(0).normal(0, 0.01, 100)
    f = last_window_variance_forecast(r, window=10, horizon=24)
    assert np.isnan(f[:9]).all()
    for t in (9, 50, 99):
        assert f[t] == pytest.approx(2.4 * np.sum(r[t - 9 : t + 1] ** 2))


def test_har_rv_matches_ols_at_a_refit() -> None:
    r = _simulate_garch(2200, seed=1)
    bpd, h, s = 6, 4, 1499  # a coarse grid keeps the loop small
    f = har_rv_forecast(r, horizon=h, bars_per_day=bpd, min_train=s + 1, refit_every=40)

    def features(t: int) -> list[float]:
        sq = r**2
        return [
            1.0,
            sq[t - bpd + 1 : t + 1].sum(),
            sq[t - 7 * bpd + 1 : t + 1].sum() / 7,
            sq[t - 30 * bpd + 1 : t + 1].sum() / 30,
        ]

    rows = range(30 * bpd - 1, s - h + 1)
    design = np.array([features(t) for t in rows])
    y = np.array([np.sum(r[t + 1 : t + h + 1] ** 2) for t in rows])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    for t in (s, s + 39):
        assert f[t] == pytest.approx(max(np.array(features(t)) @ coef, 0.01 * y.mean()), rel=1e-8)
    assert np.isnan(f[s - 1])


def test_garch_matches_arch_at_refit_and_after_filtering() -> None:
    from arch import arch_model

    r = _simulate_garch(1500, seed=2)
    h, s, window = 24, 999, 1000
    fc = garch_forecast(r, horizon=h, min_train=s + 1, refit_every=200, window=window)
    lo = s - window + 1
    scale = 1.0 / r[lo : s + 1].std()
    res = arch_model(r[lo : s + 1] * scale, mean="Constant", vol="GARCH", p=1, q=1, rescale=False).fit(
        disp="off"
    )
    mu = res.params["mu"]
    expected = (res.forecast(horizon=h, reindex=False).variance.to_numpy()[-1].sum() + h * mu**2) / scale**2
    assert fc.variance[s] == pytest.approx(expected, rel=1e-6)
    assert fc.mean[s] == pytest.approx(mu / scale, rel=1e-9)
    # 150 bars after the fit: arch with the same parameters fixed, on the same start of data.
    t = s + 150
    fixed = arch_model(r[lo : t + 1] * scale, mean="Constant", vol="GARCH", p=1, q=1, rescale=False).fix(
        res.params
    )
    fvar = fixed.forecast(horizon=h, reindex=False).variance.to_numpy()[-1]
    assert fc.variance[t] == pytest.approx((fvar.sum() + h * mu**2) / scale**2, rel=1e-6)
    assert fc.sigma[t] == pytest.approx(np.sqrt(fvar[0]) / scale, rel=1e-6)
    assert len(fc.params) == 3 and fc.params[0]["refit_at"] == s


def _constant_qlike(y: np.ndarray, ok: np.ndarray) -> float:
    return qlike(y[ok], np.full(ok.sum(), np.nanmean(y[:1500])))


def test_garch_beats_a_constant_on_garch_data() -> None:
    r = _simulate_garch(4000, seed=3, omega=1e-6, alpha=0.05, beta=0.93)
    y = realized_variance_target(r)
    g = garch_forecast(r, min_train=1500, refit_every=500).variance
    ok = finite_rows(y, g)
    assert qlike(y[ok], g[ok]) < 0.8 * _constant_qlike(y, ok)


def test_har_rv_beats_a_constant_on_persistent_volatility_regimes() -> None:
    rng = np.random.default_rng(4)
    sigma = np.repeat(rng.choice([0.005, 0.01, 0.02], size=14), 300)  # long-memory-like level shifts
    r = sigma * rng.standard_normal(sigma.size)
    y = realized_variance_target(r)
    har = har_rv_forecast(r, min_train=1500, refit_every=500)
    ok = finite_rows(y, har)
    assert qlike(y[ok], har[ok]) < 0.8 * _constant_qlike(y, ok)


def test_volatility_baselines_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="min_train=100"):
        har_rv_forecast(np.zeros(1000), min_train=100)
    with pytest.raises(ValueError, match="mean='ar'"):
        garch_forecast(np.zeros(1000), mean="ar")


def test_listed_har_rv_fits_each_asset_on_its_own_bars() -> None:
    from ml_attention_mechanisms.evaluation import har_rv_forecast, listed_har_rv_forecast

    rng = np.random.default_rng(11)
    r = rng.normal(0, 0.01, (4000, 3)) * [1.0, 2.0, 3.0]
    r[:1000, 1] = 0.0  # listed at bar 1000: zeros before it
    listed = np.ones((4000, 3), dtype=bool)
    listed[:1000, 1] = False
    out = listed_har_rv_forecast(r, listed, start=3500)
    np.testing.assert_array_equal(out[:, 0], har_rv_forecast(r[:, 0], start=3500))
    np.testing.assert_array_equal(out[1000:, 1], har_rv_forecast(r[1000:, 1], start=2500))
    assert np.isnan(out[:1000, 1]).all()
    short = listed.copy()
    short[:2500, 2] = False  # 1500 bars of its own: too few for the first fit
    assert np.isnan(listed_har_rv_forecast(r, short, start=3500)[:, 2]).all()
