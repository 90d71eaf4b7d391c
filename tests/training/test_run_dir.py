"""One writer per run directory: the lock (holder named, a dead holder's lock taken over), an existing run
refused unless ``overwrite``, a foreign directory refused, the temporary files of a killed write removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tiny_parts import TINY, install_tiny_registry, tiny_prepared

from ml_attention_mechanisms.training.checkpoint import read_checkpoint
from ml_attention_mechanisms.training.run import train


@pytest.fixture(autouse=True)
def _tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    install_tiny_registry(monkeypatch)


def _cfg(epochs: int = 1, seed: int = 0) -> dict[str, Any]:
    return {"training": {"max_epochs": epochs, "batch_size": 16, "enable_progress_bar": False, "seed": seed}}


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_held_run_directory_refuses_a_second_training_naming_the_holder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(TINY, tiny_prepared(), config=_cfg(), out=run)
    before = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    holder = subprocess.Popen(  # another process holds the lock, as a running training does
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from ml_attention_mechanisms.training._run_dir import RunLock;"
         "lock = RunLock(Path(sys.argv[1])); print('held', flush=True); time.sleep(60)", str(run)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        busy = rf"run: in use by another run \(pid {holder.pid} on "
        with pytest.raises(ValueError, match=busy):
            train(TINY, tiny_prepared(), config=_cfg(), out=run, overwrite=True)
        with pytest.raises(ValueError, match=busy):
            train(resume=run, data=tiny_prepared(), max_epochs=2)
        assert {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()} == before  # nothing written
    finally:
        holder.kill()
        holder.wait()
    result = train(resume=run, data=tiny_prepared(), max_epochs=2)  # its holder died: the lock is taken over
    assert result.epochs == 2
    assert (run / "run.lock").read_text() == ""  # released at the end


def test_a_stale_lock_of_a_dead_pid_is_taken_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run = tmp_path / "run"
    run.mkdir()
    dead = _dead_pid()
    (run / "run.lock").write_text(json.dumps({"pid": dead, "host": "h", "started": "then"}) + "\n")
    result = train(TINY, tiny_prepared(), config=_cfg(), out=run)
    assert result.epochs == 1
    assert f"taking over the lock of pid {dead}" in caplog.text


def test_an_existing_run_is_refused_unless_overwrite(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = train(TINY, tiny_prepared(), config=_cfg(seed=1), out=run)
    record_before = (run / "run.json").read_bytes()
    best_before = (run / "checkpoints" / "best.ckpt").read_bytes()
    with pytest.raises(
        ValueError,
        match=r"--out .*run: already holds a run \(model tiny_forecaster, status finished\); pass --overwrite",
    ):
        train(TINY, tiny_prepared(), config=_cfg(seed=2), out=run)
    assert (run / "run.json").read_bytes() == record_before
    assert (run / "checkpoints" / "best.ckpt").read_bytes() == best_before
    second = train(TINY, tiny_prepared(seed=3), config=_cfg(seed=2), out=run, overwrite=True)
    assert sorted(p.name for p in (run / "logs").iterdir()) == ["version_0"]  # the old logs are gone
    weights = read_checkpoint(run / "checkpoints" / "last.ckpt")["state_dict"]
    assert all((weights[k] == v).all() for k, v in second.model.state_dict().items())
    assert any((weights[k] != v).any() for k, v in first.model.state_dict().items())


def test_a_directory_with_other_files_is_refused_even_with_overwrite(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(ValueError, match=r"not empty and not a run directory \(holds notes\.txt\)"):
            train(TINY, tiny_prepared(), config=_cfg(), out=tmp_path, overwrite=overwrite)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_temporaries_of_a_killed_write_are_removed_at_the_next_start(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(TINY, tiny_prepared(), config=_cfg(), out=run)
    stale = [run / "checkpoints" / ".last.ckpt.x1y2.tmp", run / ".run.json.123.tmp"]
    for path in stale:
        path.write_bytes(b"PK half a file")
    keep = run / "checkpoints" / "mine.tmp"  # not a name a write of the library gives: left alone
    keep.write_text("x")
    train(resume=run, data=tiny_prepared(), max_epochs=2)
    assert not any(p.exists() for p in stale) and keep.exists()
