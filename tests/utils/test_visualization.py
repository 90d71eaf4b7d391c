"""VisualizationConfig and AttentionHeatmapVisualizer: files written, paths, labels, headless, lazy imports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ml_attention_mechanisms import (
    AttentionConfig,
    AttentionHeatmapVisualizer,
    MultiHeadAttention,
    VisualizationConfig,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _weights(heads: int = 2, q: int = 6, k: int = 6) -> torch.Tensor:
    return torch.softmax(torch.randn(heads, q, k), dim=-1)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")  # IHDR width, height


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"figsize": (0, 4)}, r"VisualizationConfig.figsize=\(0, 4\)"),
        ({"figsize": (4,)}, "VisualizationConfig.figsize"),
        ({"cmap": "not_a_cmap"}, "VisualizationConfig.cmap='not_a_cmap': must be a matplotlib colormap"),
        ({"cmap": ""}, "VisualizationConfig.cmap"),
        ({"save_dir": ""}, "VisualizationConfig.save_dir"),
        ({"dpi": 5}, "VisualizationConfig.dpi=5"),
        ({"max_time_labels": 1}, "VisualizationConfig.max_time_labels=1"),
    ],
)
def test_config_validation_names_field_value_and_rule(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        VisualizationConfig(**kwargs)


def test_config_is_frozen_and_normalises_figsize() -> None:
    cfg = VisualizationConfig(figsize=[12, 8], cmap="magma")
    assert cfg.figsize == (12.0, 8.0)
    with pytest.raises(AttributeError):
        cfg.cmap = "viridis"  # type: ignore[misc]


def test_heatmap_of_one_head_writes_a_png_of_the_configured_size(tmp_path: Path) -> None:
    viz = AttentionHeatmapVisualizer(VisualizationConfig(figsize=(4, 3), dpi=50, save_dir=tmp_path / "d"))
    path = viz.plot_attention_heatmap(_weights(1)[0], title="one head")
    assert path == tmp_path / "d" / "one_head.png"
    assert _png_size(path) == (200, 150)


def test_save_path_wins_over_save_dir_and_parents_are_created(tmp_path: Path) -> None:
    viz = AttentionHeatmapVisualizer(VisualizationConfig(save_dir=tmp_path / "unused"))
    target = tmp_path / "plots" / "deep" / "layer_0_heatmap.png"
    path = viz.plot_attention_heatmap(_weights(4), title="layer 0", save_path=str(target))
    assert path == target and _png_size(path)[0] > 0
    assert not (tmp_path / "unused").exists()


def test_grid_of_heads_with_time_labels(tmp_path: Path) -> None:
    viz = AttentionHeatmapVisualizer(VisualizationConfig(save_dir=None))
    ts = 1640995200 + 3600 * torch.arange(8)
    path = viz.plot_attention_heatmap(_weights(5, 8, 8), save_path=tmp_path / "g", timestamps=ts)
    assert path.suffix == ".png" and path.read_bytes()[:8] == PNG_MAGIC


def test_spec_style_loop_over_a_models_attention_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    layer = MultiHeadAttention(AttentionConfig(d_model=16, num_heads=4))
    _, w = layer(torch.randn(1, 7, 16), need_weights=True)
    attention_weights = {"layer_0": w, "layer_1": None}
    visualizer = AttentionHeatmapVisualizer(
        VisualizationConfig(figsize=(12, 8), cmap="viridis", save_dir="./attention_plots")
    )
    for layer_name, weights in attention_weights.items():
        if weights is not None:
            visualizer.plot_attention_heatmap(
                weights[0],
                title=f"{layer_name} Attention Pattern",
                save_path=f"./plots/{layer_name}_heatmap.png",
            )
    assert (tmp_path / "plots" / "layer_0_heatmap.png").read_bytes()[:8] == PNG_MAGIC
    assert not (tmp_path / "attention_plots").exists()


def test_plots_across_layers_and_head_statistics(tmp_path: Path) -> None:
    viz = AttentionHeatmapVisualizer(VisualizationConfig(save_dir=tmp_path))
    weights = {"l0": _weights(3)[None], "l1": _weights(2)[None], "none": None}
    layers = viz.plot_layers(weights)
    stats = viz.plot_head_statistics(weights, timestamps=torch.arange(6) * 60)
    assert layers == tmp_path / "Attention_by_layer_and_head.png"
    assert stats == tmp_path / "Attention_head_statistics.png"
    assert layers.read_bytes()[:8] == PNG_MAGIC and stats.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ValueError, match="batch_index=3 out of range"):
        viz.plot_layers(weights, batch_index=3)
    with pytest.raises(ValueError, match="no layer with weights"):
        viz.plot_layers({"x": None})


def test_interactive_html_is_self_contained_with_time_labels(tmp_path: Path) -> None:
    viz = AttentionHeatmapVisualizer(VisualizationConfig(save_dir=tmp_path))
    ts = torch.tensor([1640995200 + 60 * i for i in range(6)])
    path = viz.plot_interactive_heatmap(_weights(3), title="interactive", timestamps=ts)
    assert path == tmp_path / "interactive.html"
    html = path.read_text(encoding="utf-8")
    assert "2022-01-01 00:05:00" in html  # last key time, UTC
    # plotly.js is inlined (works offline): no <script> tag loads anything.
    tags = re.findall(r"<script[^>]*>", html)
    assert tags and not any("src=" in tag for tag in tags)
    assert "head 2" in html  # the head menu
    assert len(html) > 1_000_000  # the inlined library


def test_bad_inputs(tmp_path: Path) -> None:
    viz = AttentionHeatmapVisualizer(VisualizationConfig(save_dir=None))
    with pytest.raises(ValueError, match=r"weights\[0\]"):
        viz.plot_attention_heatmap(torch.rand(1, 2, 3, 3), save_path=tmp_path / "x.png")
    with pytest.raises(ValueError, match="save_path is required"):
        viz.plot_attention_heatmap(_weights())
    with pytest.raises(ValueError, match=r"timestamps must be \[6\]"):
        viz.plot_attention_heatmap(_weights(), save_path=tmp_path / "x.png", timestamps=torch.arange(5))
    with pytest.raises(ValueError, match="NaN or Inf"):
        viz.plot_interactive_heatmap(torch.full((3, 3), float("nan")), save_path=tmp_path / "x.html")
    with pytest.raises(TypeError, match="VisualizationConfig"):
        AttentionHeatmapVisualizer({"cmap": "viridis"})  # type: ignore[arg-type]


def test_imports_are_lazy_and_no_pyplot_is_used(tmp_path: Path) -> None:
    code = (
        "import sys, json, torch\n"
        "from ml_attention_mechanisms.utils import visualization as v, attention_utils\n"
        "before = sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'plotly'))\n"
        "viz = v.AttentionHeatmapVisualizer(v.VisualizationConfig(save_dir=sys.argv[1]))\n"
        "viz.plot_attention_heatmap(torch.softmax(torch.randn(4, 4), -1))\n"
        "print(json.dumps([before, 'matplotlib.pyplot' in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    before, pyplot = json.loads(out.stdout)
    assert before == [] and pyplot is False
