"""Timestamps as data: validation, unit detection and exact elapsed times.

Timestamps travel through the library as int64 Unix seconds ``[B, T]``. This module is
the one place that checks timestamp *tensors* and converts milliseconds: the encodings, attention and
transformer layers call :func:`to_unix_seconds` rather than writing their own (reading raw file columns
into seconds is the data loader's job, before tensors exist).

Unit detection (``unit="auto"``): seconds are accepted from 1970-01-01 to 2100-01-01
(``0 <= t <= MAX_UNIX_SECONDS``); a tensor whose largest value lies above that range and within the same
range in milliseconds is read as milliseconds. The rule is by magnitude of the whole tensor, never per
element, and the choice is logged (INFO, once per unit and argument name) and returned by :func:`detect_time_unit`. The one
ambiguity is millisecond data that lies entirely before 1970-02-17 (it looks like seconds); pass
``unit="ms"`` for such data.

Why int64 until the end: float32 has a spacing of 128 s at 1.6e9, so a 2021 timestamp in float32 cannot
tell two minute bars apart. Differences are taken in int64 (:func:`elapsed_seconds`) and only the small
difference is converted to float.

Shapes:
    ``B`` batch, ``T`` bars (or any shape when ``ndim=None``).
"""

from __future__ import annotations

import functools
import logging
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "MAX_UNIX_SECONDS",
    "detect_time_unit",
    "elapsed_seconds",
    "floor_div",
    "int_range",
    "to_unix_seconds",
]

logger = logging.getLogger(__name__)

MAX_UNIX_SECONDS = 4_102_444_800  # 2100-01-01 00:00:00 UTC: the last instant accepted as seconds
_MAX_UNIX_MS = MAX_UNIX_SECONDS * 1000

TimeUnit = Literal["auto", "s", "ms"]


def is_tracing() -> bool:
    """True under TorchScript, tracing, ``torch.compile`` or ``torch.export`` (eager checks step aside).

    The same test as ``attention._masks.is_tracing``, restated here because encodings sit below attention
    in the layering (importing ``attention`` from here would be circular).
    """
    if torch.jit.is_scripting() or torch.jit.is_tracing():
        return True
    return bool(torch.compiler.is_compiling())


def floor_div(a: Tensor, b: int) -> Tensor:
    """Exact ``a // b`` (floor) of an int64 tensor by a positive int, also after ONNX export.

    Why not ``torch.div(a, b, rounding_mode="floor")``: torch 2.13's dynamo ONNX exporter lowers integer
    division to a float32 ``Div`` (``Cast -> Div -> Floor -> Cast``), which is off by up to 128 s at 2021
    Unix times. Going through float64 explicitly is exact for ``|a| < 2**52``: the true quotient is at
    least ``1/b`` away from the next integer, far more than float64's rounding at these magnitudes.
    """
    return torch.floor(a.to(torch.float64) / b).to(torch.int64)


@functools.lru_cache(maxsize=4)
def _report_unit(unit: str, name: str) -> None:
    # Once per (unit, name) per process: "report which it chose" without flooding training logs.
    logger.info("%s: detected timestamp unit %r (by magnitude; pass unit= to force it)", name, unit)


def _check_dtype_and_shape(timestamps: Tensor, name: str, ndim: int | None) -> None:
    if not isinstance(timestamps, Tensor):
        raise ValueError(
            f"{name} must be a torch.Tensor of int64 Unix seconds, got {type(timestamps).__name__}"
        )
    if timestamps.dtype == torch.bool or timestamps.is_complex():
        raise ValueError(f"{name} has dtype {timestamps.dtype}; expected int64 Unix seconds")
    if timestamps.is_floating_point():
        if timestamps.dtype != torch.float64:
            raise ValueError(
                f"{name} has dtype {timestamps.dtype}, which cannot represent Unix seconds exactly "
                "(float32 spacing is 128 s at 1.6e9); pass int64 Unix seconds"
            )
        if torch.isnan(timestamps).any():
            raise ValueError(f"{name} contains NaN; expected int64 Unix seconds")
        if not torch.isfinite(timestamps).all():
            raise ValueError(f"{name} contains inf; expected int64 Unix seconds")
        if (timestamps != torch.round(timestamps)).any():
            raise ValueError(f"{name} (float64) has fractional values; expected whole Unix seconds or ms")
    if ndim is not None and timestamps.dim() != ndim:
        want = "[batch, seq_len]" if ndim == 2 else f"{ndim}-D"
        raise ValueError(f"{name} must be {want}, got shape {tuple(timestamps.shape)}")


def int_range(t: Tensor) -> tuple[int, int]:
    """``(min, max)`` of a non-empty integer tensor as Python ints, read with one device sync."""
    lo, hi = torch.stack(torch.aminmax(t)).tolist()
    return int(lo), int(hi)


def detect_time_unit(timestamps: Tensor, *, name: str = "timestamps") -> Literal["s", "ms"]:
    """Say whether ``timestamps`` are Unix seconds or milliseconds, by magnitude (see module doc).

    Raises:
        ValueError: negative values, values beyond 2100-01-01 in both units, or a mix of units
            (smallest value only valid as seconds, largest only as milliseconds).
    """
    if timestamps.numel() == 0:
        return "s"
    lo, hi = int_range(timestamps)
    return _unit_of_range(lo, hi, name)


def _unit_of_range(lo: int, hi: int, name: str) -> Literal["s", "ms"]:
    if lo < 0:
        raise ValueError(f"{name} contains a negative value ({lo}); expected Unix seconds >= 0 (1970-01-01)")
    if hi <= MAX_UNIX_SECONDS:
        return "s"
    if hi > _MAX_UNIX_MS:
        finer = (
            " (microseconds or nanoseconds, e.g. pandas' int64? convert to seconds)" if hi > 10**14 else ""
        )
        raise ValueError(
            f"{name} contains {hi}, beyond 2100-01-01 both as seconds (max {MAX_UNIX_SECONDS}) "
            f"and as milliseconds (max {_MAX_UNIX_MS}){finer}"
        )
    if lo <= MAX_UNIX_SECONDS:
        # Largest only valid as ms, smallest valid as seconds (as ms: before 1970-02-17): a mix of units.
        raise ValueError(
            f"{name} mixes units: min {lo} reads as seconds, max {hi} only as milliseconds; "
            "convert them to one unit"
        )
    return "ms"


def to_unix_seconds(
    timestamps: Tensor,
    unit: TimeUnit = "auto",
    *,
    name: str = "timestamps",
    ndim: int | None = 2,
) -> Tensor:
    """Validate timestamps and return them as int64 Unix seconds (milliseconds floored to seconds).

    Args:
        timestamps: Unix time ``[B, T]`` (any shape with ``ndim=None``), int64/int32 or whole float64.
        unit: ``"s"``, ``"ms"`` or ``"auto"`` (detected by magnitude, logged; see module doc).
            Default: ``"auto"``.
        name: the argument's name in error messages. Default: ``"timestamps"``.
        ndim: required number of dimensions, or ``None`` for any. Default: 2.

    Returns:
        int64 tensor of the same shape, Unix seconds.

    Raises:
        ValueError: wrong type, dtype (bool, float32/16, fractional float64) or rank; NaN or inf;
            negative values; values after 2100-01-01; an unknown ``unit``. Checks run in eager mode
            only; under tracing/export ``"auto"`` becomes a branch-free whole-tensor choice.

    Examples:
        >>> to_unix_seconds(torch.tensor([[1_609_459_200_000]])).tolist()  # 2021-01-01 in ms
        [[1609459200]]
    """
    if unit not in ("auto", "s", "ms"):
        raise ValueError(f"unit={unit!r}: expected 'auto', 's' or 'ms'")
    if is_tracing():
        ts = timestamps.to(torch.int64)
        if unit == "s":
            return ts
        if unit == "ms":
            return floor_div(ts, 1000)
        is_ms = ts.max() > MAX_UNIX_SECONDS  # whole-tensor choice, no Python branch
        return torch.where(is_ms, floor_div(ts, 1000), ts)
    _check_dtype_and_shape(timestamps, name, ndim)
    ts = timestamps.to(torch.int64)
    if ts.numel() == 0:
        return ts
    lo, hi = int_range(ts)  # one device read for the unit and the range checks
    if unit == "auto":
        unit = _unit_of_range(lo, hi, name)
        _report_unit(unit, name)
    if lo < 0:
        raise ValueError(f"{name} contains a negative value ({lo}); expected Unix {unit} >= 0 (1970-01-01)")
    limit = MAX_UNIX_SECONDS if unit == "s" else _MAX_UNIX_MS
    if hi > limit:
        hint = " (milliseconds? pass unit='ms' or 'auto')" if unit == "s" and hi <= _MAX_UNIX_MS else ""
        raise ValueError(f"{name} contains {hi}, after 2100-01-01 in unit {unit!r} (max {limit}){hint}")
    if unit == "ms":
        return floor_div(ts, 1000)
    return ts


def elapsed_seconds(later: Tensor, earlier: Tensor) -> Tensor:
    """Signed ``later - earlier`` in int64 seconds (exact), broadcasting as torch does.

    Convert the *difference* to float, never the timestamps: ``(a - b).float()`` is exact for any gap
    below 2**24 s (194 days) and within 1e-7 relative beyond, while ``a.float() - b.float()`` is off by
    up to 128 s at 2021 times.
    """
    return later.to(torch.int64) - earlier.to(torch.int64)
