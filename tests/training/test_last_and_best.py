"""``last.ckpt`` is the end of the latest epoch, always; a resume continues from it; ``best.ckpt`` is never
replaced by a worse epoch (also in a copied or moved run directory); a NaN ``last.ckpt`` does not resume."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from tiny_parts import TINY, install_tiny_registry, tiny_prepared

from ml_attention_mechanisms.training.checkpoint import atomic_save, read_checkpoint
from ml_attention_mechanisms.training.run import train

STEPS_PER_EPOCH = 4  # 64 training windows, batch 16


@pytest.fixture(autouse=True)
def _tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    install_tiny_registry(monkeypatch)


class WorseAfterFirstEpoch(L.Callback):
    """From the second epoch on, shifts every weight before validation: each later epoch validates worse
    than the first, so the first epoch is the best of the run. Records every epoch's validation loss."""

    def __init__(self) -> None:
        self.val_losses: dict[int, float] = {}

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch >= 1:
            with torch.no_grad():
                for p in pl_module.parameters():
                    p.add_(0.5)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.val_losses[trainer.current_epoch] = float(trainer.callback_metrics["val_loss"])


def _cfg(epochs: int) -> dict[str, Any]:
    return {"training": {"max_epochs": epochs, "batch_size": 16, "enable_progress_bar": False}}


def _ckpt(run: Path, name: str) -> dict[str, Any]:
    return read_checkpoint(run / "checkpoints" / name)


def test_last_is_the_latest_epoch_when_the_best_was_earlier(tmp_path: Path) -> None:
    run = tmp_path / "run"
    worse = WorseAfterFirstEpoch()
    result = train(TINY, tiny_prepared(), config=_cfg(5), out=run, callbacks=[worse])
    assert min(worse.val_losses, key=worse.val_losses.__getitem__) == 0  # the first epoch was the best
    last, best = _ckpt(run, "last.ckpt"), _ckpt(run, "best.ckpt")
    assert last["epoch"] == 4 and last["global_step"] == 5 * STEPS_PER_EPOCH
    assert best["epoch"] == 0
    for key, value in result.model.state_dict().items():  # the final weights are on disk
        torch.testing.assert_close(last["state_dict"][key], value, rtol=0, atol=0)
    assert result.best_val_loss == pytest.approx(worse.val_losses[0])

    # --resume --max-epochs 6 trains one more epoch, from the end of epoch 5 (not from the best epoch)
    resumed = train(resume=run, data=tiny_prepared(), max_epochs=6, callbacks=[WorseAfterFirstEpoch()])
    assert resumed.epochs == 6
    again = _ckpt(run, "last.ckpt")
    assert again["epoch"] == 5 and again["global_step"] == 6 * STEPS_PER_EPOCH
    assert _ckpt(run, "best.ckpt")["epoch"] == 0  # epoch 6 validated worse: best.ckpt kept


def test_a_copied_run_directory_resumes_without_replacing_a_better_best(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(TINY, tiny_prepared(), config=_cfg(2), out=run, callbacks=[WorseAfterFirstEpoch()])
    best_bytes = (run / "checkpoints" / "best.ckpt").read_bytes()
    moved = tmp_path / "elsewhere" / "run-copy"
    shutil.copytree(run, moved)
    shutil.rmtree(run)  # moved, not only copied: the recorded paths point nowhere
    result = train(resume=moved, data=tiny_prepared(), max_epochs=4, callbacks=[WorseAfterFirstEpoch()])
    assert (moved / "checkpoints" / "best.ckpt").read_bytes() == best_bytes
    assert result.best_checkpoint == moved / "checkpoints" / "best.ckpt"
    assert _ckpt(moved, "last.ckpt")["epoch"] == 3


def test_best_on_disk_wins_when_the_resumed_state_has_no_best_score(tmp_path: Path) -> None:
    """A ``last.ckpt`` whose callback state lacks the best score (e.g. written by other tooling): the score
    recorded inside ``best.ckpt`` on disk is taken, and a worse epoch does not replace it."""
    run = tmp_path / "run"
    train(TINY, tiny_prepared(), config=_cfg(2), out=run, callbacks=[WorseAfterFirstEpoch()])
    last_path = run / "checkpoints" / "last.ckpt"
    last = read_checkpoint(last_path)
    last["callbacks"] = {k: v for k, v in last["callbacks"].items() if "'val_loss'" not in k}
    atomic_save(last, last_path)
    best_bytes = (run / "checkpoints" / "best.ckpt").read_bytes()
    train(resume=run, data=tiny_prepared(), max_epochs=3, callbacks=[WorseAfterFirstEpoch()])
    assert (run / "checkpoints" / "best.ckpt").read_bytes() == best_bytes


def test_a_nan_last_checkpoint_does_not_resume(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(TINY, tiny_prepared(), config=_cfg(1), out=run)
    last_path = run / "checkpoints" / "last.ckpt"
    last = read_checkpoint(last_path)
    last["state_dict"]["encoder.weight"].fill_(float("nan"))
    atomic_save(last, last_path)
    with pytest.raises(
        ValueError, match=r"--resume .*run: .*last\.ckpt: refused: weight encoder\.weight holds NaN values"
    ):
        train(resume=run, data=tiny_prepared(), max_epochs=2)
    assert read_checkpoint(last_path)["epoch"] == 0  # nothing was trained or written
