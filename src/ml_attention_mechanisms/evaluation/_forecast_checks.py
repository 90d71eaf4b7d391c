"""A forecaster's outputs must be defined and in their domain wherever its inputs were: a NaN, an infinity or
an impossible value there is an error naming the model, the asset and the first bad time, never a row
silently dropped from the scores (which would compare the model on fewer rows than its baselines, or on the
easy ones only).

Domains, per output name (the evaluation layer's forecast dicts): ``return`` finite; ``quantiles`` finite
and non-decreasing across levels; ``variance`` finite and > 0; ``var``/``es``/``volatility`` finite and
>= 0; ``drawdown`` and ``probabilities`` in [0, 1]. Other outputs are not checked.

Shapes:
    T: bars; Q: quantile levels; L: VaR levels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._import_guard import needs_extra

__all__ = ["DOMAINS", "check_forecasts"]


def _between(lo: float, hi: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: (x >= lo) & (x <= hi)


DOMAINS: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "return": ("a finite return", lambda x: np.ones_like(x, dtype=bool)),
    "quantiles": ("non-decreasing quantiles", lambda x: np.ones_like(x, dtype=bool)),
    "variance": ("a positive variance", lambda x: x > 0),
    "var": ("a VaR >= 0", lambda x: x >= 0),
    "es": ("an ES >= 0", lambda x: x >= 0),
    "volatility": ("a volatility >= 0", lambda x: x >= 0),
    "drawdown": ("a drawdown in [0, 1]", _between(0.0, 1.0)),
    "probabilities": ("probabilities in [0, 1]", _between(0.0, 1.0)),
}


def _when(timestamps: Any, row: int) -> str:
    if timestamps is None:
        return f"row {row}"
    with needs_extra("data"):
        import pandas as pd

    return pd.Timestamp(int(np.asarray(timestamps)[row]), unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


def _bad_rows(name: str, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: not finite; finite but out of the domain."""
    flat = values.reshape(values.shape[0], -1)
    nonfinite = ~np.isfinite(flat).all(axis=1)
    with np.errstate(invalid="ignore"):
        inside = DOMAINS[name][1](np.where(np.isfinite(flat), flat, 0.0)).all(axis=1)
        if name == "quantiles" and flat.shape[1] > 1:
            inside &= (np.diff(np.where(np.isfinite(flat), flat, 0.0), axis=1) >= 0).all(axis=1)
    return nonfinite, ~nonfinite & ~inside


def check_forecasts(
    forecasts: Mapping[str, Any],
    rows: Any,
    *,
    model: str,
    asset: str,
    timestamps: Any = None,
) -> None:
    """Refuse outputs that are missing or impossible on rows where the forecaster had its inputs.

    Args:
        forecasts: output name -> values ``[T]`` or ``[T, ...]`` (NaN allowed outside ``rows``).
        rows: the rows where the forecaster had finite inputs: a bool mask ``[T]`` or row positions.
        model: the forecaster's name, for the message.
        asset: the asset, for the message.
        timestamps: int Unix seconds ``[T]`` to name the first bad time (else its row is named).

    Raises:
        ValueError: one line: the model, the asset, the output, what is wrong (NaN, infinite, out of its
            domain), the first bad time and value, and how many rows are bad.
    """
    for name, raw in forecasts.items():
        if name not in DOMAINS or raw is None:
            continue
        values = np.asarray(raw, dtype=np.float64)
        wanted = np.zeros(values.shape[0], dtype=bool)
        wanted[np.asarray(rows)] = True
        nonfinite, outside = _bad_rows(name, values)
        bad = wanted & (nonfinite | outside)
        if not bad.any():
            continue
        first = int(np.flatnonzero(bad)[0])
        value = values[first]
        if nonfinite[first]:
            what = "NaN" if np.isnan(value).any() else "infinite"
        else:
            what = f"not {DOMAINS[name][0]}"
        shown = np.array2string(np.atleast_1d(value), precision=4, threshold=8)
        raise ValueError(
            f"model {model}, asset {asset}: {name} forecast {what} at {_when(timestamps, first)} ({shown}) "
            f"where its inputs were finite; {int(bad.sum())} of {int(wanted.sum())} forecast rows are bad "
            "(a damaged calibration or checkpoint?): refusing to score or write them"
        )
