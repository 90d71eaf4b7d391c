"""Analysis, benchmarking, debugging, memory planning and visualisation of attention.

matplotlib and plotly are imported only when a plot is drawn.
"""

from .attention_utils import (
    AttentionAnalyzer,
    AttentionDebugger,
    AttentionMemoryEstimate,
    AttentionMemoryOptimizer,
    LayerAttentionStats,
    ModuleRecord,
    benchmark_attention_implementations,
    explain_dispatch,
    is_attention_module,
    peak_rss_supported,
)
from .visualization import AttentionHeatmapVisualizer, VisualizationConfig

__all__ = [
    "AttentionAnalyzer",
    "AttentionDebugger",
    "AttentionHeatmapVisualizer",
    "AttentionMemoryEstimate",
    "AttentionMemoryOptimizer",
    "LayerAttentionStats",
    "ModuleRecord",
    "VisualizationConfig",
    "benchmark_attention_implementations",
    "explain_dispatch",
    "is_attention_module",
    "peak_rss_supported",
]
