"""Every baseline at decision time t is a function of bars <= t: perturbing later bars changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from ml_attention_mechanisms.evaluation import (
    garch_forecast,
    har_rv_forecast,
    historical_var_es,
    inverse_volatility_weights,
    last_window_variance_forecast,
    mean_forecast,
    min_variance_weights,
    momentum_positions,
    ridge_forecast,
    rolling_correlation_forecast,
    rolling_drawdown_forecast,
    rolling_quantile_forecast,
)

N, CUT = 1200, 900

ONE_ASSET: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": lambda r: mean_forecast(r, train_size=500, expanding=True),
    "ridge": lambda r: ridge_forecast(r, n_lags=6, horizon=3, min_train=400, refit_every=97),
    "last_window": lambda r: last_window_variance_forecast(r),
    "har_rv": lambda r: har_rv_forecast(r, min_train=800, refit_every=50),
    "garch": lambda r: garch_forecast(r, min_train=600, refit_every=200, horizon=24).variance,
    "rolling_quantiles": lambda r: rolling_quantile_forecast(r, [0.05, 0.5, 0.95], window=100, horizon=4),
    "historical_var": lambda r: historical_var_es(r, [0.95], window=200)[0.95][1],
    "momentum": lambda r: momentum_positions(r, long_short=True),
    "rolling_drawdown": lambda r: rolling_drawdown_forecast(r, window=100, horizon=24),
    "rolling_correlation": lambda r: rolling_correlation_forecast(
        np.column_stack([r, np.r_[0.0, r[:-1]]]), window=50
    )[:, 0, 1],
}


@pytest.mark.parametrize("name", sorted(ONE_ASSET))
def test_single_asset_baselines_ignore_the_future(name: str) -> None:
    rng = np.random.default_rng(0)
    r = rng.normal(0, 0.01, N)
    changed = r.copy()
    changed[CUT + 1 :] = rng.normal(0, 0.05, N - CUT - 1)  # a different future
    a, b = ONE_ASSET[name](r), ONE_ASSET[name](changed)
    np.testing.assert_array_equal(a[: CUT + 1], b[: CUT + 1])
    assert np.isfinite(a[CUT]).all()


@pytest.mark.parametrize("fn", [inverse_volatility_weights, min_variance_weights])
def test_portfolio_weights_ignore_the_future(fn: Callable[..., np.ndarray]) -> None:
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.01, (N, 3)) * [1.0, 2.0, 0.5]
    mask = np.arange(N) % 24 == 0
    changed = r.copy()
    changed[CUT + 1 :] *= -3
    np.testing.assert_array_equal(
        fn(r, mask, window=300)[: CUT + 1], fn(changed, mask, window=300)[: CUT + 1]
    )
