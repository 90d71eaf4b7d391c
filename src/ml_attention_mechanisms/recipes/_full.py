"""``mlattn demo --full``: the expanding-window walk-forward evaluation (the price model retrained per fold),
the leave-one-asset-out folds (:mod:`._loao`) and the ablations of the library's own parts (market time,
crypto vs standard attention, cross-asset attention).

Walk-forward: the data layer's :func:`~ml_attention_mechanisms.data.walk_forward_splits` (expanding training
window, purged and embargoed), ``n_folds`` consecutive test blocks ending at the end of the default test
split; each fold prepares the panel with statistics (feature scaling, variance anchor) fitted on its own
training block, retrains the price model (its residual weights chosen on the fold's validation block) and
scores its variance forecast on the fold's test block against HAR-RV, GARCH(1,1) and the last-window
variance (rolling refits inside the fold, no look-ahead).

Walk-forward and leave-one-asset-out folds train with the demo's first budget (``DemoConfig.train_windows``,
``max_epochs``). Ablations (default split, test rows; each variant retrained with the budget and seed the
demo's model was kept with, only the one switch flipped, then calibrated on validation and scored exactly as
the demo's model; each variant is one price model, so an ensemble's reference row is its first member alone,
the kept training):

- market time: the price model (market-time encoding) against ``use_market_time=False``;
- crypto vs standard attention: the price model (time-aware ALiBi + market time) against
  ``attention_kind="standard"`` (index-distance ALiBi, no market time); QLIKE, 90% coverage/width, RMSE;
- cross-asset attention on/off: the portfolio model (one cross-asset layer) against
  ``num_cross_asset_layers=0``; net Sharpe (with its block-bootstrap interval), Sortino, maximum drawdown,
  Calmar, turnover and net return of the backtest after fees. Needs the portfolio model among the demo's
  models (else reported as not run, with that reason).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.backtest import BacktestConfig
from ._data import HORIZON, DemoData, prepare_run_data, validation_rows
from ._fold_score import fold_row
from ._forecast import forecast_portfolio
from ._forecast_run import forecast_run, rebalance_positions
from ._loao import leave_one_asset_out
from ._models import RunModel, training_assets
from ._score import score_assets, score_strategies
from ._sizing import Sizing
from ._train import TrainedModel, train_model
from .config import DemoConfig

__all__ = ["FullResults", "run_full"]

logger = logging.getLogger(__name__)

PRICE = "price_predictor_small"


@dataclass(frozen=True, slots=True)
class FullResults:
    """What ``--full`` adds to a run.

    Attributes:
        walk_forward: ``{"folds": [rows], "mean": {...}, "val_size", "test_size"}``.
        leave_one_asset_out: ``{"folds": [rows], "budget": {...}}`` (:mod:`._loao`).
        ablations: ``{"rows": [...], "not_run": [...]}``.
        configs_tried: kind -> extra configurations tried (they deflate the Sharpe ratios).
    """

    walk_forward: dict[str, Any]
    ablations: dict[str, Any]
    configs_tried: dict[str, int]
    leave_one_asset_out: dict[str, Any] | None = None


def _fold_sizes(n: int, n_folds: int) -> tuple[int, int]:
    test = min(2160, n // (2 * n_folds + 2))  # up to 90 days per test block
    return min(1440, test), test


def walk_forward_price(data: DemoData, cfg: DemoConfig, root: Path, *, progress: bool) -> dict[str, Any]:
    """Per-fold figures of the retrained price model: ``{"folds": [rows], "mean": {...}}``."""
    from ..data import walk_forward_splits

    n = int(data.test_end)
    val_size, test_size = _fold_sizes(n, cfg.n_folds)
    folds = walk_forward_splits(
        n, n_folds=cfg.n_folds, val_size=val_size, test_size=test_size, horizon=HORIZON
    )
    rows: list[dict[str, Any]] = []
    for k, split in enumerate(folds):  # every fold's model saw BTC, ETH and LTC: seen
        # the fold's own statistics: nothing fitted on bars after its training block
        fold = prepare_run_data(data.panel, split) if data.panel is not None else data
        trained = train_model(
            PRICE, fold, root / "walk_forward" / f"fold{k}", cfg, progress=progress, split=split
        )
        rows += [fold_row(k, split, trained, fold, cfg, asset) for asset in cfg.main_assets(data)]
    keys = ("qlike_model", "qlike_har_rv", "qlike_garch", "qlike_vs_best_baseline", "rmse_model", "rmse_zero")
    mean = {k: float(np.nanmean([r[k] for r in rows])) for k in keys}
    return {"folds": rows, "mean": mean, "val_size": val_size, "test_size": test_size}


def _price_rows(variant: str, table: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for asset, res in table.items():
        if "volatility" not in res:
            continue
        rows.append({
            "ablation": variant, "asset": asset, "qlike": res["volatility"]["model"]["qlike"],
            "coverage90": res["interval90"]["model"]["coverage"], "width90": res["interval90"]["model"]["width"],
            "rmse": res["returns"]["model"]["rmse"],
        })  # fmt: skip
    return rows


def _price_variant(data: DemoData, cfg: DemoConfig, root: Path, overrides: Mapping[str, Any], tag: str, *,
                   progress: bool) -> dict[str, Any]:  # fmt: skip
    """Retrain the price model with ``overrides`` (``cfg``: the demo model's budget); its calibrated
    test-split scores per asset."""
    trained = train_model(PRICE, data, root / "ablations" / tag, cfg, progress=progress, overrides=overrides,
                          name=f"{PRICE}@{tag}")  # fmt: skip
    return _price_scores(trained.run_model, data, cfg)


def _price_scores(model: RunModel, data: DemoData, cfg: DemoConfig) -> dict[str, Any]:
    """A price model's calibrated test-split scores per main asset (calibrated on validation)."""
    models = {"price": model}
    fc = forecast_run(models, data, cfg.main_assets(data), window=cfg.window, lo=data.val_start, hi=data.test_end,
                      backtest_config=BacktestConfig(), calibration=None, calibrate_rows=validation_rows(data),
                      progress=False, val_stride=cfg.val_stride, first_scored=data.test_start,
                      calibrate_assets=training_assets(models))  # fmt: skip
    return score_assets(data, fc.assets, {}, quantile_levels=fc.quantile_levels, var_levels=(0.05, 0.01),
                        refit_every=cfg.refit_every, n_sims=cfg.n_sims)  # fmt: skip


def _portfolio_row(
    variant: str, model: Any, data: DemoData, cfg: DemoConfig, sizing: tuple[Sizing, np.ndarray]
) -> dict[str, Any]:
    """The portfolio model's backtest after fees on the test split (the demo's rebalance schedule and its
    volatility targeting, chosen on validation for the demo's model)."""
    bt = BacktestConfig()
    reb = rebalance_positions(data, int(data.test_start), int(data.test_end), bt)
    weights = forecast_portfolio(model, data.prepared, reb, window=cfg.window)
    res = score_strategies(data, {}, weights, config=bt, sizing=sizing[0], variance=sizing[1],
                           n_configs={"portfolio": sizing[0].n_candidates}, n_boot=cfg.n_boot,
                           model_only=True)  # fmt: skip
    m = res["portfolio"]["model"]
    keys = ("sharpe", "sharpe_ci_low", "sharpe_ci_high", "sortino", "max_drawdown", "calmar", "turnover",
            "net_return")  # fmt: skip
    return {"ablation": variant, "asset": "portfolio", **{k: m.get(k) for k in keys}}


def _cross_asset(data: DemoData, cfg: DemoConfig, root: Path, sizing: tuple[Sizing, np.ndarray],
                 main: TrainedModel | None, *, progress: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    """Cross-asset attention on (the demo's portfolio model, ``main``) vs off (retrained with ``main``'s
    budget): ``(rows, not_run)``."""
    if main is None:
        reason = "no portfolio model among the demo's models"
        return [], [{"ablation": "cross-asset attention on/off", "status": "not run", "reason": reason}]
    layers = int(main.model.config.num_cross_asset_layers)  # type: ignore[union-attr,arg-type]
    trained = train_model(main.model_type, data, root / "ablations" / "no_cross_asset", main.config,
                          progress=progress, overrides={"num_cross_asset_layers": 0},
                          name=f"{main.model_type}@no_cross_asset")  # fmt: skip
    rows = [
        _portfolio_row(
            f"cross-asset attention, {layers} layer(s) (demo model)", main.model, data, cfg, sizing
        ),
        _portfolio_row("no cross-asset attention", trained.model, data, cfg, sizing),
    ]
    return rows, []


def ablations(
    data: DemoData, cfg: DemoConfig, root: Path, main_scores: Mapping[str, Any],
    sizing: tuple[Sizing, np.ndarray], trained: Mapping[str, TrainedModel], *, progress: bool,
) -> dict[str, Any]:  # fmt: skip
    """The three ablations (module docstring) on the test rows: ``{"rows": [...], "not_run": [...]}``;
    ``trained``: kind -> the demo's models."""
    price_cfg = trained["price"].config if "price" in trained else cfg
    no_mt = _price_variant(
        data, price_cfg, root, {"use_market_time": False}, "no_market_time", progress=progress
    )
    std = _price_variant(
        data, price_cfg, root, {"attention_kind": "standard"}, "standard_attention", progress=progress
    )
    demo_price = trained.get("price")
    if demo_price is not None and demo_price.members:  # the variants are one model each: so is the reference
        main = _price_scores(RunModel(demo_price.model, demo_price.payload), data, cfg)
        label = "market-time encoding, crypto attention (demo model: the first member of its ensemble)"
    else:
        main = {a: main_scores[a] for a in cfg.main_assets(data) if a in main_scores}
        label = "market-time encoding, crypto attention (demo model)"
    rows = (
        _price_rows(label, main)
        + _price_rows("no market-time encoding", no_mt)
        + _price_rows("standard attention (index ALiBi, no market time)", std)
    )
    portfolio_rows, not_run = _cross_asset(
        data, cfg, root, sizing, trained.get("portfolio"), progress=progress
    )
    return {"rows": rows + portfolio_rows, "not_run": not_run}


def run_full(
    data: DemoData, cfg: DemoConfig, root: Path, main_scores: Mapping[str, Any],
    sizing: tuple[Sizing, np.ndarray], trained: Mapping[str, TrainedModel], *, progress: bool,
) -> FullResults:  # fmt: skip
    """Walk-forward folds, leave-one-asset-out folds and ablations (``trained``: kind -> the demo's models);
    ``configs_tried`` counts the extra configurations per model kind."""
    wf = walk_forward_price(data, cfg, root, progress=progress)
    loao = leave_one_asset_out(data, cfg, root, main_scores, progress=progress)
    ab = ablations(data, cfg, root, main_scores, sizing, trained, progress=progress)
    tried = {"price": 2, **({"portfolio": 1} if not ab["not_run"] else {})}
    return FullResults(walk_forward=wf, ablations=ab, configs_tried=tried, leave_one_asset_out=loao)
