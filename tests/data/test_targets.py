"""Targets against plain loops; no look-ahead past their horizon; regimes from bars <= t only."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml_attention_mechanisms.data.targets import (
    SIGNAL_BUY,
    SIGNAL_HOLD,
    SIGNAL_SELL,
    forward_returns,
    forward_volatility,
    future_drawdown,
    next_period_returns,
    regime_labels,
    trailing_volatility,
    triple_barrier_labels,
)


def _close(n: int = 600, assets: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (n, assets)), axis=0))


def test_forward_returns_and_volatility_against_loops() -> None:
    c = _close()
    ret = forward_returns(c, [1, 4, 24])
    vol = forward_volatility(c, [1, 4, 24])
    for t in (0, 100, 575):
        for hi, k in enumerate((1, 4, 24)):
            assert ret[t, 1, hi] == pytest.approx(math.log(c[t + k, 1] / c[t, 1]))
            r = [math.log(c[t + j, 1] / c[t + j - 1, 1]) for j in range(1, k + 1)]
            assert vol[t, 1, hi] == pytest.approx(math.sqrt(sum(x * x for x in r)))
    assert np.isnan(ret[-1, :, 0]).all() and np.isnan(vol[-24:, :, 2]).all()


def test_volatility_never_bridges_a_gap() -> None:
    c = _close()
    c[300, 0] = np.nan
    vol = forward_volatility(c, [4])[:, 0, 0]
    assert np.isnan(vol[296:300]).all()  # windows t+1..t+4 that contain bar 300 or the return after it
    assert np.isnan(vol[300]) and np.isfinite(vol[295]) and np.isfinite(vol[301])


def _barrier_loop(c: np.ndarray, t: int, h: int, cost: float, sigma: float) -> float:
    b = max(cost, sigma * math.sqrt(h))
    for j in range(1, h + 1):
        move = math.log(c[t + j] / c[t])
        if move >= b:
            return SIGNAL_BUY
        if move <= -b:
            return SIGNAL_SELL
    return SIGNAL_HOLD


@pytest.mark.parametrize("cost", [0.0, 0.002, 0.5])
def test_triple_barrier_against_loop(cost: float) -> None:
    c = _close(400, 1)
    labels = triple_barrier_labels(c, 12, cost=cost)[:, 0]
    sigma = trailing_volatility(c, 24)[:, 0]
    for t in range(30, 380, 7):
        assert labels[t] == _barrier_loop(c[:, 0], t, 12, cost, sigma[t])
    if cost == 0.5:  # a barrier wider than any 12-hour move here: all hold
        assert set(np.unique(labels[np.isfinite(labels)])) == {SIGNAL_HOLD}
    assert np.isnan(labels[-12:]).all() and np.isnan(labels[:10]).all()


def test_drawdown_and_next_returns_against_loops() -> None:
    c = _close(200, 1)[:, 0:1]
    dd = future_drawdown(c, 10)[:, 0]
    for t in (0, 50, 189):
        path = c[t : t + 11, 0]
        peak, worst = path[0], 0.0
        for p in path:
            peak = max(peak, p)
            worst = max(worst, 1 - p / peak)
        assert dd[t] == pytest.approx(worst)
    nr = next_period_returns(c, 3)[:, 0]
    assert nr[20] == pytest.approx(c[23, 0] / c[20, 0] - 1) and np.isnan(nr[-3:]).all()


def test_targets_do_not_look_past_their_horizon() -> None:
    c = _close(500)
    t, h = 300, 24
    moved = c.copy()
    moved[t + h + 1 :] *= 3.0
    for fn in (
        lambda x: forward_returns(x, [1, h]),
        lambda x: forward_volatility(x, [1, h]),
        lambda x: triple_barrier_labels(x, h),
        lambda x: future_drawdown(x, h),
    ):
        np.testing.assert_array_equal(fn(c)[: t + 1], fn(moved)[: t + 1])


@pytest.mark.parametrize("num_regimes", [2, 3, 7, 10])
def test_regimes_causal_in_range_and_balanced(num_regimes: int) -> None:
    c = _close(6000, 2, seed=3)
    labels = regime_labels(c, num_regimes)
    ok = labels >= 0
    assert labels[~ok].tolist() == [-1] * int((~ok).sum()) and ok[200:].all()
    assert labels[ok].min() >= 0 and labels[ok].max() == num_regimes - 1
    freq = np.bincount(labels[ok], minlength=num_regimes) / ok.sum()
    assert (freq > 0.4 / num_regimes).all() and (freq < 2.0 / num_regimes).all()  # ~equal in a trendless walk
    t = 3000
    moved = c.copy()
    moved[t + 1 :] *= np.exp(np.linspace(0, 2, 6000 - t - 1))[:, None]
    np.testing.assert_array_equal(regime_labels(moved, num_regimes)[: t + 1], labels[: t + 1])


def test_regime_order_follows_trend() -> None:
    c = (
        np.exp(np.r_[np.zeros(200), np.linspace(0, 1, 100)])[:, None]
        * (1 + 0.001 * np.sin(np.arange(300)))[:, None]
    )
    labels = regime_labels(c, 5)[:, 0]
    assert labels[-1] == 4  # a strong uptrend is the top regime


def test_bad_arguments() -> None:
    c = _close(50)
    with pytest.raises(ValueError, match="num_regimes=1"):
        regime_labels(c, 1)
    with pytest.raises(ValueError, match=r"horizons=\[0\]"):
        forward_returns(c, [0])
    with pytest.raises(ValueError, match="horizon=0"):
        future_drawdown(c, 0)
