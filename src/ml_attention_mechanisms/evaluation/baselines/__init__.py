"""The baselines the models are scored against: return forecasts (:mod:`.returns`), variance forecasts
(:mod:`.volatility`: last window, HAR-RV, GARCH), VaR/ES, quantile, drawdown and correlation forecasts
(:mod:`.risk`), trading rules and portfolios, volatility-targeted ones included (:mod:`.trading`) and a non-attention learner (:mod:`.learner`).
Each is causal: the forecast at decision time ``t`` reads bars ``<= t`` only."""

from .learner import fit_predict_learner
from .returns import lag_matrix, mean_forecast, refit_points, ridge_forecast, zero_forecast
from .risk import (
    garch_normal_var_es,
    historical_var_es,
    listed_correlation,
    normal_var_es,
    rolling_correlation_forecast,
    rolling_drawdown_forecast,
    rolling_quantile_forecast,
)
from .trading import (
    buy_and_hold_positions,
    equal_weight_weights,
    inverse_volatility_weights,
    min_variance_weights,
    momentum_positions,
    vol_target_buy_and_hold_positions,
    vol_target_portfolio_weights,
)
from .volatility import (
    HAR_MIN_TRAIN,
    GarchForecast,
    garch_forecast,
    har_rv_forecast,
    last_window_variance_forecast,
    listed_har_rv_forecast,
)

__all__ = [
    "HAR_MIN_TRAIN",
    "GarchForecast",
    "buy_and_hold_positions",
    "equal_weight_weights",
    "fit_predict_learner",
    "garch_forecast",
    "garch_normal_var_es",
    "har_rv_forecast",
    "historical_var_es",
    "inverse_volatility_weights",
    "lag_matrix",
    "last_window_variance_forecast",
    "listed_correlation",
    "listed_har_rv_forecast",
    "mean_forecast",
    "min_variance_weights",
    "momentum_positions",
    "normal_var_es",
    "refit_points",
    "ridge_forecast",
    "rolling_correlation_forecast",
    "rolling_drawdown_forecast",
    "rolling_quantile_forecast",
    "vol_target_buy_and_hold_positions",
    "vol_target_portfolio_weights",
    "zero_forecast",
]
