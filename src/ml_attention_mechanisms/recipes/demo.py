"""``mlattn demo``: train the four models, calibrate them on validation, score them on test, write the run.

:func:`run_demo` trains the small preset of each of the four models on the bundled 5-asset hourly data with
the default split (train to 2020-06-30 23:00, validation 2020-07-01..2020-12-31, test
2021-01-01..2021-06-10), or on the user's OHLCV files (``DemoConfig.data``: each file's asset, split by
dates or 70/15/15% of the bars), chooses everything on validation only (early stopping on the validation loss, each
model's training budget (:mod:`._select`), temperature scaling, split-conformal calibration of intervals, the
24-bar variance and VaR/ES, continued causally on a rolling window of resolved forecasts: see
:func:`._calibration.rolling_calibration`), scores the test split against every baseline with the
significance tests (BTC, ETH, LTC as seen assets; BNB and ADA, listed after the training split ends, as unseen
ones), sizes the signal and portfolio strategies by the forecast volatility (target and no-trade band chosen
on validation, and whether each holds its model's decisions or those of no model: :mod:`._sizing`), backtests them after 10 bps fees against buy-and-hold and its
volatility-targeted version, evaluates "the bar", fits the risk model's correlation head on multi-asset
training windows of BTC, ETH and LTC and scores its correlation forecast against the rolling correlation
(:mod:`._correlation`), and writes the run directory (:mod:`._outputs`). The budget is
:class:`~.config.DemoConfig`'s.

The recipe reads top to bottom: load, train, keep a budget per model, forecast and score, size, (``--full``:
walk-forward, leave-one-asset-out and ablations), strategies, metrics, write.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..evaluation.backtest import BacktestConfig
from ._data import asset_column, base_symbol
from ._files import check_no_long_gaps, load_demo_data, reading_warnings
from ._full import run_full
from ._models import model_kind
from ._outputs import RunOutputs, RunResults, build_report, run_metrics, save_run_state, write_run
from ._progress import Timings, say
from ._scoring import score_forecasts, score_run_strategies, strategy_sizing
from ._select import keep_budgets, keep_by_loss
from ._train import TrainedModel, train_budgets, train_members
from .config import DemoConfig

__all__ = ["run_demo"]

TITLE = "mlattn demo: models against baselines on the test split"


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

    Raises:
        ValueError: another ``mlattn demo`` is writing ``out`` (its pid named: ``out/run.lock``).
    """
    import torch

    from ..training._run_dir import RunLock

    cfg = config or DemoConfig()
    lock = RunLock(Path(out))  # one writer at a time: a second demo on this directory is refused, named
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _run_demo(cfg, Path(out), progress)
    finally:
        torch.set_num_threads(threads)
        lock.release()


def _run_demo(cfg: DemoConfig, root: Path, progress: bool) -> RunOutputs:
    import torch

    timings = Timings()
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    say(
        "loading and preparing the data files" if cfg.data else "loading and preparing the bundled data",
        progress,
    )
    with timings.measure("data"):
        data = load_demo_data(
            dataset=cfg.dataset, start=cfg.start, end=cfg.end, train_end=cfg.train_end, val_end=cfg.val_end,
            files=cfg.data, missing_hours=cfg.missing_hours, timezone=cfg.timezone,
        )  # fmt: skip
    warnings: tuple[str, ...] = ()
    if cfg.data:  # the files' assets, each judged as seen or unseen; their gaps and how they were read
        if not cfg.assets:
            cfg = dataclasses.replace(cfg, assets=tuple(base_symbol(s) for s in data.symbols))
        for asset in cfg.assets:  # an asset no file holds: named, with the files' assets, before training
            asset_column(data, asset)
        check_no_long_gaps(data, portfolio=any(model_kind(m) == "portfolio" for m in cfg.models))
        warnings = reading_warnings(data)
        periods = data.split.describe(data.timestamps)
        names = {"train": "training", "val": "validation", "test": "test"}
        say(
            "split: " + "; ".join(f"{names.get(k, k)} {v[0]} .. {v[1]}" for k, v in periods.items()), progress
        )
    candidates: dict[str, list[TrainedModel]] = {}
    for i, model_type in enumerate(cfg.models, 1):
        say(f"training {model_type} ({i}/{len(cfg.models)})", progress)
        with timings.measure(f"train_{model_type}"):
            runs = train_budgets(model_type, data, root / "models" / model_type, cfg, progress=progress)
        candidates[runs[0].kind] = runs
    backtest = BacktestConfig()
    kept = keep_by_loss(candidates)
    if cfg.ensemble > 1 and "price" in kept:  # before the strategy models' choice: the ensemble sizes them
        say(f"training {cfg.ensemble - 1} more price model(s) for the ensemble", progress)
        with timings.measure("train_ensemble"):
            train_members(kept["price"], data, cfg.ensemble, progress=progress)
    if cfg.budgets:
        say("keeping a training budget per model (on validation)", progress)
    with timings.measure("budget_choice"):
        trained = keep_budgets(candidates, data, cfg, backtest, kept)
    models = {kind: t.run_model for kind, t in trained.items()}
    scored = score_forecasts(models, data, cfg, backtest, calibration=None, progress=progress)
    timings.add(scored.seconds)
    say("sizing the strategies on validation (target volatility, no-trade band)", progress)
    with timings.measure("sizing"):
        sizing = strategy_sizing(scored, data, cfg, backtest)
    full = None
    if cfg.full:
        say("--full: walk-forward folds, leave-one-asset-out folds and ablations", progress)
        with timings.measure("full"):
            full = run_full(data, cfg, root, scored.assets, sizing, trained, progress=progress)
    strategies, tried = score_run_strategies(
        scored.forecasts, data, cfg, backtest, sizing, full.configs_tried if full is not None else {}
    )
    results = RunResults(TITLE, data, cfg, backtest, scored, strategies, tried, trained=trained, full=full,
                         sizing=sizing[0], warnings=warnings)  # fmt: skip
    metrics = run_metrics(results)
    metrics["checkpoints"] = save_run_state(trained, scored.forecasts.calibration, cfg, root)
    say("writing metrics.json, report.html and the figures", progress)
    with timings.measure("report"):
        report = build_report(results, metrics, models)
    metrics["timings_s"] = timings.with_total()
    table = write_run(results, metrics, report, root)
    return RunOutputs(out=root, metrics=metrics, table=table, seconds=timings.elapsed())
