"""Evaluation layer: baselines, metrics, risk and significance tests, conformal calibration, backtests,
the bar the models aim for, and the HTML report.

Everything here works on plain numpy/pandas arrays of forecasts, realised values, returns and positions,
indexed by decision time (a forecast made at the close of bar ``t`` for bars ``t+1..``). Heavy packages
(scipy, scikit-learn, arch, matplotlib, plotly) are imported inside the functions that need them, and this
package is not imported by ``import ml_attention_mechanisms``.
"""

from .backtest import BacktestConfig, BacktestResult, performance_metrics, run_backtest, signals_to_positions
from .backtest_portfolio import rebalance_mask, run_portfolio_backtest
from .baselines_learner import fit_predict_learner
from .baselines_returns import mean_forecast, ridge_forecast, zero_forecast
from .baselines_risk import (
    garch_normal_var_es,
    historical_var_es,
    normal_var_es,
    rolling_correlation_forecast,
    rolling_drawdown_forecast,
    rolling_quantile_forecast,
)
from .baselines_trading import (
    buy_and_hold_positions,
    equal_weight_weights,
    inverse_volatility_weights,
    min_variance_weights,
    momentum_positions,
)
from .baselines_volatility import (
    GarchForecast,
    garch_forecast,
    har_rv_forecast,
    last_window_variance_forecast,
)
from .conformal import ConformalQuantileCalibrator, cqr_apply, cqr_offset
from .criteria import (
    evaluate_bar,
    interval_criterion,
    strategy_criterion,
    var_criterion,
    volatility_criterion,
)
from .metrics import (
    correlation_forecast_error,
    crps_from_quantiles,
    directional_accuracy,
    drawdown_forecast_error,
    interval_coverage,
    interval_width,
    mae,
    max_drawdown_of_returns,
    pinball_loss,
    pit_from_quantiles,
    qlike,
    rmse,
)
from .metrics_io import to_jsonable, write_metrics_json
from .report import write_report
from .report_figures import (
    ReportFigure,
    attention_heatmap_figure,
    calibration_figure,
    equity_curves_figure,
    fan_chart_figure,
    pit_histogram_figure,
    training_curves_figure,
    var_exceedance_figure,
    weights_figure,
)
from .report_tables import comparison_tables
from .risk_tests import acerbi_szekely_z2, christoffersen_independence, exceedances, kupiec_pof, var_backtest
from .scorecards import (
    dm_table,
    loss_series,
    point_scores,
    quantile_scores,
    strategy_scores,
    var_es_scores,
    variance_scores,
)
from .significance import (
    block_bootstrap_sharpe_ci,
    deflated_sharpe_ratio,
    diebold_mariano,
    probabilistic_sharpe_ratio,
    sharpe_ratio,
    sharpe_summary,
)
from .suite import (
    evaluate_asset_forecasts,
    evaluate_correlation_forecasts,
    evaluate_portfolio_strategy,
    evaluate_signal_strategy,
)
from .targets import finite_rows, future_return_target, realized_correlation_target, realized_variance_target
from .walk_forward import Fold, WalkForwardResult, expanding_window_folds, walk_forward

__all__ = [
    "BacktestConfig",
    "BacktestResult",
    "ConformalQuantileCalibrator",
    "Fold",
    "GarchForecast",
    "ReportFigure",
    "WalkForwardResult",
    "acerbi_szekely_z2",
    "attention_heatmap_figure",
    "block_bootstrap_sharpe_ci",
    "buy_and_hold_positions",
    "calibration_figure",
    "christoffersen_independence",
    "comparison_tables",
    "correlation_forecast_error",
    "cqr_apply",
    "cqr_offset",
    "crps_from_quantiles",
    "deflated_sharpe_ratio",
    "diebold_mariano",
    "directional_accuracy",
    "dm_table",
    "drawdown_forecast_error",
    "equal_weight_weights",
    "equity_curves_figure",
    "evaluate_asset_forecasts",
    "evaluate_bar",
    "evaluate_correlation_forecasts",
    "evaluate_portfolio_strategy",
    "evaluate_signal_strategy",
    "exceedances",
    "expanding_window_folds",
    "fan_chart_figure",
    "finite_rows",
    "fit_predict_learner",
    "future_return_target",
    "garch_forecast",
    "garch_normal_var_es",
    "har_rv_forecast",
    "historical_var_es",
    "interval_coverage",
    "interval_criterion",
    "interval_width",
    "inverse_volatility_weights",
    "kupiec_pof",
    "last_window_variance_forecast",
    "loss_series",
    "mae",
    "max_drawdown_of_returns",
    "mean_forecast",
    "min_variance_weights",
    "momentum_positions",
    "normal_var_es",
    "performance_metrics",
    "pinball_loss",
    "pit_from_quantiles",
    "pit_histogram_figure",
    "point_scores",
    "probabilistic_sharpe_ratio",
    "qlike",
    "quantile_scores",
    "realized_correlation_target",
    "realized_variance_target",
    "rebalance_mask",
    "ridge_forecast",
    "rmse",
    "rolling_correlation_forecast",
    "rolling_drawdown_forecast",
    "rolling_quantile_forecast",
    "run_backtest",
    "run_portfolio_backtest",
    "sharpe_ratio",
    "sharpe_summary",
    "signals_to_positions",
    "strategy_criterion",
    "strategy_scores",
    "to_jsonable",
    "training_curves_figure",
    "var_backtest",
    "var_criterion",
    "var_es_scores",
    "var_exceedance_figure",
    "variance_scores",
    "volatility_criterion",
    "walk_forward",
    "weights_figure",
    "write_metrics_json",
    "write_report",
    "zero_forecast",
]
