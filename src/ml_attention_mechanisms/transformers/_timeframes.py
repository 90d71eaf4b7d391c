"""Timeframe strings and causal pooling of a bar series into coarser timeframes.

A timeframe is ``<count><unit>`` with unit ``s``, ``m`` (minutes), ``h``, ``d`` or ``w`` (``"1m"``,
``"15m"``, ``"4h"``, ``"1d"``). Coarser timeframes are built from the base bars by a **trailing causal
mean**: the ``4h`` view at bar ``t`` on ``1m`` bars is the mean of bars ``t-239 .. t`` (present bars only).
When the window holds fewer bars than the ratio (the first bars of a sequence, or a ``1d`` view of a
256-bar window) the mean is over what the window holds. Timestamps are not used to guess the interval.

Shapes:
    ``B`` batch, ``T`` bars, ``d`` width.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor

__all__ = ["TIMEFRAME_UNITS", "causal_trailing_mean", "parse_timeframe", "timeframe_ratio"]

TIMEFRAME_UNITS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_PATTERN = re.compile(r"^([1-9][0-9]*)([smhdw])$")


def parse_timeframe(timeframe: str) -> int:
    """Seconds in a timeframe string.

    Raises:
        ValueError: not ``<positive int><s|m|h|d|w>``.

    Examples:
        >>> parse_timeframe("15m"), parse_timeframe("4h"), parse_timeframe("1d")
        (900, 14400, 86400)
    """
    match = _PATTERN.match(timeframe) if isinstance(timeframe, str) else None
    if match is None:
        raise ValueError(
            f"timeframe {timeframe!r}: expected <positive int><unit> with unit in "
            f"{', '.join(TIMEFRAME_UNITS)} (e.g. '1m', '15m', '4h', '1d')"
        )
    return int(match.group(1)) * TIMEFRAME_UNITS[match.group(2)]


def timeframe_ratio(timeframe: str, base: str) -> int:
    """How many ``base`` bars make one ``timeframe`` bar.

    Raises:
        ValueError: ``timeframe`` is finer than ``base`` or not a whole multiple of it.
    """
    tf, bs = parse_timeframe(timeframe), parse_timeframe(base)
    if tf < bs or tf % bs != 0:
        raise ValueError(
            f"timeframe {timeframe!r} must be a whole multiple of the base timeframe {base!r} (not finer)"
        )
    return tf // bs


def causal_trailing_mean(x: Tensor, ratio: int, present: Tensor | None = None) -> Tensor:
    """Mean of the last ``ratio`` bars (``t-ratio+1 .. t``) at every bar, over present bars only.

    Computed with prefix sums in float64 (exact enough for any window, and independent of later bars: the
    prefix at ``t`` reads only bars ``<= t``). A bar whose window holds no present bar gets zeros.

    Args:
        x: ``[B, T, d]``.
        ratio: window in bars (>= 1).
        present: bool ``[B, T]``, True = the bar exists. Default: all present.

    Returns:
        ``[B, T, d]`` in ``x``'s dtype.
    """
    if ratio == 1 and present is None:
        return x
    m = torch.ones_like(x[..., :1]) if present is None else present.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    xs = torch.where(m > 0, x, torch.zeros_like(x)).double()  # missing bars never enter (even NaN ones)
    csum = torch.nn.functional.pad(
        xs.cumsum(dim=1), (0, 0, 1, 0)
    )  # (B, T+1, d), csum[:, i] = sum of bars < i
    ccnt = torch.nn.functional.pad(m.double().cumsum(dim=1), (0, 0, 1, 0))  # (B, T+1, 1)
    t = x.shape[1]
    hi = torch.arange(1, t + 1, device=x.device)
    lo = (hi - ratio).clamp(min=0)
    total = csum[:, hi] - csum[:, lo]
    count = ccnt[:, hi] - ccnt[:, lo]
    return (total / count.clamp(min=1.0)).to(x.dtype)
