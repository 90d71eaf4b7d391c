"""Attention heatmaps: PNG figures (matplotlib) and interactive, self-contained HTML (plotly).

matplotlib and plotly are imported inside the functions that draw, never at import time. Figures are
drawn on ``matplotlib.figure.Figure`` objects rendered by the Agg canvas, without ``pyplot``: nothing needs
a display, no global backend is switched, no figure is left open.

Shapes:
    ``H`` heads, ``Tq`` queries (rows), ``Tk`` keys (columns). A heatmap takes ``[Tq, Tk]`` or
    ``[H, Tq, Tk]`` (a grid of heads); a model's ``attention_weights`` dict maps a layer name to
    ``[B, H, Tq, Tk]``.

Timestamps are int64 Unix seconds (``[Tk]`` or ``[B, Tk]``, the first row used) and label the axes in UTC.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._import_guard import needs_extra
from ..config import check_field
from ._analyzer import AttentionAnalyzer

__all__ = ["AttentionHeatmapVisualizer", "VisualizationConfig"]


@dataclass(frozen=True, slots=True)
class VisualizationConfig:
    """How heatmaps look and where they go.

    Args:
        figsize: figure size ``(width, height)`` in inches. Default: ``(10, 8)``.
        cmap: a matplotlib colormap name (also used, sampled, for the HTML heatmaps). Default: "viridis".
        save_dir: folder for figures saved without an explicit ``save_path`` (created when needed);
            ``None`` = every call must pass ``save_path``. Default: "attention_plots".
        dpi: PNG resolution. Default: 100.
        max_time_labels: at most this many time labels per axis (more would overlap). Default: 8.

    Raises:
        ValueError: a field breaks its rule (the message names the field, value and rule).
    """

    figsize: tuple[float, float] = (10.0, 8.0)
    cmap: str = "viridis"
    save_dir: str | Path | None = "attention_plots"
    dpi: int = 100
    max_time_labels: int = 8

    def __post_init__(self) -> None:
        n = "VisualizationConfig"
        size = self.figsize
        ok = (
            isinstance(size, (tuple, list))
            and len(size) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1000 for v in size)
        )
        check_field(ok, n, "figsize", size, "must be (width, height) in inches, each in (0, 1000)")
        object.__setattr__(self, "figsize", (float(size[0]), float(size[1])))
        check_field(
            isinstance(self.cmap, str) and bool(self.cmap), n, "cmap", self.cmap, "must be a colormap name"
        )
        with needs_extra("viz"):
            import matplotlib

        names = list(matplotlib.colormaps)
        check_field(
            self.cmap in names, n, "cmap", self.cmap, "must be a matplotlib colormap (e.g. viridis, magma)"
        )
        check_field(
            self.save_dir is None or (isinstance(self.save_dir, (str, Path)) and str(self.save_dir) != ""),
            n,
            "save_dir",
            self.save_dir,
            "must be a folder path or None",
        )
        check_field(
            isinstance(self.dpi, int) and not isinstance(self.dpi, bool) and 10 <= self.dpi <= 1200,
            n,
            "dpi",
            self.dpi,
            "must be an int in [10, 1200]",
        )
        check_field(
            isinstance(self.max_time_labels, int) and self.max_time_labels >= 2,
            n,
            "max_time_labels",
            self.max_time_labels,
            "must be an int >= 2",
        )


def _as_array(weights: Any, name: str = "weights") -> np.ndarray:
    """``[H, Tq, Tk]`` float64 array from a ``[Tq, Tk]``/``[H, Tq, Tk]`` tensor or array."""
    if isinstance(weights, Tensor):
        arr = weights.detach().to("cpu", torch.float64).numpy()
    elif isinstance(weights, np.ndarray):
        arr = weights.astype(np.float64)
    else:
        raise ValueError(
            f"{name} must be a tensor or array [q, k] or [heads, q, k], got {type(weights).__name__}"
        )
    if arr.ndim == 2:
        arr = arr[None]  # (1, Tq, Tk)
    if arr.ndim != 3 or arr.size == 0:
        hint = " (take one batch element, e.g. weights[0])" if arr.ndim == 4 else ""
        raise ValueError(f"{name} must be [q, k] or [heads, q, k], got shape {arr.shape}{hint}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or Inf")
    return arr


def _time_labels(timestamps: Any, length: int, name: str, *, compact: bool = False) -> list[str]:
    t = (
        timestamps.detach().cpu()
        if isinstance(timestamps, Tensor)
        else torch.as_tensor(np.asarray(timestamps))
    )
    if t.dim() == 2:
        t = t[0]
    if t.dim() != 1 or t.shape[0] != length:
        raise ValueError(
            f"{name} must be [{length}] or [B, {length}] Unix seconds, got shape {tuple(t.shape)}"
        )
    secs = [int(s) for s in t.tolist()]
    fmt = "%Y-%m-%d %H:%M:%S"
    if compact:  # figures: drop what every label shares
        same_day = secs[-1] - secs[0] < 86400
        fmt = "%H:%M" if same_day else "%m-%d %H:%M"
    return [datetime.fromtimestamp(s, tz=timezone.utc).strftime(fmt) for s in secs]


def _figure(config: VisualizationConfig, *, right: float = 0.88) -> Any:
    """A pyplot-free figure with fixed margins (a layout engine would cost more than the drawing)."""
    with needs_extra("viz"):
        from matplotlib.figure import Figure

    fig = Figure(figsize=config.figsize, dpi=config.dpi)
    fig.subplots_adjust(left=0.1, right=right, bottom=0.14, top=0.88, wspace=0.35, hspace=0.45)
    return fig


def _shared_colorbar(fig: Any, image: Any) -> None:
    """One colour scale for every panel, in a strip right of the grid."""
    if image is not None:  # at least one panel was drawn
        cax = fig.add_axes((0.91, 0.16, 0.015, 0.7))
        fig.colorbar(image, cax=cax, label="weight")


def _slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", title).strip("_") or "attention"


class AttentionHeatmapVisualizer:
    """Attention heatmaps of one layer, across heads and across layers.

    Args:
        config: :class:`VisualizationConfig`. Default: ``VisualizationConfig()``.

    Raises:
        TypeError: ``config`` is not a :class:`VisualizationConfig`.

    Examples:
        >>> import tempfile
        >>> viz = AttentionHeatmapVisualizer(VisualizationConfig(save_dir=None))
        >>> out = Path(tempfile.mkdtemp()) / "plots" / "a.png"
        >>> path = viz.plot_attention_heatmap(torch.softmax(torch.randn(2, 6, 6), -1), save_path=out)
        >>> path.exists()
        True
    """

    def __init__(self, config: VisualizationConfig | None = None) -> None:
        if config is None:
            config = VisualizationConfig()
        if not isinstance(config, VisualizationConfig):
            raise TypeError(f"config must be a VisualizationConfig, got {type(config).__name__}")
        self.config = config

    # -- paths -----------------------------------------------------------------------------------------
    def _path(self, save_path: str | Path | None, title: str, suffix: str) -> Path:
        """``save_path`` if given (it wins over ``save_dir``), else ``save_dir/<title>.<suffix>``."""
        if save_path is not None:
            path = Path(save_path)
            if path.suffix == "":
                path = path.with_suffix(suffix)
        elif self.config.save_dir is not None:
            path = Path(self.config.save_dir) / f"{_slug(title)}{suffix}"
        else:
            raise ValueError("save_path is required when VisualizationConfig.save_dir is None")
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _ticks(self, ax: Any, labels: list[str] | None, axis: str) -> None:
        if labels is None:
            return
        n = len(labels)
        step = max(1, math.ceil(n / self.config.max_time_labels))
        idx = list(range(0, n, step))
        if axis == "x":
            ax.set_xticks(idx, [labels[i] for i in idx], rotation=45, ha="right", fontsize=7)
        else:
            ax.set_yticks(idx, [labels[i] for i in idx], fontsize=7)

    # -- PNG -------------------------------------------------------------------------------------------
    def plot_attention_heatmap(
        self,
        weights: Tensor | np.ndarray,
        title: str = "Attention",
        save_path: str | Path | None = None,
        *,
        timestamps: Tensor | Sequence[int] | None = None,
        head_names: Sequence[str] | None = None,
    ) -> Path:
        """Draw ``weights`` (``[Tq, Tk]``, or ``[H, Tq, Tk]`` as a grid of heads) and save a PNG.

        Args:
            weights: attention weights, e.g. ``outputs["attention_weights"][layer][0]``.
            title: figure title; also the file name under ``save_dir`` when ``save_path`` is None.
            save_path: where to write (parent folders are created; wins over ``save_dir``).
            timestamps: key timestamps ``[Tk]`` (Unix seconds): UTC time labels; queries take the last ``Tq``.
            head_names: one label per head. Default: "head 0", "head 1", ...

        Returns:
            The path written.

        Raises:
            ValueError: weights not ``[q, k]``/``[heads, q, k]`` or not finite, timestamps of the wrong
                length, or no ``save_path`` with ``save_dir=None``.
        """
        arr = _as_array(weights)
        heads, tq, tk = arr.shape
        names = list(head_names) if head_names is not None else [f"head {h}" for h in range(heads)]
        if len(names) != heads:
            raise ValueError(f"head_names has {len(names)} names for {heads} heads")
        x_labels = y_labels = None
        if timestamps is not None:
            x_labels = _time_labels(timestamps, tk, "timestamps", compact=True)
            y_labels = x_labels[tk - tq :] if tq <= tk else None
        cols = min(heads, 4)
        rows = math.ceil(heads / cols)
        fig = _figure(self.config)
        axes = fig.subplots(rows, cols, squeeze=False)
        vmax = float(arr.max()) if arr.max() > 0 else 1.0
        image = None
        for h in range(rows * cols):
            ax = axes[h // cols][h % cols]
            if h >= heads:
                ax.set_axis_off()
                continue
            image = ax.imshow(
                arr[h], cmap=self.config.cmap, vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest"
            )
            ax.set_title(names[h] if heads > 1 else title, fontsize=9)
            if h // cols == rows - 1 or h + cols >= heads:  # bottom panel of its column
                ax.set_xlabel("key (UTC)" if x_labels else "key")
                self._ticks(ax, x_labels, "x")
            elif x_labels:
                ax.set_xticks([])
            if h % cols == 0:
                ax.set_ylabel("query (UTC)" if y_labels else "query")
                self._ticks(ax, y_labels, "y")
            elif y_labels:
                ax.set_yticks([])
        _shared_colorbar(fig, image)
        if heads > 1:
            fig.suptitle(title)
        path = self._path(save_path, title, ".png")
        fig.savefig(path, format="png")
        return path

    def plot_layers(
        self,
        attention_weights: Mapping[str, Tensor | None],
        title: str = "Attention by layer and head",
        save_path: str | Path | None = None,
        *,
        batch_index: int = 0,
    ) -> Path:
        """One PNG with a row per layer and a column per head, from a model's ``attention_weights``.

        ``None`` entries are skipped. Every panel shares one colour scale.

        Raises:
            ValueError: no layer has weights, a layer is not ``[B, H, Tq, Tk]``, or ``batch_index`` is out
                of range.
        """
        layers: list[tuple[str, np.ndarray]] = []
        for name, w in attention_weights.items():
            if w is None:
                continue
            if not isinstance(w, Tensor) or w.dim() != 4:
                raise ValueError(f"attention_weights[{name!r}] must be a tensor [B, H, Tq, Tk]")
            if not -w.shape[0] <= batch_index < w.shape[0]:
                raise ValueError(f"batch_index={batch_index} out of range for batch {w.shape[0]} ({name!r})")
            layers.append((name, _as_array(w[batch_index], f"attention_weights[{name!r}]")))
        if not layers:
            raise ValueError("attention_weights has no layer with weights (all None or empty)")
        cols = max(a.shape[0] for _, a in layers)
        fig = _figure(self.config)
        axes = fig.subplots(len(layers), cols, squeeze=False)
        vmax = max(float(a.max()) for _, a in layers) or 1.0
        image = None
        for r, (name, arr) in enumerate(layers):
            for h in range(cols):
                ax = axes[r][h]
                if h >= arr.shape[0]:
                    ax.set_axis_off()
                    continue
                image = ax.imshow(
                    arr[h], cmap=self.config.cmap, vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest"
                )
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"head {h}", fontsize=8)
                if h == 0:
                    ax.set_ylabel(name, fontsize=8)
        _shared_colorbar(fig, image)
        fig.suptitle(title)
        path = self._path(save_path, title, ".png")
        fig.savefig(path, format="png")
        return path

    def plot_head_statistics(
        self,
        attention_weights: Mapping[str, Tensor | None],
        title: str = "Attention head statistics",
        save_path: str | Path | None = None,
        *,
        timestamps: Tensor | None = None,
        analyzer: AttentionAnalyzer | None = None,
    ) -> Path:
        """Layers x heads panels of entropy, attention distance (seconds with timestamps, else bars),
        sparsity and head redundancy, computed by :class:`AttentionAnalyzer`; saves a PNG."""
        stats = (analyzer or AttentionAnalyzer()).analyze(attention_weights, timestamps)
        if not stats:
            raise ValueError("attention_weights has no layer with weights (all None or empty)")
        names = list(stats)
        heads = max(s.num_heads for s in stats.values())

        def table(get: Any) -> np.ndarray:
            out = np.full((len(names), heads), np.nan)
            for i, n in enumerate(names):
                v = get(stats[n])
                if v is not None:
                    out[i, : v.shape[0]] = v.numpy()
            return out

        use_time = all(s.distance_seconds is not None for s in stats.values())
        panels = [
            ("entropy (nats)", table(lambda s: s.entropy)),
            (
                "distance (s)" if use_time else "distance (bars)",
                table(lambda s: s.distance_seconds if use_time else s.distance_bars),
            ),
            ("sparsity", table(lambda s: s.sparsity)),
            ("redundancy (max cosine)", table(lambda s: s.head_redundancy)),
        ]
        fig = _figure(self.config, right=0.95)
        axes = fig.subplots(2, 2, squeeze=False).ravel()
        for ax, (label, data) in zip(axes, panels):
            im = ax.imshow(data, cmap=self.config.cmap, aspect="auto", interpolation="nearest")
            ax.set_title(label, fontsize=9)
            ax.set_xlabel("head")
            ax.set_yticks(range(len(names)), names, fontsize=7)
            fig.colorbar(im, ax=ax, shrink=0.8)
        fig.suptitle(title)
        path = self._path(save_path, title, ".png")
        fig.savefig(path, format="png")
        return path

    # -- HTML ------------------------------------------------------------------------------------------
    def _plotly_colorscale(self) -> list[list[Any]]:
        with needs_extra("viz"):
            import matplotlib

        cmap = matplotlib.colormaps[self.config.cmap]
        stops = np.linspace(0.0, 1.0, 11)
        return [[float(s), "rgb({:.0f},{:.0f},{:.0f})".format(*(255 * np.array(cmap(s)[:3])))] for s in stops]

    def plot_interactive_heatmap(
        self,
        weights: Tensor | np.ndarray,
        title: str = "Attention",
        save_path: str | Path | None = None,
        *,
        timestamps: Tensor | Sequence[int] | None = None,
        query_timestamps: Tensor | Sequence[int] | None = None,
    ) -> Path:
        """Write an interactive heatmap (plotly) as one self-contained HTML file (works offline).

        ``[H, Tq, Tk]`` weights get a menu to switch heads. With ``timestamps`` the axes are labelled with
        UTC times (queries: ``query_timestamps``, default the last ``Tq`` key times) and hovering shows the
        query time, key time and weight.

        Returns:
            The path written (``.html`` added when ``save_path`` has no suffix).

        Raises:
            ValueError: as :meth:`plot_attention_heatmap`.
        """
        with needs_extra("viz"):
            import plotly.graph_objects as go

        arr = _as_array(weights)
        heads, tq, tk = arr.shape
        x: list[Any] = list(range(tk))
        y: list[Any] = list(range(tq))
        if timestamps is not None:
            x = list(_time_labels(timestamps, tk, "timestamps"))
            if query_timestamps is not None:
                y = list(_time_labels(query_timestamps, tq, "query_timestamps"))
            elif tq <= tk:
                y = x[tk - tq :]
        elif query_timestamps is not None:
            raise ValueError("query_timestamps needs timestamps (the key times) too")
        scale = self._plotly_colorscale()
        vmax = float(arr.max()) if arr.max() > 0 else 1.0
        fig = go.Figure()
        for h in range(heads):
            fig.add_trace(
                go.Heatmap(
                    z=arr[h],
                    x=x,
                    y=y,
                    zmin=0.0,
                    zmax=vmax,
                    colorscale=scale,
                    visible=h == 0,
                    name=f"head {h}",
                    hovertemplate="query %{y}<br>key %{x}<br>weight %{z:.4f}<extra>head "
                    + str(h)
                    + "</extra>",
                )
            )
        if heads > 1:
            buttons = [
                {
                    "label": f"head {h}",
                    "method": "update",
                    "args": [{"visible": [i == h for i in range(heads)]}],
                }
                for h in range(heads)
            ]
            fig.update_layout(updatemenus=[{"buttons": buttons, "direction": "down", "x": 1.0, "y": 1.15}])
        w, h_in = self.config.figsize
        fig.update_layout(
            title=title,
            xaxis_title="key",
            yaxis_title="query",
            yaxis_autorange="reversed",
            width=int(w * self.config.dpi),
            height=int(h_in * self.config.dpi),
        )
        path = self._path(save_path, title, ".html")
        fig.write_html(str(path), include_plotlyjs=True, full_html=True)  # inline plotly.js: offline
        return path
