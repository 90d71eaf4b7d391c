"""Two real ``mlattn train`` processes on one ``--out``: one trains, the other is refused in one line naming
the holder; the run directory holds the first one's run only. A finished run is not replaced without
``--overwrite``."""

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
from test_train_cli import MODEL, _config, _csv, _fails

from ml_attention_mechanisms.cli.main import main


def _train(out: Path, files: list[Path], config: Path, seed: int) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("MLATTN_RUN_DIR", None)
    cmd = [sys.executable, "-m", "ml_attention_mechanisms.cli.main", "train", "--model", MODEL,
           "--data", *map(str, files), "--config", str(config), "--out", str(out), "--seed", str(seed)]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _holder_pid(out: Path) -> int | None:
    try:
        text = (out / "run.lock").read_text()
    except FileNotFoundError:
        return None
    return int(json.loads(text)["pid"]) if text.strip() else None


@pytest.fixture
def job(tmp_path: Path) -> tuple[list[Path], Path]:
    files = [_csv(tmp_path / "BTCUSDT_1h.csv", seed=0), _csv(tmp_path / "ETHUSDT_1h.csv", seed=1)]
    return files, _config(tmp_path, training={"max_epochs": 12})


def _seed_of_run(out: Path) -> int:
    return int(yaml.safe_load((out / "config.yaml").read_text())["training"]["seed"])


@pytest.mark.slow
def test_a_second_training_on_a_running_out_is_refused(tmp_path: Path, job: tuple[list[Path], Path]) -> None:
    files, config = job
    out = tmp_path / "run"
    first = _train(out, files, config, seed=1)
    deadline = time.monotonic() + 120
    while _holder_pid(out) != first.pid:  # the first training holds the directory
        assert first.poll() is None, first.communicate()[1][-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.send_signal(signal.SIGSTOP)  # frozen while holding the directory: the second surely meets it
    try:
        second = _train(out, files, config, seed=2)
        _, err2 = second.communicate(timeout=120)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 2, err2
    assert err2.count("\n") == 1 and "Traceback" not in err2
    assert f"in use by another run (pid {first.pid} on " in err2
    out1, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1[-3000:]
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "finished" and "1" == record["command"][record["command"].index("--seed") + 1]
    assert _seed_of_run(out) == 1
    assert f"best checkpoint: {out / 'checkpoints' / 'best.ckpt'}" in out1


@pytest.mark.slow
def test_two_trainings_started_together_leave_one_run(tmp_path: Path, job: tuple[list[Path], Path]) -> None:
    files, config = job
    out = tmp_path / "run"
    procs = {seed: _train(out, files, config, seed=seed) for seed in (1, 2)}
    results = {seed: (p.wait(timeout=300), p.stderr.read() if p.stderr else "") for seed, p in procs.items()}
    codes = sorted(code for code, _ in results.values())
    assert codes == [0, 2], results
    winner = next(seed for seed, (code, _) in results.items() if code == 0)
    _, err = next(r for r in results.values() if r[0] == 2)
    assert err.count("\n") == 1 and ("in use by another run" in err or "already holds a run" in err), err
    assert _seed_of_run(out) == winner
    last = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 11 and json.loads((out / "run.json").read_text())["status"] == "finished"


def test_out_naming_a_finished_run_needs_overwrite(
    tmp_path: Path, job: tuple[list[Path], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    files, _ = job
    config = _config(tmp_path)
    out = tmp_path / "run"
    argv = ["train", "--model", MODEL, "--data", *map(str, files), "--config", str(config), "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    before = (out / "checkpoints" / "best.ckpt").read_bytes()
    _fails(
        capsys, [*argv, "--seed", "9"], f"--out {out}: already holds a run (model {MODEL}, status finished)"
    )
    assert (out / "checkpoints" / "best.ckpt").read_bytes() == before
    assert main([*argv, "--seed", "9", "--overwrite"]) == 0
    assert _seed_of_run(out) == 9
    capsys.readouterr()
    _fails(
        capsys,
        ["train", "--resume", str(out), "--out", str(tmp_path / "x")],
        "--out/--overwrite: not with --resume",
    )
