"""Diebold-Mariano, bootstrap Sharpe intervals and the deflated Sharpe ratio."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml_attention_mechanisms.evaluation import (
    block_bootstrap_sharpe_ci,
    block_bootstrap_sharpe_difference,
    deflated_sharpe_ratio,
    diebold_mariano,
    probabilistic_sharpe_ratio,
    sharpe_ratio,
    sharpe_summary,
)
from ml_attention_mechanisms.evaluation.significance import expected_max_sharpe, newey_west_variance


def _phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def test_newey_west_and_dm_statistic_match_hand_sums() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 1, 300), rng.normal(1.1, 1, 300)
    d = a - b
    n, lag = 300, 4
    dc = d - d.mean()
    lrv = sum(dc[i] * dc[i] for i in range(n)) / n
    for k in range(1, lag + 1):
        lrv += 2 * (1 - k / (lag + 1)) * sum(dc[i] * dc[i - k] for i in range(k, n)) / n
    assert newey_west_variance(d, lag) == pytest.approx(lrv)
    out = diebold_mariano(a, b, max_lag=lag, hln=False)
    stat = d.mean() / math.sqrt(lrv / n)
    assert out["statistic"] == pytest.approx(stat)
    assert out["p_value"] == pytest.approx(2 * (1 - _phi(abs(stat))))


def test_dm_rejects_a_clearly_worse_forecast_and_is_sized_under_the_null() -> None:
    rng = np.random.default_rng(1)
    y = rng.standard_normal(500)
    good = (y - (y + 0.3 * rng.standard_normal(500))) ** 2
    bad = (y - (y + 1.0 * rng.standard_normal(500))) ** 2
    out = diebold_mariano(good, bad)
    assert out["statistic"] < 0 and out["p_value"] < 1e-3
    p_null = [
        diebold_mariano(rng.standard_normal(200) ** 2, rng.standard_normal(200) ** 2)["p_value"]
        for _ in range(200)
    ]
    assert 0.01 < np.mean(np.array(p_null) < 0.05) < 0.1
    with pytest.raises(ValueError, match="zero"):
        diebold_mariano(good, good)


def test_sharpe_and_bootstrap_interval() -> None:
    rng = np.random.default_rng(2)
    r = rng.normal(0.0005, 0.01, 4000)
    sr = sharpe_ratio(r)
    assert sr == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(8760))
    low, high = block_bootstrap_sharpe_ci(r, n_boot=400, block_len=1)
    assert low < sr < high
    per_period = r.mean() / r.std(ddof=1)
    se = math.sqrt((1 + per_period**2 / 2) / 4000) * math.sqrt(8760)  # Lo (2002), iid returns
    assert (high - low) == pytest.approx(2 * 1.959964 * se, rel=0.2)
    blocks = block_bootstrap_sharpe_ci(r, n_boot=400, block_len=24, seed=1)
    assert blocks[0] < sr < blocks[1]


def test_sharpe_difference_interval_matches_the_paired_asymptotic_variance() -> None:
    """iid pairs with correlation 0.8: the interval's width is that of Memmel's (2003) variance of a Sharpe
    difference, ``(2 - 2 rho + (SR_a^2 + SR_b^2 - 2 SR_a SR_b rho^2) / 2) / N``, far narrower than the
    unpaired one; the point is the difference of the two Sharpe ratios."""
    rng = np.random.default_rng(3)
    n, rho = 4000, 0.8
    z = rng.normal(size=(n, 2))
    a = 0.0006 + 0.01 * z[:, 0]
    b = 0.0002 + 0.01 * (rho * z[:, 0] + math.sqrt(1 - rho**2) * z[:, 1])
    out = block_bootstrap_sharpe_difference(a, b, confidence=0.9, n_boot=600, block_len=1)
    assert out["difference"] == pytest.approx(sharpe_ratio(a) - sharpe_ratio(b), rel=1e-12)
    assert out["low"] < out["difference"] < out["high"] and out["confidence"] == 0.9
    sa, sb = a.mean() / a.std(ddof=1), b.mean() / b.std(ddof=1)
    r = float(np.corrcoef(a, b)[0, 1])
    se = math.sqrt((2 - 2 * r + (sa**2 + sb**2 - 2 * sa * sb * r**2) / 2) / n) * math.sqrt(8760)
    assert out["high"] - out["low"] == pytest.approx(2 * 1.644854 * se, rel=0.2)
    same = block_bootstrap_sharpe_difference(a, a, n_boot=50)
    assert (same["difference"], same["low"], same["high"]) == (0.0, 0.0, 0.0)


def test_sharpe_difference_over_columns_is_the_mean_of_their_differences() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(0.0004, 0.01, (500, 3)), rng.normal(0.0001, 0.01, (500, 3))
    out = block_bootstrap_sharpe_difference(a, b, n_boot=200, block_len=24, seed=5)
    each = [sharpe_ratio(a[:, k]) - sharpe_ratio(b[:, k]) for k in range(3)]
    assert out["difference"] == pytest.approx(np.mean(each), rel=1e-12)
    one = block_bootstrap_sharpe_difference(a[:, :1], b[:, :1], n_boot=200, block_len=24, seed=5)
    flat = block_bootstrap_sharpe_difference(a[:, 0], b[:, 0], n_boot=200, block_len=24, seed=5)
    assert one == flat
    with pytest.raises(ValueError, match="expected one shape"):
        block_bootstrap_sharpe_difference(a, b[:, :2])


def test_deflated_sharpe_paper_example() -> None:
    # Bailey & Lopez de Prado (2014), section "A numerical example": annualised SR 2.5 over 5 years of
    # daily returns (T = 1250), 100 trials with annualised Sharpe variance 0.5, skew -3, kurtosis 10:
    # DSR = 0.9004.
    sr, var_sr = 2.5 / math.sqrt(250), 0.5 / 250
    benchmark = expected_max_sharpe(100, var_sr)
    g = 0.5772156649015329
    grid = np.linspace(-6, 6, 120001)
    cdf = [_phi(x) for x in grid]

    def inv(p: float) -> float:  # the normal quantile by inverting math.erf on a grid
        return float(np.interp(p, cdf, grid))

    assert benchmark == pytest.approx(
        math.sqrt(var_sr) * ((1 - g) * inv(1 - 1 / 100) + g * inv(1 - 1 / (100 * math.e))), rel=1e-4
    )
    dsr = probabilistic_sharpe_ratio(sr, 1250, skew=-3, kurtosis=10, benchmark=benchmark)
    assert dsr == pytest.approx(0.9004, abs=5e-4)


def test_deflated_sharpe_falls_with_more_trials_and_is_psr_for_one() -> None:
    rng = np.random.default_rng(3)
    r = rng.normal(0.001, 0.01, 2000)
    one = deflated_sharpe_ratio(r, n_trials=1)
    sr = r.mean() / r.std(ddof=1)
    z = (r - r.mean()) / r.std()
    skew, kurt = np.mean(z**3), np.mean(z**4)
    psr = _phi(sr * math.sqrt(1999) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2))
    assert one["deflated_sharpe"] == pytest.approx(psr)
    many = deflated_sharpe_ratio(r, n_trials=1000)
    assert many["deflated_sharpe"] < one["deflated_sharpe"]
    assert many["benchmark_sharpe"] > 0


def test_sharpe_summary_reports_the_configurations_tried() -> None:
    r = np.random.default_rng(4).normal(0.0002, 0.01, 1000)
    out = sharpe_summary(r, n_configs=12, n_boot=100)
    assert out["n_configs_tried"] == 12
    assert out["sharpe_ci_low"] < out["sharpe"] < out["sharpe_ci_high"]
    assert 0 <= out["deflated_sharpe"] <= 1
