"""Resume after SIGKILL: a real ``mlattn train`` process is killed mid-run, ``mlattn train --resume`` continues
it from its last checkpoint, and it ends with the same weights as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from tiny_parts import SMALL_MODEL, SMALL_MODEL_CONFIG, write_ohlcv_csv

from ml_attention_mechanisms.training.run import train

EPOCHS = 6


def _mlattn(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("MLATTN_RUN_DIR", None)
    cmd = [sys.executable, "-m", "ml_attention_mechanisms.cli.main", "train", *args]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


@pytest.mark.slow
def test_killed_and_resumed_run_matches_uninterrupted(tmp_path: Path) -> None:
    files = [
        write_ohlcv_csv(tmp_path / "BTCUSDT_1h.csv", seed=0),
        write_ohlcv_csv(tmp_path / "ETHUSDT_1h.csv", seed=1),
    ]
    config = tmp_path / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": SMALL_MODEL_CONFIG,  # dropout 0.1: the resumed epochs must draw the same masks
                "data": {"window": 16},
                "training": {"max_epochs": EPOCHS, "batch_size": 16, "enable_progress_bar": False, "seed": 5},
            }
        ),
        encoding="utf-8",
    )
    run_dir = tmp_path / "run"
    last = run_dir / "checkpoints" / "last.ckpt"
    proc = _mlattn(
        "--model", SMALL_MODEL, "--data", *map(str, files), "--config", str(config), "--out", str(run_dir)
    )
    deadline = time.monotonic() + 180
    try:
        while not last.exists():  # the first epoch-boundary checkpoint is on disk: kill now
            assert proc.poll() is None, f"training exited early: {proc.stderr.read().decode()[-2000:]}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "no checkpoint appeared within 180 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = torch.load(last, weights_only=True)["epoch"]
    assert killed_at < EPOCHS - 1  # the run was cut short
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"

    resumed = _mlattn("--resume", str(run_dir))
    _, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err.decode()[-3000:]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished" and record["epochs"] == EPOCHS

    straight = train(SMALL_MODEL, files, config=config, out=tmp_path / "straight")
    got = torch.load(last, weights_only=True)["state_dict"]
    assert got.keys() == straight.model.state_dict().keys()
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(got[key], value, rtol=1e-5, atol=1e-6)
