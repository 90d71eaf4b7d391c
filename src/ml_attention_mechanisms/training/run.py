"""``train(...)``: the Python entry point of ``mlattn train``.

A run directory holds everything about one run::

    RUN_DIR/
      config.yaml          the resolved configuration (model kwargs incl. input_features, data, training)
      run.json             model, data given, sha256 of every data file read, the bar interval of the data
                           (bar_seconds, timeframe: "1h", "1d"), library/torch/Lightning/Python versions,
                           git commit (when available), command line, status, best validation loss
      run.lock             held by the one training writing the directory (its pid; see _run_dir)
      checkpoints/
        best.ckpt          lowest validation loss so far   (atomic writes; torch.load(weights_only=True))
        last.ckpt          end of the latest epoch, always (what --resume continues from)
      logs/version_N/metrics.csv   CSV metrics (TensorBoard events too when tensorboard is installed)
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._import_guard import needs_extra
from . import _record
from ._build import apply_overrides, build_model, load_config, plain_config, prepare_run_data
from ._callbacks import BestCheckpoint, LatestCheckpoint, ThroughputMeter
from ._run_dir import check_run_dir, claim_run_dir
from ._trainer import early_stopping, loggers, make_trainer
from .config import RunConfig, TrainingConfig, dump_run_config
from .datamodule import PreparedData, WindowDataModule
from .module import ForecastModule
from .resume import IN_MEMORY, check_data_unchanged, resume_point

with needs_extra("train"):
    import lightning as L
    from lightning.pytorch.callbacks import Callback, LearningRateMonitor

__all__ = [
    "TrainResult",
    "build_model",
    "early_stopping",
    "make_trainer",
    "prepare_run_data",
    "resume_run",
    "train",
]

logger = logging.getLogger(__name__)

RUN_DIR_ENV = "MLATTN_RUN_DIR"  # carries the run directory to the processes a DDP launch starts


@dataclass(frozen=True)
class TrainResult:
    """What a finished run left behind.

    Args:
        run_dir: the run directory.
        best_checkpoint: ``checkpoints/best.ckpt`` (``None`` if no epoch completed).
        last_checkpoint: ``checkpoints/last.ckpt`` (``None`` if no epoch completed).
        best_val_loss: the lowest validation loss.
        epochs: epochs completed (over all resumes).
        windows_per_second: measured training throughput of this process (data time included).
        data_share: share of the measured step time spent waiting for batches.
        model: the trained module (weights of the last epoch).
        is_global_zero: this process is rank 0 (the one that writes and reports; False in other DDP ranks).
        bar_seconds: the bar interval of the training data in seconds (``None`` when unknown).
    """

    run_dir: Path
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    best_val_loss: float | None
    epochs: int
    windows_per_second: float
    data_share: float
    model: nn.Module
    is_global_zero: bool = True
    bar_seconds: int | None = None


def _run_dir(model_type: str, out: str | os.PathLike[str] | None) -> Path:
    inherited = os.environ.get(RUN_DIR_ENV)
    if inherited:
        return Path(inherited)
    if out is not None:
        return Path(out)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 or int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        raise ValueError(
            "--out: a distributed launch (torchrun, SLURM) needs an explicit --out run directory"
        )
    return Path("runs") / f"{model_type}-{time.strftime('%Y%m%d-%H%M%S')}"


def train(
    model: str | None = None,
    data: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | PreparedData | None = None,
    *,
    config: str | os.PathLike[str] | RunConfig | dict[str, Any] | None = None,
    max_epochs: int | None = None,
    batch_size: int | None = None,
    devices: int | None = None,
    num_nodes: int | None = None,
    strategy: str | None = None,
    precision: str | None = None,
    accelerator: str | None = None,
    seed: int | None = None,
    deterministic: bool | None = None,
    resume: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """Train a registry model on market data; what ``mlattn train`` runs.

    Args:
        model: registry name (``"price_predictor_small"``, ...). With ``resume``: taken from the run.
        data: ``"binance-1h"`` (bundled), data files, or :class:`PreparedData`. With ``resume``: taken from
            the run (pass it again only for in-memory data).
        config: YAML file, :class:`RunConfig` or its dict form; ``None`` = defaults. With ``resume``: the run's.
        max_epochs: overrides ``training.max_epochs`` (``None`` = keep the config's).
        batch_size: overrides ``training.batch_size`` (per process).
        devices: overrides ``training.devices``.
        num_nodes: overrides ``training.num_nodes``.
        strategy: overrides ``training.strategy`` (e.g. ``"ddp"``).
        precision: overrides ``training.precision`` (``"32"`` or ``"bf16-mixed"``).
        accelerator: overrides ``training.accelerator`` (``"cpu"``, ``"cuda"``, ...).
        seed: overrides ``training.seed``.
        deterministic: overrides ``training.deterministic``.
        resume: a run directory to continue from its ``last.ckpt`` (after a crash or a kill at any moment).
        out: the run directory to create. Default: ``runs/<model>-<UTC time>``. A directory that holds a
            run is refused unless ``overwrite``; one that holds other files is refused.
        overwrite: replace the run in ``out`` (its config, record, checkpoints and logs are removed first).
        callbacks: extra Lightning callbacks.

    One training writes a run directory at a time: it holds ``RUN_DIR/run.lock`` until it ends (a second
    one is refused, naming the holder's pid; the lock of a killed process is taken over), and at its start
    it removes the temporary files of a checkpoint write that was killed.

    Returns:
        A :class:`TrainResult` (run directory, checkpoints, best validation loss, throughput).

    Raises:
        FileNotFoundError: a missing data file, config file, or run directory.
        ValueError: a bad config value, empty training split, horizon longer than the data, too few bars for
            the window, a run directory in use by another run or holding a run (without ``overwrite``),
            a ``last.ckpt`` to resume from with NaN weights; each is raised before training starts.
    """
    overrides = {
        "max_epochs": max_epochs,
        "batch_size": batch_size,
        "devices": devices,
        "num_nodes": num_nodes,
        "strategy": strategy,
        "precision": precision,
        "accelerator": accelerator,
        "seed": seed,
        "deterministic": deterministic,
    }
    ckpt_path: Path | None = None
    record: dict[str, Any] | None = None
    if resume is not None:
        point = resume_point(resume, model=model, data=data)
        run_dir, model, data, record = point.run_dir, point.model, point.data, point.record
        cfg = apply_overrides(point.config, overrides)
        ckpt_path = point.checkpoint
    else:
        if model is None or data is None:
            raise ValueError("train() needs model= and data= (or resume=)")
        cfg = apply_overrides(load_config(config), overrides)
        run_dir = _run_dir(model, out)
    assert model is not None and data is not None
    if _writes_run_dir():
        check_run_dir(run_dir, resume=resume is not None, overwrite=overwrite)  # early; creates nothing
    return _prepare_and_fit(model, data, cfg, run_dir, record, ckpt_path, callbacks, overwrite=overwrite)


def _writes_run_dir() -> bool:
    """This process writes the run directory (not a DDP rank > 0, nor a process Lightning started for a run
    whose first process writes it)."""
    return _record.is_global_zero_process() and RUN_DIR_ENV not in os.environ


def _prepare_and_fit(
    model: str,
    data: Any,
    cfg: RunConfig,
    run_dir: Path,
    record: dict[str, Any] | None,
    ckpt_path: Path | None,
    callbacks: Sequence[Callback],
    *,
    overwrite: bool,
) -> TrainResult:
    tcfg = cfg.training
    L.seed_everything(tcfg.seed, workers=True, verbose=False)
    if tcfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it for determinism

    prepared = prepare_run_data(model, data, cfg, include_test=True)
    if record is not None:
        check_data_unchanged(record, prepared.files)
    L.seed_everything(tcfg.seed, workers=True, verbose=False)  # the same initial weights however data loads
    net, model_kwargs = build_model(model, cfg, prepared)
    resolved = dataclasses.replace(cfg, model=model_kwargs)

    # everything was checked: only now is the directory taken, by the one process that writes it
    lock = (
        claim_run_dir(run_dir, resume=record is not None, overwrite=overwrite) if _writes_run_dir() else None
    )
    try:
        if lock is not None:
            _write_start(run_dir, model, data, resolved, record, prepared, net)
        with _run_environment(run_dir):
            return _fit(model, net, tcfg, prepared, run_dir, ckpt_path, callbacks)
    finally:
        if lock is not None:
            lock.release()


def _write_start(
    run_dir: Path,
    model: str,
    data: Any,
    resolved: RunConfig,
    record: dict[str, Any] | None,
    prepared: PreparedData,
    net: nn.Module,
) -> None:
    """``config.yaml`` and ``run.json`` (status running) at the start of a run or of a resume."""
    dump_run_config(resolved, run_dir / _record.CONFIG_FILE)
    if record is None:
        given = (
            [IN_MEMORY]
            if isinstance(data, PreparedData)
            else [str(data)]
            if isinstance(data, str | os.PathLike)
            else [str(p) for p in data]
        )
        record = _record.new_record(
            model=model, data=given, data_files={str(p): _record.file_sha256(p) for p in prepared.files}
        )
    record["model_config"] = plain_config(net)
    record.update(_record.interval_fields(prepared.bar_seconds))
    record["status"] = "running"
    _record.write_record(run_dir, record)


@contextlib.contextmanager
def _run_environment(run_dir: Path) -> Iterator[None]:
    """The run directory in the environment (for the DDP processes Lightning starts), and the caller's
    deterministic-algorithms setting restored afterwards (Lightning switches it on for the process)."""
    inherited = RUN_DIR_ENV in os.environ
    os.environ[RUN_DIR_ENV] = str(run_dir.resolve())
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    try:
        yield
    finally:
        if not inherited:
            os.environ.pop(RUN_DIR_ENV, None)
        torch.use_deterministic_algorithms(deterministic_before)


def resume_run(run_dir: str | os.PathLike[str], **overrides: Any) -> TrainResult:
    """Continue a run from its last checkpoint: ``train(resume=run_dir, **overrides)`` (what the run needs
    to continue, and the checks that it may: :func:`.resume.resume_point`).

    Args:
        run_dir: the run directory.
        **overrides: ``train`` keyword arguments (e.g. ``max_epochs`` to extend the run, ``data`` for
            in-memory data).
    """
    return train(resume=run_dir, **overrides)


def _fit(
    model: str,
    net: nn.Module,
    tcfg: TrainingConfig,
    prepared: PreparedData,
    run_dir: Path,
    ckpt_path: Path | None,
    callbacks: Sequence[Callback],
) -> TrainResult:
    module = ForecastModule.for_data(net, prepared, training=tcfg, model_type=model)
    datamodule = WindowDataModule(
        prepared, batch_size=tcfg.batch_size, num_workers=tcfg.num_workers, seed=tcfg.seed
    )
    checkpoint = BestCheckpoint(run_dir / _record.CHECKPOINT_DIR)
    latest = LatestCheckpoint(run_dir / _record.CHECKPOINT_DIR)  # after best: its state holds the best score
    meter = ThroughputMeter()
    cbs: list[Callback] = [
        checkpoint,
        latest,
        meter,
        LearningRateMonitor(logging_interval="step"),
        *callbacks,
    ]
    cbs.extend(early_stopping(tcfg))
    trainer = make_trainer(tcfg, callbacks=cbs, logger=loggers(run_dir), root_dir=run_dir, model=net)
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(ckpt_path) if ckpt_path else None)

    best = Path(checkpoint.best_model_path) if checkpoint.best_model_path else None
    last_file = run_dir / _record.CHECKPOINT_DIR / "last.ckpt"
    score = checkpoint.best_model_score
    best_loss = float(score) if score is not None else None
    if trainer.is_global_zero:
        record = _record.read_record(run_dir)
        record.update(
            status="finished",
            finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            epochs=int(trainer.current_epoch),
            best_val_loss=best_loss,
            windows_per_second=meter.windows_per_second,
            data_loading_share=meter.data_share,
        )
        _record.write_record(run_dir, record)
    return TrainResult(
        run_dir=run_dir,
        best_checkpoint=best,
        last_checkpoint=last_file if last_file.is_file() else None,
        best_val_loss=best_loss,
        epochs=int(trainer.current_epoch),
        windows_per_second=meter.windows_per_second,
        data_share=meter.data_share,
        model=net,
        is_global_zero=bool(trainer.is_global_zero),
        bar_seconds=prepared.bar_seconds,
    )
