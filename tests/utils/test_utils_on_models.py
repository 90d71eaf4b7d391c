"""The spec's utility examples on the registered models: debugger, visualisation, analysis."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ml_attention_mechanisms import (
    AttentionAnalyzer,
    AttentionHeatmapVisualizer,
    VisualizationConfig,
    create_crypto_model,
)
from ml_attention_mechanisms.models._registry import get_model_entry
from ml_attention_mechanisms.utils.attention_utils import AttentionDebugger

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _small_price_predictor() -> torch.nn.Module:
    kwargs = get_model_entry("price_predictor").model_cls.test_kwargs()
    return create_crypto_model("price_predictor", **kwargs).eval()


def test_the_spec_validation_script_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    # --- the spec's "Validation Scripts" block, verbatim ---
    debugger = AttentionDebugger()
    model = create_crypto_model("price_predictor")

    # Register hooks for debugging
    debugger.register_attention_hooks(model)

    # Run model
    x = torch.randn(4, 128, 50)
    outputs = model(x)

    # Check for issues
    debug_report = debugger.get_debug_report()
    print(f"Modules checked: {debug_report['num_modules_checked']}")
    print(f"Issues found: {debug_report['modules_with_nan'] + debug_report['modules_with_inf']}")
    # --- end ---
    assert outputs is not None
    called = debug_report["num_modules_checked"]
    assert capsys.readouterr().out.splitlines() == [f"Modules checked: {called}", "Issues found: 0"]
    assert 0 < called <= len(list(model.modules()))
    assert debug_report["attention_modules"]  # the encoder's attention layers were seen
    debugger.remove_hooks()


def test_a_nan_planted_in_a_models_attention_is_traced_to_it() -> None:
    model = _small_price_predictor()
    name = next(n for n, m in model.named_modules() if n.endswith("attn.out_proj"))
    with torch.no_grad():
        model.get_submodule(name).weight[0, 0] = float("nan")
    debugger = AttentionDebugger()
    debugger.register_attention_hooks(model)
    model(torch.randn(2, 8, model.config.input_features))
    report = debugger.get_debug_report()
    assert report["first_bad_module"] == name
    assert report["modules_with_nan"] == len(report["nan_modules"]) >= 2
    debugger.remove_hooks()


def test_the_spec_visualization_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # --- the spec's "Attention Pattern Visualization" block, verbatim ---
    # Configure visualization
    viz_config = VisualizationConfig(figsize=(12, 8), cmap="viridis", save_dir="./attention_plots")

    visualizer = AttentionHeatmapVisualizer(viz_config)

    # Extract attention weights from model
    model = create_crypto_model("price_predictor", d_model=256, num_heads=8)
    x = torch.randn(1, 64, 50)
    outputs = model(x, need_attention_weights=True)
    attention_weights = outputs.get("attention_weights", {})

    # Create visualizations
    for layer_name, weights in attention_weights.items():
        if weights is not None:
            visualizer.plot_attention_heatmap(
                weights[0],  # First batch
                title=f"{layer_name} Attention Pattern",
                save_path=f"./plots/{layer_name}_heatmap.png",
            )
    # --- end ---
    written = sorted(p.name for p in (tmp_path / "plots").iterdir())
    expected = sorted(f"{n}_heatmap.png" for n, w in attention_weights.items() if w is not None)
    assert written == expected and expected
    assert all((tmp_path / "plots" / n).read_bytes()[:8] == PNG_MAGIC for n in written)


def test_analysis_and_plots_of_a_models_attention(tmp_path: Path) -> None:
    model = _small_price_predictor()
    t = 8
    timestamps = (1640995200 + 3600 * torch.arange(t)).repeat(2, 1)
    outputs = model(torch.randn(2, t, model.config.input_features), need_attention_weights=True)
    weights = outputs["attention_weights"]
    stats = AttentionAnalyzer().analyze(weights, timestamps)
    assert set(stats) == {n for n, w in weights.items() if w is not None}
    for layer in stats.values():
        assert ((layer.entropy >= 0) & (layer.entropy <= math.log(t) + 1e-9)).all()
        assert layer.distance_seconds is not None
        torch.testing.assert_close(layer.distance_seconds, layer.distance_bars * 3600)  # regular hourly bars
    viz = AttentionHeatmapVisualizer(VisualizationConfig(figsize=(6, 4), save_dir=tmp_path))
    assert viz.plot_layers(weights).read_bytes()[:8] == PNG_MAGIC
    assert viz.plot_head_statistics(weights, timestamps=timestamps).read_bytes()[:8] == PNG_MAGIC
