"""Attention analysis, benchmarking, debugging and memory planning: ``utils.attention_utils``.

The implementations live in small private modules and are re-exported here, under the names the examples
import (``from ml_attention_mechanisms.utils.attention_utils import AttentionDebugger``):

* :func:`benchmark_attention_implementations` (:mod:`._benchmark`): time and peak memory per module, with
  the kernel the dispatch chose;
* :class:`AttentionAnalyzer` (:mod:`._analyzer`): entropy, distance in bars and time, sparsity, head
  redundancy per layer and head;
* :class:`AttentionDebugger` (:mod:`._debugger`): NaN/Inf origin by forward hooks, gradient flow;
* :class:`AttentionMemoryOptimizer` (:mod:`._memory`): memory per backend, budget-driven truncation;
* :func:`explain_dispatch` (from the attention dispatch): which kernel runs for given inputs, and why.

Nothing here is imported by ``import ml_attention_mechanisms``; matplotlib and plotly are only used by
:mod:`.visualization`.
"""

from __future__ import annotations

from ..attention._dispatch import explain_dispatch
from ._analyzer import AttentionAnalyzer, LayerAttentionStats
from ._benchmark import benchmark_attention_implementations, peak_rss_supported
from ._debugger import AttentionDebugger, ModuleRecord, is_attention_module
from ._memory import AttentionMemoryEstimate, AttentionMemoryOptimizer

__all__ = [
    "AttentionAnalyzer",
    "AttentionDebugger",
    "AttentionMemoryEstimate",
    "AttentionMemoryOptimizer",
    "LayerAttentionStats",
    "ModuleRecord",
    "benchmark_attention_implementations",
    "explain_dispatch",
    "is_attention_module",
    "peak_rss_supported",
]
