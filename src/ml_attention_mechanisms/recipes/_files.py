"""The data a run reads: the bundled dataset or a user's OHLCV files for ``mlattn demo``
(:func:`load_demo_data`), and other files for a run's models (``mlattn evaluate``, ``predict``,
``backtest --run``): loaded, checked against the run's bar interval, and prepared with the run's fitted
statistics (:func:`load_files_panel`).

Shapes:
    T: bars of the grid; A: assets.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._import_guard import needs_extra
from ._data import (
    HORIZON,
    MIN_HISTORY,
    MIN_SCORED_BARS,
    DemoData,
    bar_time,
    base_symbol,
    first_bar,
    last_bar,
    prepare_run_data,
    scored_span,
)

if TYPE_CHECKING:
    from ..data import Split

__all__ = [
    "FEATURES_NEED", "check_no_long_gaps", "load_demo_data", "load_files_panel", "load_hourly_files", "note_files",
    "parse_time", "predict_history", "reading_warnings",
]  # fmt: skip

# why a bar next to hours without a candle has no features (the default feature set: returns over 1, 4 and
# 24 bars, realised volatility over the last 6, 24 and 96)
FEATURES_NEED = "a bar's features need the bars 1, 4 and 24 hours before it and most of the last 6"


def load_demo_data(
    *,
    dataset: str = "binance-1h",
    start: str | None = None,
    end: str | None = None,
    train_end: str | None = None,
    val_end: str | None = None,
    files: Sequence[str | os.PathLike[str]] = (),
    missing_hours: str = "auto",
    timezone: str | None = None,
) -> DemoData:
    """The bundled dataset, or the OHLCV ``files``, prepared once for every model of the demo.

    Args:
        dataset: bundled dataset name (unused with ``files``). Default: ``"binance-1h"``.
        start, end: keep bars in ``[start, end]`` (ISO UTC); ``None`` = all.
        train_end, val_end: split dates; ``None`` = the dataset's default split, or for ``files`` the first
            70% of the bars for training and the next 15% for validation.
        files: OHLCV files, one asset each, in hourly bars or shorter ones that divide them (aggregated);
            ``()`` = the bundled dataset.
        missing_hours, timezone: how the files are read (``load_ohlcv``'s).

    Raises:
        ValueError: an empty period, only one of ``train_end``/``val_end``, or a file that is refused (named).
        FileNotFoundError: a missing file (named).
    """
    from ..data import align, load_dataset, run_split

    frames: list[Any] = []
    if files:
        frames = load_hourly_files(files, missing_hours=missing_hours, timezone=timezone)
        panel = align(frames)
    else:
        panel = load_dataset(dataset)
    if start is not None or end is not None:
        panel = panel.between(start, end)
    split = run_split(
        panel.timestamps, train_end=train_end, val_end=val_end, bundled=not files, horizon=HORIZON
    )
    data = prepare_run_data(panel, split)
    if frames:
        note_files(data, frames)
    return data


def load_files_panel(
    files: Sequence[str | os.PathLike[str]],
    *,
    scaler: dict[str, Any],
    window: int,
    predict: bool = False,
    start: str | None = None,
    end: str | None = None,
    bar_seconds: int = 3600,
    missing_hours: str = "auto",
    timezone: str | None = None,
) -> DemoData:
    """Other data (any export ``load_ohlcv`` reads) prepared with a run's fitted statistics.

    ``bar_seconds`` is the bar interval the run was trained on (its checkpoints' recorded ``bar_seconds``;
    3600 for a run that records none, as the demo's runs are hourly): files of another interval are refused.
    ``missing_hours`` is how each file's hours without trades are read (``load_ohlcv``'s: ``"auto"``,
    ``"no-trades"`` or ``"absent"``); the hours read as without trades go to ``data.no_trade_bars``.
    ``timezone`` is the zone of the files' times written without one (``load_ohlcv``'s; default UTC).

    The whole loaded period is history for the features and the rolling baselines; the evaluated period
    is ``[start, end]`` (default: see :func:`_scored_first`), its decision times ending :data:`HORIZON` bars before the last bar (where
    the last complete 24-bar target ends, as in the demo's test split), so the causal per-asset scaling and the baselines have a warm-up. Nothing is fitted here: the
    run's scaler is reused, and assets the run never saw get the unknown-asset id downstream.
    With ``predict=True`` (``predict``, ``backtest --run``: nothing is scored against the baselines) the
    history needed is only :func:`predict_history`'s: the features' warm-up plus the model window, and
    ``--start`` may be any later bar.

    Raises:
        FileNotFoundError: a missing file (named).
        ValueError: start after end, fewer bars than the window plus the horizon, a file without a symbol,
            two files of one symbol, bars longer than the run's or not dividing them, or an asset with no usable bar to forecast
            (each message names the file).
    """
    from ..data import align

    lo = parse_time(start, "--start") if start is not None else None
    hi = parse_time(end, "--end") if end is not None else None
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"--start {start} is after --end {end}")
    frames = load_hourly_files(files, bar_seconds, missing_hours=missing_hours, timezone=timezone)
    panel = align(frames)
    if hi is not None:
        panel = panel.between(None, hi)
    n = int(panel.num_bars)
    if n < window + HORIZON + 2:
        raise ValueError(
            f"--data: {n} bars, fewer than the window ({window}) plus the {HORIZON}-bar horizon; give more data"
        )
    if predict:
        first = _predict_first(panel.timestamps, lo, start, predict_history(scaler, window))
    else:
        first = _scored_first(
            panel.timestamps, lo, start, np.asarray(np.asarray(panel.mask).any(axis=1), dtype=bool)
        )
    # scored decision times end where the 24-bar targets do, as the demo's test split (purged); predict: all
    data = prepare_run_data(panel, _scored_split(first, n if predict else n - HORIZON), scaler=scaler)
    if not predict and lo is None:  # the default start: 30 days of bars with features stay to score
        featured = np.asarray(np.asarray(data.prepared.mask).any(axis=0), dtype=bool)
        earlier = _scored_first(panel.timestamps, lo, start, featured)
        if earlier != first:  # the features do not depend on the split: only the decision times move
            first, data = earlier, data.with_split(_scored_split(earlier, n - HORIZON))
    note_files(data, frames)
    _check_forecastable(data, first)
    return data


def note_files(data: DemoData, frames: Sequence[Any]) -> None:
    """Record on ``data`` where each asset came from and its file's own report: the interval it was read
    in, its warnings, and the hours it read as without trades (:func:`reading_warnings` says them)."""
    data.sources = {str(f.attrs["symbol"]): str(f.attrs.get("source", "")) for f in frames}
    for f in frames:
        symbol, report = str(f.attrs["symbol"]), f.attrs["quality_report"]
        data.no_trade_bars[symbol] = report.no_trade_bars + report.zero_volume_kept
        data.file_warnings[symbol] = list(report.warnings)
        if report.timeframe != f.attrs["timeframe"]:
            data.resampled[symbol] = str(report.timeframe)


def _scored_split(first: int, stop: int) -> Split:
    """No training rows, the bar before ``first`` as validation, decision times ``first..stop-1``."""
    from ..data import Split

    empty = np.zeros(0, dtype=np.int64)
    positions = np.arange(first, stop, dtype=np.int64)
    val_pos = np.arange(max(first - 1, 0), first, dtype=np.int64)
    return Split(empty, val_pos, positions, HORIZON, 0)


def _scored_first(ts: np.ndarray, lo: int | None, start: str | None, present: np.ndarray) -> int:
    """The first scored bar: ``--start`` once the baselines' history is there. Default: a quarter in, at
    least :data:`MIN_HISTORY` bars in, and HAR-RV's :data:`HAR_MIN_TRAIN` bars in (90 days: the history it is
    fitted on in the demo) where that leaves :data:`MIN_SCORED_BARS` bars to score among those ``present``
    (bool ``[T]``: the grid's bars where an asset has a candle, or, prepared, features)."""
    from ..evaluation.baselines import HAR_MIN_TRAIN

    n = int(ts.size)
    if n < MIN_HISTORY + 2 * HORIZON:
        raise ValueError(
            f"--data: {n} bars; the baselines need {MIN_HISTORY} bars of history before the scored period "
            f"(30 days of hourly bars for HAR-RV) plus at least {2 * HORIZON} scored bars; give more data"
        )
    held = np.flatnonzero(present[: n - HORIZON])  # bars whose 24-bar target ends inside the data
    room = int(held[-MIN_SCORED_BARS]) if held.size >= MIN_SCORED_BARS else n - HORIZON - MIN_SCORED_BARS
    har = min(HAR_MIN_TRAIN, room)
    first = int(np.searchsorted(ts, lo)) if lo is not None else max(MIN_HISTORY, n // 4, har)
    if first < MIN_HISTORY:
        raise ValueError(
            f"--start {start}: only {first} bars of the data before it; the baselines need {MIN_HISTORY} "
            "(30 days of hourly bars for HAR-RV); start later or give earlier data"
        )
    if first >= n - HORIZON:
        raise ValueError(
            f"--start {start}: fewer than {HORIZON} bars of the data after it (the data end at "
            f"{bar_time(int(ts[-1]))}; a scored bar needs the {HORIZON} after it); start before "
            f"{bar_time(int(ts[n - HORIZON]))}"
        )
    return first


def _check_forecastable(data: DemoData, first: int) -> None:
    """Refuse an asset without a bar with finite features from ``first`` on (the file named)."""
    for a, symbol in enumerate(data.symbols):
        if not data.prepared.mask[a, first:].any():
            held = float(np.isfinite(np.asarray(data.prepared.close[a, first:], dtype=np.float64)).mean())
            why = "constant prices or no bars there"
            if 0.0 < held < 0.95:  # a bar's features need the bars 1, 4 and 24 bars before it
                why = (
                    f"{1 - held:.0%} of its hours there have no usable candle, and {FEATURES_NEED}; if those "
                    "are hours without trades rather than downtime, --missing-hours no-trades reads them so"
                )
            raise ValueError(
                f"--data {data.sources.get(symbol, symbol)}: {symbol} has no bar with finite features from "
                f"{bar_time(int(data.timestamps[first]))} on ({why}: the models see nothing to forecast); give "
                "data with a candle for every hour where the price moves"
            )


def load_hourly_files(
    files: Sequence[str | os.PathLike[str]],
    bar_seconds: int = 3600,
    *,
    missing_hours: str = "auto",
    timezone: str | None = None,
) -> list[Any]:
    """Each file loaded, named by its symbol (unique) and in the run's bars (``bar_seconds``, hourly for the
    demo's runs): a run's models, baselines and horizons are all in its bars, so a file of shorter bars that
    divide them is aggregated into them (:func:`~ml_attention_mechanisms.data.resample_ohlcv`; its quality
    report keeps the file's interval, and ``evaluate`` says so), and any other bar interval is refused.

    Raises:
        FileNotFoundError: a missing file (named).
        ValueError: a file without a symbol, two files of one asset, or bars the run's do not divide (named).
    """
    from ..data import load_ohlcv, parse_timeframe, resample_ohlcv
    from ..data.validation import timeframe_name

    paths = [Path(f) for f in files]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"--data: file not found: {path}")
    expected = timeframe_name(int(bar_seconds))
    frames: list[Any] = []
    seen: dict[str, Path] = {}
    for path in paths:
        frame = load_ohlcv(path, missing_hours=missing_hours, timezone=timezone)
        symbol = frame.attrs.get("symbol")
        if not symbol:
            raise ValueError(
                f"--data {path}: no symbol (no symbol column, and the file name names none); name the file "
                "after its pair, e.g. BTCUSDT_1h.csv"
            )
        if symbol in seen:
            raise ValueError(
                f"--data {path}: {symbol} again (also in {seen[symbol]}); expected one file per asset"
            )
        same = [s for s in seen if base_symbol(s) == base_symbol(symbol)]
        if (
            same
        ):  # forecasts, scores and the report are keyed by the base asset: one would overwrite the other
            raise ValueError(
                f"--data {path}: {symbol} is {base_symbol(symbol)} again ({same[0]} in {seen[same[0]]}); "
                "expected one pair per base asset"
            )
        seen[symbol] = path
        timeframe = frame.attrs.get("timeframe")
        if timeframe and timeframe != expected and int(bar_seconds) % parse_timeframe(timeframe) == 0:
            report = frame.attrs["quality_report"]
            frame = resample_ohlcv(frame, expected)
            frame.attrs["quality_report"] = report
            timeframe = expected
        if timeframe != expected:
            raise ValueError(
                f"--data {path}: {timeframe or 'irregular'} bars; the run's models, baselines and {HORIZON}-bar "
                f"horizons are in {expected} bars: give {'hourly (1h)' if expected == '1h' else expected} bars, "
                "or shorter bars that divide them"
            )
        frames.append(frame)
    return frames


def predict_history(scaler: dict[str, Any], window: int) -> tuple[int, int]:
    """``(need, warm_up)``: the bars of history a forecast needs before the first predicted bar.

    A forecast reads the ``window`` bars up to its bar, and a bar has features only after the longest
    indicator's warm-up and then the causal scaling's ``min_periods`` (``warm_up`` bars in all, measured by
    preparing a gap-free synthetic series with the run's scaler, so it follows the feature code); so
    ``need = warm_up + window - 1``. No baseline is involved.
    """
    from ..data import MarketPanel, prepare_panel

    n = int(scaler.get("min_periods", 168)) + 512
    close = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, n)))[:, None]
    opens = np.r_[close[:1], close[:-1]]
    panel = MarketPanel(
        ("SYN/USDT",), "1h", 3600 * np.arange(n, dtype=np.int64), open=opens, close=close,
        high=np.maximum(opens, close) * 1.002, low=np.minimum(opens, close) * 0.998,
        volume=np.arange(n, dtype=np.float64)[:, None] % 7 + 1, quote_volume=np.full((n, 1), np.nan),
        trades=np.full((n, 1), np.nan), mask=np.ones((n, 1), dtype=bool),
    )  # fmt: skip
    warm_up = int(np.argmax(prepare_panel(panel, scaler=scaler).mask[0]))
    return warm_up + window - 1, warm_up


def _predict_first(ts: np.ndarray, lo: int | None, start: str | None, history: tuple[int, int]) -> int:
    """The first predicted bar: ``--start`` (default: a quarter in) once the history is there."""
    need, warm = history
    n = int(ts.size)
    why = (
        f"the model's {need - warm + 1}-bar window must lie after the features' {warm}-bar warm-up (the "
        "longest indicator, then the causal scaling)"
    )
    if n <= need:
        raise ValueError(
            f"--data: {n} bars; a forecast needs {need} bars of history before its bar ({why}) and at least "
            "one bar to forecast; give more data"
        )
    first = int(np.searchsorted(ts, lo)) if lo is not None else max(need, n // 4)
    if first < need:
        raise ValueError(
            f"--start {start}: only {first} bars of the data before it; a forecast needs {need} ({why}); "
            "start later or give earlier data"
        )
    if first >= n:
        raise ValueError(f"--start {start}: after the last bar of the data ({bar_time(int(ts[-1]))})")
    return first


def check_no_long_gaps(data: DemoData, *, portfolio: bool = False) -> None:
    """Refuse a scored period in which an asset has no bars for :data:`HORIZON` bars or more.

    Returns are previous-tick: the first bar after a gap carries the whole move across it. After a gap of a
    day or more, the 24-bar realised-variance target of the bars around it measures days of movement as one
    bar's, and the baselines read that move as one bar's too, so QLIKE and every figure would compare
    something other than the next day's variance. The message names the file, the gap and the
    ``--start``/``--end`` that avoid it.

    Each asset is checked over its own scored span (:func:`._data.scored_span`): the bars before a late
    listing and after an early last bar are no gap.

    Args:
        data: the evaluated data.
        portfolio: the run has a portfolio model: the assets' spans must share ``2 * HORIZON`` bars.

    Raises:
        ValueError: the first such gap, an asset with too few bars to be scored on ``2 * HORIZON`` bars, or
            (``portfolio``) spans sharing fewer bars.
    """
    present = np.isfinite(np.asarray(data.prepared.close, dtype=np.float64))  # [A, T]
    ts = data.timestamps
    spans = [scored_span(data, a) for a in range(len(data.symbols))]
    for a, symbol in enumerate(data.symbols):
        where, span = data.sources.get(symbol, symbol), spans[a]
        if span.stop - span.start < 2 * HORIZON:
            first, last = (bar_time(int(ts[i])) for i in (first_bar(data, a), last_bar(data, a)))
            raise ValueError(
                f"--data {where}: {symbol} has too few bars to score ({first} .. {last} on the grid of "
                f"{bar_time(int(ts[0]))} .. {bar_time(int(ts[-1]))}): its baselines need {MIN_HISTORY} bars of "
                f"its own history, then at least {2 * HORIZON} scored bars and a {HORIZON}-bar target after "
                "them; give it more bars, move --start, or leave the file out"
            )
        lo = max(span.start - HORIZON, 0)
        missing = ~present[a, lo : span.stop]
        edges = np.diff(np.r_[0, missing.astype(np.int8), 0])
        starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        long = np.flatnonzero(stops - starts >= HORIZON)
        if long.size:
            g0, g1 = lo + int(starts[long[0]]), lo + int(stops[long[0]])  # [g0, g1) missing
            after = f"--start {bar_time(int(ts[g1 + HORIZON]))} or later" if g1 + HORIZON < ts.size else ""
            before = f"--end before {bar_time(int(ts[g0]))}" if g0 > span.start else ""
            advice = " or ".join(x for x in (after, before) if x) or "give data with these bars"
            raise ValueError(
                f"--data {where}: {symbol} has no bars from {bar_time(int(ts[g0]))} for {g1 - g0} h inside the "
                "scored period (missing, or zero-volume placeholder candles, which are masked); a gap of "
                f"{HORIZON} h or more leaves the {HORIZON}-bar targets and baselines undefined; use {advice}"
            )
    common = min(s.stop for s in spans) - max(s.start for s in spans)
    if portfolio and common < 2 * HORIZON:
        each = ", ".join(
            f"{base_symbol(sym)} {bar_time(int(ts[s.start]))} .. {bar_time(int(ts[s.stop - 1]))}"
            for sym, s in zip(data.symbols, spans)
        )
        raise ValueError(
            f"--data: the assets are scored on fewer than {2 * HORIZON} common bars ({each}); the run's portfolio "
            "model is scored on the bars every asset is scored on: evaluate the files apart, or give "
            "overlapping ones"
        )


def parse_time(value: str, name: str) -> int:
    """``value`` (the option ``name``'s ISO 8601 date/time, UTC unless it carries an offset) in unix seconds.

    Raises:
        ValueError: not a date/time (an empty string included), naming ``name`` and ``value``.
    """
    with needs_extra("data"):
        import pandas as pd

    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        ts = pd.NaT
    if ts is pd.NaT:  # pandas reads "" as NaT (not a time)
        raise ValueError(
            f"{name} {value!r}: not a date/time (expected ISO 8601, e.g. 2021-06-01 or 2021-06-01T12:00)"
        )
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 10**9)


def reading_warnings(data: DemoData) -> tuple[str, ...]:
    """How the files were read, a sentence each (``evaluate`` and ``predict`` print them): shorter bars
    aggregated into the run's, each file's quality-report warnings (``mlattn data-check`` prints them too), and
    bars read as bars without trades."""
    return _resampled(data) + _file_warnings(data) + _no_trades(data)


def _resampled(data: DemoData) -> tuple[str, ...]:
    """A sentence per asset whose file's shorter bars were aggregated into the run's."""
    return tuple(
        f"{base_symbol(symbol)}: the {step} bars of {data.sources.get(symbol, symbol)} aggregated into the run's "
        f"{data.prepared.timeframe} bars (open of the first, high, low, close of the last, volumes "
        "summed; a bar the file covers only in part at either end left out)"
        for symbol, step in data.resampled.items()
    )


def _file_warnings(data: DemoData) -> tuple[str, ...]:
    """The warnings of each file's quality report (``mlattn data-check`` prints them too)."""
    return tuple(
        f"{base_symbol(symbol)}: {data.sources.get(symbol, symbol)}: {w}"
        for symbol, found in data.file_warnings.items()
        for w in found
    )


def _no_trades(data: DemoData) -> tuple[str, ...]:
    """A sentence per asset with bars of its file read as bars without trades (``missing_hours``)."""
    return tuple(
        f"{base_symbol(symbol)}: {n} {data.resampled.get(symbol, data.prepared.timeframe)} bars of "
        f"{data.sources.get(symbol, symbol)} read as bars without trades (missing candles written flat at the "
        "previous close, zero-volume candles kept rather than masked as downtime); --missing-hours absent "
        "reads them as downtime"
        for symbol, n in data.no_trade_bars.items()
        if n
    )
