"""Training of the demo's models through the training layer's :func:`~ml_attention_mechanisms.training.train`.

Each model trains on a fixed-seed subsample of its training windows, stops early on a fixed-seed subsample of
its validation windows, and is reloaded from its best checkpoint (lowest validation loss): the choice is
made on validation only.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ._data import HORIZON, DemoData, subsample

__all__ = ["MODEL_OVERRIDES", "TrainedModel", "train_model"]

logger = logging.getLogger(__name__)

# What each preset must forecast for the bar (the rest of the small preset is kept):
# the price model covers horizons 1..24 (1-bar returns and intervals, the 24-bar realised variance);
# the risk model forecasts the 1-bar VaR/ES at 95% and 99%.
MODEL_OVERRIDES: dict[str, dict[str, Any]] = {
    "price_predictor_small": {"prediction_horizon": HORIZON},
    "risk_assessor_small": {"prediction_horizon": 1, "var_levels": (0.05, 0.01)},
    "signal_generator_small": {},
    "portfolio_optimizer_small": {},
}


@dataclass(eq=False)
class TrainedModel:
    """A trained model of the run.

    Attributes:
        name: registry name (or ``name@variant`` for ablations).
        model_type: registry name.
        model: the module, best weights, ``eval()`` mode.
        payload: the checkpoint payload (config, feature names, scaler, symbols).
        run_dir: the training run directory (config.yaml, run.json, checkpoints/, logs/).
        history: ``{"train_loss": [...], "val_loss": [...]}`` per epoch.
        epochs: epochs run; best_val_loss: the lowest validation loss.
    """

    name: str
    model_type: str
    model: nn.Module
    payload: dict[str, Any]
    run_dir: Path
    history: dict[str, list[float]]
    epochs: int
    best_val_loss: float | None

    @property
    def kind(self) -> str:
        return str(getattr(type(self.model), "OUTPUT_KIND", ""))


def _history(run_dir: Path) -> dict[str, list[float]]:
    """Per-epoch training and validation losses from the CSV logger's ``metrics.csv``."""
    files = sorted(run_dir.glob("logs/version_*/metrics.csv"))
    out: dict[str, list[float]] = {"train_loss": [], "val_loss": []}
    if not files:
        return out
    with files[-1].open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for key, column in (("train_loss", "train_loss_epoch"), ("val_loss", "val_loss")):
                value = row.get(column) or ""
                if value:
                    x = float(value)
                    if math.isfinite(x):
                        out[key].append(x)
    return out


def train_model(
    model_type: str,
    data: DemoData,
    out: Path,
    *,
    window: int,
    train_windows: int | None,
    val_windows: int | None,
    max_epochs: int,
    steps_per_epoch: int | None,
    batch_size: int,
    patience: int,
    learning_rate: float,
    seed: int,
    overrides: Mapping[str, Any],
    progress: bool,
    name: str | None = None,
    split: Any = None,
) -> TrainedModel:
    """Train one registry model on the run's data and reload its best checkpoint.

    Args:
        model_type: registry name.
        data: the prepared panel and split.
        out: the run directory of this model.
        window: bars per input window.
        train_windows, val_windows: fixed-seed subsample sizes (``None`` = all windows).
        max_epochs, steps_per_epoch, batch_size, patience, learning_rate, seed: training settings.
        overrides: model config overrides (on top of :data:`MODEL_OVERRIDES`).
        progress: show Lightning's progress bar.
        name: the label of this model in the results. Default: ``model_type``.
        split: a fold's split instead of ``data.split`` (walk-forward).

    Raises:
        ValueError: an empty training or validation subset.
    """
    from ..data import MultiAssetWindows, SingleAssetWindows
    from ..training import DataOptions, PreparedData, RunConfig, TrainingConfig, load_checkpoint, train

    cls_kind = _data_kind(model_type)
    sp = split if split is not None else data.split
    windows = MultiAssetWindows if cls_kind == "multi_asset" else SingleAssetWindows
    train_ds = subsample(windows(data.prepared, window, positions=sp.train), train_windows, seed)
    val_ds = subsample(windows(data.prepared, window, positions=sp.val), val_windows, seed + 1)
    prepared = PreparedData(
        train=train_ds,
        val=val_ds,
        test=None,
        feature_names=list(data.prepared.feature_names),
        data_kind=cls_kind,
        symbols=dict(data.prepared.symbol_to_id),
        scaler=data.prepared.scaler.to_dict(),
        bar_seconds=int(data.timestamps[1] - data.timestamps[0]) if data.timestamps.size > 1 else None,
        description="demo panel",
    )
    config = RunConfig(
        model={**MODEL_OVERRIDES.get(model_type, {}), **dict(overrides)},
        data=DataOptions(window=window),
        training=TrainingConfig(
            max_epochs=max_epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            early_stopping_patience=patience,
            limit_train_batches=steps_per_epoch,
            seed=seed,
            accelerator="cpu",
            enable_progress_bar=progress,
            log_every_n_steps=max(1, min(10, steps_per_epoch or 10)),
        ),
    )
    logger.info("training %s on %d windows (val %d)", name or model_type, len(train_ds), len(val_ds))  # type: ignore[arg-type]
    noisy = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in noisy]
    for lg in noisy:  # Lightning's INFO banners (GPU/TPU, tips) on every fit: noise in a 4-model job
        lg.setLevel(logging.WARNING)
    try:
        result = train(model_type, prepared, config=config, out=out)
    finally:
        for lg, level in zip(noisy, levels):
            lg.setLevel(level)
    ckpt = result.best_checkpoint or result.last_checkpoint
    if ckpt is None:
        raise ValueError(f"{model_type}: training finished no epoch (no checkpoint in {out})")
    model, payload = load_checkpoint(ckpt)
    return TrainedModel(
        name=name or model_type,
        model_type=model_type,
        model=model,
        payload=payload,
        run_dir=out,
        history=_history(out),
        epochs=result.epochs,
        best_val_loss=result.best_val_loss,
    )


def _data_kind(model_type: str) -> str:
    from ..models._registry import get_model_entry

    entry = get_model_entry(model_type)
    for attr in ("model_cls", "model_class", "cls"):
        cls = getattr(entry, attr, None)
        if isinstance(cls, type):
            return str(getattr(cls, "DATA_KIND", "single_asset"))
    return "single_asset"
