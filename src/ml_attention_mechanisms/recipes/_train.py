"""Training of a run's models through the training layer's :func:`~ml_attention_mechanisms.training.train`.

Each model trains on a fixed-seed subsample of its training windows, stops early on a fixed-seed subsample of
its validation windows, and is reloaded from its best checkpoint (lowest validation loss). With several
training budgets (``DemoConfig.budgets``) it trains once per budget and one training is kept
(:func:`keep_budget`): the lowest best validation loss, or for the strategy models the highest validation
net Sharpe of their sized strategies (:mod:`._select`). Every choice is made on validation only.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import nn

from ._data import HORIZON, DemoData, subsample
from ._models import RunModel, data_kind, model_kind

if TYPE_CHECKING:
    from ..data import Split
    from ..training import PreparedData, RunConfig
    from .config import DemoConfig

__all__ = ["MODEL_OVERRIDES", "TrainedModel", "keep_budget", "train_budgets", "train_members", "train_model"]

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
        config: the run's config with the budget this model trained with (its ``train_windows`` and
            ``max_epochs``).
        budgets: with several training budgets, one entry per budget (``train_windows``, ``max_epochs``,
            ``epochs``, ``best_val_loss``, ``val_sharpe`` for a strategy model, ``run_dir``, ``kept``,
            ``kept_by``); empty for a single training.
        members: the other members of this model's ensemble (:func:`train_members`); empty for one model.
    """

    name: str
    model_type: str
    model: nn.Module
    payload: dict[str, Any]
    run_dir: Path
    history: dict[str, list[float]]
    epochs: int
    best_val_loss: float | None
    config: DemoConfig
    budgets: list[dict[str, Any]] = field(default_factory=list)
    members: list[TrainedModel] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """The model's kind (the registry's ``output_kind``)."""
        return model_kind(self.model_type)

    @property
    def run_model(self) -> RunModel:
        """``(model, payload)`` as the forecasting steps take it: with ``members``, their ensemble."""
        if not self.members:
            return RunModel(self.model, self.payload)
        from ..models import ModelEnsemble

        return RunModel(ModelEnsemble([self.model, *(m.model for m in self.members)]).eval(), self.payload)


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
    config: DemoConfig,
    *,
    progress: bool,
    overrides: Mapping[str, Any] | None = None,
    name: str | None = None,
    split: Split | None = None,
    exclude: tuple[str, ...] = (),
) -> TrainedModel:
    """Train one registry model on the run's data with the run's budget; reload its best checkpoint.

    Args:
        model_type: registry name.
        data: the prepared panel and split.
        out: the run directory of this model.
        config: the run's budget (window, window subsamples, epochs, steps, batch size, patience, learning
            rate, seed) and its ``model_overrides``.
        progress: show Lightning's progress bar.
        overrides: model config overrides on top of :data:`MODEL_OVERRIDES` and ``config.model_overrides``
            (ablations). Default: none.
        name: the label of this model in the results. Default: ``model_type``.
        split: a fold's split instead of ``data.split`` (walk-forward).
        exclude: symbols (``"BTC/USDT"``) left out of the training and validation windows, so the model never
            sees them (leave-one-asset-out); single-asset models only.

    Raises:
        ValueError: an empty training or validation subset, a training that finished no epoch, or
            ``exclude`` with a multi-asset model.
    """
    from ..training import load_checkpoint, train

    used = split if split is not None else data.split
    prepared = _training_data(model_type, data, config, used, exclude)
    run_config = _run_config(
        model_type, config, {**config.model_overrides, **dict(overrides or {})}, progress
    )
    logger.info(
        "training %s on %d windows (val %d)", name or model_type, len(prepared.train), len(prepared.val)
    )  # type: ignore[arg-type]
    noisy = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in noisy]
    for lg in noisy:  # Lightning's INFO banners (GPU/TPU, tips) on every fit: noise in a 4-model job
        lg.setLevel(logging.WARNING)
    try:
        result = train(model_type, prepared, config=run_config, out=out, overwrite=True)
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
        config=config,
    )


def train_budgets(
    model_type: str, data: DemoData, out: Path, config: DemoConfig, *, progress: bool
) -> list[TrainedModel]:
    """:func:`train_model` once per training budget of ``config`` (:meth:`DemoConfig.training_budgets`), in
    that order: the first budget trains in ``out``, the others in ``out@<windows>x<epochs>``.
    :func:`keep_budget` picks one."""
    runs: list[TrainedModel] = []
    for i, cfg in enumerate(config.training_budgets()):
        where = out if i == 0 else out.with_name(f"{out.name}@{cfg.train_windows}x{cfg.max_epochs}")
        runs.append(train_model(model_type, data, where, cfg, progress=progress))
    return runs


def train_members(kept: TrainedModel, data: DemoData, members: int, *, progress: bool) -> TrainedModel:
    """``kept``, its ``members`` set to ``members - 1`` more trainings of its model type with its budget and
    config on seeds ``seed + 1``, ``seed + 2``, ... (in ``<run_dir>#<k>``): an ensemble of ``members``."""
    kept.members = [
        train_model(
            kept.model_type,
            data,
            kept.run_dir.with_name(f"{kept.run_dir.name}#{k}"),
            dataclasses.replace(kept.config, seed=kept.config.seed + k),
            progress=progress,
            name=f"{kept.name}#{k}",
        )
        for k in range(1, members)
    ]
    return kept


def keep_budget(runs: Sequence[TrainedModel], sharpes: Sequence[float] | None = None) -> TrainedModel:
    """The training of ``runs`` (one per budget, :func:`train_budgets`) to keep, with every budget's figures
    in its ``budgets`` (when there are several).

    Without ``sharpes``: the lowest best validation loss. With ``sharpes`` (one validation net Sharpe per
    run, :mod:`._select`): the highest finite Sharpe, or the lowest loss when no Sharpe is finite (no budget's
    strategy traded). Ties go to the earlier budget.

    Raises:
        ValueError: no runs, or ``sharpes`` of another length.
    """
    if not runs:
        raise ValueError("runs: expected at least one training")
    if sharpes is not None and len(sharpes) != len(runs):
        raise ValueError(
            f"sharpes: {len(sharpes)} figures for {len(runs)} trainings; expected one per training"
        )

    def loss(t: TrainedModel) -> float:
        return t.best_val_loss if t.best_val_loss is not None and math.isfinite(t.best_val_loss) else math.inf

    # the figure minimised: minus the validation Sharpe (NaN: never kept before a finite one), or the loss
    by_sharpe_cost = [-s if math.isfinite(s) else math.inf for s in sharpes or []]
    by_sharpe = any(math.isfinite(c) for c in by_sharpe_cost)
    cost = by_sharpe_cost if by_sharpe else [loss(t) for t in runs]
    kept = min(range(len(runs)), key=lambda i: (cost[i], i))
    if len(runs) == 1:
        return runs[0]
    by = "highest validation net Sharpe of its sized strategy" if by_sharpe else "lowest validation loss"
    if sharpes is not None and not by_sharpe:
        by += " (no budget's strategy traded on validation)"
    runs[kept].budgets = [
        {
            "train_windows": t.config.train_windows,
            "max_epochs": t.config.max_epochs,
            "epochs": t.epochs,
            "best_val_loss": t.best_val_loss,
            **({"val_sharpe": sharpes[i]} if sharpes is not None else {}),
            "run_dir": str(t.run_dir),
            "kept": i == kept,
            "kept_by": by,
        }
        for i, t in enumerate(runs)
    ]
    logger.info("%s: kept budget %d of %d (%s)", runs[kept].name, kept + 1, len(runs), by)
    return runs[kept]


def _training_data(
    model_type: str, data: DemoData, config: DemoConfig, split: Split, exclude: tuple[str, ...] = ()
) -> PreparedData:
    """The training layer's ``PreparedData``: fixed-seed subsamples of the split's training and validation
    windows (single- or multi-asset, as the model reads them), without the ``exclude`` symbols."""
    from functools import partial

    from ..data import MultiAssetWindows, SingleAssetWindows
    from ..training import PreparedData

    kind = data_kind(model_type)
    if exclude and kind == "multi_asset":
        raise ValueError(
            f"{model_type}: reads every asset of a window; exclude={exclude} needs a single-asset model"
        )
    keep = [s for s in data.symbols if s not in exclude] if exclude else None
    windows = MultiAssetWindows if kind == "multi_asset" else partial(SingleAssetWindows, symbols=keep)
    train_ds = subsample(
        windows(data.prepared, config.window, positions=split.train), config.train_windows, config.seed
    )
    val_ds = subsample(
        windows(data.prepared, config.window, positions=split.val), config.val_windows, config.seed + 1
    )
    return PreparedData(
        train=train_ds,
        val=val_ds,
        test=None,
        feature_names=list(data.prepared.feature_names),
        data_kind=kind,
        symbols=_trained_symbols(data, split, exclude),
        scaler=data.prepared.scaler.to_dict(),
        bar_seconds=int(data.timestamps[1] - data.timestamps[0]) if data.timestamps.size > 1 else None,
        description="demo panel",
    )


def _trained_symbols(data: DemoData, split: Split, exclude: tuple[str, ...] = ()) -> dict[str, int]:
    """``{symbol: id}`` of the assets with a bar in the training period (and not excluded): what the
    checkpoint records as the assets the model saw; any other asset reads as the unknown asset (id 0)."""
    train = np.asarray(split.train, dtype=np.int64)
    return {
        s: i
        for s, i in data.prepared.symbol_to_id.items()
        if data.prepared.mask[data.symbols.index(s), train].any() and s not in exclude
    }


def _run_config(
    model_type: str, config: DemoConfig, overrides: Mapping[str, Any], progress: bool
) -> RunConfig:
    """The training layer's ``RunConfig`` of one model of the run."""
    from ..training import DataOptions, RunConfig, TrainingConfig

    steps = config.steps_per_epoch
    return RunConfig(
        model={**MODEL_OVERRIDES.get(model_type, {}), **dict(overrides)},
        data=DataOptions(window=config.window),
        training=TrainingConfig(
            max_epochs=config.max_epochs,
            batch_size=config.batch_size_for(model_type),
            learning_rate=config.learning_rate,
            early_stopping_patience=config.patience,
            limit_train_batches=steps,
            seed=config.seed,
            accelerator="cpu",
            enable_progress_bar=progress,
            log_every_n_steps=max(1, min(10, steps or 10)),
        ),
    )
