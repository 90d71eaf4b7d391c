"""The training package's exports, and Lightning staying out of prediction-only imports."""

from __future__ import annotations

import json
import subprocess
import sys

import ml_attention_mechanisms as mam
from ml_attention_mechanisms import training


def test_every_training_export_resolves() -> None:
    for name in training.__all__:
        assert getattr(training, name) is not None, name
    assert callable(training.tune_hyperparameters) and callable(training.resume_run)
    assert mam.train is training.train and mam.load_checkpoint is training.load_checkpoint


def test_loading_a_checkpoint_does_not_import_lightning() -> None:
    code = (
        "import sys, json, ml_attention_mechanisms as m; m.load_checkpoint; m.TrainingConfig; "
        "from ml_attention_mechanisms.training import read_checkpoint, RunConfig; "
        "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in ('lightning', 'pytorch_lightning'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []
