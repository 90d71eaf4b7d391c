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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._import_guard import needs_extra
from ..evaluation.backtest import BacktestConfig
from ._calibration import rolling_calibration, variance_scale
from ._data import HORIZON, DemoData, asset_column, validation_rows
from ._forecast import forecast_portfolio, forecast_single
from ._forecast_run import ROLLING_WINDOW, forecast_run, rebalance_positions
from ._models import model_kind
from ._score import score_assets, score_strategies
from ._train import TrainedModel, train_model
from .config import DemoConfig

if TYPE_CHECKING:
    from ..data import Split

__all__ = ["FullResults", "run_full"]

logger = logging.getLogger(__name__)

PRICE = "price_predictor_small"


@dataclass(frozen=True, slots=True)
class FullResults:
    """What ``--full`` adds to a run.

    Attributes:
        walk_forward: ``{"folds": [rows], "mean": {...}, "val_size", "test_size"}``.
        ablations: ``{"rows": [...], "not_run": [...]}``.
        configs_tried: kind -> extra configurations tried (they deflate the Sharpe ratios).
    """

    walk_forward: dict[str, Any]
    ablations: dict[str, Any]
    configs_tried: dict[str, int]


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
    for k, split in enumerate(folds):
        trained = train_model(
            PRICE, data, root / "walk_forward" / f"fold{k}", cfg, progress=progress, split=split
        )
        rows += [_fold_row(k, split, trained, data, cfg, asset) for asset in cfg.assets]
    keys = ("qlike_model", "qlike_har_rv", "qlike_garch", "qlike_vs_best_baseline", "rmse_model", "rmse_zero")
    mean = {k: float(np.nanmean([r[k] for r in rows])) for k in keys}
    return {"folds": rows, "mean": mean, "val_size": val_size, "test_size": test_size}


def _fold_row(
    k: int, split: Split, trained: TrainedModel, data: DemoData, cfg: DemoConfig, asset: str
) -> dict[str, Any]:
    """One fold's figures for one asset: the fold's model calibrated on its validation block (then the
    causal rolling calibration of the main evaluation), scored on its test block against the baselines."""
    with needs_extra("data"):
        import pandas as pd

    from ..evaluation.suite import evaluate_asset_forecasts
    from ..evaluation.targets import realized_variance_target

    def iso(pos: int) -> str:
        return pd.Timestamp(int(data.timestamps[pos]), unit="s", tz="UTC").strftime("%Y-%m-%d")

    ids = trained.payload.get("symbols") or {}
    lo, t0, t1 = int(split.val[0]), int(split.test[0]), int(split.test[-1]) + 1
    col = asset_column(data, asset)
    r = data.returns[:, col]
    positions = np.r_[np.arange(lo, t0, cfg.val_stride), np.arange(t0, t1)]
    f = forecast_single(trained.model, "price", data.prepared, col, positions, window=cfg.window,
                        asset_id=int(ids.get(data.symbols[col], 0)))  # fmt: skip
    rv = realized_variance_target(r, HORIZON)
    val = np.zeros(r.shape[0], dtype=bool)
    val[lo:t0] = True
    scale = variance_scale(np.where(val, rv, np.nan), f["variance"])
    variance = rolling_calibration(
        {"variance": f["variance"]}, r, {"variance_scale": scale}, window=ROLLING_WINDOW
    )["variance"]
    res = evaluate_asset_forecasts(
        r, test_start=t0, test_end=t1, train_end=lo, return_forecast=f["return"],
        variance_forecast=variance, horizon=HORIZON, refit_every=cfg.refit_every,
    )  # fmt: skip
    vol = res["volatility"]
    best = min(vol["har_rv"]["qlike"], vol["garch"]["qlike"])
    return {
        "fold": k, "asset": asset, "train_to": iso(int(split.train[-1])), "test": f"{iso(t0)}..{iso(t1 - 1)}",
        "qlike_model": vol["model"]["qlike"], "qlike_har_rv": vol["har_rv"]["qlike"],
        "qlike_garch": vol["garch"]["qlike"], "qlike_vs_best_baseline": vol["model"]["qlike"] / best - 1.0,
        "rmse_model": res["returns"]["model"]["rmse"], "rmse_zero": res["returns"]["zero"]["rmse"],
        "epochs": trained.epochs,
    }  # fmt: skip


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
    """Retrain the price model with ``overrides``; its calibrated test-split scores per asset."""
    trained = train_model(PRICE, data, root / "ablations" / tag, cfg, progress=progress, overrides=overrides,
                          name=f"{PRICE}@{tag}")  # fmt: skip
    fc = forecast_run({"price": trained.run_model}, data, tuple(cfg.assets), window=cfg.window,
                      lo=data.val_start, hi=data.test_end, backtest_config=BacktestConfig(), calibration=None,
                      calibrate_rows=validation_rows(data), progress=False, val_stride=cfg.val_stride)  # fmt: skip
    return score_assets(data, fc.assets, {}, quantile_levels=fc.quantile_levels, var_levels=(0.05, 0.01),
                        refit_every=cfg.refit_every, n_sims=cfg.n_sims)  # fmt: skip


def _portfolio_row(variant: str, model: Any, data: DemoData, cfg: DemoConfig) -> dict[str, Any]:
    """The portfolio model's backtest after fees on the test split (the demo's rebalance schedule)."""
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


def _cross_asset(data: DemoData, cfg: DemoConfig, root: Path, *, progress: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    """Cross-asset attention on (the demo's portfolio model) vs off: ``(rows, not_run)``."""
    from ..training import load_checkpoint

    model_type = next((m for m in cfg.models if model_kind(m) == "portfolio"), None)
    ckpt = None if model_type is None else _main_checkpoint(root, model_type)
    if model_type is None or ckpt is None:
        reason = "no portfolio model among the demo's models" if model_type is None else "no checkpoint found"
        return [], [{"ablation": "cross-asset attention on/off", "status": "not run", "reason": reason}]
    main_model, _ = load_checkpoint(ckpt)
    layers = int(main_model.config.num_cross_asset_layers)
    trained = train_model(model_type, data, root / "ablations" / "no_cross_asset", cfg, progress=progress,
                          overrides={"num_cross_asset_layers": 0}, name=f"{model_type}@no_cross_asset")  # fmt: skip
    rows = [
        _portfolio_row(f"cross-asset attention, {layers} layer(s) (demo model)", main_model, data, cfg),
        _portfolio_row("no cross-asset attention", trained.model, data, cfg),
    ]
    return rows, []


def ablations(
    data: DemoData, cfg: DemoConfig, root: Path, main_scores: Mapping[str, Any], *, progress: bool
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
    data: DemoData, cfg: DemoConfig, root: Path, main_scores: Mapping[str, Any], *, progress: bool
) -> FullResults:
    """Walk-forward folds and ablations; ``configs_tried`` counts the extra configurations per model kind."""
    wf = walk_forward_price(data, cfg, root, progress=progress)
    ab = ablations(data, cfg, root, main_scores, progress=progress)
    tried = {"price": 2, **({"portfolio": 1} if not ab["not_run"] else {})}
    return FullResults(walk_forward=wf, ablations=ab, configs_tried=tried)
