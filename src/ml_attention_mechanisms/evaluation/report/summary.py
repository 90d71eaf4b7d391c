"""The one-screen summary a report opens with: per asset (seen or unseen in training) and per strategy, each
criterion of the bar with its figure, what it is compared with, its margin, what the criterion needs, and
pass or fail (:func:`.criteria.evaluate_bar`'s rows, in words and numbers rather than raw dicts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SUMMARY_COLUMNS", "summary_rows", "summary_text"]

SUMMARY_COLUMNS = ("asset", "seen", "criterion", "figure", "vs", "margin", "needs", "result", "rows")
_NAMES = {
    "volatility": "24h variance",
    "interval90": "90% interval",
    "var95": "95% VaR",
    "var99": "99% VaR",
    "strategy_signal": "signal Sharpe",
    "strategy_portfolio": "portfolio Sharpe",
}


def _num(v: Any, spec: str = ".4g") -> str:
    return format(v, spec) if isinstance(v, int | float) and not isinstance(v, bool) and v == v else "—"


def _pct(v: Any) -> str:
    return _num(100 * v if isinstance(v, int | float) else v, "+.1f") + ("%" if _num(v) != "—" else "")


def _describe(c: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """``(figure, vs, margin, needs)`` of one criterion row."""
    name, value, margin = c.get("criterion", ""), c.get("value"), c.get("margin")
    base = str(c.get("baseline") or "")
    if name == "volatility":
        need = f"gain >= {_num(100 * c.get('required_margin', 0.05), '.0f')}%"
        return f"QLIKE {_num(value)}", f"{base} {_num(c.get('baseline_value'))}".strip(), _pct(margin), need
    if name == "interval90":
        v = value if isinstance(value, Mapping) else {}
        threshold = c.get("threshold")
        t: Mapping[str, Any] = threshold if isinstance(threshold, Mapping) else {}
        figure = f"cover {_num(100 * v['coverage'] if 'coverage' in v else None, '.1f')}%, w {_num(v.get('width'), '.3g')}"
        return figure, f"emp.q w {_num(t.get('width'), '.3g')}", _pct(margin), "88-92%, narrower"
    if name in ("var95", "var99"):
        v = value if isinstance(value, Mapping) else {}
        return (f"p {_num(v.get('kupiec_p'), '.2f')} / {_num(v.get('christoffersen_p'), '.2f')}", "Kupiec / Chr.",
                _num(margin, "+.2f"), f"p >= {_num(c.get('threshold'), 'g')}")  # fmt: skip
    if name == "strategy_signal" and "passing" in c:
        return (f"{value} pass", ", ".join(c["passing"]) or "none", _num(margin, "+.0f"),
                f">= {c.get('threshold')} assets")  # fmt: skip
    if name.startswith("strategy_"):
        need = "> best (b&h: >=)" if "at or above" in str(c.get("rule", "")) else "> every baseline"
        return (
            f"Sharpe {_num(value, '.2f')}",
            f"{base} {_num(c.get('threshold'), '.2f')}".strip(),
            _num(margin, "+.2f"),
            need,
        )
    return _num(value), _num(c.get("threshold")), _num(margin), str(c.get("rule", ""))


def _rows(v: Any) -> str:
    return str(int(v)) if isinstance(v, int | float) and not isinstance(v, bool) and v == v else ""


def _seen(v: Any) -> str:
    return "" if v is None else ("seen" if v else "unseen")


def summary_rows(bar: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per criterion of the bar, then per reported verdict (per-asset signal strategies: their
    verdict in parentheses, as it counts only through the ``strategy_signal`` criterion or not at all for an
    unseen asset), ordered by asset; columns :data:`SUMMARY_COLUMNS` plus ``passed`` (bool or None) and
    ``key`` (the criterion's name in the bar, e.g. ``"volatility"``).

    Args:
        bar: the result of :func:`.criteria.evaluate_bar`.
    """
    rows: list[dict[str, Any]] = []
    for counted, items in ((True, bar.get("criteria", [])), (False, bar.get("reported", []))):
        for c in items:
            figure, against, margin, needs = _describe(c)
            verdict = "PASS" if c.get("passed") else "FAIL"
            rows.append({
                "asset": str(c.get("asset", "")), "seen": _seen(c.get("seen")),
                "criterion": _NAMES.get(c.get("criterion", ""), c.get("criterion", "")), "figure": figure,
                "vs": against, "margin": margin, "needs": needs,
                "result": verdict if counted else f"({verdict.lower()})", "rows": _rows(c.get("rows")),
                "passed": c.get("passed") if counted else None, "key": c.get("criterion", ""),
            })  # fmt: skip
    order = list(dict.fromkeys([r["asset"] for r in rows if r["asset"] != "all"] + ["all"]))
    return sorted(rows, key=lambda r: order.index(r["asset"]))


def summary_text(
    rows: Sequence[Mapping[str, Any]], *, n_passed: int | None = None, n_criteria: int | None = None
) -> str:
    """The summary as a fixed-width table for the terminal (the last line counts the criteria passed)."""
    widths = {
        c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) if rows else len(c) for c in SUMMARY_COLUMNS
    }
    right = {"margin", "result", "rows"}

    def line(cells: Mapping[str, Any]) -> str:
        return "  ".join(
            str(cells.get(c, "")).rjust(widths[c]) if c in right else str(cells.get(c, "")).ljust(widths[c])
            for c in SUMMARY_COLUMNS
        ).rstrip()

    head = line({c: c for c in SUMMARY_COLUMNS})
    out = [head, "-" * len(head), *(line(r) for r in rows), "-" * len(head)]
    if n_passed is not None and n_criteria is not None:
        out.append(
            f"the bar: {n_passed} of {n_criteria} criteria pass (results in parentheses are reported, not counted)"
        )
    return "\n".join(out)
