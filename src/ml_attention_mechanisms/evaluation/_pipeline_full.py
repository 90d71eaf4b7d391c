"""``mlattn demo --full``: the expanding-window walk-forward evaluation (the price model retrained per fold)
and the ablations of the library's own parts that the models' configs expose.

Walk-forward: the data layer's :func:`~ml_attention_mechanisms.data.walk_forward_splits` (expanding training
window, purged and embargoed), ``n_folds`` consecutive test blocks ending at the end of the default test
split; each fold retrains the price model, calibrates its variance scale on the fold's validation block
(then the causal rolling calibration of the main evaluation) and scores the fold's test block against HAR-RV, GARCH(1,1) and the last-window variance (rolling refits
inside the fold, no look-ahead).

Ablations (default split, test rows): the price model with market-time encoding against the same model
without it. Cross-asset attention off and standard-vs-crypto attention are not switches of the models'
configs (``num_cross_asset_layers`` must be >= 1; the attention kind is fixed by the model), so they are
reported as not run, with that reason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._pipeline_data import HORIZON, DemoData, asset_column

__all__ = ["run_full"]

logger = logging.getLogger(__name__)

PRICE = "price_predictor_small"
NOT_RUN = [
    {"ablation": "cross-asset attention on/off", "status": "not run",
     "reason": "CryptoPredictionModelConfig.num_cross_asset_layers must be >= 1: the portfolio model has no "
               "switch to turn cross-asset attention off"},
    {"ablation": "crypto vs standard attention", "status": "not run",
     "reason": "the models' configs expose no choice of attention kind"},
]  # fmt: skip


def _train(data: DemoData, cfg: Any, out: Path, *, progress: bool, split: Any = None,
           overrides: Mapping[str, Any] | None = None, name: str = PRICE) -> Any:  # fmt: skip
    from ._pipeline_train import train_model

    return train_model(
        PRICE, data, out, window=cfg.window, train_windows=cfg.train_windows, val_windows=cfg.val_windows,
        max_epochs=cfg.max_epochs, steps_per_epoch=cfg.steps_per_epoch, batch_size=cfg.batch_size,
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
    from ._pipeline_forecasts import forecast_single, rolling_calibration, variance_scale
    from ._pipeline_run import ROLLING_WINDOW
    from .suite import evaluate_asset_forecasts
    from .targets import realized_variance_target

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


def ablations(
    data: DemoData, cfg: Any, root: Path, main_scores: Mapping[str, Any], *, progress: bool
) -> dict[str, Any]:
    """Market-time encoding on (the demo's price model) vs off, on the test rows, plus the ablations not run."""
    from ._pipeline_run import forecast_all
    from ._pipeline_score import score_assets
    from .backtest import BacktestConfig

    trained = _train(data, cfg, root / "ablations" / "no_market_time", progress=progress,
                     overrides={"use_market_time": False}, name=f"{PRICE}@no_market_time")  # fmt: skip
    rows_cal = np.zeros(data.timestamps.size, dtype=bool)
    rows_cal[data.val_start : data.test_start] = True
    fc = forecast_all({"price": (trained.model, trained.payload)}, data, tuple(cfg.assets), window=cfg.window,
                      lo=data.val_start, hi=data.test_end, backtest_config=BacktestConfig(), calibration=None,
                      calibrate_rows=rows_cal, progress=False, val_stride=getattr(cfg, "val_stride", 1))  # fmt: skip
    scores = score_assets(data, fc["assets"], {}, quantile_levels=fc["quantile_levels"], var_levels=(0.05, 0.01),
                          refit_every=cfg.refit_every, n_sims=cfg.n_sims)  # fmt: skip
    rows = []
    for variant, table in (
        ("market-time encoding (demo model)", main_scores),
        ("no market-time encoding", scores),
    ):
        for asset, res in table.items():
            if "volatility" not in res:
                continue
            rows.append({
                "ablation": variant, "asset": asset, "qlike": res["volatility"]["model"]["qlike"],
                "coverage90": res["interval90"]["model"]["coverage"], "width90": res["interval90"]["model"]["width"],
                "rmse": res["returns"]["model"]["rmse"],
            })  # fmt: skip
    return {"rows": rows, "not_run": NOT_RUN}


def run_full(
    data: DemoData, cfg: Any, root: Path, main_scores: Mapping[str, Any], *, progress: bool
) -> dict[str, Any]:
    """Walk-forward folds and ablations; ``configs_tried`` counts the extra price-model configurations."""
    wf = walk_forward_price(data, cfg, root, progress=progress)
    ab = ablations(data, cfg, root, main_scores, progress=progress)
    return {"walk_forward": wf, "ablations": ab, "configs_tried": {"price": 1}}
