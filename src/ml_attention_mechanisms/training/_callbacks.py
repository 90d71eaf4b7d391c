"""Lightning plug-ins of the training layer: atomic, safe checkpoint IO and a throughput meter."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import lightning as L
from lightning.fabric.plugins import CheckpointIO

from .checkpoint import atomic_save, read_checkpoint

__all__ = ["AtomicCheckpointIO", "ThroughputMeter"]


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
