"""The bar the models aim for (issue 8), computed as pass/fail from metric dicts.

Criteria, per asset (BTC, ETH, LTC by default) on the test split:

1. ``volatility``: QLIKE of the model's next-24-bar realised-variance forecast at least ``margin`` (5%)
   below the better (lower) of HAR-RV and GARCH(1,1).
2. ``interval90``: the 90% interval covers 88-92% and is narrower on average than the rolling
   empirical-quantile baseline.
3. ``var95`` / ``var99``: the VaR passes both Kupiec's and Christoffersen's tests at the 5% level
   (p-values >= 0.05).

and across assets:

4. ``strategy_<kind>`` (e.g. ``signal``, ``portfolio``): net Sharpe above every baseline of its kind.

Input schema of :func:`evaluate_bar` (what ``metrics.json`` holds; missing figures fail with a reason)::

    {"assets": {"BTC": {"volatility": {"model": {"qlike": ...}, "har_rv": {"qlike": ...},
                                       "garch": {"qlike": ...}},
                        "interval90": {"model": {"coverage": ..., "width": ...},
                                       "empirical_quantile": {"width": ...}},
                        "var95": {"kupiec_p": ..., "christoffersen_p": ...},
                        "var99": {"kupiec_p": ..., "christoffersen_p": ...}},
                ...},
     "strategies": {"signal": {"model": {"sharpe": ...},
                               "baselines": {"buy_and_hold": {"sharpe": ...}, "momentum_24": {...}}},
                    "portfolio": {...}}}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "evaluate_bar",
    "interval_criterion",
    "strategy_criterion",
    "var_criterion",
    "volatility_criterion",
]

DEFAULT_ASSETS = ("BTC", "ETH", "LTC")
DEFAULT_STRATEGY_KINDS = ("signal", "portfolio")


def _result(name: str, passed: bool, value: Any, threshold: Any, rule: str) -> dict[str, Any]:
    return {"criterion": name, "passed": bool(passed), "value": value, "threshold": threshold, "rule": rule}


def _finite(*values: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values)


def volatility_criterion(
    model_qlike: float, har_rv_qlike: float, garch_qlike: float, *, margin: float = 0.05
) -> dict[str, Any]:
    """Pass if ``model_qlike <= (1 - margin) * min(har_rv_qlike, garch_qlike)``."""
    rule = f"QLIKE at least {margin:.0%} below the better of HAR-RV and GARCH(1,1)"
    if not _finite(model_qlike, har_rv_qlike, garch_qlike):
        return _result("volatility", False, model_qlike, None, rule + " (missing figure)")
    threshold = (1.0 - margin) * min(har_rv_qlike, garch_qlike)
    return _result("volatility", model_qlike <= threshold, model_qlike, threshold, rule)


def interval_criterion(
    coverage: float, width: float, baseline_width: float, *, low: float = 0.88, high: float = 0.92
) -> dict[str, Any]:
    """Pass if ``low <= coverage <= high`` and ``width < baseline_width``."""
    rule = f"coverage in [{low:.0%}, {high:.0%}] and narrower than the empirical-quantile baseline"
    if not _finite(coverage, width, baseline_width):
        return _result("interval90", False, coverage, None, rule + " (missing figure)")
    ok = low <= coverage <= high and width < baseline_width
    return _result(
        "interval90",
        ok,
        {"coverage": coverage, "width": width},
        {"coverage": [low, high], "width": baseline_width},
        rule,
    )


def var_criterion(
    kupiec_p: float, christoffersen_p: float, *, name: str = "var", significance: float = 0.05
) -> dict[str, Any]:
    """Pass if both p-values are ``>= significance`` (neither test rejects)."""
    rule = f"Kupiec and Christoffersen p-values >= {significance}"
    if not _finite(kupiec_p, christoffersen_p):
        return _result(name, False, None, significance, rule + " (missing figure)")
    ok = kupiec_p >= significance and christoffersen_p >= significance
    return _result(name, ok, {"kupiec_p": kupiec_p, "christoffersen_p": christoffersen_p}, significance, rule)


def strategy_criterion(
    model_sharpe: float, baseline_sharpes: Mapping[str, float], *, kind: str
) -> dict[str, Any]:
    """Pass if ``model_sharpe`` is above every finite baseline Sharpe (and there is at least one)."""
    rule = f"net Sharpe above every {kind} baseline"
    finite = {k: v for k, v in baseline_sharpes.items() if _finite(v)}
    if not _finite(model_sharpe) or not finite:
        return _result(f"strategy_{kind}", False, model_sharpe, None, rule + " (missing figure)")
    best = max(finite.values())
    return _result(f"strategy_{kind}", model_sharpe > best, model_sharpe, best, rule)


def _get(tree: Mapping[str, Any], *path: str) -> Any:
    node: Any = tree
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def evaluate_bar(
    metrics: Mapping[str, Any],
    *,
    assets: Sequence[str] = DEFAULT_ASSETS,
    strategy_kinds: Sequence[str] = DEFAULT_STRATEGY_KINDS,
) -> dict[str, Any]:
    """Compute every criterion of the bar from a metrics dict (schema in the module docstring).

    Every asset in ``assets`` and every kind in ``strategy_kinds`` is checked (a missing one fails, with
    "(missing figure)" in its rule); further strategy kinds present in ``metrics`` are checked too.

    Returns:
        ``{"criteria": [{"criterion", "asset", "passed", "value", "threshold", "rule"}, ...],
        "passed": all passed, "n_passed", "n_criteria"}``.
    """
    out: list[dict[str, Any]] = []
    for asset in assets:
        a = _get(metrics, "assets", asset) or {}
        checks = [
            volatility_criterion(
                _get(a, "volatility", "model", "qlike"),
                _get(a, "volatility", "har_rv", "qlike"),
                _get(a, "volatility", "garch", "qlike"),
            ),
            interval_criterion(
                _get(a, "interval90", "model", "coverage"),
                _get(a, "interval90", "model", "width"),
                _get(a, "interval90", "empirical_quantile", "width"),
            ),
            var_criterion(_get(a, "var95", "kupiec_p"), _get(a, "var95", "christoffersen_p"), name="var95"),
            var_criterion(_get(a, "var99", "kupiec_p"), _get(a, "var99", "christoffersen_p"), name="var99"),
        ]
        out.extend({**c, "asset": asset} for c in checks)
    strategies = _get(metrics, "strategies") or {}
    for kind in dict.fromkeys([*strategy_kinds, *strategies]):
        block = strategies.get(kind) or {}
        baselines = {k: _get(v, "sharpe") for k, v in (_get(block, "baselines") or {}).items()}
        out.append(
            {**strategy_criterion(_get(block, "model", "sharpe"), baselines, kind=kind), "asset": "all"}
        )
    n_passed = sum(c["passed"] for c in out)
    return {"criteria": out, "passed": n_passed == len(out), "n_passed": n_passed, "n_criteria": len(out)}
