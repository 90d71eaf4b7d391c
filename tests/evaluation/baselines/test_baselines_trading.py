"""Trading and portfolio baselines against loops and closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from ml_attention_mechanisms.evaluation import (
    buy_and_hold_positions,
    equal_weight_weights,
    inverse_volatility_weights,
    min_variance_weights,
    momentum_positions,
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
