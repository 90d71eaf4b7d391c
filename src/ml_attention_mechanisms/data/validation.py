"""Data quality: the error raised for invalid input and the report every load produces.

``load_ohlcv`` never drops or changes a row silently: every fix (duplicates resolved, rows reordered, rows
dropped under ``errors="drop"``, timestamps taken from the date column) is counted in a
:class:`QualityReport`, attached to the frame as ``df.attrs["quality_report"]``. :func:`validate_ohlcv`
computes the frame-level part of the report (gaps, zero-volume placeholders, suspicious candles, a
possibly unfinished newest candle) for any frame with the loader's layout.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._import_guard import needs_extra

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "OPEN_CANDLE_RATIO",
    "SUSPICIOUS_MOVE",
    "VOLUME_BREAK",
    "DataValidationError",
    "QualityReport",
    "validate_ohlcv",
    "volume_breaks",
    "zero_volume_flat",
]

logger = logging.getLogger(__name__)

# A candle is suspicious when its high is more than 50% above both open and close (or its low 50% below
# both), when it opens 50% away from the previous bar's close, or when it is the first candle (a listing)
# and moves 50% from open to close (BTC's first hourly candle opens at 16,199.91 and closes at 4,308.83).
SUSPICIOUS_MOVE = 1.5
# The newest candle is flagged as possibly unfinished when its trade count (or, without trade counts, its
# volume) is below this fraction of the median of the 24 bars before it. On the shared files no complete
# hour falls below it more than ~0.05% of the time; the unfinished last hours are at 0.10-0.21.
OPEN_CANDLE_RATIO = 0.25
_OPEN_CANDLE_LOOKBACK = 24
# The volume's level "breaks" where the median volume of the week after a bar is this many times that of the
# week before it, or this many times smaller: a change of units (base to quote currency) or of source, not
# trading. Over the bundled files and three other real exports (Bitstamp's BTC/USD, Binance's DOGE/USDT),
# adjacent weeks' medians differ at most 5.6-fold; a copy of Bitstamp's ETH/USD whose volume turns from ETH
# into USD jumps 424-fold.
VOLUME_BREAK = 100.0


class DataValidationError(ValueError):
    """A market-data file (or frame) breaks a rule the library relies on.

    The message names the file, the line, the column, what was found and what was expected, e.g.
    ``"prices.csv, line 12, column 'high': 99.5 is below low 100.0 (expected high >= low)"``.

    Attributes:
        path: the file (or ``"<frame>"``).
        line: 1-based line of the file (``None`` when the problem is the whole file).
        column: the column as named in the file (``None`` when not tied to one column).
    """

    def __init__(
        self,
        message: str,
        *,
        path: str = "",
        line: int | None = None,
        column: str | None = None,
        line_word: str = "line",  # "row" for Parquet files
    ) -> None:
        where = ", ".join(
            p
            for p in (
                path,
                f"{line_word} {line}" if line is not None else "",
                f"column {column!r}" if column else "",
            )
            if p
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.path = path
        self.line = line
        self.column = column


@dataclass
class QualityReport:
    """What a load found and what it did, counted. Printed by ``mlattn data-check``.

    Attributes:
        path: the file read.
        format: the detected format (``"cryptodatadownload"``, ``"binance-klines"``, ``"csv"``, ``"parquet"``).
        symbol: the symbol (from the file's symbol column or name), or ``None``.
        timeframe: the bar interval (``"1h"``, ``"1d"``, ...), inferred from the timestamps.
        rows_read: data rows in the file (header and banner lines excluded).
        rows_kept: rows in the returned frame.
        empty_rows: rows with a time but no open, high, low, close or volume (no candle: holes, read as
            ``load_ohlcv``'s ``missing_hours`` says); not in ``rows_kept``.
        banner_lines: lines above the header that are not data (CryptoDataDownload's banner).
        reordered: the rows were not in ascending time order (e.g. newest first) and were sorted.
        time_column: the file's column the times were read from (a unix column where the file has one,
            else its date/time column), or ``None``.
        date_column: the file's date column that backs up its unix column (read where a unix value is
            damaged or missing, compared elsewhere), or ``None`` (no unix column, or no date column).
        timezone: the zone the times written without one were read in (``load_ohlcv``'s ``timezone``,
            where it applied to any row), or ``None`` (UTC).
        naive_times: rows whose time was written without a zone (read in ``timezone``, else as UTC: a file
            written in another zone's clock needs ``timezone``); 0 for unix times and times with an offset.
        timestamps_from_date: rows whose time came from ``date_column`` because the unix value was
            damaged (spreadsheet scientific notation) or missing (0 for a file without a unix column).
        date_column_disagreements: rows whose date column disagrees with their intact unix value (a local
            clock or a 12-hour clock without AM/PM); the unix value was used.
        duplicates: extra rows for an already-seen timestamp, removed (the complete candle was kept: the
            one with a trade count, else the larger volume).
        conflicts: timestamps whose duplicate rows disagree beyond rounding (a price by more than 0.5% or the
            volume by more than 1%).
        conflict_times: the first conflicting timestamps (ISO strings, at most 10).
        dropped: rows dropped under ``errors="drop"``, as ``"line N, column 'c': reason"`` strings, and
            repeated header or banner lines of concatenated exports (``"line N: a repeated header line"``).
        missing_bars: bars absent between the first and the last timestamp.
        gaps: runs of missing bars.
        longest_gap: the longest run of missing bars, in bars.
        longest_gap_start: the first missing bar of the longest run (ISO), or ``None``.
        zero_volume_bars: zero-volume flat candles: exchange downtime placeholders (kept in the frame,
            treated as missing by the panel layer), or hours without trades (``zero_volume_kept``).
        missing_hours: how the hours without trades (holes, zero-volume flat candles, in runs shorter than a
            day) were read (``load_ohlcv``'s ``missing_hours`` resolved): ``"no-trades"`` (holes written as
            flat candles, zero-volume candles kept by the panel) or ``"absent"`` (holes left out,
            zero-volume candles masked as downtime placeholders).
        zero_volume_kept: zero-volume flat candles read as hours without trades (flagged ``no_trades``,
            kept by the panel layer).
        no_trade_bars: intervals without trades written as flat zero-volume candles flagged ``no_trades``
            (Kraken's OHLCVT files, Coinbase's candle files and other sources leave them out; the panel layer
            keeps them); among the file's ``missing_bars``, not in ``rows_kept``.
        suspicious: suspicious candles (see ``SUSPICIOUS_MOVE``), as ISO timestamps; kept, flagged in the
            frame's ``suspicious`` column, masked by the panel layer.
        possibly_open: the newest candle's timestamp (ISO) when it looks unfinished, else ``None``; flagged
            in the frame's ``possibly_open`` column and masked by the panel layer.
        off_grid: rows whose timestamp is not on the file's grid: the timeframe's multiples shifted by
            ``grid_offset_seconds`` (intervals up to a day; weekly bars keep the data's own anchor).
        grid_offset_seconds: the grid's offset from the UTC epoch multiples of the timeframe, in seconds
            (0 for bars on the hour/day; 1800 for hourly bars opening at :30); where the rows disagree, the
            most common offset.
        volume_breaks: where the volume's level jumps :data:`VOLUME_BREAK`-fold or more between the week
            before a bar and the week after it (ISO times of the first bar after): a change of units or
            source; each also a warning.
        warnings: anything else worth a look.
    """

    path: str = ""
    format: str = ""
    symbol: str | None = None
    timeframe: str | None = None
    rows_read: int = 0
    rows_kept: int = 0
    empty_rows: int = 0
    banner_lines: int = 0
    reordered: bool = False
    time_column: str | None = None
    date_column: str | None = None
    timezone: str | None = None
    naive_times: int = 0
    timestamps_from_date: int = 0
    date_column_disagreements: int = 0
    duplicates: int = 0
    conflicts: int = 0
    conflict_times: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    first: str | None = None
    last: str | None = None
    missing_bars: int = 0
    gaps: int = 0
    longest_gap: int = 0
    longest_gap_start: str | None = None
    zero_volume_bars: int = 0
    missing_hours: str = "absent"
    zero_volume_kept: int = 0
    no_trade_bars: int = 0
    suspicious: list[str] = field(default_factory=list)
    possibly_open: str | None = None
    off_grid: int = 0
    grid_offset_seconds: int = 0
    volume_breaks: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-serialisable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QualityReport:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def format_text(self) -> str:
        """A short human-readable summary, one fact a line."""
        lines = [
            f"{self.path}: {self.format}, {self.symbol or 'unknown symbol'}, {self.timeframe or '?'} bars",
            f"  span              {self.first} .. {self.last}",
            f"  rows read / kept  {self.rows_read} / {self.rows_kept}"
            + (f" ({self.banner_lines} banner line)" if self.banner_lines else "")
            + (f" ({self.empty_rows} empty rows: no candle)" if self.empty_rows else ""),
            f"  order             {'reversed or unsorted, sorted ascending' if self.reordered else 'ascending'}",
            f"  duplicates        {self.duplicates} removed, {self.conflicts} conflicting"
            + (f" (first: {', '.join(self.conflict_times[:3])})" if self.conflict_times else ""),
            *self._time_lines(),
            f"  missing bars      {self.missing_bars} in {self.gaps} gaps, longest {self.longest_gap}"
            + (f" from {self.longest_gap_start}" if self.longest_gap_start else ""),
            f"  zero-volume bars  {self.zero_volume_bars}"
            + (
                f" ({self.zero_volume_kept} read as hours without trades, kept; --missing-hours absent masks "
                "them)"
                if self.zero_volume_kept
                else ""
            ),
            *(
                [
                    f"  no-trade bars     {self.no_trade_bars} written: holes shorter than a day read as "
                    "intervals without trades (flat candles at the previous close, zero volume; "
                    "--missing-hours absent leaves them out)"
                ]
                if self.no_trade_bars
                else []
            ),
            f"  suspicious        {len(self.suspicious)}"
            + (f" ({', '.join(self.suspicious[:3])})" if self.suspicious else ""),
            f"  newest candle     {'possibly unfinished: ' + self.possibly_open if self.possibly_open else 'complete'}",
        ]
        if self.grid_offset_seconds:
            lines.append(
                f"  grid offset       {timeframe_name(self.grid_offset_seconds)} (bars open that long after "
                f"the UTC {self.timeframe or '?'} boundaries)"
            )
        if self.off_grid:
            lines.append(
                f"  off-grid rows     {self.off_grid} (not on the {self.timeframe or '?'} grid of the other rows)"
            )
        if self.dropped:
            lines.append(f"  dropped           {len(self.dropped)}: {'; '.join(self.dropped[:3])}")
        lines += [f"  warning           {w}" for w in self.warnings]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format_text()

    def _time_lines(self) -> list[str]:
        """Where the times came from: the date fallback is said only where a unix column exists."""
        zone = (
            [f"  time zone         {self.timezone} (times without a zone; converted to UTC)"]
            if self.timezone
            else [f"  time zone         UTC, assumed ({self.naive_times} times without a zone; --timezone reads "
                  "another zone's clock)"]
            if self.naive_times
            else []
        )  # fmt: skip
        if self.date_column is None:
            if self.time_column is None:
                return zone
            column = (
                f"column {self.time_column!r}" if self.time_column.strip() else "the first column, unnamed"
            )
            return [f"  time from         {column}", *zone]
        return [
            f"  time from date    {self.timestamps_from_date} rows (damaged or missing unix)",
            f"  date disagrees    {self.date_column_disagreements} rows (unix used)",
            *zone,
        ]


_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def timeframe_name(seconds: int) -> str:
    """``3600 -> "1h"``, ``14400 -> "4h"``, ``86400 -> "1d"``, ``604800 -> "1w"``, ``300 -> "5min"``."""
    for name, size in _UNITS:
        if seconds % size == 0:
            return f"{seconds // size}{name}"
    return f"{seconds}s"  # pragma: no cover - unreachable (size 1 divides everything)


def infer_step(seconds: np.ndarray) -> int | None:
    """The bar interval: the most common positive difference of sorted unique timestamps."""
    if seconds.size < 2:
        return None
    diffs = np.diff(np.unique(seconds))
    values, counts = np.unique(diffs, return_counts=True)
    return int(values[np.argmax(counts)])


def index_seconds(index: pd.Index) -> np.ndarray:
    """int64 Unix seconds of a ``DatetimeIndex`` (tz-aware or naive UTC, any resolution)."""
    values = index.tz_convert("UTC").tz_localize(None) if getattr(index, "tz", None) is not None else index
    return np.asarray(values.to_numpy().astype("datetime64[s]").astype(np.int64))


def _iso(seconds: int | np.integer) -> str:
    with needs_extra("data"):
        import pandas as pd

    return pd.Timestamp(int(seconds), unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M")


def zero_volume_flat(bars: Any) -> np.ndarray:
    """bool ``[rows]``: the zero-volume flat candles (open = high = low = close, volume 0) of ``bars`` (a frame
    or a mapping of ``open, high, low, close, volume`` arrays): an exchange's downtime placeholder, or an
    interval without trades (see ``load_ohlcv``'s ``missing_hours``)."""
    o, h, lo, c, v = (
        np.asarray(bars[k], dtype=np.float64) for k in ("open", "high", "low", "close", "volume")
    )
    return (v == 0) & (o == h) & (h == lo) & (lo == c)


def flag_candles(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Boolean arrays ``(suspicious, possibly_open)`` for a frame with the loader's columns."""
    o, h, lo, c = (df[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close"))
    seconds = index_seconds(df.index)
    step = infer_step(seconds)
    with np.errstate(divide="ignore", invalid="ignore"):
        top, bottom = np.maximum(o, c), np.minimum(o, c)
        # a wick 50% beyond the body
        suspicious = (h > SUSPICIOUS_MOVE * top) | (lo * SUSPICIOUS_MOVE < bottom)
        # an open 50% away from the previous bar's close
        if step is not None and len(df) > 1:
            adjacent = np.diff(seconds) == step
            jump = np.maximum(o[1:], c[:-1]) > SUSPICIOUS_MOVE * np.minimum(o[1:], c[:-1])
            suspicious[1:] |= adjacent & jump
        # the first candle (listing) moving 50% from open to close: BTC's opens at 16,199.91, closes at 4,308.83
        if len(df):
            suspicious[0] |= top[0] > SUSPICIOUS_MOVE * bottom[0]
    possibly_open = np.zeros(len(df), dtype=bool)
    if len(df) > _OPEN_CANDLE_LOOKBACK // 2:
        trades = df["trades"].to_numpy(dtype=np.float64) if "trades" in df else np.full(len(df), np.nan)
        volume = df["volume"].to_numpy(dtype=np.float64)
        prev = slice(max(0, len(df) - 1 - _OPEN_CANDLE_LOOKBACK), len(df) - 1)
        for activity in (trades, volume):
            recent = activity[prev]
            recent = recent[np.isfinite(recent) & (recent > 0)]
            if np.isfinite(activity[-1]) and recent.size >= _OPEN_CANDLE_LOOKBACK // 2:
                possibly_open[-1] = activity[-1] < OPEN_CANDLE_RATIO * float(np.median(recent))
                break
    return suspicious, possibly_open


def volume_breaks(volume: np.ndarray, window: int) -> list[tuple[int, float]]:
    """Where the volume's level breaks: ``(row, factor)`` for each row where the median volume of the
    ``window`` bars from it is :data:`VOLUME_BREAK` times that of the ``window`` bars before it or more, or
    as many times smaller (``factor`` < 1); zero volumes are left out of the medians.

    Args:
        volume: ``[T]`` per bar.
        window: bars of each median (a week of bars).
    """
    with needs_extra("data"):
        import pandas as pd

    v = np.asarray(volume, dtype=np.float64)
    rows = np.flatnonzero(v > 0)
    if rows.size < 2 * window:
        return []
    log_v = pd.Series(np.log(v[rows]))
    before = log_v.rolling(window).median().shift(1).to_numpy()
    after = log_v[::-1].rolling(window).median()[::-1].to_numpy()
    jump = np.nan_to_num(after - before)
    big = np.flatnonzero(np.abs(jump) >= np.log(VOLUME_BREAK))
    out = []
    x = log_v.to_numpy()
    for run in np.split(big, np.flatnonzero(np.diff(big) > 1) + 1):
        if run.size:  # one break per run of rows past the threshold, around its largest jump
            lo = max(int(run[np.argmax(np.abs(jump[run]))]) - window, 0)
            i = lo + _least_squares_split(x[lo : lo + 2 * window])
            out.append((int(rows[i]), float(np.exp(jump[i]))))
    return out


def _least_squares_split(x: np.ndarray) -> int:
    """The ``k`` in ``1..len(x)-1`` whose two segments ``x[:k]``, ``x[k:]`` have the least summed squared
    deviations from their means (one change point in the level)."""
    n, k = x.size, np.arange(1, x.size)
    head, head2 = np.cumsum(x)[:-1], np.cumsum(x * x)[:-1]
    tail, tail2 = x.sum() - head, float(x @ x) - head2
    return int(k[np.argmin(head2 - head**2 / k + tail2 - tail**2 / (n - k))])


def _volume_break_text(at: str, factor: float, price: float) -> str:
    """The warning of a volume break at ``at`` (``factor``: after / before; ``price``: the close there)."""
    units = ""
    if 1 / 3 <= max(factor, 1 / factor) / price <= 3:
        units = (
            " (about the close price: from the base currency's units to the quote's?)"
            if factor > 1
            else " (about the close price: from the quote currency's units to the base's?)"
        )
    change = f"{factor:.0f} times" if factor > 1 else f"1/{1 / factor:.0f} of"
    return (
        f"volume level: the week from {at} trades {change} the week before{units}; the volume features read "
        "each bar against the last 30 days, so they carry the jump for 30 days"
    )


def validate_ohlcv(df: pd.DataFrame, report: QualityReport | None = None) -> QualityReport:
    """Fill the frame-level facts of a quality report for a loaded frame.

    Args:
        df: a frame with a UTC ``DatetimeIndex`` (ascending, unique) and float ``open, high, low, close,
            volume`` columns (``load_ohlcv``'s layout).
        report: a report to complete (the loader's, which already holds the row-level counts); a new one
            when ``None``.

    Returns:
        The report: span, missing bars and gaps, zero-volume bars, suspicious candles, a possibly unfinished
        newest candle, off-grid rows.

    Raises:
        DataValidationError: the index is not ascending and unique, or a required column is missing.
    """
    report = report if report is not None else QualityReport(path="<frame>")
    for col in ("open", "high", "low", "close", "volume"):
        if col not in df.columns:
            raise DataValidationError(
                f"required column missing (have {list(df.columns)})", path=report.path, column=col
            )
    seconds = index_seconds(df.index)
    if seconds.size and not np.all(np.diff(seconds) > 0):
        raise DataValidationError("index must be ascending and unique", path=report.path)
    report.rows_kept = len(df)
    if not len(df):
        return report
    report.first, report.last = _iso(seconds[0]), _iso(seconds[-1])
    step = infer_step(seconds)
    if step:
        report.timeframe = timeframe_name(step)
        if step <= 86400:
            offsets = seconds % step
            values, counts = np.unique(offsets, return_counts=True)
            report.grid_offset_seconds = int(values[np.argmax(counts)])
            report.off_grid = int(np.count_nonzero(offsets != report.grid_offset_seconds))
        diffs = np.diff(seconds)
        if diffs.size >= 4 and np.count_nonzero(diffs == step) < diffs.size / 2:
            report.warnings.append(
                f"irregular timestamps: only {np.count_nonzero(diffs == step)} of {diffs.size} intervals are "
                f"{report.timeframe} (the most common); missing bars are counted on a {report.timeframe} grid"
            )
        missing = np.diff(seconds) // step - 1
        gap_idx = np.flatnonzero(missing > 0)
        report.missing_bars = int(missing[gap_idx].sum())
        report.gaps = int(gap_idx.size)
        if gap_idx.size:
            worst = gap_idx[np.argmax(missing[gap_idx])]
            report.longest_gap = int(missing[worst])
            report.longest_gap_start = _iso(seconds[worst] + step)
    o, h, lo, c, v = (df[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close", "volume"))
    flat = (o == h) & (h == lo) & (lo == c)
    report.zero_volume_bars = int(np.count_nonzero((v == 0) & flat))
    if np.count_nonzero(v == 0) > report.zero_volume_bars:
        report.warnings.append(f"{int(np.count_nonzero((v == 0) & ~flat))} zero-volume bars are not flat")
    for at, factor in volume_breaks(v, max(24, round(7 * 86400 / step)) if step else 168):
        report.volume_breaks.append(_iso(seconds[at]))
        report.warnings.append(_volume_break_text(report.volume_breaks[-1], factor, float(c[at])))
    suspicious, possibly_open = flag_candles(df)
    report.suspicious = [_iso(s) for s in seconds[suspicious]]
    report.possibly_open = _iso(seconds[-1]) if possibly_open[-1] else None
    return report
