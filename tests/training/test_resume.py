"""Resume after SIGKILL: a real training process is killed mid-run and continued from its last checkpoint;
it ends with the same weights as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from tiny_parts import TINY, install_tiny_registry, tiny_prepared

from ml_attention_mechanisms.training.run import train

HERE = Path(__file__).resolve().parent
CONFIG: dict[str, Any] = {
    "training": {
        "max_epochs": 4,
        "batch_size": 16,
        "enable_progress_bar": False,
        "seed": 5,
        "log_every_n_steps": 1,
    }
}

SCRIPT = textwrap.dedent(
    """
    import sys, time, json
    sys.path.insert(0, {here!r})
    import torch, lightning as L
    torch.set_num_threads(1)
    from tiny_parts import TINY, install_tiny_registry, tiny_prepared
    from ml_attention_mechanisms.training.run import train
    install_tiny_registry()

    class Slow(L.Callback):  # slow steps, so that the kill lands inside a later epoch
        def on_train_batch_end(self, *args):
            time.sleep(0.15)

    config = json.loads(sys.argv[2])
    if sys.argv[1] == "start":
        train(TINY, tiny_prepared(), config=config, out=sys.argv[3], callbacks=[Slow()])
    else:
        train(resume=sys.argv[3], data=tiny_prepared())  # in-memory data is passed again
    """
)


def _run_script(tmp_path: Path, mode: str, run_dir: Path) -> subprocess.Popen[bytes]:
    script = tmp_path / "job.py"
    script.write_text(SCRIPT.format(here=str(HERE)), encoding="utf-8")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, str(script), mode, json.dumps(CONFIG), str(run_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )


def test_killed_and_resumed_run_matches_uninterrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    last = run_dir / "checkpoints" / "last.ckpt"
    proc = _run_script(tmp_path, "start", run_dir)
    deadline = time.monotonic() + 120
    try:
        while not last.exists():  # the first epoch-boundary checkpoint is on disk: kill now
            assert proc.poll() is None, f"training exited early: {proc.stderr.read().decode()[-2000:]}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "no checkpoint appeared within 120 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = torch.load(last, weights_only=True)["epoch"]
    assert killed_at < CONFIG["training"]["max_epochs"] - 1  # the run was cut short
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"

    resumed = _run_script(tmp_path, "resume", run_dir)
    _, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err.decode()[-3000:]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished" and record["epochs"] == CONFIG["training"]["max_epochs"]

    install_tiny_registry(monkeypatch)
    straight = train(TINY, tiny_prepared(), config=CONFIG, out=tmp_path / "straight")
    got = torch.load(last, weights_only=True)["state_dict"]
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(got[key], value, rtol=1e-5, atol=1e-6)
