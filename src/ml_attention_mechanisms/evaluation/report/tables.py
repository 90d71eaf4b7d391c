"""Tables for the report from the results of :mod:`.suite`: models beside baselines, the tests of
significance, and every Sharpe ratio with its interval, the configurations tried and the deflated Sharpe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["comparison_tables"]


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, Mapping) or key not in d:
            return None
        d = d[key]
    return d


def _thirds(by_volatility: Any) -> dict[str, Any]:
    """The interval's coverage in the calm, middle and wild thirds of the rows (:func:`.scorecards
    .quantile_scores`' ``by_volatility``) as three columns; none when it was not computed."""
    if not isinstance(by_volatility, Mapping):
        return {}
    names = ("coverage_calm", "coverage_middle", "coverage_wild")
    return dict(zip(names, by_volatility.get("coverage", [None] * 3), strict=False))


def _period_row(scores: Mapping[str, Any]) -> dict[str, Any]:
    """The model's QLIKE, HAR-RV's and GARCH's, and the model's gain over the better of the two."""
    model, har, garch = (_get(scores, k, "qlike") for k in ("model", "har_rv", "garch"))
    better = min((v for v in (har, garch) if isinstance(v, float)), default=None)
    gain = 1.0 - model / better if isinstance(model, float) and better else None
    return {"model": model, "har_rv": har, "garch": garch, "gain": gain, "n": _get(scores, "model", "n")}


def comparison_tables(
    assets: Mapping[str, Mapping[str, Any]],
    strategies: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    seen: Mapping[str, bool] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Rows for :func:`.report.write_report`'s ``tables`` argument.

    Args:
        assets: asset -> the result of :func:`.suite.evaluate_asset_forecasts`.
        strategies: kind (``"signal"``, ``"portfolio"``, ``"signal_<ASSET>"``) -> the result of
            :func:`.suite.evaluate_signal_strategy` / :func:`.suite.evaluate_portfolio_strategy`.
        seen: asset -> whether the run's training data contained it; given, every asset row (and each
            ``signal_<ASSET>`` strategy row) says ``seen`` or ``unseen`` in a ``seen`` column.

    Returns:
        Title -> rows, for the parts present: "Returns (RMSE)", "Volatility (QLIKE)", "Volatility by period
        (QLIKE)" (the model, HAR-RV and GARCH, and the model's gain over the better), "90% intervals", "VaR
        backtests", "Drawdown forecasts", "Diebold-Mariano: model vs baselines", "Strategies (net of costs)".
    """
    tables: dict[str, list[dict[str, Any]]] = {}

    def add(title: str, row: dict[str, Any]) -> None:
        if seen is not None:
            asset = row.get("asset") or str(row.get("kind", "")).removeprefix("signal_")
            flag = seen.get(asset)
            mark = "" if flag is None else ("seen" if flag else "unseen")
            key = "asset" if "asset" in row else "kind"
            row = {**{k: v for k, v in row.items() if k == key}, "seen": mark, **row}
        tables.setdefault(title, []).append(row)

    for asset, res in assets.items():
        for name, scores in (_get(res, "returns") or {}).items():
            add(
                "Returns (RMSE)",
                {
                    "asset": asset,
                    "forecast": name,
                    "rmse": scores.get("rmse"),
                    "mae": scores.get("mae"),
                    "directional_accuracy": scores.get("directional_accuracy"),
                },
            )
        for name, scores in (_get(res, "volatility") or {}).items():
            add(
                "Volatility (QLIKE)",
                {
                    "asset": asset,
                    "forecast": name,
                    "qlike": scores.get("qlike"),
                    "rmse": scores.get("rmse"),
                    "n": scores.get("n"),
                },
            )
        for period, scores in (_get(res, "volatility_by_period") or {}).items():
            add("Volatility by period (QLIKE)", {"asset": asset, "period": period, **_period_row(scores)})
        for name, scores in (_get(res, "interval90") or {}).items():
            add(
                "90% intervals",
                {
                    "asset": asset,
                    "forecast": name,
                    "coverage": scores.get("coverage"),
                    "width": scores.get("width"),
                    **_thirds(scores.get("by_volatility")),
                    "crps": scores.get("crps"),
                    "pinball": scores.get("pinball"),
                },
            )
        var_sources = {"model": res, **(_get(res, "var_baselines") or {})}
        for source, block in var_sources.items():
            for key in sorted(k for k in block if k.startswith("var") and k != "var_baselines"):
                v = block[key]
                add(
                    "VaR backtests",
                    {
                        "asset": asset,
                        "forecast": source,
                        "var": key,
                        "exceedance_rate": v.get("exceedance_rate"),
                        "expected_rate": v.get("expected_rate"),
                        "kupiec_p": v.get("kupiec_p"),
                        "christoffersen_p": v.get("christoffersen_p"),
                        "es_p_value": v.get("es_p_value"),
                    },
                )
        for name, scores in (_get(res, "drawdown") or {}).items():
            add("Drawdown forecasts", {"asset": asset, "forecast": name, **scores})
        for row in _get(res, "dm") or []:
            add("Diebold-Mariano: model vs baselines", {"asset": asset, **row})
    for kind, res in (strategies or {}).items():
        entries = {"model": _get(res, "model"), **(_get(res, "baselines") or {})}
        for name, m in entries.items():
            if m is None:
                continue
            add(
                "Strategies (net of costs)",
                {
                    "kind": kind,
                    "strategy": name,
                    # what the model's row held where a run chose it on validation (a null strategy or the model)
                    "holds": _get(res, "holds") if name == "model" else None,
                    "sharpe": m.get("sharpe"),
                    "sharpe_ci_low": m.get("sharpe_ci_low"),
                    "sharpe_ci_high": m.get("sharpe_ci_high"),
                    "n_configs_tried": m.get("n_configs_tried"),
                    "deflated_sharpe": m.get("deflated_sharpe"),
                    "net_return": m.get("net_return"),
                    "sortino": m.get("sortino"),
                    "max_drawdown": m.get("max_drawdown"),
                    "calmar": m.get("calmar"),
                    "turnover": m.get("turnover"),
                    "hit_rate": m.get("hit_rate"),
                },
            )
    return tables
