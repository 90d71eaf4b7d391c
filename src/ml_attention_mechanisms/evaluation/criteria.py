"""The bar the models aim for, computed as pass/fail from metric dicts.

Criteria, per asset on the test split (an asset is *seen* when the run's training data contained it,
*unseen* otherwise, e.g. a coin listed after the training period):

1. ``volatility``: QLIKE of the model's next-24-bar realised-variance forecast at least ``margin`` (5%)
   below the better (lower) of HAR-RV and GARCH(1,1); for an unseen asset ``unseen_margin`` (0: no worse
   than it), since the model has had no chance to learn that asset's dynamics and must only not lose to
   the classical forecasts.
2. ``interval90``: the 90% interval covers 88-92% and is narrower on average than the rolling
   empirical-quantile baseline.
3. ``var95`` / ``var99``: the VaR passes both Kupiec's and Christoffersen's tests at the 5% level
   (p-values >= 0.05).

Criteria 2 and 3 apply to unseen assets unchanged: the intervals and the VaR are calibrated causally on each
asset's own resolved forecasts, so they owe a new coin the same coverage as a seen one.

Strategies (net Sharpe after costs, test split):

4. ``strategy_<kind>`` (e.g. ``portfolio``, or a kind ``signal`` for one pooled signal strategy): net Sharpe
   above every baseline of its kind.
5. Per-asset signal strategies (kinds ``signal_<ASSET>``): each seen asset's strategy is judged at or above
   buy-and-hold and above every other baseline of its kind (momentum, the volatility-targeted
   buy-and-hold); those verdicts are *reported* rows, and the criterion ``strategy_signal`` (asset
   ``"all"``) passes when at least two thirds of them pass (2 of 3 for BTC, ETH, LTC). An unseen asset's
   signal strategy is reported with its verdict but counts in no criterion; with no seen asset's signal
   strategy (``mlattn evaluate`` on new coins only) there is no ``strategy_signal`` criterion.

Every row carries ``seen`` and ``margin``: how far the figure is from what it is compared with (QLIKE: the
relative gain ``1 - model / best baseline``; interval: ``1 - width / baseline width``; VaR: the lower
p-value minus 0.05; strategy: the Sharpe minus the best baseline's), positive = better; and ``rows``: the
bars the figure was computed on (the model's and its baselines' alike).

Input schema of :func:`evaluate_bar` (what ``metrics.json`` holds; missing figures fail with a reason)::

    {"assets": {"BTC": {"volatility": {"model": {"qlike": ...}, "har_rv": {"qlike": ...},
                                       "garch": {"qlike": ...}},
                        "interval90": {"model": {"coverage": ..., "width": ...},
                                       "empirical_quantile": {"width": ...}},
                        "var95": {"kupiec_p": ..., "christoffersen_p": ...},
                        "var99": {"kupiec_p": ..., "christoffersen_p": ...}},
                ...},
     "strategies": {"signal_BTC": {"model": {"sharpe": ...},
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
    "signal_majority_criterion",
    "strategy_criterion",
    "var_criterion",
    "volatility_criterion",
]

DEFAULT_ASSETS = ("BTC", "ETH", "LTC")
DEFAULT_STRATEGY_KINDS = ("signal", "portfolio")
SIGNAL_PREFIX = "signal_"  # per-asset signal strategies: "signal_BTC"


def _result(
    name: str, passed: bool, value: Any, threshold: Any, rule: str, margin: float | None = None, **extra: Any
) -> dict[str, Any]:
    return {"criterion": name, "passed": bool(passed), "value": value, "threshold": threshold, "rule": rule,
            "margin": margin, **extra}  # fmt: skip


def _finite(*values: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values)


def volatility_criterion(
    model_qlike: float, har_rv_qlike: float, garch_qlike: float, *, margin: float = 0.05
) -> dict[str, Any]:
    """Pass if ``model_qlike <= (1 - margin) * min(har_rv_qlike, garch_qlike)``; ``margin`` in the result is
    the relative gain ``1 - model / best`` and ``baseline`` names the better baseline."""
    rule = (
        f"QLIKE at least {margin:.0%} below the better of HAR-RV and GARCH(1,1)"
        if margin > 0
        else "QLIKE no worse than the better of HAR-RV and GARCH(1,1)"
    )
    if not _finite(model_qlike, har_rv_qlike, garch_qlike):
        return _result("volatility", False, model_qlike, None, rule + " (missing figure)")
    best, name = min((har_rv_qlike, "har_rv"), (garch_qlike, "garch"))
    threshold = (1.0 - margin) * best
    gain = 1.0 - model_qlike / best if best > 0 else None
    return _result("volatility", model_qlike <= threshold, model_qlike, threshold, rule, gain,
                   baseline=name, baseline_value=best, required_margin=margin)  # fmt: skip


def interval_criterion(
    coverage: float, width: float, baseline_width: float, *, low: float = 0.88, high: float = 0.92
) -> dict[str, Any]:
    """Pass if ``low <= coverage <= high`` and ``width < baseline_width`` (``margin``: ``1 - width /
    baseline_width``)."""
    rule = f"coverage in [{low:.0%}, {high:.0%}] and narrower than the empirical-quantile baseline"
    if not _finite(coverage, width, baseline_width):
        return _result("interval90", False, coverage, None, rule + " (missing figure)")
    ok = low <= coverage <= high and width < baseline_width
    gain = 1.0 - width / baseline_width if baseline_width > 0 else None
    return _result(
        "interval90", ok, {"coverage": coverage, "width": width},
        {"coverage": [low, high], "width": baseline_width}, rule, gain, baseline="empirical_quantile",
    )  # fmt: skip


def var_criterion(
    kupiec_p: float, christoffersen_p: float, *, name: str = "var", significance: float = 0.05
) -> dict[str, Any]:
    """Pass if both p-values are ``>= significance`` (neither test rejects); ``margin``: the lower p-value
    minus ``significance``. The rule says how often an exactly right VaR fails each test by chance."""
    rule = (
        f"Kupiec and Christoffersen p-values >= {significance} (an exactly right VaR fails each test by chance "
        f"with probability about {significance})"
    )
    if not _finite(kupiec_p, christoffersen_p):
        return _result(name, False, None, significance, rule + " (missing figure)")
    ok = kupiec_p >= significance and christoffersen_p >= significance
    return _result(name, ok, {"kupiec_p": kupiec_p, "christoffersen_p": christoffersen_p}, significance, rule,
                   min(kupiec_p, christoffersen_p) - significance)  # fmt: skip


def strategy_criterion(
    model_sharpe: float, baseline_sharpes: Mapping[str, float], *, kind: str, at_least: Sequence[str] = ()
) -> dict[str, Any]:
    """Pass if ``model_sharpe`` is above every finite baseline Sharpe (and there is at least one); for the
    baselines named in ``at_least`` a tie is enough (at or above). ``margin``: the Sharpe minus the best
    baseline's; ``baseline`` names it."""
    tie = [k for k in at_least if k in baseline_sharpes]
    rule = f"net Sharpe above every {kind} baseline" + (f" ({', '.join(tie)}: at or above)" if tie else "")
    finite = {k: v for k, v in baseline_sharpes.items() if _finite(v)}
    if not _finite(model_sharpe) or not finite:
        return _result(f"strategy_{kind}", False, model_sharpe, None, rule + " (missing figure)")
    ok = all(model_sharpe >= v if k in at_least else model_sharpe > v for k, v in finite.items())
    name = max(finite, key=lambda k: finite[k])
    best = finite[name]
    return _result(f"strategy_{kind}", ok, model_sharpe, best, rule, model_sharpe - best, baseline=name)


def signal_majority_criterion(verdicts: Mapping[str, bool], *, share: float = 2 / 3) -> dict[str, Any]:
    """Pass if at least ``ceil(share * n)`` of the ``n`` per-asset signal verdicts pass (2 of 3)."""
    n = len(verdicts)
    need = math.ceil(share * n - 1e-9)
    passed = sorted(a for a, ok in verdicts.items() if ok)
    rule = (
        f"signal strategies at or above buy-and-hold and above every other baseline on at least {need} of "
        f"{n} seen assets ({', '.join(verdicts)})"
    )
    if n == 0:
        return _result("strategy_signal", False, 0, None, rule + " (missing figure)")
    return _result("strategy_signal", len(passed) >= need, len(passed), need, rule, float(len(passed) - need),
                   passing=passed)  # fmt: skip


def _get(tree: Mapping[str, Any], *path: str) -> Any:
    node: Any = tree
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _asset_rows(a: Mapping[str, Any], *, margin: float) -> list[dict[str, Any]]:
    rows = _asset_criteria(a, margin=margin)
    counts = [_get(a, "volatility", "model", "n"), _get(a, "interval90", "model", "n"), _get(a, "var95", "n"),
              _get(a, "var99", "n")]  # fmt: skip
    return [{**c, "rows": n} for c, n in zip(rows, counts)]


def _asset_criteria(a: Mapping[str, Any], *, margin: float) -> list[dict[str, Any]]:
    return [
        volatility_criterion(
            _get(a, "volatility", "model", "qlike"), _get(a, "volatility", "har_rv", "qlike"),
            _get(a, "volatility", "garch", "qlike"), margin=margin,
        ),
        interval_criterion(
            _get(a, "interval90", "model", "coverage"), _get(a, "interval90", "model", "width"),
            _get(a, "interval90", "empirical_quantile", "width"),
        ),
        var_criterion(_get(a, "var95", "kupiec_p"), _get(a, "var95", "christoffersen_p"), name="var95"),
        var_criterion(_get(a, "var99", "kupiec_p"), _get(a, "var99", "christoffersen_p"), name="var99"),
    ]  # fmt: skip


def _strategy_row(block: Mapping[str, Any], kind: str, at_least: Sequence[str] = ()) -> dict[str, Any]:
    baselines = {k: _get(v, "sharpe") for k, v in (_get(block, "baselines") or {}).items()}
    row = strategy_criterion(_get(block, "model", "sharpe"), baselines, kind=kind, at_least=at_least)
    return {**row, "rows": _get(block, "model", "n_bars")}


def evaluate_bar(
    metrics: Mapping[str, Any],
    *,
    assets: Sequence[str] = DEFAULT_ASSETS,
    strategy_kinds: Sequence[str] = DEFAULT_STRATEGY_KINDS,
    unseen: Sequence[str] = (),
    margin: float = 0.05,
    unseen_margin: float = 0.0,
) -> dict[str, Any]:
    """Compute every criterion of the bar from a metrics dict (schema and rules in the module docstring).

    Args:
        metrics: the figures.
        assets: the assets judged (a missing one fails, with "(missing figure)" in its rule). Default: BTC,
            ETH, LTC.
        strategy_kinds: the strategy kinds judged (a missing one fails); further kinds present in
            ``metrics["strategies"]`` are judged too. ``signal_<ASSET>`` kinds are per-asset signal
            strategies (criterion 5).
        unseen: the assets the run's training data did not contain (the others are seen).
        margin: the volatility criterion's margin for seen assets. Default: 0.05.
        unseen_margin: the volatility criterion's margin for unseen assets. Default: 0.

    Returns:
        ``{"criteria": [{"criterion", "asset", "seen", "passed", "value", "threshold", "margin", "rule",
        ...}, ...], "reported": [per-asset signal verdicts, same keys], "passed": all criteria passed,
        "n_passed", "n_criteria"}``.
    """
    hidden = set(unseen)
    out: list[dict[str, Any]] = []
    for asset in assets:
        rows = _asset_rows(
            _get(metrics, "assets", asset) or {}, margin=unseen_margin if asset in hidden else margin
        )
        out.extend({**c, "asset": asset, "seen": asset not in hidden} for c in rows)
    strategies = _get(metrics, "strategies") or {}
    reported: list[dict[str, Any]] = []
    verdicts: dict[str, bool] = {}
    for kind in dict.fromkeys([*strategy_kinds, *strategies]):
        block = strategies.get(kind) or {}
        if kind.startswith(SIGNAL_PREFIX):
            asset = kind[len(SIGNAL_PREFIX) :]
            row = {**_strategy_row(block, "signal", at_least=("buy_and_hold",)), "asset": asset,
                   "seen": asset not in hidden}  # fmt: skip
            reported.append(row)
            if asset not in hidden:
                verdicts[asset] = row["passed"]
            continue
        out.append({**_strategy_row(block, kind), "asset": "all", "seen": None})
    if verdicts:  # only unseen coins' signal strategies: reported, and no criterion to judge
        out.append({**signal_majority_criterion(verdicts), "asset": "all", "seen": None})
    n_passed = sum(c["passed"] for c in out)
    return {"criteria": out, "reported": reported, "passed": n_passed == len(out), "n_passed": n_passed,
            "n_criteria": len(out)}  # fmt: skip
