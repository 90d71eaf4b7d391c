"""``mlattn evaluate``: a run's trained models on other data (later periods, unseen assets, other exchanges'
exports), scored with the same metrics and baselines, with the run's stored calibration and strategy sizing
applied unchanged. The bars just before the first scored one warm the causal rolling calibration up, as the
demo's validation forecasts do, so ``evaluate`` on the demo's own test period and data gives its figures.

The recipe reads top to bottom: load the run and the data, forecast and score, strategies, metrics, write.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._import_guard import needs_extra
from ..evaluation.backtest import BacktestConfig
from ..evaluation.metrics_io import read_json_object
from ..utils._paths import same_file
from ._data import (
    HORIZON,
    MIN_HISTORY,
    MIN_SCORED_BARS,
    DemoData,
    bar_time,
    base_symbol,
    first_bar,
    last_bar,
    scored_span,
)
from ._files import FEATURES_NEED, check_no_long_gaps, reading_warnings
from ._outputs import RunOutputs, RunResults, build_report, run_metrics, write_run
from ._progress import Timings, say
from ._run_inputs import load_run_inputs
from ._scoring import score_forecasts, score_run_strategies, strategy_sizing
from .config import DemoConfig

__all__ = ["evaluate_run"]


def evaluate_run(
    run: str | Path,
    data_files: Sequence[str | Path],
    *,
    start: str | None = None,
    end: str | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    missing_hours: str = "auto",
    timezone: str | None = None,
) -> RunOutputs:
    """A run's trained models on other data, scored with the same metrics and baselines; ``metrics.json``
    and ``report.html`` go to ``out`` (default: ``<run>/evaluate``). The run's stored calibration is applied
    unchanged. ``missing_hours`` is how the files' hours without trades are read (``load_ohlcv``'s:
    ``"auto"``, ``"no-trades"`` or ``"absent"``); a warning names the hours read so. ``timezone`` is the
    zone of the files' times written without one (``load_ohlcv``'s; default UTC).

    Raises:
        FileNotFoundError: a missing run directory or data file.
        ValueError: a run without checkpoints, fewer bars than the window, start after end, a file that is
            in bars longer than the run's or not dividing them, or names no symbol (or one already given), an asset without bars for 24 h or
            more inside the scored period, or one with too few bars to be scored, or assets scored on no common
            bars while the run has a portfolio model (see :func:`._files.check_no_long_gaps`).

    An asset listed after the scored period starts (or less than the baselines' history before it), or whose
    bars end before the data do, is scored over its own span (:func:`._data.scored_span`), and the portfolio on
    the bars every asset is scored on; a warning names the span.
    """
    timings = Timings()
    root = Path(out) if out is not None else Path(run) / "evaluate"
    if root.exists() and not root.is_dir():
        raise ValueError(f"--out {root}: is a file; expected the output directory")
    if same_file(root, run):
        raise ValueError(
            f"--out {root}: is the --run directory: its metrics.json and report.html are the run's own results "
            "(and metrics.json an input): choose another --out"
        )
    inputs = load_run_inputs(
        run, data_files, start=start, end=end, missing_hours=missing_hours, timezone=timezone
    )
    data = inputs.data
    check_no_long_gaps(data, portfolio="portfolio" in inputs.models)
    periods = _run_periods(run)
    warnings = (
        _in_sample(periods, data) + _own_spans(data) + _short_har(data) + reading_warnings(data)
        + _unforecast(data) + _no_sizing(inputs.calibration) + _short_period(data)
    )  # fmt: skip
    data.mean_end = _run_validation_start(periods, data)
    root.mkdir(parents=True, exist_ok=True)
    cfg = DemoConfig.from_stored(
        inputs.config, assets=tuple(base_symbol(s) for s in data.symbols), window=inputs.window
    )
    backtest = BacktestConfig()
    scored = score_forecasts(
        inputs.models, data, cfg, backtest, calibration=inputs.calibration, progress=progress
    )
    timings.add(scored.seconds)
    sizing = strategy_sizing(scored, data, cfg, backtest)
    strategies, tried = score_run_strategies(scored.forecasts, data, cfg, backtest, sizing, {})
    title = f"mlattn evaluate: {Path(run)} on {', '.join(str(f) for f in data_files)}"
    results = RunResults(title, data, cfg, backtest, scored, strategies, tried, warnings=warnings,
                         sizing=sizing[0])  # fmt: skip
    metrics = run_metrics(results)
    say("writing metrics.json, report.html and the figures", progress)
    with timings.measure("report"):
        report = build_report(results, metrics, inputs.models)
    metrics["timings_s"] = timings.with_total()
    table = write_run(results, metrics, report, root)
    return RunOutputs(out=root, metrics=metrics, table=table, seconds=timings.elapsed())


def _run_periods(run: str | Path) -> dict[str, list[str]]:
    """The run's training and validation periods (``[first, last, ...]`` ISO times) from its
    ``metrics.json``; empty without one.

    Raises:
        ValueError: a period that is not a list of ISO times (the file and field named).
    """
    path = Path(run) / "metrics.json"
    if not path.is_file():
        return {}
    block = read_json_object(path).get("data")
    periods = block.get("periods") if isinstance(block, dict) else None
    spans: dict[str, list[str]] = {}
    for key in ("train", "val"):
        span = periods.get(key) if isinstance(periods, dict) else None
        if span is not None and not (
            isinstance(span, list)
            and len(span) >= 2
            and all(x is None or isinstance(x, str) for x in span[:2])
        ):
            raise ValueError(f"{path}: data.periods.{key}={span!r}: expected [first, last, ...] ISO times")
        if span and span[0] and span[1]:
            spans[key] = span
    return spans


def _short_period(data: DemoData) -> tuple[str, ...]:
    """A sentence per asset with fewer than :data:`MIN_SCORED_BARS` bars in the scored period: its figures
    are reported, but too few bars stand behind them to tell the model from its baselines."""
    mask = np.asarray(data.prepared.mask)
    present = [int(mask[c, scored_span(data, c)].sum()) for c in range(len(data.symbols))]
    return tuple(
        f"{base_symbol(symbol)}: only {int(n)} bars scored (about {int(n) // 24} days): too few to tell the "
        f"model from its baselines (a 99% VaR expects one exceedance in 100 bars, the 24-bar variance has "
        f"{int(n) // 24} non-overlapping targets, a Sharpe ratio over days is mostly noise); score at least "
        f"{MIN_SCORED_BARS} bars (--start earlier)"
        for symbol, n in zip(data.symbols, present)
        if n < MIN_SCORED_BARS
    )


def _own_spans(data: DemoData) -> tuple[str, ...]:
    """A sentence per asset scored over fewer bars than the period (:func:`._data.scored_span`): listed after
    it starts (or with less of its own history before it than the baselines need), or its bars ending before
    the data do (delisted, or exported earlier)."""
    ts = data.timestamps
    whole = f"{bar_time(int(ts[data.test_start]))} .. {bar_time(int(ts[data.test_end - 1]))}"
    out = []
    for c, symbol in enumerate(data.symbols):
        span = scored_span(data, c)
        if span.start <= data.test_start and span.stop >= data.test_end:
            continue
        why = []
        if span.start > data.test_start:
            why.append(
                f"its first bar ({bar_time(int(ts[first_bar(data, c)]))}) leaves fewer than {MIN_HISTORY} bars of its own "
                "history before the period starts, which the baselines need"
            )
        if span.stop < data.test_end:
            why.append(f"its last bar ({bar_time(int(ts[last_bar(data, c)]))}) comes before the data end")
        out.append(
            f"{base_symbol(symbol)}: scored {bar_time(int(ts[span.start]))} .. {bar_time(int(ts[span.stop - 1]))}, "
            f"not over the whole period ({whole}): {'; '.join(why)}; the portfolio is scored on the bars every "
            "asset is scored on"
        )
    return tuple(out)


def _short_har(data: DemoData) -> tuple[str, ...]:
    """A sentence per asset with fewer than :data:`HAR_MIN_TRAIN` bars of its own history before its scored
    span: HAR-RV, refitted weekly on an expanding window, starts from a handful of rows there."""
    from ..evaluation.baselines import HAR_MIN_TRAIN

    out = []
    for c, symbol in enumerate(data.symbols):
        history = scored_span(data, c).start - first_bar(data, c)
        if history < HAR_MIN_TRAIN:
            out.append(
                f"{base_symbol(symbol)}: {history} bars of its history come before its scored period, fewer than "
                f"the {HAR_MIN_TRAIN} (90 days) HAR-RV is fitted on first: its first fits rest on "
                f"{history - (30 * 24 - 1) - HORIZON + 1} rows and its forecasts swing until the weekly refits have "
                "more, so its figures understate it (GARCH(1,1), fitted on the same bars, is the steadier "
                f"baseline there); give {HAR_MIN_TRAIN} bars of history before the scored period for the HAR-RV "
                "of the demo"
            )
    return tuple(out)


def _unforecast(data: DemoData) -> tuple[str, ...]:
    """A sentence per asset whose scored bars with a candle the models forecast less than 90% of: hours
    without a usable candle (missing, or masked) leave the bars after them without features."""
    out = []
    for c, symbol in enumerate(data.symbols):
        span = scored_span(data, c)
        held = np.isfinite(np.asarray(data.prepared.close[c, span], dtype=np.float64))
        forecast = int((held & np.asarray(data.prepared.mask[c, span], dtype=bool)).sum())
        if held.any() and forecast < 0.9 * held.sum():
            out.append(
                f"{base_symbol(symbol)}: {1 - held.mean():.0%} of its scored hours have no usable candle (missing, "
                f"or masked: zero-volume placeholders, suspicious candles), and {FEATURES_NEED}: the models "
                f"forecast {forecast / held.sum():.0%} of its {int(held.sum())} scored bars with a candle, and its "
                "figures are computed on those (a thinly traded coin loses most of its bars this way: if those hours "
                "are hours without trades rather than downtime, --missing-hours no-trades reads them so)"
            )
    return tuple(out)


def _no_sizing(calibration: dict[str, Any]) -> tuple[str, ...]:
    """A sentence when the run stored no sizing of its strategies (made before volatility targeting)."""
    if "sizing" in calibration:
        return ()
    return (
        "The run stored no sizing of its strategies (its calibration.json has no 'sizing'): the strategies and "
        "the volatility-targeted baselines use the default VolTargetConfig (target 0.5 a year, no band).",
    )


def _run_validation_start(periods: dict[str, list[str]], data: DemoData) -> int | None:
    """The grid position of the run's first validation bar when the data hold it before the scored bars
    (the training-mean baseline then averages the run's own training period, as in the demo), else None."""
    with needs_extra("data"):
        import pandas as pd

    if "val" not in periods:
        return None
    seconds = pd.Timestamp(periods["val"][0], tz="UTC").value // 10**9
    pos = int(np.searchsorted(data.timestamps, seconds))
    inside = 0 < pos < data.test_start and int(data.timestamps[pos]) == seconds
    return pos if inside else None


def _in_sample(periods: dict[str, list[str]], data: DemoData) -> tuple[str, ...]:
    """A sentence when the scored bars begin inside the period the run's models were fitted or chosen on
    (its training and validation splits, from its ``metrics.json``): those scores are in-sample."""
    spans = list(periods.values())
    if not spans:
        return ()
    with needs_extra("data"):
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
