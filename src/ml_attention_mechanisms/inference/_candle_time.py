"""Whether a live candle's time is plausible for its stream; a refused candle leaves the stream unchanged.

A candle's time is its bar's open time in int Unix seconds. Refused (``ValueError``, one line, the reason
named):

- a time outside ``[0, 10**10)`` seconds (1970 to 2286): a timestamp in milliseconds (``1.7e12``) or
  microseconds, the usual unit mix-up, is named as such;
- a time off the stream's grid: the grid is ``open bar + k * bar_seconds``; a candle 30 minutes after the
  open bar of an hourly stream is not a bar of that stream;
- a gap of more than ``max_gap_bars`` missing bars after the open bar (a clock or unit error, or an outage
  longer than the stream is configured to bridge: ``reset()`` and warm up again instead).
"""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["MAX_UNIX_SECONDS", "check_candle_time"]

MAX_UNIX_SECONDS = 10**10  # 2286-11-20T17:46:40Z: a larger "seconds" timestamp is in a finer unit


def _iso(ts: int) -> str:
    if 0 <= ts < MAX_UNIX_SECONDS:
        return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return "out of range"


def _unit_hint(ts: int) -> str:
    for unit, factor in (("milliseconds", 10**3), ("microseconds", 10**6), ("nanoseconds", 10**9)):
        if 0 <= ts // factor < MAX_UNIX_SECONDS and ts >= MAX_UNIX_SECONDS:
            return f"; it looks like {unit} ({_iso(ts // factor)} if so): pass int Unix seconds"
    return ""


def check_candle_time(ts: int, *, open_ts: int | None, bar_seconds: int, max_gap_bars: int | None) -> None:
    """Refuse a candle time that cannot belong to the stream (see the module docstring).

    Args:
        ts: the candle's open time, int Unix seconds.
        open_ts: the open bar's time (``None`` before the first candle).
        bar_seconds: the stream's bar interval.
        max_gap_bars: the most missing bars between the open bar and the candle (``None``: no limit).

    Raises:
        ValueError: the time is out of the Unix-seconds range, off the grid, or too far ahead (one line).
    """
    if not 0 <= ts < MAX_UNIX_SECONDS:
        raise ValueError(
            f"candle refused: timestamp {ts} is not Unix seconds between 1970 and 2286{_unit_hint(ts)}"
        )
    if open_ts is None or ts <= open_ts:
        return  # the first candle, an update of the open bar, or a late candle (the late policy decides)
    delta = ts - open_ts
    if delta % bar_seconds:
        raise ValueError(
            f"candle refused: timestamp {ts} ({_iso(ts)}) is off the stream's {bar_seconds} s grid: "
            f"{delta} s after the open bar {open_ts} ({_iso(open_ts)}), not a whole number of bars"
        )
    missing = delta // bar_seconds - 1
    if max_gap_bars is not None and missing > max_gap_bars:
        raise ValueError(
            f"candle refused: timestamp {ts} ({_iso(ts)}) leaves {missing} missing bars after the open bar "
            f"{open_ts} ({_iso(open_ts)}), more than StreamingConfig.max_gap_bars={max_gap_bars}; "
            "reset() and warm up again after an outage that long"
        )
