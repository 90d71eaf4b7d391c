"""``--precision bf16-mixed`` is one switch: the registry model's ``use_mixed_precision`` carries it.

Also: ``train`` fills the loss normalisers of a registry model from the training split (plain data in the
config and the checkpoint).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from tiny_parts import SMALL_MODEL, SMALL_MODEL_CONFIG, write_ohlcv_csv

from ml_attention_mechanisms.cli.main import main
from ml_attention_mechanisms.training import TrainingConfig, load_checkpoint
from ml_attention_mechanisms.training.run import make_trainer


def _yaml(tmp_path: Path) -> Path:
    content = {
        "model": SMALL_MODEL_CONFIG,
        "data": {"window": 16},
        "training": {"max_epochs": 1, "batch_size": 32, "enable_progress_bar": False},
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


def test_mlattn_train_bf16_sets_the_real_models_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_ohlcv_csv(tmp_path / "BTCUSDT_1h.csv", seed=0)
    out = tmp_path / "run"
    argv = ["train", "--model", SMALL_MODEL, "--data", str(data), "--config", str(_yaml(tmp_path))]
    assert main([*argv, "--precision", "bf16-mixed", "--out", str(out)]) == 0
    capsys.readouterr()
    record = json.loads((out / "run.json").read_text())
    assert record["model_config"]["use_mixed_precision"] is True
    model, _ = load_checkpoint(out / "checkpoints" / "last.ckpt")
    assert model.config.use_mixed_precision  # type: ignore[union-attr]
    assert all(p.dtype == torch.float32 for p in model.parameters())
    # the loss normalisers came from the training split, as plain data
    scales = record["model_config"]["target_scales"]
    assert len(scales) == 2 and all(0.0 < s < 0.1 for s in scales)  # hourly log returns and volatilities
    assert tuple(model.config.target_scales) == pytest.approx(tuple(scales))  # type: ignore[union-attr]


def test_lightning_precision_is_not_enabled_twice(tmp_path: Path) -> None:
    from ml_attention_mechanisms import create_crypto_model

    tcfg = TrainingConfig(precision="bf16-mixed", accelerator="cpu", enable_progress_bar=False)
    carried = create_crypto_model(SMALL_MODEL, use_mixed_precision=True, input_features=17)
    trainer = make_trainer(tcfg, callbacks=[], logger=False, root_dir=tmp_path, model=carried)
    assert trainer.precision == "32-true"  # the model autocasts its own forward
    plain = torch.nn.Linear(2, 2)  # a model without the field: Lightning carries mixed precision
    assert (
        make_trainer(tcfg, callbacks=[], logger=False, root_dir=tmp_path, model=plain).precision
        == "bf16-mixed"
    )
