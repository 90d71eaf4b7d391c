"""A run's ``calibration.json`` checked before it is applied: every field this library writes, its type,
finiteness and sign; an unknown field is refused too (a typo would otherwise be ignored). A NaN or negative
scale would otherwise turn into NaN or negative variances and VaR in every forecast, or silently shrink the
rows scored.

=====================  ===================================================================================
field                  rule
=====================  ===================================================================================
quantile_levels        increasing probabilities in (0, 1)
cqr_offsets            {level of quantile_levels: finite number}
variance_scale         finite number > 0
var_levels             distinct tail probabilities in (0, 0.5)
var_scale              {tail probability: finite number > 0}, in the order of var_levels
signal_temperature     finite number > 0
mode                   "rolling"
rolling_window         int > 0
correlation_head       a JSON object (the fit's record)
sizing                 {"chosen": {strategy: a valid VolTargetConfig's fields}, ...} (the strategies' sizing)
=====================  ===================================================================================
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["CALIBRATION_FIELDS", "check_calibration"]

CALIBRATION_FIELDS = (
    "quantile_levels",
    "cqr_offsets",
    "variance_scale",
    "var_levels",
    "var_scale",
    "signal_temperature",
    "mode",
    "rolling_window",
    "correlation_head",
    "sizing",
)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: Any) -> bool:
    return _number(value) and value > 0


def _probabilities(value: Any, high: float, *, increasing: bool) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(_number(v) and 0 < v < high for v in value)
        and len(set(value)) == len(value)
        and (not increasing or all(a < b for a, b in itertools.pairwise(value)))
    )


def _level_map(value: Any, check: Any) -> bool:
    if not isinstance(value, dict) or not value:
        return False
    try:
        levels = [float(k) for k in value]
    except ValueError:
        return False
    return all(0 < lv < 1 for lv in levels) and all(check(v) for v in value.values())


_RULES: dict[str, tuple[str, Any]] = {
    "quantile_levels": (
        "expected increasing probabilities in (0, 1)",
        lambda v: _probabilities(v, 1.0, increasing=True),
    ),
    "cqr_offsets": ("expected {quantile level: finite number}", lambda v: _level_map(v, _number)),
    "variance_scale": ("expected a finite number > 0", _positive),
    "var_levels": (
        "expected distinct tail probabilities in (0, 0.5)",
        lambda v: _probabilities(v, 0.5, increasing=False),
    ),
    "var_scale": ("expected {tail probability: finite number > 0}", lambda v: _level_map(v, _positive)),
    "signal_temperature": ("expected a finite number > 0", _positive),
    "mode": ('expected "rolling"', lambda v: v == "rolling"),
    "rolling_window": (
        "expected an int > 0",
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
    ),
    "correlation_head": ("expected a JSON object", lambda v: isinstance(v, dict)),
    "sizing": ('expected {"chosen": {strategy: VolTargetConfig fields}, ...}', lambda v: _sizing(v)),
}


def _sizing(value: Any) -> bool:
    from ..evaluation.backtest import VolTargetConfig

    chosen = value.get("chosen") if isinstance(value, dict) else None
    if not isinstance(chosen, dict) or not chosen:
        return False
    try:
        for fields in chosen.values():
            VolTargetConfig.from_dict(dict(fields))
    except (TypeError, ValueError):
        return False
    return True


def check_calibration(calibration: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``calibration`` as a dict, after checking every field (see the module docstring).

    Args:
        calibration: the parsed ``calibration.json`` (or a calibration just fitted).
        where: how to name it in a message (the file's path).

    Raises:
        ValueError: one line naming ``where``, the field, its value and the rule.
    """
    unknown = sorted(set(calibration) - set(_RULES))
    if unknown:
        raise ValueError(
            f"{where}: unknown field(s) {', '.join(unknown)}; expected some of {', '.join(CALIBRATION_FIELDS)}"
        )
    for name, (rule, ok) in _RULES.items():
        if name in calibration and not ok(calibration[name]):
            shown = repr(calibration[name])
            raise ValueError(f"{where}: {name}={shown[:120]}: {rule}")
    levels = [float(v) for v in calibration.get("quantile_levels", ())]
    offsets = [float(k) for k in calibration.get("cqr_offsets", {})]
    if offsets and not all(any(abs(o - lv) < 1e-9 for lv in levels) for o in offsets):
        raise ValueError(f"{where}: cqr_offsets: levels {offsets} are not among quantile_levels {levels}")
    var_levels = [float(v) for v in calibration.get("var_levels", ())]
    scaled = [float(k) for k in calibration.get("var_scale", {})]
    if var_levels and scaled and scaled != var_levels:
        raise ValueError(f"{where}: var_scale: levels {scaled} are not the var_levels {var_levels}, in order")
    return dict(calibration)
