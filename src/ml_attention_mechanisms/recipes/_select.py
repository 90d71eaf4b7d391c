"""Which training budget a strategy model keeps: the highest validation net Sharpe of its sized strategy.

The signal and portfolio models are judged by their strategies' net Sharpe after costs, which their
training losses follow only loosely; so with several training budgets (``DemoConfig.budgets``) each
budget's model forecasts the validation split exactly as the run then does (the signal model's temperature
calibrated there; the price model's calibrated variance sizing it), its strategy is sized over the grid
(:func:`._sizing.choose_sizing`), and the budget whose best sizing has the highest validation net Sharpe
is kept (:func:`._train.keep_budget`). The test split is never read: the forecasts end at its first bar.

The price and risk models keep the lowest validation loss: their losses are their forecasts' scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..evaluation.backtest import BacktestConfig
from ._data import DemoData, validation_rows
from ._forecast_run import Forecasts, forecast_run
from ._models import RunModel, training_assets
from ._sizing import asset_variances, choose_sizing
from ._train import TrainedModel, keep_budget
from .config import DemoConfig

__all__ = ["STRATEGY_KINDS", "keep_budgets", "keep_by_loss", "validation_sharpes"]

STRATEGY_KINDS = ("signal", "portfolio")


def keep_by_loss(candidates: Mapping[str, Sequence[TrainedModel]]) -> dict[str, TrainedModel]:
    """kind -> the training kept of the price and risk models' candidates: the lowest validation loss."""
    return {kind: keep_budget(runs) for kind, runs in candidates.items() if kind not in STRATEGY_KINDS}


def keep_budgets(
    candidates: Mapping[str, Sequence[TrainedModel]],
    data: DemoData,
    config: DemoConfig,
    backtest: BacktestConfig,
    kept: Mapping[str, TrainedModel] | None = None,
) -> dict[str, TrainedModel]:
    """kind -> the training kept of its candidates (one per budget, :func:`._train.train_budgets`), in the
    order of ``candidates``: the lowest validation loss for the price and risk models (or ``kept``'s, from
    :func:`keep_by_loss`, with the price model's ensemble trained since), then the highest
    :func:`validation_sharpes` for the strategy models (sized by the kept price model, as the run sizes
    them)."""
    kept = dict(kept) if kept is not None else keep_by_loss(candidates)
    several = {k: v for k, v in candidates.items() if k in STRATEGY_KINDS and len(v) > 1}
    price = kept["price"].run_model if "price" in kept else None
    sharpes = validation_sharpes(several, price, data, config, backtest)
    kept.update({k: keep_budget(v, sharpes.get(k)) for k, v in candidates.items() if k in STRATEGY_KINDS})
    return {kind: kept[kind] for kind in candidates}


def validation_sharpes(
    candidates: Mapping[str, Sequence[TrainedModel]],
    price: RunModel | None,
    data: DemoData,
    config: DemoConfig,
    backtest: BacktestConfig,
) -> dict[str, list[float]]:
    """kind -> the validation net Sharpe of each candidate's strategy at its best sizing (NaN: never traded).

    Args:
        candidates: ``"signal"``/``"portfolio"`` -> the model trained with each budget (others are ignored).
        price: the run's kept price model or its ensemble (its calibrated 24-bar variance sizes the
            strategies), or None (HAR-RV sizes them, as in the run).
        data: the run's data; only the validation split is forecast.
        config: the run's config (assets, window, sizing grid).
        backtest: costs and rebalance schedule.
    """
    strategies = {k: list(v) for k, v in candidates.items() if k in STRATEGY_KINDS and v}
    if not strategies:
        return {}
    models = [t.run_model for runs in strategies.values() for t in runs]
    seen = training_assets({str(i): m for i, m in enumerate([*models, *([price] if price else [])])})

    def forecast(models: Mapping[str, RunModel]) -> Forecasts:
        """The validation split's forecasts, as the run makes them."""
        return forecast_run(
            models, data, config.assets, window=config.window, lo=int(data.val_start), hi=int(data.test_start),
            backtest_config=backtest, calibration=None, calibrate_rows=validation_rows(data), progress=False,
            val_stride=config.val_stride, first_scored=int(data.test_start), calibrate_assets=seen,
        )  # fmt: skip

    priced = forecast({"price": price}).assets if price else {}
    variance = asset_variances(priced, data)
    out: dict[str, list[float]] = {}
    for kind, runs in strategies.items():
        for run in runs:
            model = run.model
            temperature = getattr(model, "temperature", None)
            kept = temperature.detach().clone() if temperature is not None else None
            try:
                fc = forecast({kind: run.run_model})
            finally:  # the run calibrates the kept model's temperature itself, from where training left it
                if kept is not None:
                    temperature.data.copy_(kept)  # type: ignore[union-attr]
            sizing = choose_sizing(fc.decisions, fc.weights, variance, data, seen, config.vol_targets(), backtest,
                                   baselines=False)  # fmt: skip
            scores = [float(row["score"]) for row in sizing.validation.get(kind, [])]
            finite = [s for s in scores if np.isfinite(s)]
            out.setdefault(kind, []).append(max(finite) if finite else float("nan"))
    return out
