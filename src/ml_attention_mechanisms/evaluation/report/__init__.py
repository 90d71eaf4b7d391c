"""The run report: figures (plotly, with a matplotlib PNG twin each; :mod:`.figures`), comparison tables
(:mod:`.tables`), the one-screen summary of the bar (:mod:`.summary`) and the self-contained ``report.html`` (:mod:`.html`)."""

from .figures import (
    ReportFigure,
    attention_heatmap_figure,
    calibration_figure,
    equity_curves_figure,
    fan_chart_figure,
    pit_histogram_figure,
    training_curves_figure,
    var_exceedance_figure,
    weights_figure,
)
from .html import write_report
from .summary import SUMMARY_COLUMNS, summary_rows, summary_text
from .tables import comparison_tables

__all__ = [
    "SUMMARY_COLUMNS",
    "ReportFigure",
    "attention_heatmap_figure",
    "calibration_figure",
    "comparison_tables",
    "equity_curves_figure",
    "fan_chart_figure",
    "pit_histogram_figure",
    "summary_rows",
    "summary_text",
    "training_curves_figure",
    "var_exceedance_figure",
    "weights_figure",
    "write_report",
]
