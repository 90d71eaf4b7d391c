"""Row timestamps from the most reliable source in each row: an intact unix value over a date string.

- Unix values in seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude) are exact.
- A unix value a spreadsheet wrote in scientific notation with too few digits (``1.62E+12``: the time to
  within ~116 days) is *damaged*: the row's time comes from its date (and time) columns, checked to lie
  within one unit of the damaged value's last digit. So is the same value read back and written as a plain
  number (``1620000000000.0``: four significant digits or fewer, and repeated on other rows) where the row
  has a date column; without one it is taken as it is.
- Date strings are read in the formats CryptoDataDownload has used (``2021-06-10 00:00:00``,
  ``2017-08-17 04-AM``, ``10-06-21`` + ``00:00:00``, ``2017-08-17``) and ISO 8601, as UTC.
- Where both are present the unix value wins; rows whose date column disagrees (a local clock, a 12-hour
  clock that lost its AM/PM) are counted, not used.
- A date written without a zone is UTC unless a ``timezone`` is given (:func:`parse_timezone`: an IANA
  name or a fixed offset): then it is that zone's wall-clock time, converted to UTC. A date with its own
  offset (``+08:00``, ``Z``, ``UTC``) and a unix value are exact whatever ``timezone`` says. Across a
  daylight-saving change, a local hour written twice is told apart by the rows' order; an hour that
  cannot be placed (written once where it occurs twice, or one the clocks skipped) is an invalid row.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .._import_guard import needs_extra

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TimestampResult", "parse_timezone", "resolve_timestamps"]

_SCI_RE = re.compile(r"^[+-]?(\d+)(?:\.(\d*))?[eE]([+-]?\d+)$")
_FORMATS: dict[str, str] = {
    "9999-99-99 99:99:99": "%Y-%m-%d %H:%M:%S",
    "9999-99-99 99:99": "%Y-%m-%d %H:%M",
    "9999-99-99 99-AM": "%Y-%m-%d %I-%p",
    "9999-99-99 99 AM": "%Y-%m-%d %I %p",
    "9999-99-99 99:99:99 AM": "%Y-%m-%d %I:%M:%S %p",
    "9999-99-99 99:99 AM": "%Y-%m-%d %I:%M %p",
    "9999-99-99": "%Y-%m-%d",
    "9999/99/99 99:99:99": "%Y/%m/%d %H:%M:%S",
    "9999/99/99 99:99": "%Y/%m/%d %H:%M",
    "9999/99/99": "%Y/%m/%d",
    "99999999": "%Y%m%d",
}
# day and month as 1 or 2 digits, then a 2- or 4-digit year: which comes first is decided by the whole file
_AMBIGUOUS_DATE = re.compile(r"(9{1,2})([-/.])(9{1,2})\2(9999|99)((?: .*)?)")
_AMBIGUOUS_TIMES = {
    "": "",
    r" 9{1,2}:99:99": " %H:%M:%S",
    r" 9{1,2}:99": " %H:%M",
    r" 9{1,2}-AM": " %I-%p",
    r" 9{1,2}:99:99 AM": " %I:%M:%S %p",
    r" 9{1,2}:99 AM": " %I:%M %p",
}
_EARLIEST, _LATEST = (
    631_152_000,
    4_102_444_800,
)  # 1990-01-01, 2100-01-01: anything else is a unit or parse error
_UNIT_LIMITS = ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3))  # value >= limit -> divide by
# a date string that carries its own zone: an offset, Z or a named UTC after the clock time
_ZONED = r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?|UTC|GMT|utc|gmt)$"
_OFFSET = re.compile(r"(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?", re.IGNORECASE)


@dataclass
class TimestampResult:
    seconds: np.ndarray  # int64 [rows]; undefined where invalid
    invalid: dict[int, tuple[str, str]] = field(default_factory=dict)  # row -> (canonical column, reason)
    from_date: int = 0  # rows whose damaged or missing unix value was replaced by the date column's time
    disagreements: int = 0
    warnings: list[str] = field(default_factory=list)
    unix_key: str | None = None  # the canonical column holding unix times, if any
    date_key: str | None = None  # the canonical column holding date strings, if any
    naive_rows: int = 0  # rows whose time was written without a zone (read in the given zone, else UTC)


def parse_timezone(text: str) -> dt.tzinfo:
    """The zone named by a ``timezone`` argument.

    Args:
        text: an IANA name (``"Asia/Shanghai"``, ``"America/New_York"``), a fixed offset from UTC
            (``"UTC+8"``, ``"+08:00"``, ``"-0530"``, ``"GMT-3"``) or ``"UTC"``.

    Raises:
        ValueError: ``text`` names no zone (the message quotes it and shows the accepted forms).
    """
    import zoneinfo

    name = str(text).strip()
    if name.upper() in ("UTC", "GMT", "Z"):
        return dt.timezone.utc
    m = _OFFSET.fullmatch(name)
    if m is not None:
        sign, hours, minutes = m.group(1), int(m.group(2)), int(m.group(3) or 0)
        if minutes < 60 and (hours, minutes) <= (14, 0):
            delta = dt.timedelta(hours=hours, minutes=minutes)
            return dt.timezone(-delta if sign == "-" else delta)
    else:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    raise ValueError(
        f"timezone={text!r}: not a time zone (expected an IANA name such as 'Asia/Shanghai', or an offset "
        "from UTC such as 'UTC+8' or '+05:30', at most 14 hours)"
    )


def _zoned(strings: np.ndarray) -> np.ndarray:
    """bool [rows]: the date strings that carry their own zone (``+08:00``, ``Z``, ``UTC`` after the time)."""
    with needs_extra("data"):
        import pandas as pd

    return (
        pd.Series(strings, dtype=object).astype(str).str.strip().str.contains(_ZONED, regex=True).to_numpy()
    )


def _localize(wall: np.ndarray, zone: dt.tzinfo) -> tuple[np.ndarray, np.ndarray]:
    """UTC seconds of wall-clock times in ``zone``, and which of them could not be placed.

    Args:
        wall: float [rows], the wall-clock times as if they were UTC seconds (NaN: no time), in file order.
        zone: the zone they were written in.

    Returns:
        ``(seconds, unplaced)``: float [rows] (NaN where ``wall`` is NaN or unplaced) and bool [rows]: a
        time the clocks skipped, or one written once where it occurs twice (a daylight-saving change). A
        time written twice is placed by the rows' order (earlier first, whichever way the file runs).
    """
    with needs_extra("data"):
        import pandas as pd

    out = np.full(wall.shape, np.nan)
    rows = np.flatnonzero(np.isfinite(wall))
    if not rows.size:
        return out, np.zeros(wall.shape, dtype=bool)
    descending = rows.size > 1 and np.median(np.diff(wall[rows])) < 0  # a newest-first file
    # ascending time; a time written twice in the order it happened
    order = rows[np.lexsort(((-rows if descending else rows), wall[rows]))]
    times = pd.DatetimeIndex(pd.to_datetime(wall[order].astype(np.int64), unit="s"))
    try:
        local = times.tz_localize(zone, ambiguous="infer", nonexistent="NaT")
    except ValueError:  # a repeated hour written once: it cannot be placed
        local = times.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    placed = ~local.isna()
    out[order[placed]] = _to_seconds(pd.Series(local[placed]))
    unplaced = np.zeros(wall.shape, dtype=bool)
    unplaced[order[~placed]] = True
    return out, unplaced


def _unit_divisor(values: np.ndarray) -> np.ndarray:
    div = np.ones_like(values)
    for limit, d in reversed(_UNIT_LIMITS):
        div = np.where(np.abs(values) >= limit, d, div)
    return div


def _pattern(text: str) -> str:
    key = re.sub(r"\d", "9", text)
    return key.replace("PM", "AM").replace("pm", "AM").replace("am", "AM")


def _day_first(series: pd.Series) -> bool | None:
    """Whether the file's ``D-M-Y``/``M/D/Y`` dates are day-first; ``None`` where every date fits both."""
    parts = series.str.extract(r"^(\d{1,2})[-/.](\d{1,2})[-/.](?:\d{2}|\d{4})(?:\s|$)").dropna()
    first, second = parts[0].astype(int), parts[1].astype(int)
    if parts.empty or (first > 12).any():
        return True
    return False if (second > 12).any() else None


def _ambiguous_format(pat: str, day_first: bool) -> str | None:
    m = _AMBIGUOUS_DATE.fullmatch(pat)
    if m is None:
        return None
    sep, year = m.group(2), "%y" if len(m.group(4)) == 2 else "%Y"
    clock = next((f for p, f in _AMBIGUOUS_TIMES.items() if re.fullmatch(p, m.group(5))), None)
    if clock is None:
        return None
    return (f"%d{sep}%m{sep}{year}" if day_first else f"%m{sep}%d{sep}{year}") + clock


def _parse_dates(strings: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Seconds (float, NaN where unparseable) and warnings, for date strings (object array).

    Where every ``D/M/Y`` date also reads as ``M/D/Y``, the reading with the shorter span wins (consecutive
    bars span hours or days, the wrong reading months) and a warning says so.
    """
    with needs_extra("data"):
        import pandas as pd

    # a named UTC zone after the time ("2021-06-10 00:00:00 UTC") says what the loader assumes anyway
    series = (
        pd.Series(strings, dtype=object).astype(str).str.strip().str.replace(r"\s+(UTC|GMT)$", "", regex=True)
    )
    patterns = series.map(_pattern)
    day_first = _day_first(series)
    if day_first is not None:
        return _parse_with(series, patterns, day_first), []
    by_day, by_month = _parse_with(series, patterns, True), _parse_with(series, patterns, False)
    spans = [np.nanmax(x) - np.nanmin(x) if np.isfinite(x).any() else np.inf for x in (by_day, by_month)]
    chosen = "month-first" if spans[1] < spans[0] else "day-first"
    example = series[series.str.match(r"\d{1,2}[-/.]\d{1,2}[-/.]")].iloc[0]
    warning = (
        f"dates like {example!r} are ambiguous (day and month both <= 12); read as {chosen}, whose span is "
        f"shorter ({min(spans) / 86400:.3g} days against {max(spans) / 86400:.3g})"
    )
    return (by_month if chosen == "month-first" else by_day), [warning]


def _parse_with(series: pd.Series, patterns: pd.Series, day_first: bool) -> np.ndarray:
    with needs_extra("data"):
        import pandas as pd

    out = np.full(series.size, np.nan)
    for pat in patterns.unique():
        idx = np.flatnonzero((patterns == pat).to_numpy())
        values = series.iloc[idx]
        fmt = _FORMATS.get(pat) or _ambiguous_format(pat, day_first)
        if fmt is not None:
            parsed = pd.to_datetime(values, format=fmt, utc=True, errors="coerce")
        else:
            parsed = pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce")
        ok = parsed.notna().to_numpy()
        out[idx[ok]] = _to_seconds(parsed[ok])
    return out


def _in_zone(seconds: np.ndarray, naive: np.ndarray, zone: dt.tzinfo) -> tuple[np.ndarray, np.ndarray]:
    """``seconds`` with its ``naive`` rows (wall-clock times read as UTC) read as ``zone``'s instead, and
    the rows that could not be placed (NaN in the result; see :func:`_localize`)."""
    out = seconds.copy()
    wall = np.where(naive, seconds, np.nan)
    placed, unplaced = _localize(wall, zone)
    out[naive] = placed[naive]
    return out, unplaced


def _unplaced(value: object, zone: dt.tzinfo) -> str:
    """Why a wall-clock time has no single UTC time in ``zone``."""
    return (
        f"{str(value)!r} is not one time in {zone} (a daylight-saving change skips it, or repeats it where the "
        "file writes it once); expected a time the zone's clocks showed once"
    )


def _datetime_seconds(raw: np.ndarray) -> tuple[np.ndarray, bool]:
    """float UTC seconds [rows] of a column of datetime values (naive ones read as UTC), and whether they
    were naive (written without a zone)."""
    with needs_extra("data"):
        import pandas as pd

    series = pd.Series(raw)
    naive = not isinstance(series.dtype, pd.DatetimeTZDtype) and all(
        getattr(v, "tzinfo", None) is None for v in series.iloc[:1]
    )
    return _to_seconds(pd.to_datetime(series, utc=True)).astype(np.float64), naive


def resolve_timestamps(columns: dict[str, np.ndarray], zone: dt.tzinfo | None = None) -> TimestampResult:
    """Row timestamps in Unix seconds from a raw table's ``unix``/``timestamp``/``date``/``time`` columns;
    dates written without a zone are ``zone``'s wall-clock times (``None``: UTC)."""
    with needs_extra("data"):
        import pandas as pd

    n = next(iter(columns.values())).size
    unix_key = "unix" if "unix" in columns else None
    date_key = "date" if "date" in columns else None
    time_key: str | None = None
    if unix_key is not None and date_key is None and not _datetime_like(columns[unix_key]):
        if not any(_is_number(s) for s in _sample(columns[unix_key])):  # open_time holding date strings
            unix_key, date_key = None, unix_key
    if date_key is not None and unix_key is None and _all_unix(_sample(columns[date_key])):
        unix_key, date_key = date_key, None  # a "Date" column holding unix times
    for key in ("timestamp", "time"):
        if key not in columns:
            continue
        sample = _sample(columns[key])
        if unix_key is None and _all_unix(sample):
            unix_key = key
        elif date_key is None and not all(re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", s) for s in sample):
            date_key = key
        elif key == "time" and date_key == "date":
            time_key = key
    if unix_key is None and date_key is None:
        raise KeyError("timestamp")
    result = TimestampResult(seconds=np.zeros(n, dtype=np.int64), unix_key=unix_key, date_key=date_key)
    need_date = np.ones(n, dtype=bool)
    unix_seconds = np.full(n, np.nan)
    damaged_value = np.full(n, np.nan)
    damaged_res = np.full(n, np.nan)
    naive_unix = np.zeros(n, dtype=bool)  # datetime values without a zone in the unix column (Parquet)
    if unix_key is not None:
        raw = columns[unix_key]
        if _datetime_like(raw):
            unix_seconds, naive = _datetime_seconds(raw)
            naive_unix[:] = naive
            need_date[:] = False
        else:
            text = pd.Series(raw, dtype=object).astype(str).str.strip()
            values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
            div = _unit_divisor(values)
            unix_seconds = np.round(values / div)
            fraction = np.flatnonzero(np.abs(values / div - unix_seconds) > 1e-3)
            if fraction.size:
                result.warnings.append(
                    f"{fraction.size} unix times have fractions of a second (e.g. {text.iloc[fraction[0]]!r}); "
                    "rounded to the second"
                )
            sci = text.str.extract(_SCI_RE.pattern)
            is_sci = sci[2].notna().to_numpy()
            if is_sci.any():
                frac_len = sci.loc[is_sci, 1].fillna("").str.len().to_numpy()
                exp = sci.loc[is_sci, 2].astype(int).to_numpy()
                res = 10.0 ** (exp - frac_len) / div[is_sci]
                bad = res > 1.0
                rows = np.flatnonzero(is_sci)[bad]
                damaged_value[rows] = values[rows] / div[rows]
                damaged_res[rows] = res[bad]
                unix_seconds[rows] = np.nan
            if date_key is not None:  # the same damage after a float round trip: 1620000000000.0
                digits, zeros = _decimal_shape(values)
                coarse = np.flatnonzero(~is_sci & np.isfinite(unix_seconds) & (digits <= 4))
                coarse = coarse[_repeated(values[coarse])]  # (a coarse value's repeats are coarse too)
                damaged_value[coarse] = values[coarse] / div[coarse]
                damaged_res[coarse] = 10.0 ** zeros[coarse] / div[coarse]
                unix_seconds[coarse] = np.nan
            need_date = ~np.isfinite(unix_seconds)
            unparseable = (
                need_date & np.isnan(values) & ~text.str.lower().isin(["", "nan", "null", "none"]).to_numpy()
            )
            if date_key is None:
                for r in np.flatnonzero(need_date):
                    why = (
                        f"damaged unix value {text.iloc[r]!r} (scientific notation, time known only to within "
                        f"{damaged_res[r]:.3g} s) and no date column to recover it"
                        if np.isfinite(damaged_value[r])
                        else "missing value (expected a unix timestamp)"
                        if text.iloc[r].lower() in ("", "nan", "null", "none")
                        else f"{text.iloc[r]!r} is not a unix timestamp (expected seconds or milliseconds)"
                    )
                    result.invalid[int(r)] = (unix_key, why)
            else:
                for r in np.flatnonzero(unparseable):
                    result.invalid[int(r)] = (
                        unix_key,
                        f"{text.iloc[r]!r} is not a unix timestamp (expected a number)",
                    )
    if zone is not None and naive_unix.any():
        unix_seconds, unplaced = _in_zone(unix_seconds, naive_unix, zone)
        for r in np.flatnonzero(unplaced):
            result.invalid[int(r)] = (str(unix_key), _unplaced(columns[str(unix_key)][r], zone))
    date_seconds = np.full(n, np.nan)
    naive_date = np.zeros(n, dtype=bool)  # dates written without a zone
    if date_key is not None:
        strings = columns[date_key].astype(str)
        if time_key is not None:
            strings = np.char.add(
                np.char.add(strings.astype(str), " "), columns[time_key].astype(str)
            ).astype(object)
        if strings.size and isinstance(columns[date_key][0], (pd.Timestamp, np.datetime64)):
            date_seconds, naive = _datetime_seconds(columns[date_key])
            naive_date[:] = naive
        else:
            date_seconds, warns = _parse_dates(strings)
            result.warnings += warns
            naive_date = ~_zoned(strings)
        if zone is not None:
            date_seconds, unplaced = _in_zone(date_seconds, naive_date, zone)
            for r in np.flatnonzero(need_date & unplaced):
                result.invalid.setdefault(int(r), (date_key, _unplaced(strings[r], zone)))
        for r in np.flatnonzero(need_date & np.isnan(date_seconds)):
            if int(r) not in result.invalid:
                result.invalid[int(r)] = (
                    date_key,
                    f"{str(strings[r])!r} is not a recognised date (expected e.g. 2021-06-10 00:00:00)",
                )
        # a damaged unix value still bounds the time: the date must agree with it to its last digit
        check = np.isfinite(damaged_value) & np.isfinite(date_seconds)
        for r in np.flatnonzero(check & (np.abs(date_seconds - damaged_value) > damaged_res)):
            result.invalid[int(r)] = (
                date_key,
                f"{str(strings[r])!r} disagrees with the row's damaged unix value {columns[unix_key][r]!r}"  # type: ignore[index]
                " (expected the same time)",
            )
        both = ~need_date & np.isfinite(date_seconds)
        result.disagreements = int(np.count_nonzero(both & (date_seconds != unix_seconds)))
        from_date = need_date & np.isfinite(date_seconds)
        n_from_date = int(np.count_nonzero(from_date))
        # without a unix column every time comes from the date: nothing was recovered from it
        result.from_date = n_from_date if unix_key is not None else 0
        if n_from_date >= 48:
            hours = (date_seconds[from_date].astype(np.int64) % 86400) // 3600
            if hours.max() <= 12 and len(np.unique(hours)) > 2:
                result.warnings.append(
                    f"{n_from_date} rows take their time from the date column, whose hours never exceed "
                    "12: a 12-hour clock without AM/PM? Check those rows"
                )
    chosen = np.where(need_date, date_seconds, unix_seconds)
    ok = np.isfinite(chosen)
    implausible = ok & ((chosen < _EARLIEST) | (chosen > _LATEST))
    for r in np.flatnonzero(implausible):
        col = str(date_key if need_date[r] else unix_key)
        why = f"{str(columns[col][r])!r} is outside 1990..2100 (expected a market-data time)"
        result.invalid.setdefault(int(r), (col, why))
    ok &= ~implausible
    result.seconds[ok] = chosen[ok].astype(np.int64)
    result.naive_rows = int(np.count_nonzero(ok & np.where(need_date, naive_date, naive_unix)))
    for r in np.flatnonzero(~ok):
        result.invalid.setdefault(int(r), (unix_key or date_key or "timestamp", "missing timestamp"))  # type: ignore[arg-type]
    return result


def _decimal_shape(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(significant digits, trailing zeros)`` of integer values (``1620000000000.0`` -> 3, 10); ``(99, 0)``
    for others, so that only a unix value written with few digits (a spreadsheet's ``1.62E+12`` read back as
    a number) counts as coarse. An intact hourly unix time has five or more (``1605855600`` -> 8)."""
    whole = np.isfinite(values) & (values > 0) & (values == np.floor(values)) & (values < 2.0**53)
    x = np.where(whole, values, 1.0)
    zeros = np.zeros(values.shape, dtype=np.int64)
    for k in range(1, 19):
        zeros[whole & (np.fmod(x, 10.0**k) == 0)] = k
    digits = np.floor(np.log10(x)).astype(np.int64) + 1
    return np.where(whole, digits - zeros, 99), zeros


def _repeated(values: np.ndarray) -> np.ndarray:
    """bool: the value occurs more than once among ``values`` (a rounded unix value stands for many rows; an
    intact one with few digits, ``1566000000``, is one row's)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return np.asarray(counts[inverse.ravel()] > 1)


def _to_seconds(parsed: object) -> np.ndarray:
    """int64 Unix seconds of a tz-aware datetime Series (any resolution)."""
    return parsed.dt.tz_convert(None).to_numpy().astype("datetime64[s]").astype(np.int64)  # type: ignore[attr-defined]


def _sample(raw: np.ndarray) -> list[str]:
    """Up to 50 non-empty cells, as stripped strings."""
    return [t for t in (str(v).strip() for v in raw[:200]) if t and t.lower() not in ("nan", "null", "none")][
        :50
    ]


def _all_unix(sample: list[str]) -> bool:
    """Every cell a number, and none an 8-digit ``YYYYMMDD`` date (unix seconds since 1990 have 9+ digits)."""
    return bool(sample) and all(_is_number(s) and not re.fullmatch(r"\d{8}", s) for s in sample)


def _datetime_like(raw: np.ndarray) -> bool:
    with needs_extra("data"):
        import pandas as pd

    return bool(raw.size) and (isinstance(raw[0], (pd.Timestamp, np.datetime64)) or hasattr(raw[0], "tzinfo"))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
