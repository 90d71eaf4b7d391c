"""The project's main job (``mlattn demo``) and the commands built on its runs (``evaluate``, ``predict``).

:func:`run_demo` trains the small preset of each of the four models on the bundled 5-asset hourly data with
the default split (train to 2020-06-30 23:00, validation 2020-07-01..2020-12-31, test
2021-01-01..2021-06-10), chooses everything on validation only (early stopping on the validation loss,
temperature scaling, split-conformal calibration of intervals, the 24-bar variance and VaR/ES, continued
causally on a rolling window of resolved forecasts: see ``_pipeline_forecasts.rolling_calibration``), scores the test split against every baseline with the significance tests, backtests after
10 bps fees, evaluates "the bar", fits the risk model's correlation head on multi-asset training windows of
BTC, ETH and LTC and scores its correlation forecast against the rolling correlation
(``_pipeline_correlation``), and writes to the run directory::

    metrics.json  report.html  *.png  calibration.json  demo_config.json
    checkpoints/<model>.ckpt       one model-only checkpoint each (calibrated temperature included)
    models/<model>/                each model's training run (config.yaml, run.json, logs, checkpoints)

Budget (default :class:`DemoConfig`): a fixed-seed subsample of ``train_windows`` training windows per
model, at most ``max_epochs x steps_per_epoch`` optimiser steps, early stopping on ``val_windows``
validation windows (measured: 2 min 42 s to 3 min 55 s on the shared 2-core machine; README).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import check_field
from ._data import DemoData, base_symbol, check_no_long_gaps, load_demo_data, load_files_panel
from ._score import BAR_ASSETS

__all__ = [
    "DEMO_MODELS",
    "DemoConfig",
    "RunOutputs",
    "evaluate_run",
    "load_run_models",
    "predict_run",
    "run_demo",
]

logger = logging.getLogger(__name__)

DEMO_MODELS = (
    "price_predictor_small",
    "risk_assessor_small",
    "signal_generator_small",
    "portfolio_optimizer_small",
)
_KIND = {
    "price_predictor": "price",
    "risk_assessor": "risk",
    "signal_generator": "signal",
    "portfolio_optimizer": "portfolio",
}


def _kind_of(model_type: str) -> str:
    for prefix, kind in _KIND.items():
        if model_type.startswith(prefix):
            return kind
    raise ValueError(f"model {model_type!r}: not one of the demo's model families {sorted(_KIND)}")


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """What ``mlattn demo`` runs (see the module docstring for the budget).

    Args:
        models: registry names trained. Default: the four small presets.
        assets: assets the single-asset models are evaluated on. Default: BTC, ETH, LTC (the bar's).
        dataset: bundled dataset. Default: ``"binance-1h"``.
        start, end: keep bars in ``[start, end]``; ``None`` = all. Default: None.
        train_end, val_end: split dates; ``None`` = the dataset's default split. Default: None.
        window: bars per input window (the small presets' attention window). Default: 64.
        train_windows: fixed-seed subsample of training windows per model. Default: 6144.
        val_windows: fixed-seed subsample of validation windows for early stopping. Default: 1024.
        max_epochs, steps_per_epoch, batch_size, patience, learning_rate: training budget. Default:
            4, 75, 64, 2, 1e-3.
        model_overrides: config overrides for every model (e.g. tinier models in ``quick``). Default: {}.
        refit_every: refit interval of the rolling baselines (ridge, HAR-RV, GARCH). Default: 168.
        n_boot, n_sims: bootstrap draws (Sharpe CIs) and Acerbi-Szekely simulations. Default: 1000, 1000.
        learner_iter, learner_rows: the non-attention learner's budget (boosting iterations, training
            rows). Default: 100, 10000.
        val_stride: forecast every ``val_stride``-th validation bar for the calibrations. Default: 3.
        threads: torch intra-op threads during the run. Default: 1.
        full: walk-forward folds and ablations too. Default: False.
        n_folds: walk-forward folds with ``full``. Default: 4.
        seed: every random choice. Default: 0.

    Raises:
        ValueError: a field breaks its rule (message names field, value and rule).
    """

    models: tuple[str, ...] = DEMO_MODELS
    assets: tuple[str, ...] = BAR_ASSETS
    dataset: str = "binance-1h"
    start: str | None = None
    end: str | None = None
    train_end: str | None = None
    val_end: str | None = None
    window: int = 64  # the small presets' attention window
    train_windows: int | None = 6144  # ~5% of the 125k training windows: fits the 10-minute budget
    val_windows: int | None = 1024
    max_epochs: int = 4
    steps_per_epoch: int | None = 75  # 4 x 75 steps of 64 windows: each subsampled window seen ~3 times
    batch_size: int = 64
    patience: int = 2
    learning_rate: float = 1e-3  # few steps: a higher peak rate than training's default 3e-4
    model_overrides: dict[str, Any] = field(default_factory=dict)
    refit_every: int = 168  # weekly refits of the rolling baselines
    n_boot: int = 1000
    n_sims: int = 1000
    learner_iter: int = 100
    learner_rows: int | None = 10000
    val_stride: int = (
        3  # calibration reads every 3rd validation bar (1,400+ rows per asset): a third of the cost
    )
    threads: int = 1  # torch threads: on a shared 2-core machine 2 threads ran 7x slower per step (measured)
    full: bool = False
    n_folds: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        n = "DemoConfig"
        check_field(len(self.models) > 0, n, "models", self.models, "must name at least one model")
        for m in self.models:
            check_field(any(m.startswith(p) for p in _KIND), n, "models", m, f"must be one of {DEMO_MODELS}")
        check_field(len(self.assets) > 0, n, "assets", self.assets, "must name at least one asset")
        for name in (
            "window", "max_epochs", "batch_size", "refit_every", "n_boot", "n_sims", "learner_iter", "val_stride", "threads"
        ):  # fmt: skip
            v = getattr(self, name)
            check_field(isinstance(v, int) and v >= 1, n, name, v, "must be an int >= 1")
        check_field(self.window >= 2, n, "window", self.window, "must be >= 2")
        check_field(self.patience >= 0, n, "patience", self.patience, "must be >= 0")
        check_field(self.n_folds >= 1, n, "n_folds", self.n_folds, "must be >= 1")
        check_field(self.learning_rate > 0, n, "learning_rate", self.learning_rate, "must be > 0")

    @classmethod
    def quick(cls, **overrides: Any) -> DemoConfig:
        """A run of seconds on a short slice (for tests), producing every artefact."""
        base: dict[str, Any] = dict(
            start="2020-08-01", end="2020-12-24 23:00", train_end="2020-11-30 23:00", val_end="2020-12-12 23:00",
            window=16, train_windows=128, val_windows=64, max_epochs=1, steps_per_epoch=2, batch_size=32,
            model_overrides={"d_model": 16, "num_heads": 2, "num_encoder_layers": 1, "d_ff": 32, "attention_window": 16},
            refit_every=400, n_boot=50, n_sims=50, learner_iter=10, learner_rows=1000, n_folds=4,
        )  # fmt: skip
        base.update(overrides)
        return cls(**base)


def _batch(cfg: DemoConfig, model_type: str) -> int:
    """Windows per step: the portfolio model reads every asset of a window (5 series per sample), so it takes
    a quarter of the batch to keep its step cost near the single-asset models' (measured: 1.2 s vs 0.2 s)."""
    if _kind_of(model_type) == "portfolio":
        return max(4, cfg.batch_size // 4)
    return cfg.batch_size


@dataclass
class RunOutputs:
    """Paths and figures of a finished run."""

    out: Path
    metrics: dict[str, Any]
    table: str
    seconds: float


def _progress(msg: str, enabled: bool) -> None:
    if enabled:
        print(f"[mlattn] {msg}", flush=True)


def run_demo(
    config: DemoConfig | None = None, out: str | Path = "runs/demo", *, progress: bool = True
) -> RunOutputs:
    """Train, calibrate on validation, score on test, write metrics.json, report.html, PNGs and checkpoints.

    Args:
        config: what to run. Default: :class:`DemoConfig` ().
        out: the run directory. Default: ``runs/demo``.
        progress: progress bars and one line per stage on stdout.

    Returns:
        :class:`RunOutputs` (metrics dict, terminal table, wall time).

    >>> # run_demo(DemoConfig.quick(), "runs/quick")  # doctest: +SKIP
    """
    import torch

    cfg = config or DemoConfig()
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _run_demo(cfg, Path(out), progress)
    finally:
        torch.set_num_threads(threads)


def _run_demo(cfg: DemoConfig, root: Path, progress: bool) -> RunOutputs:
    import torch

    from ..evaluation.backtest import BacktestConfig
    from ._train import train_model

    t0 = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    _progress("loading and preparing the bundled data", progress)
    data = load_demo_data(
        dataset=cfg.dataset, start=cfg.start, end=cfg.end, train_end=cfg.train_end, val_end=cfg.val_end
    )
    timings: dict[str, float] = {"data": time.perf_counter() - t0}
    trained: dict[str, Any] = {}
    for i, model_type in enumerate(cfg.models, 1):
        _progress(f"training {model_type} ({i}/{len(cfg.models)})", progress)
        t1 = time.perf_counter()
        trained[_kind_of(model_type)] = train_model(
            model_type, data, root / "models" / model_type, window=cfg.window, train_windows=cfg.train_windows,
            val_windows=cfg.val_windows, max_epochs=cfg.max_epochs, steps_per_epoch=cfg.steps_per_epoch,
            batch_size=_batch(cfg, model_type), patience=cfg.patience, learning_rate=cfg.learning_rate, seed=cfg.seed,
            overrides=cfg.model_overrides, progress=progress,
        )  # fmt: skip
        timings[f"train_{model_type}"] = time.perf_counter() - t1
    bt = BacktestConfig()
    from ._score_and_write import score_and_write

    rows = np.zeros(data.timestamps.size, dtype=bool)
    rows[data.val_start : data.test_start] = True
    metrics, table = score_and_write(
        data, {k: (t.model, t.payload) for k, t in trained.items()}, cfg, root, backtest_config=bt,
        calibration=None, calibrate_rows=rows, histories={t.name: t.history for t in trained.values()},
        training={t.name: {"epochs": t.epochs, "best_val_loss": t.best_val_loss, "run_dir": str(t.run_dir)} for t in trained.values()},
        progress=progress, timings=timings, t0=t0, title="mlattn demo: models against baselines on the test split",
        save_checkpoints={k: t for k, t in trained.items()},
    )  # fmt: skip
    return RunOutputs(out=root, metrics=metrics, table=table, seconds=time.perf_counter() - t0)


def load_run_models(run: str | Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The trained models of a run directory: ``(models by kind, calibration, demo config dict)``.

    Raises:
        FileNotFoundError: the directory does not exist.
        ValueError: no ``checkpoints/*.ckpt`` in it, no ``calibration.json``/``demo_config.json`` (not a
            finished ``mlattn demo`` run: a ``mlattn train`` run is named as such), or two checkpoints of one
            kind of model.
    """
    from ..training import load_checkpoint

    root = Path(run)
    if not root.is_dir():
        raise FileNotFoundError(f"--run {root}: no such directory")
    ckpts = sorted((root / "checkpoints").glob("*.ckpt"))
    if not ckpts:
        raise ValueError(f"--run {root}: no checkpoints (expected checkpoints/*.ckpt from `mlattn demo`)")
    cal_file, cfg_file = root / "calibration.json", root / "demo_config.json"
    if (root / "run.json").is_file() and not cfg_file.is_file():
        raise ValueError(
            f"--run {root}: a `mlattn train` run (checkpoints best/last, no calibration); --run takes a "
            "`mlattn demo` run directory (its models, calibration.json and demo_config.json)"
        )
    for needed in (cal_file, cfg_file):
        if not needed.is_file():
            raise ValueError(f"--run {root}: no {needed.name} (an unfinished or damaged `mlattn demo` run)")
    models: dict[str, Any] = {}
    files: dict[str, str] = {}
    for path in ckpts:
        model, payload = load_checkpoint(path)
        kind = _kind_of(str(payload["model_type"]))
        if kind in models:
            raise ValueError(
                f"--run {root}: two {kind} models ({files[kind]}, {path.name}); "
                "expected one checkpoint per kind of model"
            )
        files[kind] = path.name
        models[kind] = (model, payload)
    calibration = json.loads(cal_file.read_text(encoding="utf-8"))
    config = json.loads(cfg_file.read_text(encoding="utf-8"))
    return models, calibration, config


def _window(models: dict[str, Any], config: dict[str, Any]) -> int:
    if "window" in config:
        return int(config["window"])
    return int(next(iter(models.values()))[0].config.attention_window)


def _other_data(
    run: str | Path,
    data_files: Sequence[str | Path],
    start: str | None,
    end: str | None,
    predict: bool = False,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], DemoData, int]:
    models, calibration, config = load_run_models(run)
    if not data_files:
        raise ValueError("--data: give at least one OHLCV file")
    from ..training.checkpoint import checkpoint_bar_seconds

    window = _window(models, config)
    payload = next(iter(models.values()))[1]
    data = load_files_panel(
        data_files,
        scaler=payload["scaler"],
        window=window,
        predict=predict,
        start=start,
        end=end,
        bar_seconds=checkpoint_bar_seconds(payload),
    )
    return models, calibration, config, data, window


def evaluate_run(
    run: str | Path,
    data_files: Sequence[str | Path],
    *,
    start: str | None = None,
    end: str | None = None,
    out: str | Path | None = None,
    progress: bool = True,
) -> RunOutputs:
    """A run's trained models on other data (later periods, unseen assets, other exchanges' exports),
    scored with the same metrics and baselines; ``metrics.json`` and ``report.html`` go to ``out``
    (default: ``<run>/evaluate``). The run's stored calibration is applied unchanged.

    Raises:
        FileNotFoundError: a missing run directory or data file.
        ValueError: a run without checkpoints, fewer bars than the window, start after end, a file that is
            not hourly or names no symbol (or one already given), or an asset without bars for 24 h or
            more inside the scored period (see :func:`._pipeline_data.check_no_long_gaps`).
    """
    from ..evaluation.backtest import BacktestConfig
    from ._score_and_write import score_and_write

    t0 = time.perf_counter()
    root = Path(out) if out is not None else Path(run) / "evaluate"
    if root.exists() and not root.is_dir():
        raise ValueError(f"--out {root}: is a file; expected the output directory")
    models, calibration, config, data, window = _other_data(run, data_files, start, end)
    check_no_long_gaps(data)
    root.mkdir(parents=True, exist_ok=True)
    fields = {f.name for f in dataclasses.fields(DemoConfig)}
    kept: dict[str, Any] = {
        k: (tuple(v) if isinstance(v, list) else v)
        for k, v in config.items()
        if k in fields and k != "assets"
    }
    cfg = dataclasses.replace(
        DemoConfig(**kept), assets=tuple(base_symbol(s) for s in data.symbols), window=window
    )
    metrics, table = score_and_write(
        data, models, cfg, root, backtest_config=BacktestConfig(), calibration=calibration, calibrate_rows=None,
        histories={}, training={}, progress=progress, timings={}, t0=t0,
        title=f"mlattn evaluate: {Path(run)} on {', '.join(str(f) for f in data_files)}",
        save_checkpoints=None, bar_assets=tuple(a for a in BAR_ASSETS if a in cfg.assets),
        warnings_=_in_sample(run, data),
    )  # fmt: skip
    return RunOutputs(out=root, metrics=metrics, table=table, seconds=time.perf_counter() - t0)


def _in_sample(run: str | Path, data: DemoData) -> tuple[str, ...]:
    """A sentence when the scored bars begin inside the period the run's models were fitted or chosen on
    (its training and validation splits, from its ``metrics.json``): those scores are in-sample."""
    path = Path(run) / "metrics.json"
    if not path.is_file():
        return ()
    periods = json.loads(path.read_text(encoding="utf-8")).get("data", {}).get("periods", {})
    spans = [periods[k] for k in ("train", "val") if periods.get(k) and periods[k][0]]
    if not spans:
        return ()
    import pandas as pd

    first, last = min(s[0] for s in spans), max(s[1] for s in spans)
    lo = pd.Timestamp(int(data.timestamps[data.test_start]), unit="s")
    hi = pd.Timestamp(int(data.timestamps[data.test_end - 1]), unit="s")
    if lo > pd.Timestamp(last) or hi < pd.Timestamp(first):
        return ()
    return (
        f"In-sample: the scored bars ({lo:%Y-%m-%d %H:%M} .. {hi:%Y-%m-%d %H:%M}) overlap the period the run's "
        f"models were trained and validated on ({first} .. {last}); their scores there are not out-of-sample.",
    )


def prediction_table(
    run: str | Path,
    data_files: Sequence[str | Path],
    *,
    start: str | None = None,
    end: str | None = None,
    progress: bool = False,
) -> Any:
    """Forecasts, signals, positions, risk figures and portfolio weights of a run's models for every bar
    and asset of the data, as one long ``pandas.DataFrame`` (``timestamp``, ``symbol``, ``close``, one
    column per figure). The run's stored calibration is applied unchanged.

    Raises:
        FileNotFoundError: a missing run directory or data file.
        ValueError: a run without checkpoints, fewer bars than the window, start after end.
    """
    import pandas as pd

    from ..evaluation.backtest import BacktestConfig, signals_to_positions
    from ._forecast_run import forecast_all
    from ._forecasts import forecast_portfolio

    models, calibration, _, data, window = _other_data(run, data_files, start, end, predict=True)
    bt = BacktestConfig()
    assets = [base_symbol(s) for s in data.symbols]
    lo, hi = data.test_start, int(data.timestamps.size)
    fc = forecast_all(
        models, data, assets, window=window, lo=lo, hi=hi, backtest_config=bt, calibration=calibration,
        calibrate_rows=None, progress=progress,
    )  # fmt: skip
    times = pd.to_datetime(data.timestamps[lo:hi], unit="s", utc=True)
    weights = None
    if "portfolio" in models:
        weights = forecast_portfolio(models["portfolio"][0], data.prepared, np.arange(lo, hi), window=window)
    frames = []
    for a, asset in enumerate(assets):
        cols: dict[str, Any] = {
            "timestamp": times,
            "symbol": data.symbols[a],
            "close": data.prepared.close[a, lo:hi],
        }
        f = fc["assets"].get(asset, {})
        if "return" in f:
            cols["return_forecast"] = f["return"][lo:hi]
            for i, q in enumerate(fc["quantile_levels"]):
                cols[f"return_q{q:g}"] = f["quantiles"][lo:hi, i]
            cols["variance_24h"] = f["variance"][lo:hi]
        if "var" in f:
            for i, lv in enumerate(fc["var_levels"]):
                cols[f"var{round((1 - lv) * 100)}"] = f["var"][lo:hi, i]
                cols[f"es{round((1 - lv) * 100)}"] = f["es"][lo:hi, i]
            cols["drawdown_24h"] = f["drawdown"][lo:hi]
        s = fc["signal_extra"].get(asset)
        if s is not None:
            sig = s["signal"][lo:hi]
            cols["signal"] = sig
            for i, name in enumerate(("sell", "hold", "buy")):
                cols[f"p_{name}"] = s["probabilities"][lo:hi, i]
            cols["position"] = signals_to_positions(np.nan_to_num(sig, nan=0.0).astype(np.int64), bt)
        if weights is not None:
            cols["portfolio_weight"] = weights[lo:hi, a]
        frames.append(pd.DataFrame(cols))
    return pd.concat(frames, ignore_index=True)


def predict_run(
    run: str | Path,
    data_files: Sequence[str | Path],
    out: str | Path,
    *,
    start: str | None = None,
    end: str | None = None,
    progress: bool = False,
) -> Path:
    """:func:`prediction_table` written as CSV or Parquet (by the suffix of ``out``).

    Raises:
        ValueError: an output suffix other than ``.csv``/``.parquet``, plus :func:`prediction_table`'s errors.
    """
    target = Path(out)
    if target.suffix.lower() not in (".csv", ".parquet"):
        raise ValueError(f"--out {target}: expected a .csv or .parquet file")
    table = prediction_table(run, data_files, start=start, end=end, progress=progress)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix.lower() == ".csv":
        table.to_csv(target, index=False)
    else:
        table.to_parquet(target, index=False)
    return target


def write_json(obj: Any, path: Path) -> None:
    """Plain JSON (NaN as null) via the evaluation layer's :func:`.metrics_io.write_metrics_json`."""
    from ..evaluation.metrics_io import write_metrics_json

    write_metrics_json(obj, path)
