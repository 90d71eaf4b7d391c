"""UTC calendar, trading sessions and crypto cycles in integer torch arithmetic.

Everything here takes int64 Unix seconds and uses only integer ``+ - *``, floor modulo, comparisons and
exact floor division (:func:`~._time.floor_div`, which survives ONNX export), so that it runs identically
in eager mode, ``torch.export`` / ONNX (tested against eager at DST, midnight, funding and halving
boundaries) and streaming; no pandas or ``datetime`` is involved (the tests check it against ``datetime``
and ``zoneinfo``). TorchScript scripting is not supported (the module uses plain Python helpers).

Civil dates follow H. Hinnant's ``days_from_civil`` / ``civil_from_days`` algorithms
(http://howardhinnant.github.io/date_algorithms.html), proleptic Gregorian, valid for any Unix time.

Sessions (FX convention, each in its own time zone, Monday to Friday local; hours are local):

========  ==================  ==========================  ============================================
session   local hours         time zone and DST rule      UTC hours
========  ==================  ==========================  ============================================
Asia      09:00-18:00 (Tokyo)  JST = UTC+9, no DST         00:00-09:00
Europe    08:00-17:00 (London) GMT; BST = UTC+1 from the   08:00-17:00 in winter, 07:00-16:00 in summer
                               last Sunday of March 01:00
                               UTC to the last Sunday of
                               October 01:00 UTC (EU rule)
US        08:00-17:00 (New     EST = UTC-5; EDT = UTC-4    13:00-22:00 in winter, 12:00-21:00 in summer
          York)                from the second Sunday of
                               March 07:00 UTC to the
                               first Sunday of November
                               06:00 UTC (US rule since
                               2007; applied to all years)
========  ==================  ==========================  ============================================

Overlaps are the products of two session flags (Asia-Europe, Europe-US). ``weekend`` is Saturday or
Sunday in UTC (crypto trades through it; traditional markets do not).

Crypto cycles: the perpetual-futures funding clock ticks at 00:00, 08:00 and 16:00 UTC. The halving phase
runs from 0 at one Bitcoin halving to 1 at the next; halvings are taken at 00:00 UTC of their dates
(2012-11-28, 2016-07-09, 2020-05-11, 2024-04-20; the blocks were mined later that day, so the phase is
early by under one day out of ~1400). Before the first halving the phase runs from the genesis block
(2009-01-03); after the last one, cycles are extrapolated with the length of the last observed cycle
(1440 days: the next phase 0 falls on 2028-03-30), and before genesis with the first cycle's length.

Shapes:
    Inputs are int64 seconds of any shape ``S``; outputs have shape ``S`` (or ``S + [F]`` for stacks).
"""

from __future__ import annotations

import calendar as _pycal
import itertools
import math

import torch
from torch import Tensor

from ._time import floor_div

__all__ = [
    "FUNDING_PERIOD_SECONDS",
    "HALVING_DATES",
    "SECONDS_PER_DAY",
    "calendar_fields",
    "civil_from_days",
    "days_from_civil",
    "eu_summer_time",
    "funding_phase",
    "halving_phase",
    "session_flags",
    "us_summer_time",
    "weekday",
]

SECONDS_PER_DAY = 86_400
FUNDING_PERIOD_SECONDS = 8 * 3600
HALVING_DATES = ("2012-11-28", "2016-07-09", "2020-05-11", "2024-04-20")
GENESIS_DATE = "2009-01-03"


def _date_seconds(date: str) -> int:
    # Module constants only (never in forward): 00:00 UTC of an ISO date, via the stdlib's timegm.
    y, m, d = (int(p) for p in date.split("-"))
    return _pycal.timegm((y, m, d, 0, 0, 0, 0, 0, 0))


_ANCHORS = tuple(_date_seconds(d) for d in (GENESIS_DATE, *HALVING_DATES))  # genesis + halvings


_fdiv = floor_div  # exact floor division, also in exported ONNX graphs (see _time.floor_div)


def days_from_civil(year: Tensor, month: Tensor, day: Tensor) -> Tensor:
    """Days since 1970-01-01 of the proleptic Gregorian date (int64 tensors, broadcasting)."""
    y = year - (month <= 2).to(torch.int64)
    era = _fdiv(y, 400)
    yoe = y - era * 400  # [0, 399]
    mp = torch.where(month > 2, month - 3, month + 9)  # March = 0
    doy = _fdiv(153 * mp + 2, 5) + day - 1  # [0, 365]
    doe = yoe * 365 + _fdiv(yoe, 4) - _fdiv(yoe, 100) + doy  # [0, 146096]
    return era * 146_097 + doe - 719_468


def civil_from_days(days: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(year, month 1-12, day 1-31)`` of ``days`` since 1970-01-01 (int64)."""
    z = days + 719_468
    era = _fdiv(z, 146_097)
    doe = z - era * 146_097  # [0, 146096]
    yoe = _fdiv(doe - _fdiv(doe, 1460) + _fdiv(doe, 36_524) - _fdiv(doe, 146_096), 365)  # [0, 399]
    doy = doe - (365 * yoe + _fdiv(yoe, 4) - _fdiv(yoe, 100))  # [0, 365]
    mp = _fdiv(5 * doy + 2, 153)  # [0, 11], March = 0
    day = doy - _fdiv(153 * mp + 2, 5) + 1
    month = torch.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2).to(torch.int64)
    return year, month, day


def weekday(days: Tensor) -> Tensor:
    """Day of week of ``days`` since 1970-01-01, Monday = 0 ... Sunday = 6 (1970-01-01 was a Thursday)."""
    return torch.remainder(days + 3, 7)


def calendar_fields(seconds: Tensor) -> dict[str, Tensor]:
    """UTC calendar fields of int64 Unix ``seconds`` (all int64, same shape).

    Keys: ``minute`` 0-59, ``hour`` 0-23, ``weekday`` 0-6 (Monday = 0), ``day`` 1-31, ``month`` 1-12,
    ``year``, ``days_in_month`` 28-31, ``days`` since 1970-01-01.
    """
    days = _fdiv(seconds, SECONDS_PER_DAY)
    sod = seconds - days * SECONDS_PER_DAY
    year, month, day = civil_from_days(days)
    next_first = days_from_civil(
        year + (month == 12).to(torch.int64), torch.remainder(month, 12) + 1, torch.ones_like(month)
    )
    this_first = days - (day - 1)
    return {
        "minute": torch.remainder(_fdiv(sod, 60), 60),
        "hour": _fdiv(sod, 3600),
        "weekday": weekday(days),
        "day": day,
        "month": month,
        "year": year,
        "days_in_month": next_first - this_first,
        "days": days,
    }


def _sunday_on_or_before(days: Tensor) -> Tensor:
    return days - torch.remainder(weekday(days) + 1, 7)  # Sunday = weekday 6


def _march_first(year: Tensor) -> Tensor:
    # Days since 1970 of March 1 of `year`; the DST rules' other dates are fixed offsets from it.
    return days_from_civil(year, torch.full_like(year, 3), torch.ones_like(year))


_APRIL_1, _NOVEMBER_1 = 31, 245  # days after March 1 (Mar 31 + Apr 30 + ... + Oct 31 = 245)


def _summer_time(seconds: Tensor, year: Tensor) -> tuple[Tensor, Tensor]:
    mar1 = _march_first(year)
    # EU: last Sunday of March and of October, 01:00 UTC.
    eu_start = _sunday_on_or_before(mar1 + _APRIL_1 - 1) * SECONDS_PER_DAY + 3600
    eu_end = _sunday_on_or_before(mar1 + _NOVEMBER_1 - 1) * SECONDS_PER_DAY + 3600
    # US: second Sunday of March 02:00 EST (07:00 UTC), first Sunday of November 02:00 EDT (06:00 UTC).
    us_start = _sunday_on_or_before(mar1 + 13) * SECONDS_PER_DAY + 7 * 3600
    us_end = _sunday_on_or_before(mar1 + _NOVEMBER_1 + 6) * SECONDS_PER_DAY + 6 * 3600
    eu = (seconds >= eu_start) & (seconds < eu_end)
    us = (seconds >= us_start) & (seconds < us_end)
    return eu, us


def _utc_year(seconds: Tensor) -> Tensor:
    return civil_from_days(_fdiv(seconds, SECONDS_PER_DAY))[0]


def eu_summer_time(seconds: Tensor) -> Tensor:
    """True where EU summer time is in force (last Sunday of March to last Sunday of October, 01:00 UTC)."""
    return _summer_time(seconds, _utc_year(seconds))[0]


def us_summer_time(seconds: Tensor) -> Tensor:
    """True where US daylight time is in force (2nd Sunday of March 07:00 UTC to 1st Sunday of Nov 06:00 UTC)."""
    return _summer_time(seconds, _utc_year(seconds))[1]


def _open(local: Tensor, open_hour: int, close_hour: int) -> Tensor:
    # Open Monday-Friday in local time, open_hour <= local hour < close_hour.
    days = _fdiv(local, SECONDS_PER_DAY)
    sod = local - days * SECONDS_PER_DAY
    return (weekday(days) < 5) & (sod >= open_hour * 3600) & (sod < close_hour * 3600)


SESSION_NAMES = ("asia", "europe", "us", "asia_europe", "europe_us", "weekend")


def session_flags(seconds: Tensor, year: Tensor | None = None) -> Tensor:
    """Session flags ``S + [6]`` (0/1 float32) in the order of ``SESSION_NAMES`` (see the module table).

    ``year`` (the UTC year of ``seconds``) may be passed when already computed.
    """
    eu_summer, us_summer = _summer_time(seconds, _utc_year(seconds) if year is None else year)
    asia = _open(seconds + 9 * 3600, 9, 18)
    london = seconds + eu_summer.to(torch.int64) * 3600
    europe = _open(london, 8, 17)
    new_york = seconds - 5 * 3600 + us_summer.to(torch.int64) * 3600
    us = _open(new_york, 8, 17)
    weekend = weekday(_fdiv(seconds, SECONDS_PER_DAY)) >= 5
    flags = (asia, europe, us, asia & europe, europe & us, weekend)
    return torch.stack([f.to(torch.float32) for f in flags], dim=-1)


def funding_phase(seconds: Tensor) -> Tensor:
    """Position in the 8-hour funding cycle, float32 in ``[0, 1)``; 0 at 00:00, 08:00, 16:00 UTC."""
    return torch.remainder(seconds, FUNDING_PERIOD_SECONDS).to(torch.float32) / FUNDING_PERIOD_SECONDS


def halving_phase(seconds: Tensor) -> Tensor:
    """Phase of the Bitcoin halving cycle, float32 in ``[0, 1)`` (see the module doc for extrapolation)."""
    first_len = _ANCHORS[1] - _ANCHORS[0]
    last_len = _ANCHORS[-1] - _ANCHORS[-2]
    # Between two known anchors: start = the latest anchor <= t, length = next anchor - start.
    start = torch.full_like(seconds, _ANCHORS[0] - first_len)
    length = torch.full_like(seconds, first_len)
    for a, b in itertools.pairwise(_ANCHORS):
        inside = seconds >= a
        start = torch.where(inside, torch.full_like(seconds, a), start)
        length = torch.where(inside, torch.full_like(seconds, b - a), length)
    # Before genesis: cycles of the first length counted back from genesis.
    before = seconds < _ANCHORS[0]
    back_start = _ANCHORS[0] + _fdiv(seconds - _ANCHORS[0], first_len) * first_len
    start = torch.where(before, back_start, start)
    # After the last halving: cycles of the last observed length.
    after = seconds >= _ANCHORS[-1]
    fwd_start = _ANCHORS[-1] + _fdiv(seconds - _ANCHORS[-1], last_len) * last_len
    start = torch.where(after, fwd_start, start)
    length = torch.where(after, torch.full_like(seconds, last_len), length)
    return (seconds - start).to(torch.float64).div(length.to(torch.float64)).to(torch.float32)


def cyclical(phase: Tensor) -> tuple[Tensor, Tensor]:
    """``(sin, cos)`` of ``2π·phase``."""
    angle = phase * (2.0 * math.pi)
    return torch.sin(angle), torch.cos(angle)
