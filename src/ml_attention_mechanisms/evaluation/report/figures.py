"""Figures for the report, each drawn twice from the same arrays: plotly (interactive, in the HTML page)
and matplotlib (a PNG file). plotly and matplotlib are imported when a figure is built.

Every builder returns a :class:`ReportFigure`; pass a list of them to :func:`.report.write_report`.
Long series are thinned to at most ``max_points`` points per trace so that the page stays light.

Shapes:
    T: bars; Q: quantile levels; A: assets; Tq, Tk: query and key positions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..._import_guard import needs_extra
from .._checks import as_array, check_same_length

__all__ = [
    "ReportFigure",
    "attention_heatmap_figure",
    "calibration_figure",
    "equity_curves_figure",
    "fan_chart_figure",
    "pit_histogram_figure",
    "training_curves_figure",
    "var_exceedance_figure",
    "weights_figure",
]

_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")


@dataclass(frozen=True, slots=True)
class ReportFigure:
    """One figure in both forms.

    Attributes:
        name: file stem of the PNG and the HTML anchor (letters, digits, ``_``, ``-``).
        title: heading shown in the report.
        plotly: a ``plotly.graph_objects.Figure``.
        matplotlib: a ``matplotlib.figure.Figure`` (Agg, not registered with pyplot).
        caption: one sentence under the heading.
    """

    name: str
    title: str
    plotly: Any
    matplotlib: Any
    caption: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"ReportFigure.name={self.name!r}: letters, digits, '_' and '-' only")


def _x(index: Any, n: int) -> np.ndarray:
    if index is None:
        return np.arange(n)
    arr = np.asarray(index)
    if arr.shape[0] != n:
        raise ValueError(f"index: {arr.shape[0]} entries, expected {n}")
    return arr


def _stride(n: int, max_points: int) -> slice:
    return slice(None, None, max(1, -(-n // max_points)))


def _new(title: str, xlabel: str = "", ylabel: str = "") -> tuple[Any, Any, Any]:
    with needs_extra("viz"):
        import plotly.graph_objects as go
        from matplotlib.figure import Figure

    fig = go.Figure()
    fig.update_layout(
        title=title, template="plotly_white", height=380, margin={"l": 50, "r": 20, "t": 50, "b": 40}
    )
    fig.update_xaxes(title_text=xlabel)
    fig.update_yaxes(title_text=ylabel)
    mfig = Figure(figsize=(9, 3.6), dpi=100, layout="constrained")
    ax = mfig.add_subplot()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return fig, mfig, ax


def equity_curves_figure(
    curves: Mapping[str, Any],
    *,
    index: Any = None,
    title: str = "Equity after costs",
    name: str = "equity_curves",
    max_points: int = 2000,
) -> ReportFigure:
    """Equity curves (start at 1), one line per strategy; ``curves`` name -> shape ``(T,)``."""
    with needs_extra("viz"):
        import plotly.graph_objects as go

    fig, mfig, ax = _new(title, "time", "equity")
    for label, curve in curves.items():
        y = as_array(curve, f"curves[{label!r}]")
        s = _stride(y.shape[0], max_points)
        x = _x(index if index is not None else getattr(curve, "index", None), y.shape[0])
        fig.add_trace(go.Scatter(x=x[s], y=y[s], mode="lines", name=str(label)))
        ax.plot(x[s], y[s], label=str(label), lw=1)
    ax.legend(fontsize=8)
    return ReportFigure(name, title, fig, mfig, "Net of fees and slippage; fills at the next bar.")


def fan_chart_figure(
    realized: Any,
    quantiles: Any,
    levels: Sequence[float],
    *,
    index: Any = None,
    title: str = "Forecast fan chart",
    name: str = "fan_chart",
    max_points: int = 1500,
) -> ReportFigure:
    """Quantile bands (outer to inner pairs) with the realised values; ``quantiles`` shape ``(T, Q)``."""
    with needs_extra("viz"):
        import plotly.graph_objects as go

    y = as_array(realized, "realized")
    q = as_array(quantiles, "quantiles", ndim=2)
    check_same_length(realized=y, quantiles=q)
    x = _x(index, y.shape[0])
    s = _stride(y.shape[0], max_points)
    fig, mfig, ax = _new(title, "time", "value")
    n = q.shape[1]
    for i in range(n // 2):
        j = n - 1 - i
        label = f"{levels[i]:.0%}-{levels[j]:.0%}"
        alpha = 0.15 + 0.25 * i / max(1, n // 2)
        fig.add_trace(
            go.Scatter(x=x[s], y=q[s, j], mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip")
        )
        fig.add_trace(
            go.Scatter(
                x=x[s],
                y=q[s, i],
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=f"rgba(31,119,180,{alpha:.2f})",
                name=label,
            )
        )
        ax.fill_between(x[s], q[s, i], q[s, j], alpha=alpha, color="tab:blue", lw=0, label=label)
    if n % 2:
        fig.add_trace(go.Scatter(x=x[s], y=q[s, n // 2], mode="lines", name="median", line={"dash": "dot"}))
        ax.plot(x[s], q[s, n // 2], ls=":", lw=1, color="tab:blue", label="median")
    fig.add_trace(
        go.Scatter(x=x[s], y=y[s], mode="lines", name="realised", line={"color": "black", "width": 1})
    )
    ax.plot(x[s], y[s], color="black", lw=0.8, label="realised")
    ax.legend(fontsize=8)
    return ReportFigure(name, title, fig, mfig, "Forecast quantile bands and the realised values.")


def calibration_figure(
    levels: Sequence[float],
    observed: Mapping[str, Sequence[float]],
    *,
    title: str = "Calibration",
    name: str = "calibration",
) -> ReportFigure:
    """Observed frequency of ``y <= q_tau`` against the nominal ``tau`` (the diagonal is perfect)."""
    with needs_extra("viz"):
        import plotly.graph_objects as go

    nominal = np.asarray(levels, dtype=np.float64)
    fig, mfig, ax = _new(title, "nominal level", "observed frequency")
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="ideal", line={"dash": "dash", "color": "grey"})
    )
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="ideal")
    for label, freq in observed.items():
        f = as_array(freq, f"observed[{label!r}]")
        if f.shape != nominal.shape:
            raise ValueError(f"observed[{label!r}]: {f.shape[0]} values for {nominal.size} levels")
        fig.add_trace(go.Scatter(x=nominal, y=f, mode="lines+markers", name=str(label)))
        ax.plot(nominal, f, marker="o", lw=1, label=str(label))
    ax.legend(fontsize=8)
    return ReportFigure(name, title, fig, mfig, "Share of realised values below each forecast quantile.")


def var_exceedance_figure(
    realized: Any,
    var: Mapping[str, Any],
    *,
    index: Any = None,
    title: str = "VaR and exceedances",
    name: str = "var_exceedances",
    max_points: int = 2000,
) -> ReportFigure:
    """Realised returns, ``-VaR`` lines per level (``var`` label -> shape ``(T,)``), exceedances marked."""
    with needs_extra("viz"):
        import plotly.graph_objects as go

    y = as_array(realized, "realized")
    x = _x(index, y.shape[0])
    s = _stride(y.shape[0], max_points)
    fig, mfig, ax = _new(title, "time", "return")
    fig.add_trace(go.Scatter(x=x[s], y=y[s], mode="lines", name="return", line={"color": "grey", "width": 1}))
    ax.plot(x[s], y[s], color="grey", lw=0.6, label="return")
    for label, v in var.items():
        lim = -as_array(v, f"var[{label!r}]")
        check_same_length(realized=y, var=lim)
        hit = y < lim
        fig.add_trace(go.Scatter(x=x[s], y=lim[s], mode="lines", name=f"-VaR {label}"))
        fig.add_trace(
            go.Scatter(
                x=x[hit],
                y=y[hit],
                mode="markers",
                name=f"exceedance {label} ({int(hit.sum())})",
                marker={"size": 5},
            )
        )
        ax.plot(x[s], lim[s], lw=1, label=f"-VaR {label}")
        ax.scatter(x[hit], y[hit], s=8, label=f"exceedance {label}")
    ax.legend(fontsize=8)
    return ReportFigure(name, title, fig, mfig, "Every exceedance is shown (not thinned).")


def weights_figure(
    weights: Any,
    *,
    names: Sequence[str] | None = None,
    index: Any = None,
    title: str = "Portfolio weights",
    name: str = "portfolio_weights",
    max_points: int = 2000,
) -> ReportFigure:
    """Stacked areas of portfolio weights over time; ``weights`` shape ``(T, A)`` (NaN rows skipped)."""
    with needs_extra("viz"):
        import plotly.graph_objects as go

    w = as_array(weights, "weights", ndim=2)
    cols = (
        list(names) if names is not None else [str(c) for c in getattr(weights, "columns", range(w.shape[1]))]
    )
    if len(cols) != w.shape[1]:
        raise ValueError(f"names: {len(cols)} names for {w.shape[1]} columns")
    x = _x(index if index is not None else getattr(weights, "index", None), w.shape[0])
    keep = ~np.isnan(w).all(axis=1)
    x, w = x[keep], np.nan_to_num(w[keep])
    s = _stride(w.shape[0], max_points)
    fig, mfig, ax = _new(title, "time", "weight")
    for j, col in enumerate(cols):
        fig.add_trace(go.Scatter(x=x[s], y=w[s, j], mode="lines", stackgroup="w", name=col))
    ax.stackplot(x[s], w[s].T, labels=cols)
    ax.legend(fontsize=8, loc="upper left")
    return ReportFigure(name, title, fig, mfig, "Target weights at each rebalance.")


def attention_heatmap_figure(
    weights: Any, *, title: str = "Attention weights", name: str = "attention_heatmap"
) -> ReportFigure:
    """One attention map, shape ``(Tq, Tk)`` (average heads beforehand)."""
    with needs_extra("viz"):
        import plotly.graph_objects as go

    w = as_array(weights, "weights", ndim=2)
    fig, mfig, ax = _new(title, "key position", "query position")
    fig.add_trace(go.Heatmap(z=w, colorscale="Viridis"))
    fig.update_yaxes(autorange="reversed")
    im = ax.imshow(w, aspect="auto", cmap="viridis")
    mfig.colorbar(im, ax=ax)
    return ReportFigure(name, title, fig, mfig, "Rows: queries; columns: the keys they attend to.")


def training_curves_figure(
    history: Mapping[str, Sequence[float]], *, title: str = "Training curves", name: str = "training_curves"
) -> ReportFigure:
    """Loss curves per epoch or step; ``history`` curve name -> values."""
    with needs_extra("viz"):
        import plotly.graph_objects as go

    fig, mfig, ax = _new(title, "epoch", "loss")
    for label, values in history.items():
        y = as_array(values, f"history[{label!r}]")
        fig.add_trace(go.Scatter(x=np.arange(1, y.size + 1), y=y, mode="lines+markers", name=str(label)))
        ax.plot(np.arange(1, y.size + 1), y, marker="o", lw=1, label=str(label))
    ax.legend(fontsize=8)
    return ReportFigure(name, title, fig, mfig, "")


def pit_histogram_figure(
    shares: Mapping[str, Sequence[float]], *, title: str = "PIT histogram", name: str = "pit_histogram"
) -> ReportFigure:
    """Share of PIT values per equal-width bin, one bar series per model (flat at ``1/bins`` when
    calibrated); ``shares`` model -> shares per bin (e.g. ``quantile_scores(...)["pit_histogram"]``)."""
    with needs_extra("viz"):
        import plotly.graph_objects as go

    fig, mfig, ax = _new(title, "PIT bin", "share")
    items = list(shares.items())
    for k, (label, values) in enumerate(items):
        v = as_array(values, f"shares[{label!r}]")
        centres = (np.arange(v.size) + 0.5) / v.size
        fig.add_trace(go.Bar(x=centres, y=v, name=str(label)))
        width = 1.0 / v.size / max(1, len(items))
        ax.bar(centres - 0.5 / v.size + (k + 0.5) * width, v, width=width, label=str(label))
    if items:
        n_bins = len(items[0][1])
        fig.add_hline(y=1.0 / n_bins, line_dash="dash", line_color="grey")
        ax.axhline(1.0 / n_bins, ls="--", color="grey", lw=1)
    ax.legend(fontsize=8)
    return ReportFigure(
        name, title, fig, mfig, "Uniform (flat) when the forecast distribution is calibrated."
    )
