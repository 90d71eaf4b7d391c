"""``tune(...)``: a hyperparameter search on the validation split (Optuna); what ``mlattn tune`` runs.

Each trial trains a fresh model on the training split and is scored by its best validation loss; trials whose
validation loss lags the median of earlier trials at the same epoch are pruned. The test split is never
built: the data are prepared with ``include_test=False`` (and in-memory splits have their test part dropped
before anything sees them), so tuning cannot leak the test period into the chosen configuration.

Outputs in ``out``: ``best_config.yaml`` (a complete run config for ``mlattn train --config``),
``trials.csv`` (every trial's parameters, state and validation loss) and ``tune.json`` (summary).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._import_guard import needs_extra
from ..config import replace_config
from ._build import apply_overrides, build_model, load_config, prepare_run_data
from ._trainer import early_stopping, make_trainer
from .checkpoint import library_versions
from .config import RunConfig, dump_run_config
from .datamodule import PreparedData, WindowDataModule
from .module import ForecastModule

with needs_extra("train"):
    import lightning as L

__all__ = ["TuneResult", "default_search_space", "tune", "tune_hyperparameters"]

logger = logging.getLogger(__name__)

SearchSpace = Callable[[Any, RunConfig], RunConfig]


@dataclass(frozen=True)
class TuneResult:
    """What a search found.

    Args:
        best_config: the best trial's complete run configuration.
        best_params: the best trial's sampled values.
        best_val_loss: its best validation loss.
        config_path: ``out/best_config.yaml``.
        trials: trials run (completed and pruned).
    """

    best_config: RunConfig
    best_params: dict[str, Any]
    best_val_loss: float
    config_path: Path
    trials: int


def default_search_space(trial: Any, cfg: RunConfig) -> RunConfig:
    """Learning rate, weight decay and warm-up (training), and dropout (model), around ``cfg``.

    Args:
        trial: an ``optuna.Trial``.
        cfg: the base configuration.

    Returns:
        ``cfg`` with the sampled values.
    """
    training = replace_config(
        cfg.training,
        learning_rate=trial.suggest_float("learning_rate", 1e-4, 3e-3, log=True),
        weight_decay=trial.suggest_float("weight_decay", 1e-5, 1e-1, log=True),
        warmup_fraction=trial.suggest_float("warmup_fraction", 0.0, 0.2),
    )
    model = dict(cfg.model)
    model["dropout"] = trial.suggest_float("dropout", 0.0, 0.3)
    return dataclasses.replace(cfg, model=model, training=training)


class _Report(L.Callback):
    """Reports each epoch's validation loss to Optuna, keeps the best, and prunes lagging trials."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial
        self.best = math.inf

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        with needs_extra("train"):
            import optuna

        value = trainer.callback_metrics.get("val_loss")
        if value is None:
            return
        loss = float(value)
        self.best = min(self.best, loss) if math.isfinite(loss) else self.best
        self.trial.report(loss, step=trainer.current_epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"val_loss {loss:.4g} at epoch {trainer.current_epoch}")


def tune(
    model: str,
    data: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | PreparedData,
    *,
    config: str | os.PathLike[str] | RunConfig | dict[str, Any] | None = None,
    trials: int = 20,
    out: str | os.PathLike[str] | None = None,
    max_epochs: int | None = None,
    seed: int | None = None,
    timeout_s: float | None = None,
    search_space: SearchSpace | None = None,
) -> TuneResult:
    """Search hyperparameters of ``model`` on the validation split.

    Args:
        model: registry name.
        data: ``"binance-1h"``, data files, or :class:`PreparedData` (its test split is dropped unread).
        config: the base run configuration (YAML file, :class:`RunConfig` or dict). Default: defaults.
        trials: number of trials. Default: 20.
        out: directory for ``best_config.yaml``, ``trials.csv``, ``tune.json``. Default:
            ``runs/tune-<model>-<UTC time>``.
        max_epochs: epochs per trial (overrides the config). Default: the config's.
        seed: seeds the sampler and every trial's training. Default: the config's seed.
        timeout_s: stop starting trials after this many seconds. Default: None.
        search_space: ``(trial, cfg) -> cfg`` sampling the values; default :func:`default_search_space`.

    Returns:
        A :class:`TuneResult`.

    Raises:
        ValueError: ``trials < 1``, a bad config, data too short, or an ``out`` whose ``best_config.yaml``
            is the ``config`` file itself (before any trial).
        RuntimeError: no trial completed.
    """
    with needs_extra("train"):
        import optuna

    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"--trials {trials!r}: must be an int >= 1")
    out_dir = (
        Path(out) if out is not None else Path("runs") / f"tune-{model}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    if isinstance(config, str | os.PathLike):  # best_config.yaml must not replace the config it started from
        from ..utils._paths import refuse_output_over_input

        refuse_output_over_input("--out", out_dir / "best_config.yaml", [("--config", config)])
    cfg = apply_overrides(load_config(config), {"max_epochs": max_epochs, "seed": seed})
    # Trials run in this process, one device: no DDP inside a search.
    cfg = dataclasses.replace(
        cfg, training=replace_config(cfg.training, devices=1, num_nodes=1, strategy="auto")
    )
    if isinstance(data, PreparedData):
        prepared = dataclasses.replace(data, test=None)  # never hand the test split to anything
    else:
        prepared = prepare_run_data(model, data, cfg, include_test=False)
    space = search_space or default_search_space
    out_dir.mkdir(parents=True, exist_ok=True)
    configs: dict[int, RunConfig] = {}

    def objective(trial: optuna.Trial) -> float:
        trial_cfg = space(trial, cfg)
        configs[trial.number] = trial_cfg
        tcfg = trial_cfg.training
        L.seed_everything(tcfg.seed, workers=True, verbose=False)
        net, kwargs = build_model(model, trial_cfg, prepared)
        configs[trial.number] = dataclasses.replace(trial_cfg, model=kwargs)
        module = ForecastModule.for_data(net, prepared, training=tcfg, model_type=model)
        report = _Report(trial)
        trainer = make_trainer(
            tcfg,
            callbacks=[report, *early_stopping(tcfg)],
            logger=False,
            root_dir=out_dir,
            enable_checkpointing=False,
            enable_progress_bar=False,
            model=net,
        )
        datamodule = WindowDataModule(
            prepared, batch_size=tcfg.batch_size, num_workers=tcfg.num_workers, seed=tcfg.seed
        )
        trainer.fit(module, datamodule=datamodule)
        return report.best

    sampler = optuna.samplers.TPESampler(seed=cfg.training.seed)
    study = optuna.create_study(
        direction="minimize", sampler=sampler, pruner=optuna.pruners.MedianPruner(n_startup_trials=3)
    )
    study.optimize(objective, n_trials=trials, timeout=timeout_s, catch=())
    done = [
        t
        for t in study.trials
        if t.state == optuna.trial.TrialState.COMPLETE and math.isfinite(t.value or math.nan)
    ]
    if not done:
        raise RuntimeError(f"no tuning trial of {model!r} completed ({len(study.trials)} run)")
    best = min(done, key=lambda t: float(t.value))  # type: ignore[arg-type]
    best_cfg = configs[best.number]
    path = out_dir / "best_config.yaml"
    dump_run_config(best_cfg, path)
    _write_trials(study, out_dir / "trials.csv")
    summary = {
        "model": model,
        "trials": len(study.trials),
        "best_trial": best.number,
        "best_val_loss": float(best.value),  # type: ignore[arg-type]
        "best_params": best.params,
        "splits_read": ["train", "val"],
        "versions": library_versions(),
    }
    (out_dir / "tune.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    logger.info("tune %s: best val_loss %.6g with %s", model, best.value, best.params)
    return TuneResult(
        best_config=best_cfg,
        best_params=dict(best.params),
        best_val_loss=float(best.value),  # type: ignore[arg-type]
        config_path=path,
        trials=len(study.trials),
    )


def _write_trials(study: Any, path: Path) -> None:
    import csv

    names = sorted({k for t in study.trials for k in t.params})
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["number", "state", "val_loss", *names])
        for t in study.trials:
            writer.writerow([t.number, t.state.name, t.value, *(t.params.get(k) for k in names)])


# The package exports the function under this name: ``training.tune`` is this module.
tune_hyperparameters = tune
