"""``kill -9`` of a real ``mlattn train`` process while it writes a checkpoint: the checkpoints on disk stay
whole, the temporary file of the torn write is removed when the run is resumed, and the run completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from tiny_parts import write_ohlcv_csv

from ml_attention_mechanisms.training.checkpoint import load_checkpoint, read_checkpoint

EPOCHS = 6
# The default price model's width (3.2 M parameters; ~38 MB with the optimiser state): each checkpoint
# write takes a while, and one training step on a 16-bar window is short, so most of a run is writing.
MODEL = "price_predictor"
MODEL_CONFIG = {"attention_window": 16, "prediction_horizon": 2}


def _mlattn(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("MLATTN_RUN_DIR", None)
    cmd = [sys.executable, "-m", "ml_attention_mechanisms.cli.main", "train", *args]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def _temporaries(run: Path) -> list[Path]:
    folder = run / "checkpoints"
    return [p for p in folder.iterdir() if p.name.endswith(".tmp")] if folder.is_dir() else []


def _kill_during_a_write(proc: subprocess.Popen[bytes], run: Path) -> bool:
    """SIGKILL ``proc`` as soon as a checkpoint's temporary file appears; True if one was left behind."""
    deadline = time.monotonic() + 240
    try:
        while not _temporaries(run):
            if proc.poll() is not None:
                return False  # the run ended between two polls of every write: try again
            assert time.monotonic() < deadline, "no checkpoint write seen within 240 s"
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    return bool(_temporaries(run))


@pytest.mark.slow
def test_kill_during_a_checkpoint_write_then_resume(tmp_path: Path) -> None:
    files = [write_ohlcv_csv(tmp_path / "BTCUSDT_1h.csv", seed=0)]
    config = tmp_path / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": MODEL_CONFIG,
                "data": {"window": 16},
                "training": {
                    "max_epochs": EPOCHS,
                    "batch_size": 8,
                    "limit_train_batches": 1,
                    "limit_val_batches": 1,
                    "enable_progress_bar": False,
                },
            }
        ),
        encoding="utf-8",
    )
    run = tmp_path / "run"
    proc = _mlattn("--model", MODEL, "--data", *map(str, files), "--config", str(config), "--out", str(run))
    torn = _kill_during_a_write(proc, run)
    for _ in range(5):  # a write can end between the poll that saw it and the kill: kill the resumed run
        if torn:
            break
        torn = _kill_during_a_write(_mlattn("--resume", str(run)), run)
    assert torn, "the kill never landed inside a checkpoint write"
    leftovers = _temporaries(run)
    for name in ("best.ckpt", "last.ckpt"):  # whatever is on disk under the real names is whole
        path = run / "checkpoints" / name
        if path.exists():
            read_checkpoint(path)
    assert json.loads((run / "run.json").read_text())["status"] == "running"

    resumed = _mlattn("--resume", str(run))
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()[-3000:]
    assert not any(p.exists() for p in leftovers) and _temporaries(run) == []
    assert "temporary file(s) of a write that was killed" in err.decode()
    assert read_checkpoint(run / "checkpoints" / "last.ckpt")["epoch"] == EPOCHS - 1
    load_checkpoint(run / "checkpoints" / "best.ckpt")
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
