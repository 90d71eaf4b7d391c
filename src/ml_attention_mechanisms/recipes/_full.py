"""``mlattn demo --full``: the expanding-window walk-forward evaluation (the price model retrained per fold)
and the ablations of the library's own parts (market time, crypto vs standard attention, cross-asset attention).

Walk-forward: the data layer's :func:`~ml_attention_mechanisms.data.walk_forward_splits` (expanding training
window, purged and embargoed), ``n_folds`` consecutive test blocks ending at the end of the default test
split; each fold retrains the price model, calibrates its variance scale on the fold's validation block
(then the causal rolling calibration of the main evaluation) and scores the fold's test block against HAR-RV, GARCH(1,1) and the last-window variance (rolling refits
inside the fold, no look-ahead).

Ablations (default split, test rows; each variant retrained with the demo's budget and seed, only the one
switch flipped, then calibrated on validation and scored exactly as the demo's model):

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
from pathlib import Path
from typing import Any

import numpy as np

from ._data import HORIZON, DemoData, asset_column

__all__ = ["run_full"]

logger = logging.getLogger(__name__)

PRICE = "price_predictor_small"


def _train(data: DemoData, cfg: Any, out: Path, *, progress: bool, split: Any = None,
           overrides: Mapping[str, Any] | None = None, name: str = PRICE, model_type: str = PRICE) -> Any:  # fmt: skip
    from ._train import train_model
    from .demo import _batch

    return train_model(
        model_type, data, out, window=cfg.window, train_windows=cfg.train_windows, val_windows=cfg.val_windows,
        max_epochs=cfg.max_epochs, steps_per_epoch=cfg.steps_per_epoch, batch_size=_batch(cfg, model_type),
        patience=cfg.patience, learning_rate=cfg.learning_rate, seed=cfg.seed,
        overrides={**cfg.model_overrides, **(overrides or {})}, progress=progress, name=name, split=split,
    )  # fmt: skip


def _fold_sizes(n: int, n_folds: int) -> tuple[int, int]:
    test = min(2160, n // (2 * n_folds + 2))  # up to 90 days per test block
    return min(1440, test), test


def walk_forward_price(data: DemoData, cfg: Any, root: Path, *, progress: bool) -> dict[str, Any]:
    """Per-fold figures of the retrained price model: ``{"folds": [rows], "mean": {...}}``."""
    import pandas as pd

    from ..data import walk_forward_splits
    from ..evaluation.suite import evaluate_asset_forecasts
    from ..evaluation.targets import realized_variance_target
    from ._forecast_run import ROLLING_WINDOW
    from ._forecasts import forecast_single, rolling_calibration, variance_scale

    n = int(data.test_end)
    val_size, test_size = _fold_sizes(n, cfg.n_folds)
    folds = walk_forward_splits(
        n, n_folds=cfg.n_folds, val_size=val_size, test_size=test_size, horizon=HORIZON
    )
    rows: list[dict[str, Any]] = []

    def iso(pos: int) -> str:
        return pd.Timestamp(int(data.timestamps[pos]), unit="s", tz="UTC").strftime("%Y-%m-%d")

    for k, split in enumerate(folds):
        trained = _train(data, cfg, root / "walk_forward" / f"fold{k}", progress=progress, split=split)
        ids = trained.payload.get("symbols") or {}
        lo, t0, t1 = int(split.val[0]), int(split.test[0]), int(split.test[-1]) + 1
        for asset in cfg.assets:
            col = asset_column(data, asset)
            r = data.returns[:, col]
            positions = np.r_[np.arange(lo, t0, getattr(cfg, "val_stride", 1)), np.arange(t0, t1)]
            f = forecast_single(trained.model, data.prepared, col, positions, window=cfg.window,
                                asset_id=int(ids.get(data.symbols[col], 0)))  # fmt: skip
            rv = realized_variance_target(r, HORIZON)
            val = np.zeros(r.shape[0], dtype=bool)
            val[lo:t0] = True
            scale = variance_scale(np.where(val, rv, np.nan), f["variance"])
            # calibrated as in the main evaluation: the fold's validation scale, then the causal rolling one
            variance = rolling_calibration(
                {"variance": f["variance"]}, r, {"variance_scale": scale}, window=ROLLING_WINDOW
            )["variance"]
            res = evaluate_asset_forecasts(
                r, test_start=t0, test_end=t1, train_end=lo, return_forecast=f["return"],
                variance_forecast=variance, horizon=HORIZON, refit_every=cfg.refit_every,
            )  # fmt: skip
            vol = res["volatility"]
            best = min(vol["har_rv"]["qlike"], vol["garch"]["qlike"])
            rows.append({
                "fold": k, "asset": asset, "train_to": iso(int(split.train[-1])), "test": f"{iso(t0)}..{iso(t1 - 1)}",
                "qlike_model": vol["model"]["qlike"], "qlike_har_rv": vol["har_rv"]["qlike"],
                "qlike_garch": vol["garch"]["qlike"], "qlike_vs_best_baseline": vol["model"]["qlike"] / best - 1.0,
                "rmse_model": res["returns"]["model"]["rmse"], "rmse_zero": res["returns"]["zero"]["rmse"],
                "epochs": trained.epochs,
            })  # fmt: skip
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


def _price_variant(data: DemoData, cfg: Any, root: Path, overrides: Mapping[str, Any], tag: str, *,
                   progress: bool) -> dict[str, Any]:  # fmt: skip
    """Retrain the price model with ``overrides``; its calibrated test-split scores per asset."""
    from ..evaluation.backtest import BacktestConfig
    from ._forecast_run import forecast_all
    from ._score import score_assets

    trained = _train(data, cfg, root / "ablations" / tag, progress=progress, overrides=overrides,
                     name=f"{PRICE}@{tag}")  # fmt: skip
    rows_cal = np.zeros(data.timestamps.size, dtype=bool)
    rows_cal[data.val_start : data.test_start] = True
    fc = forecast_all({"price": (trained.model, trained.payload)}, data, tuple(cfg.assets), window=cfg.window,
                      lo=data.val_start, hi=data.test_end, backtest_config=BacktestConfig(), calibration=None,
                      calibrate_rows=rows_cal, progress=False, val_stride=getattr(cfg, "val_stride", 1))  # fmt: skip
    return score_assets(data, fc["assets"], {}, quantile_levels=fc["quantile_levels"], var_levels=(0.05, 0.01),
                        refit_every=cfg.refit_every, n_sims=cfg.n_sims)  # type: ignore[no-any-return]  # fmt: skip


def _portfolio_row(variant: str, model: Any, data: DemoData, cfg: Any) -> dict[str, Any]:
    """The portfolio model's backtest after fees on the test split (the demo's rebalance schedule)."""
    from ..evaluation.backtest import BacktestConfig
    from ._forecast_run import rebalance_positions
    from ._forecasts import forecast_portfolio
    from ._score import score_strategies

    bt = BacktestConfig()
    # as the demo: weights from the start of validation, so the test split opens with a held position
    reb = rebalance_positions(data, int(data.val_start), int(data.test_end), bt)
    weights = forecast_portfolio(model, data.prepared, reb, window=cfg.window)
    res = score_strategies(data, {}, weights, config=bt, n_configs={"portfolio": 1}, n_boot=cfg.n_boot)
    m = res["portfolio"]["model"]
    keys = ("sharpe", "sharpe_ci_low", "sharpe_ci_high", "sortino", "max_drawdown", "calmar", "turnover",
            "net_return")  # fmt: skip
    return {"ablation": variant, "asset": "portfolio", **{k: m.get(k) for k in keys}}


def _main_checkpoint(root: Path, model_type: str) -> Path | None:
    ckpts = root / "models" / model_type / "checkpoints"
    for name in ("best.ckpt", "last.ckpt"):  # as train_model: the best checkpoint, else the last
        if (ckpts / name).is_file():
            return ckpts / name
    return None


def _cross_asset(data: DemoData, cfg: Any, root: Path, *, progress: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    """Cross-asset attention on (the demo's portfolio model) vs off: ``(rows, not_run)``."""
    from ..training import load_checkpoint

    model_type = next((m for m in cfg.models if m.startswith("portfolio_optimizer")), None)
    ckpt = None if model_type is None else _main_checkpoint(root, model_type)
    if model_type is None or ckpt is None:
        reason = "no portfolio model among the demo's models" if model_type is None else "no checkpoint found"
        return [], [{"ablation": "cross-asset attention on/off", "status": "not run", "reason": reason}]
    main_model, _ = load_checkpoint(ckpt)
    layers = int(main_model.config.num_cross_asset_layers)
    trained = _train(data, cfg, root / "ablations" / "no_cross_asset", progress=progress,
                     overrides={"num_cross_asset_layers": 0}, name=f"{model_type}@no_cross_asset",
                     model_type=model_type)  # fmt: skip
    rows = [
        _portfolio_row(f"cross-asset attention, {layers} layer(s) (demo model)", main_model, data, cfg),
        _portfolio_row("no cross-asset attention", trained.model, data, cfg),
    ]
    return rows, []


def ablations(
    data: DemoData, cfg: Any, root: Path, main_scores: Mapping[str, Any], *, progress: bool
) -> dict[str, Any]:
    """The three ablations (module docstring) on the test rows: ``{"rows": [...], "not_run": [...]}``."""
    no_mt = _price_variant(data, cfg, root, {"use_market_time": False}, "no_market_time", progress=progress)
    std = _price_variant(
        data, cfg, root, {"attention_kind": "standard"}, "standard_attention", progress=progress
    )
    rows = (
        _price_rows("market-time encoding, crypto attention (demo model)", main_scores)
        + _price_rows("no market-time encoding", no_mt)
        + _price_rows("standard attention (index ALiBi, no market time)", std)
    )
    portfolio_rows, not_run = _cross_asset(data, cfg, root, progress=progress)
    return {"rows": rows + portfolio_rows, "not_run": not_run}


def run_full(
    data: DemoData, cfg: Any, root: Path, main_scores: Mapping[str, Any], *, progress: bool
) -> dict[str, Any]:
    """Walk-forward folds and ablations; ``configs_tried`` counts the extra configurations per model kind."""
    wf = walk_forward_price(data, cfg, root, progress=progress)
    ab = ablations(data, cfg, root, main_scores, progress=progress)
    tried = {"price": 2, **({"portfolio": 1} if not ab["not_run"] else {})}
    return {"walk_forward": wf, "ablations": ab, "configs_tried": tried}
