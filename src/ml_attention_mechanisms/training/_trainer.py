"""The Lightning ``Trainer`` of a run or a tuning trial: precision, strategy (DDP), loggers, early stopping.

Re-exported by :mod:`.run`, the training entry point.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._import_guard import has_module, needs_extra
from . import _models
from ._callbacks import AtomicCheckpointIO
from ._quiet import QuietTrainer
from .config import TrainingConfig

with needs_extra("train"):
    import lightning as L
    from lightning.pytorch.callbacks import Callback, EarlyStopping
    from lightning.pytorch.loggers import CSVLogger, Logger

__all__ = ["early_stopping", "loggers", "make_trainer"]


def loggers(run_dir: Path) -> list[Logger]:
    """CSV metrics under ``run_dir/logs``, and TensorBoard events when tensorboard is installed."""
    found: list[Logger] = [CSVLogger(save_dir=str(run_dir), name="logs")]
    if has_module("tensorboard") or has_module("tensorboardX"):
        from lightning.pytorch.loggers import TensorBoardLogger

        found.append(TensorBoardLogger(save_dir=str(run_dir), name="tensorboard"))
    return found


def _strategy(cfg: TrainingConfig) -> Any:
    if cfg.strategy == "auto":
        return "auto"
    from lightning.pytorch.strategies import DDPStrategy

    gpu = cfg.accelerator in ("cuda", "gpu") or (cfg.accelerator == "auto" and _cuda())
    return DDPStrategy(
        process_group_backend="nccl" if gpu else "gloo",
        timeout=timedelta(seconds=cfg.ddp_timeout_s),
        start_method="spawn" if cfg.strategy == "ddp_spawn" else "popen",
    )


def _cuda() -> bool:
    return torch.cuda.is_available()


def make_trainer(
    tcfg: TrainingConfig,
    *,
    callbacks: list[Callback],
    logger: list[Logger] | bool,
    root_dir: Path,
    enable_checkpointing: bool = True,
    enable_progress_bar: bool | None = None,
    model: nn.Module | None = None,
) -> L.Trainer:
    """The Lightning ``Trainer`` of a run (or of a tuning trial) for the settings ``tcfg``.

    Mixed precision is one switch, ``tcfg.precision``: ``build_model`` turns it into the model's
    ``use_mixed_precision`` where the model has that field, and then the model carries it (its forward
    autocasts, its outputs and the loss stay float32) while Lightning runs ``"32-true"``; a model without the
    field gets Lightning's ``"bf16-mixed"`` instead. Never both. It leaves out Lightning's banners and tips
    (:class:`~._quiet.QuietTrainer`).
    """
    return QuietTrainer(
        accelerator="gpu" if tcfg.accelerator == "cuda" else tcfg.accelerator,
        devices=tcfg.devices,
        num_nodes=tcfg.num_nodes,
        strategy=_strategy(tcfg),
        precision=(
            "bf16-mixed"
            if tcfg.precision == "bf16-mixed" and not _models.carries_mixed_precision(model)
            else "32-true"
        ),
        max_epochs=tcfg.max_epochs,
        gradient_clip_val=tcfg.gradient_clip_val,
        deterministic=tcfg.deterministic,
        callbacks=callbacks,
        logger=logger,
        plugins=[AtomicCheckpointIO()],
        default_root_dir=str(root_dir),
        use_distributed_sampler=False,  # WindowDataModule builds the samplers (see its docstring)
        num_sanity_val_steps=0,  # a sanity pass would draw from the random streams before a resumed epoch
        limit_train_batches=tcfg.limit_train_batches,
        limit_val_batches=tcfg.limit_val_batches,
        log_every_n_steps=tcfg.log_every_n_steps,
        enable_progress_bar=tcfg.enable_progress_bar if enable_progress_bar is None else enable_progress_bar,
        enable_model_summary=False,
        enable_checkpointing=enable_checkpointing,
    )


def early_stopping(tcfg: TrainingConfig) -> list[Callback]:
    """``[EarlyStopping on val_loss]`` when ``tcfg.early_stopping_patience`` is set, else ``[]``."""
    if tcfg.early_stopping_patience is None:
        return []
    return [
        EarlyStopping(
            monitor="val_loss",
            mode="min",
            patience=tcfg.early_stopping_patience,
            min_delta=tcfg.early_stopping_min_delta,
        )
    ]
