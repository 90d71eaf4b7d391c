"""Return baselines and the decision-time targets, against loops and closed forms computed here."""

from __future__ import annotations

import numpy as np
import pytest

from ml_attention_mechanisms.evaluation import (
    finite_rows,
    future_return_target,
    mean_forecast,
    realized_variance_target,
    ridge_forecast,
    rmse,
    zero_forecast,
)


def test_targets_match_loops() -> None:
    r = np.random.default_rng(0).normal(0, 0.01, 50)
    for h in (1, 3, 24):
        ret, var = future_return_target(r, h), realized_variance_target(r, h)
        for t in range(50):
            if t + h < 50:
                assert ret[t] == pytest.approx(r[t + 1 : t + h + 1].sum(), abs=1e-15)
                assert var[t] == pytest.approx((r[t + 1 : t + h + 1] ** 2).sum(), abs=1e-15)
            else:
                assert np.isnan(ret[t]) and np.isnan(var[t])


def test_finite_rows_combines_1d_and_2d() -> None:
    a = np.array([1.0, np.nan, 3.0, 4.0])
    b = np.array([[1.0, 2.0], [1.0, 2.0], [np.nan, 1.0], [0.0, 0.0]])
    assert finite_rows(a, b).tolist() == [True, False, False, True]
    with pytest.raises(ValueError, match="array 1 has 3 rows"):
        finite_rows(a, a[:3])


def test_zero_and_mean_forecasts() -> None:
    r = np.random.default_rng(1).normal(0.001, 0.01, 200)
    assert np.all(zero_forecast(r) == 0)
    f = mean_forecast(r, train_size=100, horizon=2)
    assert np.isnan(f[:99]).all() and np.allclose(f[99:], 2 * r[:100].mean())
    e = mean_forecast(r, train_size=100, expanding=True)
    assert e[150] == pytest.approx(r[:151].mean())
    with pytest.raises(ValueError, match="train_size=300"):
        mean_forecast(r, train_size=300)


def _ridge_reference(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    # Augmented least squares: min ||y - b0 - Z b||^2 + alpha ||b||^2 on standardised Z.
    mean, std = x.mean(axis=0), x.std(axis=0)
    z = (x - mean) / std
    design = np.vstack(
        [
            np.column_stack([np.ones(len(y)), z]),
            np.column_stack([np.zeros(x.shape[1]), np.sqrt(alpha) * np.eye(x.shape[1])]),
        ]
    )
    sol, *_ = np.linalg.lstsq(design, np.concatenate([y, np.zeros(x.shape[1])]), rcond=None)
    coef = sol[1:] / std
    return coef, sol[0] - mean @ coef


def test_ridge_matches_augmented_least_squares_at_a_refit() -> None:
    rng = np.random.default_rng(2)
    r = rng.normal(0, 0.01, 600)
    n_lags, h, alpha, s = 5, 2, 3.0, 299
    f = ridge_forecast(r, n_lags=n_lags, horizon=h, alpha=alpha, min_train=300, refit_every=100)
    rows = range(n_lags - 1, s - h + 1)  # targets known at s
    x = np.array([[r[t - k] for k in range(n_lags)] for t in rows])
    y = np.array([r[t + 1 : t + h + 1].sum() for t in rows])
    coef, intercept = _ridge_reference(x, y, alpha)
    for t in (s, s + 50, s + 99):  # same fit until the next refit
        lags = np.array([r[t - k] for k in range(n_lags)])
        assert f[t] == pytest.approx(lags @ coef + intercept, rel=1e-9, abs=1e-15)
    assert np.isnan(f[:s]).all()


def test_ridge_beats_zero_on_an_ar1_series() -> None:
    rng = np.random.default_rng(3)
    r = np.zeros(3000)
    for t in range(1, 3000):
        r[t] = 0.4 * r[t - 1] + rng.normal(0, 0.01)
    f = ridge_forecast(r, n_lags=4, min_train=500, refit_every=250)
    y = future_return_target(r)
    ok = finite_rows(y, f)
    assert rmse(y[ok], f[ok]) < 0.95 * rmse(y[ok], np.zeros(ok.sum()))


def test_ridge_rejects_bad_input() -> None:
    r = np.zeros(100)
    with pytest.raises(ValueError, match="min_train=10"):
        ridge_forecast(r, n_lags=24, min_train=10)
    with pytest.raises(ValueError, match="returns: contains NaN"):
        ridge_forecast(np.r_[r, np.nan], min_train=50, n_lags=3)
    with pytest.raises(ValueError, match="n_lags=0"):
        ridge_forecast(r, n_lags=0)
