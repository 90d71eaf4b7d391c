"""train(): run directory, checkpoints, schedule, clipping, early stopping, precision switch, seeds."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from tiny_parts import TINY, TinyForecaster, install_tiny_registry, tiny_prepared

from ml_attention_mechanisms._import_guard import has_module
from ml_attention_mechanisms.training import load_checkpoint
from ml_attention_mechanisms.training.run import train


@pytest.fixture(autouse=True)
def _tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    install_tiny_registry(monkeypatch)


def _cfg(**training: Any) -> dict[str, Any]:
    base = {"max_epochs": 2, "batch_size": 16, "enable_progress_bar": False, "log_every_n_steps": 1}
    return {"training": {**base, **training}}


def test_run_directory_and_checkpoints(tmp_path: Path) -> None:
    result = train(TINY, tiny_prepared(), config=_cfg(), out=tmp_path / "run")
    run = tmp_path / "run"
    assert result.run_dir == run and result.epochs == 2
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "finished" and record["model"] == TINY
    assert {"ml_attention_mechanisms", "torch", "lightning", "python"} <= set(record["versions"])
    assert record["git"] is None or len(record["git"]["commit"]) == 40
    assert record["model_config"]["input_features"] == 4  # from the data, not from the config
    assert "input_features: 4" in (run / "config.yaml").read_text()
    for name in ("best.ckpt", "last.ckpt"):
        raw = torch.load(run / "checkpoints" / name, weights_only=True)  # Lightning's files load safely
        assert raw["model_type"] == TINY and raw["feature_names"] == ["f0", "f1", "f2", "f3"]
        assert raw["symbols"] == {"BTCUSDT": 1, "ETHUSDT": 2, "LTCUSDT": 3}
        assert all(not k.startswith("model.") for k in raw["state_dict"])
        assert "optimizer_states" in raw and "loops" in raw  # and the resume state
    model, payload = load_checkpoint(run / "checkpoints" / "last.ckpt")
    for key, value in result.model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)
    assert payload["scaler"] == {"kind": "synthetic", "mean": [0.0] * 4}
    rows = list(csv.DictReader(open(next((run / "logs").glob("version_*/metrics.csv")))))
    val = [float(r["val_loss"]) for r in rows if r.get("val_loss")]
    assert len(val) == 2 and result.best_val_loss == pytest.approx(min(val))
    assert any(r.get("windows_per_s") for r in rows)  # the throughput shown on the progress bar
    assert (run / "tensorboard").is_dir() == (has_module("tensorboard") or has_module("tensorboardX"))


class _Recorder(L.Callback):
    def __init__(self) -> None:
        self.lrs: list[float] = []
        self.grad_norms: list[float] = []

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, i: int
    ) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, out: Any, batch: Any, i: int
    ) -> None:
        grads = [p.grad.detach().flatten() for p in pl_module.parameters() if p.grad is not None]
        self.grad_norms.append(float(torch.cat(grads).norm()))


def test_warmup_cosine_schedule_and_clipping(tmp_path: Path) -> None:
    rec = _Recorder()
    lr, epochs, steps = 1e-2, 3, 4  # 64 windows / batch 16
    cfg = _cfg(
        max_epochs=epochs, learning_rate=lr, warmup_fraction=0.25, min_lr_ratio=0.1, gradient_clip_val=0.05
    )
    train(TINY, tiny_prepared(), config=cfg, out=tmp_path / "run", callbacks=[rec])
    total, warmup = epochs * steps, 3  # round(0.25 * 12)
    expected = []
    for s in range(total):  # the formula, written out independently
        if s < warmup:
            expected.append(lr * (s + 1) / warmup)
        else:
            progress = (s - warmup) / (total - warmup)
            expected.append(lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))))
    assert rec.lrs == pytest.approx(expected, rel=1e-6)
    assert max(rec.grad_norms) <= 0.05 * (1 + 1e-4)


def test_early_stopping_on_validation(tmp_path: Path) -> None:
    cfg = _cfg(max_epochs=10, early_stopping_patience=1, early_stopping_min_delta=1e6)
    result = train(TINY, tiny_prepared(), config=cfg, out=tmp_path / "run")
    assert result.epochs == 2  # epoch 0 sets the best, epoch 1 fails to beat it by min_delta: stop


def test_precision_is_one_switch(tmp_path: Path) -> None:
    result = train(
        TINY, tiny_prepared(), config=_cfg(max_epochs=1), precision="bf16-mixed", out=tmp_path / "a"
    )
    assert isinstance(result.model, TinyForecaster) and result.model.config.use_mixed_precision
    assert json.loads((tmp_path / "a" / "run.json").read_text())["model_config"]["use_mixed_precision"]
    bad = {**_cfg(max_epochs=1), "model": {"use_mixed_precision": True}}
    with pytest.raises(
        ValueError, match=r"model.use_mixed_precision=True contradicts training.precision='32'"
    ):
        train(TINY, tiny_prepared(), config=bad, out=tmp_path / "b")


def test_input_features_come_from_the_data(tmp_path: Path) -> None:
    bad = {**_cfg(max_epochs=1), "model": {"input_features": 7}}
    with pytest.raises(ValueError, match=r"model.input_features=7: the data have 4 features"):
        train(TINY, tiny_prepared(), config=bad, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()  # caught before anything was written


def test_same_seed_same_weights(tmp_path: Path) -> None:
    a = train(TINY, tiny_prepared(), config=_cfg(), seed=3, deterministic=True, out=tmp_path / "a")
    b = train(TINY, tiny_prepared(), config=_cfg(), seed=3, deterministic=True, out=tmp_path / "b")
    assert not torch.are_deterministic_algorithms_enabled()  # the process setting is restored
    c = train(TINY, tiny_prepared(), config=_cfg(), seed=4, out=tmp_path / "c")
    for key, value in a.model.state_dict().items():
        torch.testing.assert_close(b.model.state_dict()[key], value, rtol=0, atol=0)
    assert not torch.equal(c.model.head.weight, a.model.head.weight)


def test_resume_extends_a_run_and_refuses_changed_data(tmp_path: Path) -> None:
    from tiny_parts import SMALL_MODEL, SMALL_MODEL_CONFIG, write_ohlcv_csv

    from ml_attention_mechanisms.training import resume_run as resume

    files = [write_ohlcv_csv(tmp_path / "BTCUSDT_1h.csv", seed=0)]
    config = {
        "model": SMALL_MODEL_CONFIG,
        "data": {"window": 16},
        "training": {"max_epochs": 1, "batch_size": 32},
    }
    run = tmp_path / "run"
    assert train(SMALL_MODEL, files[0], config=config, out=run).epochs == 1  # one file as a Path
    extended = resume(run, max_epochs=2)  # the model and the files come from the run's record
    assert extended.epochs == 2 and json.loads((run / "run.json").read_text())["epochs"] == 2
    with open(files[0], "a", encoding="utf-8") as fh:
        fh.write("\n")  # same bars, different bytes: the run's record no longer matches
    with pytest.raises(ValueError, match=r"data file .*BTCUSDT_1h\.csv changed since the run started"):
        resume(run, max_epochs=3)
    with pytest.raises(ValueError, match=r"--model 'other': the run in .* trains 'price_predictor_small'"):
        train("other", resume=run)


@pytest.mark.gpu
def test_cuda_bf16_training(tmp_path: Path) -> None:
    cfg = _cfg(max_epochs=1, accelerator="cuda", precision="bf16-mixed")
    result = train(TINY, tiny_prepared(), config=cfg, out=tmp_path / "run")
    assert result.best_val_loss is not None and math.isfinite(result.best_val_loss)
    model, _ = load_checkpoint(result.last_checkpoint)  # type: ignore[arg-type]
    assert next(model.parameters()).device.type == "cpu"  # checkpoints load onto the CPU by default


def test_resume_of_in_memory_data_needs_the_data_again(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(TINY, tiny_prepared(), config=_cfg(max_epochs=1), out=run)
    with pytest.raises(
        ValueError, match=r"--resume .*run: the run was given in-memory data; pass data= again"
    ):
        train(resume=run)
    assert train(resume=run, data=tiny_prepared(), max_epochs=2).epochs == 2
    with pytest.raises(FileNotFoundError, match=r"not a run directory \(no run.json\)"):
        train(resume=tmp_path)
