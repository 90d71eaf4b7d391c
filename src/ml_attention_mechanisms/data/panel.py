"""Several assets on one UTC grid, with an availability mask; OHLCV resampling.

A :class:`MarketPanel` holds per-asset OHLCV arrays ``[T, A]`` on a regular UTC grid (every bar from the
first to the last timestamp of any asset, at the timeframe's step; bar timestamps are bar *open* times, in
Unix seconds). ``mask[t, a]`` is True where asset ``a`` has a usable bar at ``t``. A bar is missing before
the asset's listing, in its gaps, and where the loader flagged it: zero-volume flat candles (exchange
downtime placeholders), a possibly unfinished newest candle, and (by default) suspicious candles. Missing
bars hold NaN in every field: nothing is forward-filled, so a return across a missing bar is NaN, never a
silent zero.

Shapes: ``T`` bars, ``A`` assets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from .._import_guard import needs_extra
from .loader import normalise_symbol
from .validation import (
    DataValidationError,
    QualityReport,
    flag_candles,
    index_seconds,
    infer_step,
    timeframe_name,
    zero_volume_flat,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FIELDS", "MarketPanel", "align", "parse_timeframe", "resample_ohlcv"]

FIELDS = ("open", "high", "low", "close", "volume", "quote_volume", "trades")
_UNIT_SECONDS = {"s": 1, "min": 60, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_WEEK_ORIGIN = 4 * 86400  # 1970-01-05 00:00 UTC, a Monday: weekly bars start on Mondays


def parse_timeframe(timeframe: str | int) -> int:
    """``"1h" -> 3600``, ``"4h"``, ``"15min"``/``"15m"``, ``"1d"``, ``"1w"``; an int is taken as seconds.

    Raises:
        ValueError: not a positive count followed by s, min/m, h, d or w.
    """
    if isinstance(timeframe, (int, np.integer)) and not isinstance(timeframe, bool):
        if timeframe <= 0:
            raise ValueError(f"timeframe={timeframe!r}: expected a positive number of seconds")
        return int(timeframe)
    m = re.fullmatch(r"\s*(\d+)\s*(s|min|m|h|d|w)\s*", str(timeframe).lower())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"timeframe={timeframe!r}: expected e.g. '15min', '1h', '4h', '1d' or '1w'")
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


@dataclass(frozen=True, eq=False)
class MarketPanel:
    """Per-asset OHLCV on one UTC grid, with an availability mask and the quality reports.

    Attributes:
        symbols: asset symbols (``"BTC/USDT"``), in column order. Asset ids are ``1..A`` in this order
            (0 is reserved for an unknown asset): see :attr:`symbol_to_id`.
        timeframe: the bar interval (``"1h"``).
        timestamps: int64 ``[T]`` bar open times, Unix seconds, regular at the timeframe's step.
        open, high, low, close: float64 ``[T, A]`` prices; NaN where ``mask`` is False.
        volume: float64 ``[T, A]`` base-asset volume; NaN where ``mask`` is False.
        quote_volume, trades: float64 ``[T, A]``; NaN where missing or unknown.
        mask: bool ``[T, A]``: True where the asset has a usable bar.
        reports: symbol -> the :class:`QualityReport` of its source file.
    """

    symbols: tuple[str, ...]
    timeframe: str
    timestamps: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    quote_volume: np.ndarray
    trades: np.ndarray
    mask: np.ndarray
    reports: dict[str, QualityReport] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t, a = self.timestamps.size, len(self.symbols)
        for name in (*FIELDS, "mask"):
            arr = getattr(self, name)
            if arr.shape != (t, a):
                raise ValueError(f"MarketPanel.{name}: shape {arr.shape}, expected (T, A) = {(t, a)}")
        if len(set(self.symbols)) != a:
            raise ValueError(f"MarketPanel.symbols={self.symbols!r}: must be unique")
        if t > 1 and not np.all(np.diff(self.timestamps) == self.step_seconds):
            raise ValueError("MarketPanel.timestamps: must be regular at the timeframe's step")

    @property
    def step_seconds(self) -> int:
        return parse_timeframe(self.timeframe)

    @property
    def num_bars(self) -> int:
        return int(self.timestamps.size)

    @property
    def num_assets(self) -> int:
        return len(self.symbols)

    @property
    def symbol_to_id(self) -> dict[str, int]:
        """``{symbol: asset id}``, ids ``1..A`` in column order (0 = unknown asset)."""
        return {s: i + 1 for i, s in enumerate(self.symbols)}

    def field(self, name: str) -> np.ndarray:
        """One of :data:`FIELDS` by name."""
        if name not in FIELDS:
            raise ValueError(f"field={name!r}: expected one of {', '.join(FIELDS)}")
        return getattr(self, name)

    def select(self, symbols: Sequence[str]) -> MarketPanel:
        """The panel restricted to ``symbols`` (in that order; ids follow the new order)."""
        wanted = [normalise_symbol(s) for s in symbols]
        missing = [s for s in wanted if s not in self.symbols]
        if missing:
            raise ValueError(f"symbols {missing}: not in the panel; available: {', '.join(self.symbols)}")
        cols = [self.symbols.index(s) for s in wanted]
        arrays = {name: getattr(self, name)[:, cols] for name in (*FIELDS, "mask")}
        return replace(
            self,
            symbols=tuple(wanted),
            reports={s: self.reports[s] for s in wanted if s in self.reports},
            **arrays,
        )

    def between(self, start: str | int | None = None, end: str | int | None = None) -> MarketPanel:
        """Bars with ``start <= timestamp <= end`` (ISO strings in UTC or Unix seconds; inclusive)."""
        lo = _to_seconds(start) if start is not None else self.timestamps[0] if self.num_bars else 0
        hi = _to_seconds(end) if end is not None else self.timestamps[-1] if self.num_bars else 0
        keep = (self.timestamps >= lo) & (self.timestamps <= hi)
        arrays = {name: getattr(self, name)[keep] for name in (*FIELDS, "mask")}
        return replace(self, timestamps=self.timestamps[keep], **arrays)

    def resample(self, timeframe: str) -> MarketPanel:
        """The panel at a coarser timeframe (see :func:`resample_ohlcv` for the aggregation rules)."""
        step = parse_timeframe(timeframe)
        ts, arrays = _aggregate(
            self.timestamps, {n: getattr(self, n) for n in FIELDS}, self.mask, self.step_seconds, step
        )
        mask = arrays.pop("mask")
        return MarketPanel(
            self.symbols, timeframe_name(step), ts, **arrays, mask=mask, reports=dict(self.reports)
        )

    def to_frame(self, symbol: str) -> pd.DataFrame:
        """One asset's usable bars as a frame in ``load_ohlcv``'s layout."""
        with needs_extra("data"):
            import pandas as pd

        col = (
            self.symbols.index(normalise_symbol(symbol)) if normalise_symbol(symbol) in self.symbols else None
        )
        if col is None:
            raise ValueError(f"symbol={symbol!r}: not in the panel; available: {', '.join(self.symbols)}")
        keep = self.mask[:, col]
        index = pd.DatetimeIndex(pd.to_datetime(self.timestamps[keep], unit="s", utc=True), name="timestamp")
        frame = pd.DataFrame({n: getattr(self, n)[keep, col] for n in FIELDS}, index=index)
        frame.attrs.update(symbol=self.symbols[col], timeframe=self.timeframe)
        return frame


def _to_seconds(value: str | int) -> int:
    with needs_extra("data"):
        import pandas as pd

    if isinstance(value, (int, np.integer)):
        return int(value)
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 10**9)


def _aggregate(
    timestamps: np.ndarray, fields: Mapping[str, np.ndarray], mask: np.ndarray, step: int, new_step: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Aggregate regular-grid ``[T, A]`` arrays into coarser, epoch-aligned bars (shifted by the fine grid's
    offset: hourly bars at :30 give 4h bars at 00:30, 04:30, ...)."""
    if new_step % step:
        raise ValueError(
            f"cannot resample {timeframe_name(step)} bars to {timeframe_name(new_step)}: not a multiple"
        )
    origin = _WEEK_ORIGIN if new_step % 604800 == 0 else 0
    if (
        timestamps.size
    ):  # a grid offset from the epoch multiples (bars at :30) carries over to the coarse bars
        origin += int((timestamps[0] - origin) % step)
    bucket = (timestamps - origin) // new_step
    if timestamps.size == 0:
        empty = {n: np.zeros((0, mask.shape[1])) for n in fields}
        return timestamps.copy(), {**empty, "mask": np.zeros((0, mask.shape[1]), dtype=bool)}
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    new_ts = bucket[starts] * new_step + origin
    t_idx = np.arange(timestamps.size)[:, None]
    big = np.iinfo(np.int64).max
    first = np.minimum.reduceat(np.where(mask, t_idx, big), starts, axis=0)
    last = np.maximum.reduceat(np.where(mask, t_idx, -1), starts, axis=0)
    present = last >= 0
    # a coarse bar the grid covers only in part (the data start or end inside it) is incomplete: masked
    covered = np.diff(np.r_[starts, timestamps.size]) == new_step // step
    present &= covered[:, None]
    cols = np.arange(mask.shape[1])[None, :]
    safe_first, safe_last = np.where(present, first, 0), np.where(present, last, 0)
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore"):
        for name, arr in fields.items():
            if name == "open":
                res = arr[safe_first, cols]
            elif name == "close":
                res = arr[safe_last, cols]
            elif name == "high":
                res = np.fmax.reduceat(np.where(mask, arr, np.nan), starts, axis=0)
            elif name == "low":
                res = np.fmin.reduceat(np.where(mask, arr, np.nan), starts, axis=0)
            else:  # volumes, trades: sums over present bars (NaN when every present bar lacks the value)
                vals = np.where(mask, arr, np.nan)
                known = np.add.reduceat(np.isfinite(vals).astype(np.int64), starts, axis=0) > 0
                res = np.where(known, np.add.reduceat(np.nan_to_num(vals), starts, axis=0), np.nan)
            out[name] = np.where(present, res, np.nan)
    out["mask"] = present
    return new_ts, out


def _frame_arrays(
    frame: pd.DataFrame, mask_suspicious: bool
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(timestamps, fields [n], usable [n]) of a loaded frame."""
    seconds = index_seconds(frame.index)
    if seconds.size > 1 and not np.all(np.diff(seconds) > 0):
        raise DataValidationError(
            "index must be ascending and unique", path=str(frame.attrs.get("source", "<frame>"))
        )
    fields = {
        n: (frame[n].to_numpy(dtype=np.float64) if n in frame else np.full(len(frame), np.nan))
        for n in FIELDS
    }
    for req in ("open", "high", "low", "close", "volume"):
        if req not in frame:
            raise DataValidationError(
                "required column missing", path=str(frame.attrs.get("source", "<frame>")), column=req
            )
    placeholder = zero_volume_flat(fields)
    if "no_trades" in frame:  # a market that did not trade (missing_hours), not a downtime placeholder
        placeholder &= ~frame["no_trades"].to_numpy(dtype=bool)
    usable = np.isfinite(fields["open"]) & np.isfinite(fields["close"]) & ~placeholder
    if "possibly_open" in frame:
        usable &= ~frame["possibly_open"].to_numpy(dtype=bool)
    if mask_suspicious and "suspicious" in frame:
        usable &= ~frame["suspicious"].to_numpy(dtype=bool)
    return seconds, fields, usable


def _common_offset(
    seconds: Sequence[np.ndarray], step: int, items: Sequence[tuple[object, pd.DataFrame]], symbols: list[str]
) -> int:
    """The one offset (seconds past the epoch multiples of ``step``) every frame's bars share.

    Raises:
        DataValidationError: a frame's bars have mixed offsets (its first bar off the frame's most common
            offset named), or two frames have different offsets (both named, with their offsets).
    """
    name = timeframe_name(step)
    found: list[tuple[int, int]] = []  # (frame, offset)
    for a, sec in enumerate(seconds):
        if not sec.size:
            continue
        frame = items[a][1]
        where = str(frame.attrs.get("source", symbols[a]))
        values, counts = np.unique(sec % step, return_counts=True)
        offset = int(values[np.argmax(counts)])
        off = np.flatnonzero(sec % step != offset)
        if off.size:
            raise DataValidationError(
                f"timestamp {frame.index[int(off[0])]} is not on the {name} grid of {symbols[a]}'s other bars "
                f"(they open {offset} s past the UTC {name} boundaries; {off.size} bars do not); expected "
                "bar open times one timeframe apart at one offset",
                path=where,
            )
        found.append((a, offset))
    for a, offset in found[1:]:
        b, first = found[0]
        if offset != first:
            src = {i: str(items[i][1].attrs.get("source", symbols[i])) for i in (a, b)}
            raise DataValidationError(
                f"{symbols[a]} ({src[a]}) is not on the {name} grid of {symbols[b]} ({src[b]}): its bars open "
                f"{offset} s past the UTC {name} boundaries, {symbols[b]}'s {first} s; assets on different "
                "offsets cannot be aligned (expected exports with the same bar open times)",
                path=src[a],
            )
    return found[0][1] if found else 0


def align(
    frames: Mapping[str, pd.DataFrame] | Sequence[pd.DataFrame],
    *,
    timeframe: str | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
    mask_suspicious: bool = True,
) -> MarketPanel:
    """Put several assets' frames on one regular UTC grid with an availability mask.

    Args:
        frames: ``{symbol: frame}`` or frames whose ``attrs["symbol"]`` names them (``load_ohlcv`` output).
        timeframe: the grid's step; ``None`` takes the frames' (they must agree). Default: None.
        start: first bar of the grid (inclusive; ISO UTC string or Unix seconds). Default: the union's first.
        end: last bar of the grid (inclusive; an ISO UTC string or Unix seconds). Default: the union's last.
        mask_suspicious: mask candles the loader flagged as suspicious. Default: True.

    Returns:
        A :class:`MarketPanel` covering every bar from the earliest to the latest timestamp of any asset.

    Raises:
        ValueError: no frames, duplicate symbols, or the frames' timeframes disagree.
        DataValidationError: a frame's timestamps are off the grid, or it lacks a required column. The grid
            may be offset from the epoch multiples of the timeframe (hourly bars opening at :30) when every
            bar of every frame shares the offset; mixed offsets, in one frame or between frames, are refused.
    """
    items = (
        list(frames.items()) if isinstance(frames, Mapping) else [(f.attrs.get("symbol"), f) for f in frames]
    )
    if not items:
        raise ValueError("align: frames is empty; expected at least one OHLCV frame")
    symbols: list[str] = []
    for i, (sym, _) in enumerate(items):
        if not sym:
            raise ValueError(f"align: frame {i} has no symbol (pass a {{symbol: frame}} mapping)")
        symbols.append(normalise_symbol(str(sym)))
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"align: duplicate symbols {symbols}")
    if timeframe is not None:
        step = parse_timeframe(timeframe)
    else:
        steps = {
            parse_timeframe(f.attrs["timeframe"])
            if f.attrs.get("timeframe")
            else infer_step(index_seconds(f.index))
            for _, f in items
        }
        steps.discard(None)
        if len(steps) > 1:
            raise ValueError(
                f"align: the frames' timeframes differ ({sorted(timeframe_name(s) for s in steps if s)}); resample first"
            )
        found = steps.pop() if steps else None
        step = int(found) if found is not None else 3600
    parts = [_frame_arrays(f, mask_suspicious) for _, f in items]
    lo = min((p[0][0] for p in parts if p[0].size), default=0)
    hi = max((p[0][-1] for p in parts if p[0].size), default=-1)
    lo = _to_seconds(start) if start is not None else lo
    hi = _to_seconds(end) if end is not None else hi
    if step <= 86400:  # the epoch multiples shifted by the frames' common offset (weekly: the data's anchor)
        offset = _common_offset([p[0] for p in parts], step, items, symbols)
        lo = offset + -(-(lo - offset) // step) * step
    grid = np.arange(lo, hi + 1, step, dtype=np.int64)
    arrays = {n: np.full((grid.size, len(items)), np.nan) for n in FIELDS}
    mask = np.zeros((grid.size, len(items)), dtype=bool)
    for a, (seconds, fields, usable) in enumerate(parts):
        off = (seconds - lo) % step != 0
        if off.any():
            frame = items[a][1]
            raise DataValidationError(
                f"timestamp {frame.index[int(np.flatnonzero(off)[0])]} is not on the {timeframe_name(step)} grid "
                "(expected bar open times at multiples of the timeframe)",
                path=str(frame.attrs.get("source", symbols[a])),
            )
        pos = (seconds - lo) // step
        inside = (pos >= 0) & (pos < grid.size) & usable
        for n in FIELDS:
            arrays[n][pos[inside], a] = fields[n][inside]
        mask[pos[inside], a] = True
    reports = {
        s: f.attrs["quality_report"] for s, (_, f) in zip(symbols, items) if "quality_report" in f.attrs
    }
    return MarketPanel(tuple(symbols), timeframe_name(step), grid, **arrays, mask=mask, reports=reports)


def resample_ohlcv(frame: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """Aggregate a loaded frame to a coarser timeframe.

    Bars are epoch-aligned and labelled by their open time (``"1d"`` bars start at 00:00 UTC, ``"1w"`` bars
    on Mondays; a frame whose bars are offset from those boundaries keeps its offset: hourly bars at :30
    give daily bars from 00:30 to 00:30): open = the first bar's open, high = max, low = min, close = the
    last bar's close,
    volume / quote_volume / trades = sums. Zero-volume placeholders and a possibly unfinished candle are
    left out (as in a panel); candles flagged ``no_trades`` are kept, and a coarse bar made of them alone
    (zero volume, flat) is flagged ``no_trades`` too. A coarse bar the data cover only in part at either end
    is left out. The flags ``suspicious`` and ``possibly_open`` are those of the coarse candles.

    Raises:
        ValueError: ``timeframe`` is not a multiple of the frame's.
    """
    with needs_extra("data"):
        import pandas as pd

    step = (
        parse_timeframe(frame.attrs["timeframe"])
        if frame.attrs.get("timeframe")
        else infer_step(index_seconds(frame.index))
    )
    panel = align(
        {frame.attrs.get("symbol") or "ASSET": frame},
        timeframe=timeframe_name(step or 3600),
        mask_suspicious=False,
    )
    coarse = panel.resample(timeframe)
    keep = coarse.mask[:, 0]
    index = pd.DatetimeIndex(pd.to_datetime(coarse.timestamps[keep], unit="s", utc=True), name="timestamp")
    out = pd.DataFrame({n: coarse.field(n)[keep, 0] for n in FIELDS}, index=index)
    out["suspicious"], out["possibly_open"] = flag_candles(out)
    out["no_trades"] = zero_volume_flat(out)  # made of kept sub-bars only: hours without trades
    out.attrs.update(
        {k: v for k, v in frame.attrs.items() if k != "quality_report"}, timeframe=coarse.timeframe
    )
    return out
