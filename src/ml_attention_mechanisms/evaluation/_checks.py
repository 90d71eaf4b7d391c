"""Input checks shared by the evaluation modules: one message shape for every bad argument."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_array", "check_int", "check_prob", "check_same_length", "values_of"]


def values_of(x: Any) -> np.ndarray:
    """The values of a numpy array, pandas Series/DataFrame or sequence, as a float64 array (no copy if
    already one)."""
    values = getattr(x, "to_numpy", None)
    arr = values() if callable(values) else x
    return np.asarray(arr, dtype=np.float64)


def as_array(x: Any, name: str, *, ndim: int = 1, allow_nan: bool = True, min_len: int = 1) -> np.ndarray:
    """``x`` as a float64 array of ``ndim`` dimensions, or ``ValueError`` naming ``name``.

    Raises:
        ValueError: wrong number of dimensions, too short, not numeric, or NaN/inf where not allowed.
    """
    try:
        arr = values_of(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected numeric values, got {type(x).__name__} ({exc})") from exc
    if arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {arr.shape}")
    if arr.shape[0] < min_len:
        raise ValueError(f"{name}: expected at least {min_len} rows, got {arr.shape[0]}")
    if np.isinf(arr).any():
        raise ValueError(f"{name}: contains inf values")
    if not allow_nan and np.isnan(arr).any():
        raise ValueError(f"{name}: contains NaN at index {int(np.flatnonzero(np.isnan(arr).ravel())[0])}")
    return arr


MAX_ABS_LOG_RETURN = 5.0  # exp(5) ~ 148x in one bar: beyond that the input is not a log return


def check_log_returns(r: np.ndarray, name: str = "returns") -> None:
    """``ValueError`` when ``r`` holds a value no one-bar log return takes (prices or percent passed by mistake).

    ``r[0]`` (the bar before the first decision) is not read by the backtests and not checked.

    Raises:
        ValueError: ``|r| > MAX_ABS_LOG_RETURN`` or ``+-inf`` after the first row, naming the index and value.
    """
    with np.errstate(invalid="ignore"):
        bad = np.abs(r[1:]) > MAX_ABS_LOG_RETURN
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        at = (at[0] + 1, *at[1:])
        where = at[0] if len(at) == 1 else at
        raise ValueError(
            f"{name}: {float(r[at]):g} at index {where} is not a one-bar log return (|r| > "
            f"{MAX_ABS_LOG_RETURN:g}, a {np.exp(MAX_ABS_LOG_RETURN):.0f}x move); pass log(close[t] / close[t-1]), "
            "not prices or percent"
        )


def check_same_length(**arrays: np.ndarray) -> int:
    """The common length of the arrays' first axis, or ``ValueError`` listing every length."""
    lengths = {name: int(a.shape[0]) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise ValueError(f"arrays must have the same length along axis 0; got {detail}")
    return next(iter(lengths.values()))


def check_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` or ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}={value!r}: expected an integer >= {minimum}")
    return int(value)


def check_prob(value: Any, name: str) -> float:
    """``value`` as a float strictly inside (0, 1) or ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating) or not 0.0 < value < 1.0:
        raise ValueError(f"{name}={value!r}: expected a probability strictly between 0 and 1")
    return float(value)
