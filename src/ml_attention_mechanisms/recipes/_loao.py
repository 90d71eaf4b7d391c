"""``mlattn demo --full``: leave-one-asset-out folds, a coin the models never saw made on purpose.

For each of BTC, ETH and LTC (:func:`~ml_attention_mechanisms.evaluation.leave_one_asset_out_folds`): the
feature statistics are fitted without the asset, the price model is retrained with the demo's seed on the
other assets' training and validation windows only (``loao_max_epochs`` epochs of the demo's steps), and
the asset is then forecast with the unknown-asset id, as ``mlattn evaluate`` forecasts a new coin (at its
own scale: the variance anchor on its own bars), scored on the test split against HAR-RV and GARCH(1,1) (the criterion for an unseen asset: QLIKE no worse than the better
of them), beside the demo's model, which saw the asset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._data import DemoData, base_symbol, prepare_run_data
from ._fold_score import fold_row
from ._train import train_model
from .config import DemoConfig

__all__ = ["leave_one_asset_out"]

PRICE = "price_predictor_small"


def _without(data: DemoData, symbol: str) -> DemoData:
    """The run's panel prepared with feature statistics fitted on its training period without ``symbol``
    (the model's inputs carry nothing learnt from that asset)."""
    if data.panel is None:
        raise ValueError("leave-one-asset-out: the run's data keep no panel to re-prepare")
    others = [s for s in data.symbols if s != symbol]
    fitted = prepare_run_data(data.panel.select(others), data.split)
    return prepare_run_data(data.panel, data.split, scaler=fitted.prepared.scaler.to_dict())


def leave_one_asset_out(
    data: DemoData, cfg: DemoConfig, root: Path, main_scores: Mapping[str, Any], *, progress: bool
) -> dict[str, Any]:
    """One row per held-out asset: ``{"folds": [rows], "budget": {...}, "passed": n, "n": folds}``; each row
    is :func:`._fold_score.fold_row`'s (``seen`` False) with ``qlike_demo_model`` (the demo's model, which saw
    the asset) and ``passed`` (QLIKE no worse than the better of HAR-RV and GARCH)."""
    from ..evaluation.walk_forward import leave_one_asset_out_folds

    names = [base_symbol(s) for s in data.symbols]
    held = [a for a in cfg.main_assets(data) if a in names]
    fold_cfg = dataclasses.replace(cfg, max_epochs=cfg.loao_max_epochs)
    rows: list[dict[str, Any]] = []
    for fold in leave_one_asset_out_folds(names, held_out=held):
        symbol = data.symbols[names.index(fold.held_out)]
        fold_data = _without(data, symbol)
        trained = train_model(
            PRICE, fold_data, root / "leave_one_asset_out" / fold.held_out, fold_cfg, progress=progress,
            name=f"{PRICE}@without_{fold.held_out}", exclude=(symbol,),
        )  # fmt: skip
        row = fold_row(fold.index, data.split, trained, fold_data, cfg, fold.held_out)
        main = (((main_scores.get(fold.held_out) or {}).get("volatility") or {}).get("model") or {}).get(
            "qlike"
        )
        best = min(row["qlike_har_rv"], row["qlike_garch"])
        rows.append({**row, "qlike_demo_model": main, "passed": bool(row["qlike_model"] <= best)})
    budget = {"max_epochs": fold_cfg.max_epochs, "steps_per_epoch": cfg.steps_per_epoch,
              "train_windows": cfg.train_windows, "seed": cfg.seed}  # fmt: skip
    return {"folds": rows, "budget": budget, "passed": sum(r["passed"] for r in rows), "n": len(rows)}
