"""The training package's exports, and Lightning staying out of prediction-only imports."""

from __future__ import annotations

from collections.abc import Callable

import ml_attention_mechanisms as mam
from ml_attention_mechanisms import training


def test_every_training_export_resolves() -> None:
    for name in training.__all__:
        assert getattr(training, name) is not None, name
    assert callable(training.tune_hyperparameters) and callable(training.resume_run)
    assert mam.train is training.train and mam.load_checkpoint is training.load_checkpoint


def test_loading_a_checkpoint_does_not_import_lightning(
    modules_loaded_by: Callable[[str, tuple[str, ...]], list[str]],
) -> None:
    statements = (
        "import ml_attention_mechanisms as m; m.load_checkpoint; m.TrainingConfig; "
        "from ml_attention_mechanisms.training import read_checkpoint, RunConfig"
    )
    assert modules_loaded_by(statements, ("lightning", "pytorch_lightning")) == []
