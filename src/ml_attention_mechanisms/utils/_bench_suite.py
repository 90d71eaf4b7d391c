"""The attention benchmark table: every attention layer of the library on one input, side by side.

Used by ``mlattn benchmark``; :func:`attention_benchmark` returns rows, :func:`format_table` prints them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..config import AttentionConfig
from ._benchmark import benchmark_attention_implementations

__all__ = ["ATTENTION_IMPLEMENTATIONS", "attention_benchmark", "format_table"]

# name -> what it is; the order of the table, "standard" first (the speed-up reference).
ATTENTION_IMPLEMENTATIONS: dict[str, str] = {
    "standard": "MultiHeadAttention(use_flash_attn=False): the exact math path",
    "flash": "MultiHeadAttention(use_flash_attn=True): the dispatch's fastest exact kernel",
    "crypto": "CryptoMultiHeadAttention (plain tensor input: no time bias, no temperature)",
    "chunked": "ChunkedAttention: exact, tiles chosen from a memory budget",
    "linear": "LinearAttention: elu+1 kernel feature map (not softmax)",
}


def _build(name: str, config: AttentionConfig) -> nn.Module:
    from ..attention.multi_head_attention import MultiHeadAttention
    from ..attention.self_attention import ChunkedAttention, CryptoMultiHeadAttention, LinearAttention

    if name == "standard":
        return MultiHeadAttention(config, use_flash_attn=False)
    if name == "flash":
        return MultiHeadAttention(config, use_flash_attn=True)
    if name == "crypto":
        return CryptoMultiHeadAttention(config)
    if name == "chunked":
        return ChunkedAttention(config)
    if name == "linear":
        return LinearAttention(config)
    raise ValueError(f"unknown implementation {name!r}; available: {', '.join(ATTENTION_IMPLEMENTATIONS)}")


def attention_benchmark(
    *,
    batch: int = 2,
    seq_len: int = 256,
    d_model: int = 128,
    num_heads: int = 4,
    num_runs: int = 10,
    warmup_runs: int = 2,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    implementations: Sequence[str] | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Benchmark the library's attention layers on one random input ``[batch, seq_len, d_model]``.

    Returns:
        One row per implementation: ``name``, ``backend`` (the kernel the dispatch chose),
        ``time_ms``, ``std_ms``, ``memory_mb`` (measured; NaN where the counter is unavailable),
        ``estimate_mb`` (:class:`AttentionMemoryOptimizer` for that backend; NaN for backends it does not
        price), ``speedup`` (standard time / this time; NaN without a "standard" row).

    Raises:
        ValueError: an unknown implementation name or an invalid size.
    """
    from ._memory import BACKEND_ESTIMATES, AttentionMemoryOptimizer

    names = list(implementations) if implementations is not None else list(ATTENTION_IMPLEMENTATIONS)
    for name in names:
        if name not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(
                f"unknown implementation {name!r}; available: {', '.join(ATTENTION_IMPLEMENTATIONS)}"
            )
    config = AttentionConfig(d_model=d_model, num_heads=num_heads)
    torch.manual_seed(seed)
    modules = {name: _build(name, config).to(device=device, dtype=dtype) for name in names}
    x = torch.randn(batch, seq_len, d_model, device=device, dtype=dtype)
    stats = benchmark_attention_implementations(modules, x, num_runs, warmup_runs=warmup_runs)
    rows: list[dict[str, Any]] = []
    base = stats["standard"]["forward_time_mean_ms"] if "standard" in stats else float("nan")
    for name, st in stats.items():
        backend = str(st["backend"])
        est = float("nan")
        if backend in BACKEND_ESTIMATES:
            est = AttentionMemoryOptimizer.estimate_attention_memory(
                batch=batch,
                num_heads=num_heads,
                q_len=seq_len,
                k_len=seq_len,
                head_dim=config.head_dim,
                dtype=dtype,
                backend=backend,  # "chunked": the same default budget as ChunkedAttention's
            ).total_mb
        rows.append(
            {
                "name": name,
                "backend": backend,
                "time_ms": st["forward_time_mean_ms"],
                "std_ms": st["forward_time_std_ms"],
                "memory_mb": st.get("memory_usage_mean_mb", float("nan")),
                "estimate_mb": est,
                "speedup": base / st["forward_time_mean_ms"],
            }
        )
    return rows


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows of dicts as a fixed-width text table (floats with 2 decimals, NaN shown as ``-``)."""
    if not rows:
        return "(no rows)"
    cols = list(columns) if columns is not None else list(rows[0])

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "-" if v != v else f"{v:.2f}"
        return str(v)

    cells = [[cell(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths))
    rule = "  ".join("-" * w for w in widths)
    body = [
        "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths)))
        for row in cells
    ]
    return "\n".join([line, rule, *body])
