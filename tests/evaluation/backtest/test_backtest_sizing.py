"""Volatility targeting: the sizing formula, the no-trade band, portfolio volatility against a covariance
computed here, causality, and the choice of a configuration."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml_attention_mechanisms.evaluation import (
    VolTargetConfig,
    annualised_volatility,
    choose_vol_target,
    no_trade_band,
    portfolio_volatility,
    run_backtest,
    vol_target_positions,
    vol_target_scale,
    vol_target_weights,
)

YEAR = 24 * 365


def test_config_validation_names_the_field() -> None:
    assert VolTargetConfig().to_dict() == {
        "target_vol": 0.5, "max_position": 1.0, "band": 0.0, "horizon": 24, "periods_per_year": YEAR,
    }  # fmt: skip
    assert VolTargetConfig.from_dict(VolTargetConfig(band=0.1).to_dict()) == VolTargetConfig(band=0.1)
    for kwargs, field in (({"target_vol": 0.0}, "target_vol"), ({"max_position": -1.0}, "max_position"),
                          ({"band": -0.1}, "band"), ({"band": float("nan")}, "band"), ({"horizon": 0}, "horizon"),
                          ({"periods_per_year": 1.5}, "periods_per_year")):  # fmt: skip
        with pytest.raises(ValueError, match=f"VolTargetConfig.{field}="):
            VolTargetConfig(**kwargs)  # type: ignore[arg-type]


def test_scale_is_target_over_annualised_forecast_capped() -> None:
    variance = np.array([24 * 1e-4, 24 * 4e-4, 24 * 1e-6, np.nan, 0.0, -1.0])
    cfg = VolTargetConfig(target_vol=0.5, max_position=1.0)
    vol = [math.sqrt(v / 24 * YEAR) if v > 0 else math.nan for v in variance]
    np.testing.assert_allclose(annualised_volatility(variance), vol)
    want = [min(1.0, 0.5 / v) if v == v else math.nan for v in vol]
    np.testing.assert_allclose(vol_target_scale(variance, cfg), want)
    assert vol_target_scale(variance, cfg)[2] == 1.0  # a calm forecast hits the cap


def _band_loop(target: list[float], band: float) -> list[float]:
    held, out = 0.0, []
    for x in target:
        if not math.isnan(x) and (
            abs(x - held) > band * abs(held) or (x > 0) != (held > 0) or (x < 0) != (held < 0)
        ):
            held = x
        out.append(held)
    return out


def test_no_trade_band_against_a_loop() -> None:
    rng = np.random.default_rng(0)
    target = np.where(rng.random(300) < 0.1, np.nan, np.clip(rng.normal(0.5, 0.3, 300), -1, 1))
    target[rng.random(300) < 0.1] = 0.0
    for band in (0.0, 0.05, 0.2):
        np.testing.assert_array_equal(no_trade_band(target, band), _band_loop(target.tolist(), band))
    assert no_trade_band(np.array([0.5, 0.45, 0.0]), 0.9).tolist() == [0.5, 0.5, 0.0]  # exits always trade
    scaled = 3.0 * np.nan_to_num(target, nan=np.nan)  # a 3x target: the same trades, 3x the size
    np.testing.assert_allclose(no_trade_band(scaled, 0.2), 3.0 * no_trade_band(target, 0.2))
    with pytest.raises(ValueError, match="band=-1"):
        no_trade_band(target, -1.0)


def test_band_cuts_turnover_of_vol_sized_positions() -> None:
    rng = np.random.default_rng(1)
    variance = 24 * (1e-4 * np.exp(np.cumsum(rng.normal(0, 0.05, 2000))))
    direction = np.ones(2000)
    turnover = [np.abs(np.diff(vol_target_positions(direction, variance, VolTargetConfig(target_vol=0.3, band=b)))).sum()
                for b in (0.0, 0.02, 0.1)]  # fmt: skip
    assert turnover[0] > turnover[1] > turnover[2] > 0


def test_positions_follow_direction_and_missing_forecasts() -> None:
    cfg = VolTargetConfig(target_vol=0.5)
    v = 24 * 1e-4 * np.ones(6)  # vol = sqrt(1e-4 * 8760) = 0.936: scale 0.534
    v[3] = np.nan
    d = np.array([1.0, np.nan, -1.0, 1.0, 0.0, 0.5])
    s = 0.5 / math.sqrt(1e-4 * YEAR)
    np.testing.assert_allclose(vol_target_positions(d, v, cfg), [s, s, -s, -s, 0.0, 0.5 * s])
    with pytest.raises(ValueError, match="direction: expected values in \\[-1, 1\\]"):
        vol_target_positions(np.array([2.0]), np.array([1e-3]), cfg)
    with pytest.raises(ValueError, match="same length"):
        vol_target_positions(np.ones(3), np.ones(2), cfg)


def test_positions_are_causal() -> None:
    rng = np.random.default_rng(2)
    d, v = np.sign(rng.normal(size=500)), 24 * 1e-4 * rng.uniform(0.5, 2, 500)
    cfg = VolTargetConfig(target_vol=0.4, band=0.05)
    base = vol_target_positions(d, v, cfg)
    d2, v2 = d.copy(), v.copy()
    d2[300:], v2[300:] = -d2[300:], v2[300:] * 7
    np.testing.assert_array_equal(vol_target_positions(d2, v2, cfg)[:300], base[:300])


def test_true_variance_sizes_realised_volatility_to_the_target() -> None:
    """GARCH(1,1) returns sized by their true 24-bar conditional variance: the strategy's realised
    annualised volatility lands on the target, while buy-and-hold's is the series' own."""
    rng = np.random.default_rng(3)
    n, omega, alpha, beta = 40000, 2e-6, 0.08, 0.9
    r, s2 = np.empty(n), np.empty(n)
    s2[0] = omega / (1 - alpha - beta)
    for t in range(n):
        r[t] = math.sqrt(s2[t]) * rng.standard_normal()
        if t + 1 < n:
            s2[t + 1] = omega + alpha * r[t] ** 2 + beta * s2[t]
    p = alpha + beta
    ks = np.arange(24)
    # E_t[sum_{k=1..24} sigma2_{t+k}] with sigma2_{t+1} known at t
    nxt = np.r_[s2[1:], np.nan]
    unc = omega / (1 - p)
    variance = 24 * unc + (nxt - unc) * (p**ks).sum()
    cfg = VolTargetConfig(target_vol=0.2, max_position=10.0)
    pos = vol_target_positions(np.ones(n), variance, cfg)
    res = run_backtest(pos, r)
    realised = res.gross_returns.std() * math.sqrt(YEAR)
    assert realised == pytest.approx(0.2, rel=0.05)


def test_portfolio_volatility_against_the_covariance() -> None:
    rng = np.random.default_rng(4)
    t, a = 5, 3
    w = rng.dirichlet(np.ones(a), t)
    w[1, 2] = 0.0
    variance = 24 * rng.uniform(1e-5, 1e-4, (t, a))
    variance[1, 2] = np.nan  # not held: not needed
    raw = rng.normal(size=(t, a, a))
    cov = raw @ np.swapaxes(raw, 1, 2) + np.eye(a)
    d = np.sqrt(np.einsum("tii->ti", cov))
    rho = cov / d[:, :, None] / d[:, None, :]
    got = portfolio_volatility(w, variance, rho)
    sd = np.sqrt(np.nan_to_num(variance) / 24 * YEAR)
    for i in range(t):
        sigma = rho[i] * np.outer(sd[i], sd[i])
        assert got[i] == pytest.approx(math.sqrt(w[i] @ sigma @ w[i]), rel=1e-12)
    w[2] = np.nan
    assert np.isnan(portfolio_volatility(w, variance, rho)[2])


def test_vol_target_weights_hit_the_target_under_the_cap_and_keep_the_band() -> None:
    t, a = 4, 2
    w = np.array([[0.5, 0.5], [np.nan, np.nan], [0.5, 0.5], [0.9, 0.1]])
    variance = np.full((t, a), 24 * 1e-4)  # each asset 0.936 annualised
    rho = np.repeat(np.eye(a)[None], t, axis=0)
    cfg = VolTargetConfig(target_vol=0.3, band=0.05)
    out = vol_target_weights(w, variance, rho, cfg)
    pv = portfolio_volatility(out, variance, rho)
    assert pv[0] == pytest.approx(0.3) and np.isnan(out[1]).all()
    assert np.isnan(out[2]).all()  # the same target as the weights held: within the band, no trade
    assert pv[3] == pytest.approx(0.3) and out[3, 0] / out[3, 1] == pytest.approx(9.0)
    calm = vol_target_weights(w, variance / 100, rho, VolTargetConfig(target_vol=0.3, max_position=1.0))
    assert np.abs(calm[0]).sum() == pytest.approx(1.0)  # capped at a gross exposure of 1


def test_choose_vol_target_takes_the_best_and_says_how() -> None:
    cands = [VolTargetConfig(band=b) for b in (0.0, 0.1, 0.2)]
    best, rows = choose_vol_target(cands, lambda c: {0.0: 1.0, 0.1: 2.0, 0.2: 2.0}[c.band])
    assert best.band == 0.1 and [r["chosen"] for r in rows] == [False, True, False]  # ties: the earlier
    best, rows = choose_vol_target(cands, lambda c: float("nan"))
    assert best is cands[0] and rows[0]["chosen_by"].startswith("first candidate")
    with pytest.raises(ValueError, match="at least one"):
        choose_vol_target([], lambda c: 0.0)
