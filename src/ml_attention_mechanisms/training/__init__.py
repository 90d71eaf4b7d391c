"""Training layer: Lightning module and datamodule, checkpoints, resume, DDP and tuning.

Names are exported lazily (``training.tune`` is a module: its entry point is exported as
:func:`tune_hyperparameters`): ``from ml_attention_mechanisms.training import load_checkpoint`` does not import
Lightning (only :func:`train`, :func:`tune` and the Lightning classes do).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "ConfigError": "config",
    "DataOptions": "config",
    "RunConfig": "config",
    "TrainingConfig": "config",
    "load_run_config": "config",
    "dump_run_config": "config",
    "UnsafeCheckpointError": "checkpoint",
    "atomic_save": "checkpoint",
    "checkpoint_bar_seconds": "checkpoint",
    "load_checkpoint": "checkpoint",
    "read_checkpoint": "checkpoint",
    "PreparedData": "datamodule",
    "WindowDataModule": "datamodule",
    "ForecastModule": "module",
    "TrainResult": "run",
    "resume_run": "run",
    "train": "run",
    "TuneResult": "tune",
    "tune_hyperparameters": "tune",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ml_attention_mechanisms.training' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
