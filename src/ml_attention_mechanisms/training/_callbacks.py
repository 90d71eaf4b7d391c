"""Lightning plug-ins of the training layer: atomic, safe checkpoint IO, the run's two checkpoints (best and
latest) and a throughput meter."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any

import torch

from .._import_guard import needs_extra
from .checkpoint import atomic_save, read_checkpoint

with needs_extra("train"):
    import lightning as L
    from lightning.fabric.plugins import CheckpointIO
    from lightning.pytorch.callbacks import ModelCheckpoint

__all__ = ["AtomicCheckpointIO", "BestCheckpoint", "LatestCheckpoint", "ThroughputMeter"]

logger = logging.getLogger(__name__)


class AtomicCheckpointIO(CheckpointIO):
    """Lightning's checkpoint IO, made atomic (temp file + fsync + rename) and safe to read.

    Every checkpoint Lightning writes (best, last) goes through :func:`atomic_save`; every checkpoint it
    reads (``--resume``) goes through :func:`read_checkpoint`, i.e. ``torch.load(..., weights_only=True)``,
    which refuses pickled code with an error naming the file.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        atomic_save(checkpoint, path)

    def load_checkpoint(
        self, path: Any, map_location: Any | None = None, weights_only: bool | None = None
    ) -> Any:
        return read_checkpoint(path, map_location="cpu" if map_location is None else map_location)

    def remove_checkpoint(self, path: Any) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _moved(state: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """A checkpoint callback's state recorded in directory ``old``, with its paths in ``new``."""

    def move(path: Any) -> Any:
        if isinstance(path, str) and path and Path(path).parent == Path(old):
            return str(Path(new) / Path(path).name)
        return path

    out = {key: move(value) for key, value in state.items()}
    out["dirpath"] = new
    if isinstance(state.get("best_k_models"), dict):
        out["best_k_models"] = {move(k): v for k, v in state["best_k_models"].items()}
    return out


class _RunDirCheckpoint(ModelCheckpoint):
    """A ``ModelCheckpoint`` of a run directory whose state survives a copied or moved directory: the
    recorded paths are mapped into the directory the run is resumed from (Lightning drops the best score
    when the directory differs, and the next epoch would then replace a better ``best.ckpt``)."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old, new = state_dict.get("dirpath"), self.dirpath
        if old and new and os.path.abspath(old) != os.path.abspath(new):
            state_dict = _moved(state_dict, str(old), str(new))
        super().load_state_dict(state_dict)


class BestCheckpoint(_RunDirCheckpoint):
    """``best.ckpt``: the epoch of the lowest validation loss.

    A resumed run never replaces it with a worse one: the best score comes back from the resumed checkpoint
    (also from a copied or moved run directory), and at the start of the fit the score recorded inside the
    ``best.ckpt`` on disk is taken when it is better (or when the resumed state has none).
    """

    def __init__(self, dirpath: str | os.PathLike[str]) -> None:
        super().__init__(
            dirpath=str(dirpath),
            filename="best",
            monitor="val_loss",
            mode="min",
            save_top_k=1,
            save_last=False,
            enable_version_counter=False,
            every_n_epochs=1,
        )

    @property
    def state_key(self) -> str:
        # Lightning's own key for these settings, so that runs written with a plain ModelCheckpoint resume.
        settings = {
            "monitor": self.monitor,
            "mode": self.mode,
            "every_n_train_steps": self._every_n_train_steps,
            "every_n_epochs": self._every_n_epochs,
            "train_time_interval": self._train_time_interval,
        }
        return f"ModelCheckpoint{settings!r}"

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        path = Path(str(self.dirpath)) / "best.ckpt"
        if not path.is_file():
            return
        state = read_checkpoint(path).get("callbacks", {}).get(self.state_key, {})
        score = state.get("best_model_score") if isinstance(state, dict) else None
        if score is None:
            logger.warning("%s records no validation loss: the next best epoch replaces it", path)
            return
        score = torch.as_tensor(score, dtype=torch.float64)
        if self.best_model_score is not None and not bool(score < self.best_model_score.double().cpu()):
            return
        logger.info(
            "%s: best validation loss %.6g, recorded in the file, kept as the best", path, float(score)
        )
        self.best_model_score = score.float()
        self.best_model_path = self.kth_best_model_path = str(path)
        self.kth_value = self.best_model_score
        self.best_k_models = {str(path): self.best_model_score}


class LatestCheckpoint(_RunDirCheckpoint):
    """``last.ckpt``: the end of every epoch, whatever its validation loss (what ``--resume`` continues from).

    Lightning's ``save_last`` rewrites ``last.ckpt`` only when the monitored checkpoint is saved, i.e. when the
    validation loss improves; this one is written at the end of every epoch. Give it after
    :class:`BestCheckpoint`, so that the state it holds includes the best score of the same epoch.
    """

    def __init__(self, dirpath: str | os.PathLike[str]) -> None:
        super().__init__(
            dirpath=str(dirpath),
            filename="last",
            monitor=None,
            save_top_k=1,
            save_last=False,
            enable_version_counter=False,
            every_n_epochs=1,
        )


class ThroughputMeter(L.Callback):
    """Windows per second on the progress bar, and the share of a step spent waiting for data.

    The data time of step ``i`` is the gap between the end of step ``i - 1`` and the start of step ``i``
    (Lightning fetches the batch in that gap); the step time is from the start of step ``i`` to its end
    (forward, backward, optimiser). Both are summed over the run: :attr:`data_share` is
    ``data / (data + step)``. The first step of each epoch is left out (it includes the loader's start-up).
    """

    def __init__(self) -> None:
        self.data_seconds = 0.0
        self.step_seconds = 0.0
        self.windows = 0
        self._last_end: float | None = None
        self._start = 0.0
        self._pending_data = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last_end = None

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        now = time.perf_counter()
        self._pending_data = (now - self._last_end) if self._last_end is not None else -1.0
        self._start = now

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        now = time.perf_counter()
        step = now - self._start
        self._last_end = now
        if self._pending_data < 0:  # first step of the epoch: loader start-up, not counted
            return
        size = _size(batch)
        self.data_seconds += self._pending_data
        self.step_seconds += step
        self.windows += size
        rate = size / max(step + self._pending_data, 1e-9)
        pl_module.log("windows_per_s", rate, prog_bar=True, on_step=True, on_epoch=False, batch_size=size)

    @property
    def data_share(self) -> float:
        """Share of the measured time spent waiting for batches (0 when nothing was measured)."""
        total = self.data_seconds + self.step_seconds
        return self.data_seconds / total if total > 0 else 0.0

    @property
    def windows_per_second(self) -> float:
        """Training windows per second over the measured steps (data time included)."""
        total = self.data_seconds + self.step_seconds
        return self.windows / total if total > 0 else 0.0


def _size(batch: Any) -> int:
    if isinstance(batch, dict):
        for value in batch.values():
            shape = getattr(value, "shape", None)
            if shape is not None and len(shape) > 0:
                return int(shape[0])
    return 1
