"""Resuming a run: where it stopped, with what, and whether its data are still the same.

A run killed at any moment (SIGKILL included) leaves a run directory whose ``checkpoints/last.ckpt`` is the
state at the end of its latest completed epoch (checkpoints are written atomically: never half a file).
``mlattn train --resume RUN_DIR`` (``resume_run`` in ``run.py``) reads the run's record and resolved config, checks that
the data files still have the sha256 the run recorded, and continues from ``last.ckpt``: the optimiser,
scheduler, loop counters, early-stopping and best-checkpoint state are restored, the epoch in progress is
redone with the same batches (the sampler's order depends only on the seed and the epoch) and the same
dropout draws (re-seeded from seed, epoch and rank at every epoch start). So a killed-and-resumed run ends
with the weights of an uninterrupted one. A run killed before its first checkpoint starts over. A ``last.ckpt``
with NaN or infinite weights (a diverged epoch) is refused, and ``best.ckpt`` is never replaced by a worse
epoch (see ``_callbacks.BestCheckpoint``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _record
from ._checkpoint_guard import check_finite
from .checkpoint import read_checkpoint
from .config import RunConfig, load_run_config

__all__ = ["ResumePoint", "check_data_unchanged", "resume_point"]

logger = logging.getLogger(__name__)

IN_MEMORY = "<in-memory>"


@dataclass(frozen=True)
class ResumePoint:
    """Where a run continues.

    Args:
        run_dir: the run directory.
        model: the registry name it trains.
        data: its data as given (dataset name or files), or what the caller passed again.
        config: its resolved configuration.
        checkpoint: ``last.ckpt``, or ``None`` when the run was killed before its first checkpoint.
        record: its ``run.json``.
    """

    run_dir: Path
    model: str
    data: Any
    config: RunConfig
    checkpoint: Path | None
    record: dict[str, Any]


def resume_point(
    run_dir: str | os.PathLike[str], *, model: str | None = None, data: Any = None
) -> ResumePoint:
    """Read what a run needs to continue, refusing an unsafe or unreadable ``last.ckpt`` up front.

    Args:
        run_dir: the run directory.
        model: when given, must be the run's model.
        data: the data again (required for runs given in-memory data); ``None`` = the run's.

    Raises:
        FileNotFoundError: not a run directory.
        ValueError: another model than the run's, in-memory data not passed again, an unreadable checkpoint
            (or one changed since it was written), NaN or infinite weights in ``last.ckpt``.
        UnsafeCheckpointError: ``last.ckpt`` carries pickled code (named).
    """
    directory = Path(run_dir)
    record = _record.read_record(directory)
    if model is not None and model != record["model"]:
        raise ValueError(f"--model {model!r}: the run in {directory} trains {record['model']!r}")
    if data is None:
        if record.get("data") == [IN_MEMORY]:
            raise ValueError(f"--resume {directory}: the run was given in-memory data; pass data= again")
        data = list(record["data"])
    config = load_run_config(directory / _record.CONFIG_FILE)
    last = directory / _record.CHECKPOINT_DIR / "last.ckpt"
    checkpoint = last if last.is_file() else None
    if checkpoint is not None:
        state = read_checkpoint(checkpoint)  # weights_only: refuses pickled code before anything starts
        try:  # a diverged epoch's NaN weights would "resume" into a run that learns nothing
            check_finite(state.get("state_dict"), checkpoint)
        except ValueError as exc:
            raise ValueError(f"--resume {directory}: {exc}") from None
    else:
        logger.warning("%s has no last.ckpt yet: the run starts again from the beginning", directory)
    return ResumePoint(directory, str(record["model"]), data, config, checkpoint, record)


def check_data_unchanged(record: dict[str, Any], files: list[Path]) -> None:
    """Refuse to resume on data files whose bytes changed since the run started.

    Raises:
        ValueError: a file's sha256 differs from the one in ``run.json`` (named).
    """
    recorded: dict[str, str] = record.get("data_files_sha256") or {}
    for path in files:
        expected = recorded.get(str(path))
        if expected is not None and _record.file_sha256(path) != expected:
            raise ValueError(
                f"--resume: data file {path} changed since the run started (sha256 differs from run.json); "
                "start a new run instead"
            )
