"""One self-contained HTML report (viewable offline) plus the figures as PNG files.

The page inlines plotly's JavaScript once (no CDN, no network), then one interactive chart per
:class:`.figures.ReportFigure`; tables (models against baselines, significance tests, per-fold
results) are plain HTML; the page opens with the one-screen summary of the bar (:func:`.criteria.evaluate_bar`:
per asset, seen or unseen in training, each criterion's figure, margin and pass/fail; :mod:`.summary`).
The matplotlib twin of every figure is saved as ``<name>.png`` beside the page.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..._import_guard import needs_extra
from ..metrics_io import to_jsonable
from .figures import ReportFigure
from .summary import SUMMARY_COLUMNS, summary_rows

__all__ = ["write_report"]

logger = logging.getLogger(__name__)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;
color:#222;padding:0 16px}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0;font-size:0.85em}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}
td.l,th.l{text-align:left}.pass{color:#0a7d28;font-weight:600}.fail{color:#b00020;font-weight:600}
.caption{color:#555;font-size:0.9em}.wide{overflow-x:auto}pre{background:#f8f8f8;padding:8px;overflow:auto;font-size:0.8em}
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:  # NaN
            return "—"
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "<p class='caption'>(no rows)</p>"
    columns = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(
        f"<th class='l'>{html.escape(str(c))}</th>" if i == 0 else f"<th>{html.escape(str(c))}</th>"
        for i, c in enumerate(columns)
    )
    body = []
    for row in rows:
        cells = []
        for i, c in enumerate(columns):
            text = html.escape(_fmt(row.get(c)))
            cells.append(f"<td class='l'>{text}</td>" if i == 0 else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _summary(bar: Mapping[str, Any]) -> str:
    """The summary table (:func:`.summary.summary_rows`), results coloured, then the rules once each."""
    rows = summary_rows(bar)
    head = "".join(f"<th class='l'>{html.escape(c)}</th>" for c in SUMMARY_COLUMNS)
    body = []
    for r in rows:
        cells = []
        for c in SUMMARY_COLUMNS:
            text = html.escape(str(r.get(c, "")))
            if c == "result":
                passed = r.get("passed")
                css = "caption" if passed is None else ("pass" if passed else "fail")
                cells.append(f"<td class='{css}'>{text}</td>")
            else:
                cells.append(f"<td class='l'>{text}</td>" if c not in ("margin",) else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    rules = dict.fromkeys(
        str(c.get("rule", "")) for c in [*bar.get("criteria", []), *bar.get("reported", [])]
    )
    summary = (
        f"{bar.get('n_passed', 0)} of {bar.get('n_criteria', 0)} criteria pass; results in parentheses are "
        "reported, not counted. Seen: the run's training data contained the asset."
    )
    return (
        f"<p>{html.escape(summary)}</p><div class='wide'><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div><p class='caption'>Rules: "
        + "; ".join(html.escape(r) for r in rules if r)
        + ".</p>"
    )


def write_report(
    metrics: Mapping[str, Any],
    figures: Sequence[ReportFigure] = (),
    path: str | Path = "report.html",
    *,
    tables: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    bar: Mapping[str, Any] | None = None,
    title: str = "ml-attention-mechanisms: evaluation report",
    notes: Sequence[str] = (),
    png_dir: str | Path | None = None,
) -> Path:
    """Write the HTML report and the PNGs; return the page's path.

    Args:
        metrics: every figure of the run; shown in full (as JSON) at the end of the page.
        figures: charts, in page order; names must be unique.
        path: the HTML file. Default: ``report.html``.
        tables: section title -> rows (dicts, one column per key), e.g. ``{"Models vs baselines": [...],
            "Diebold-Mariano": [...], "Walk-forward folds": [...]}``.
        bar: the result of :func:`.criteria.evaluate_bar`; default ``metrics["bar"]`` if present.
        title: page title.
        notes: paragraphs shown under the summary (e.g. where a model falls short, said plainly).
        png_dir: folder for the PNGs. Default: the page's folder.

    Returns:
        The path of the page.

    Raises:
        ValueError: duplicate figure names.
    """
    with needs_extra("viz"):
        from plotly.offline import get_plotlyjs

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    pngs = Path(png_dir) if png_dir is not None else out.parent
    pngs.mkdir(parents=True, exist_ok=True)
    names = [f.name for f in figures]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"figures: duplicate names {dupes}")
    bar = bar if bar is not None else metrics.get("bar")

    parts = [f"<h1>{html.escape(title)}</h1>"]
    if bar:
        parts.append("<h2 id='summary'>Summary: the bar the models aim for</h2>" + _summary(bar))
    parts += [f"<p>{html.escape(n)}</p>" for n in notes]
    for heading, rows in (tables or {}).items():
        parts.append(f"<h2>{html.escape(heading)}</h2>{_table(rows)}")
    for fig in figures:
        div = fig.plotly.to_html(
            full_html=False,
            include_plotlyjs=False,
            include_mathjax=False,
            div_id=f"fig-{fig.name}",
            config={"displaylogo": False, "responsive": True},
        )
        caption = f"<p class='caption'>{html.escape(fig.caption)} PNG: {html.escape(fig.name)}.png</p>"
        parts.append(f"<h2 id='{fig.name}'>{html.escape(fig.title)}</h2>{caption}{div}")
        fig.matplotlib.savefig(pngs / f"{fig.name}.png")
    metrics_json = json.dumps(to_jsonable(metrics), indent=1, allow_nan=False)
    parts.append(
        f"<h2>All figures (metrics.json)</h2><details><summary>show</summary><pre>"
        f"{html.escape(metrics_json)}</pre></details>"
    )
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        + "\n".join(parts)
        + "</body></html>\n"
    )
    out.write_text(page, encoding="utf-8")
    logger.info("report: %s (%d figures, PNGs in %s)", out, len(figures), pngs)
    return out
