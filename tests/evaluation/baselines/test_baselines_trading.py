"""Trading and portfolio baselines against loops and closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from ml_attention_mechanisms.evaluation import (
    VolTargetConfig,
    buy_and_hold_positions,
    equal_weight_weights,
    har_rv_forecast,
    inverse_volatility_weights,
    min_variance_weights,
    momentum_positions,
    portfolio_volatility,
    vol_target_buy_and_hold_positions,
    vol_target_portfolio_weights,
    vol_target_positions,
)


def test_buy_and_hold_and_momentum_match_loops() -> None:
    r = np.random.default_rng(0).normal(0, 0.01, 200)
    assert np.all(buy_and_hold_positions(r) == 1)
    for long_short in (False, True):
        pos = momentum_positions(r, lookback=24, long_short=long_short)
        for t in range(200):
            if t < 23:
                assert pos[t] == 0
            else:
                want = 1.0 if r[t - 23 : t + 1].sum() > 0 else (-1.0 if long_short else 0.0)
                assert pos[t] == want


def test_equal_and_inverse_volatility_weights() -> None:
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.01, (500, 3)) * [1.0, 2.0, 4.0]
    mask = np.arange(500) % 24 == 0
    ew = equal_weight_weights(r, mask)
    assert np.allclose(ew[mask], 1 / 3) and np.isnan(ew[~mask]).all()
    iv = inverse_volatility_weights(r, mask, window=100)
    t = 240
    inv = 1 / r[t - 99 : t + 1].std(axis=0, ddof=1)
    np.testing.assert_allclose(iv[t], inv / inv.sum())
    assert np.isnan(iv[96]).all()  # a rebalance bar before the window is full
    assert iv[t, 0] > iv[t, 1] > iv[t, 2]


def test_min_variance_unconstrained_is_the_closed_form() -> None:
    rng = np.random.default_rng(2)
    r = rng.normal(0, 0.01, (400, 3)) * [1.0, 1.5, 2.0]
    mask = np.zeros(400, dtype=bool)
    mask[300] = True
    w = min_variance_weights(r, mask, window=200, long_only=False, shrinkage=0.0)[300]
    cov = np.cov(r[101:301].T)
    inv = np.linalg.inv(cov) @ np.ones(3)
    np.testing.assert_allclose(w, inv / inv.sum(), rtol=1e-10)


def test_min_variance_long_only_beats_every_random_long_only_portfolio() -> None:
    rng = np.random.default_rng(3)
    common = rng.normal(0, 0.01, (400, 1))
    r = np.hstack(
        [
            common + rng.normal(0, 0.001, (400, 1)),
            2 * common + rng.normal(0, 0.001, (400, 1)),
            rng.normal(0, 0.03, (400, 1)),
        ]
    )  # a correlated pair of different volatility: the unconstrained solution shorts the riskier one
    mask = np.zeros(400, dtype=bool)
    mask[399] = True
    cov = np.cov(r[200:400].T)
    cov = (1 - 1e-3) * cov + 1e-3 * np.diag(np.diag(cov))
    raw = np.linalg.solve(cov, np.ones(3))
    assert (raw / raw.sum() < 0).any()
    w = min_variance_weights(r, mask, window=200)[399]
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0)
    candidates = rng.dirichlet(np.ones(3) * 0.5, 20_000)
    best_random = np.min(np.einsum("ni,ij,nj->n", candidates, cov, candidates))
    assert w @ cov @ w <= best_random * (1 + 1e-9)


def test_vol_target_buy_and_hold_is_long_sized_by_har_rv() -> None:
    rng = np.random.default_rng(5)
    r = rng.normal(0, 0.01, 4000) * np.repeat(rng.uniform(0.5, 2.0, 40), 100)
    cfg = VolTargetConfig(target_vol=0.6, band=0.05)
    pos = vol_target_buy_and_hold_positions(r, cfg, start=3000, min_train=2160)
    har = har_rv_forecast(r, min_train=2160, start=3000)
    np.testing.assert_array_equal(pos[3000:], vol_target_positions(np.ones(1000), har[3000:], cfg))
    assert (pos[:3000] == 0).all() and (pos[3000:] > 0).all() and pos.max() <= 1.0
    future = r.copy()
    future[3500:] *= 5  # a later shock leaves earlier positions untouched
    np.testing.assert_array_equal(
        vol_target_buy_and_hold_positions(future, cfg, start=3000)[:3500], pos[:3500]
    )
    assert (vol_target_buy_and_hold_positions(r[:1000], cfg) == 0).all()  # too short for HAR-RV: flat


def test_vol_target_portfolios_size_risk_parity_and_skip_unlisted_assets() -> None:
    rng = np.random.default_rng(6)
    n = 4000
    r = rng.normal(0, 0.01, (n, 3)) * [1.0, 2.0, 3.0]
    listed = np.ones((n, 3), dtype=bool)
    listed[:2500, 2] = False  # the third asset trades from bar 2500 on
    r[:2500, 2] = 0.0
    mask = (np.arange(n) % 24 == 0) & (np.arange(n) >= 3000)
    cfg = VolTargetConfig(target_vol=0.3)
    w = vol_target_portfolio_weights(r, mask, cfg, allocation="risk_parity", listed=listed)
    rows = np.flatnonzero(np.isfinite(w).all(axis=1))
    assert set(rows) == set(np.flatnonzero(mask))  # band 0: every rebalance bar trades
    t = int(rows[0])
    har = np.stack([har_rv_forecast(r[:, a], min_train=2160, start=t) for a in range(2)], axis=1)
    inv = 1 / np.sqrt(har[t])
    np.testing.assert_allclose(w[t, :2] / w[t, :2].sum(), inv / inv.sum())
    assert w[t, 2] == 0.0  # listed 500 bars before t: no HAR-RV forecast of its own yet
    rho = np.repeat(np.eye(3)[None], n, axis=0)
    rho[t, :2, :2] = np.corrcoef(r[t - 719 : t + 1, :2], rowvar=False)
    assert portfolio_volatility(w, np.nan_to_num(np.c_[har, np.ones(n)]), rho)[t] == pytest.approx(0.3)
    ew = vol_target_portfolio_weights(r, mask, cfg, allocation="equal_weight", listed=listed)
    assert ew[t, 0] == pytest.approx(ew[t, 1])
    with pytest.raises(ValueError, match="allocation="):
        vol_target_portfolio_weights(r, mask, cfg, allocation="momentum")
