"""The chunk (tile) size of chunked attention, chosen from a memory budget.

Chunked attention computes exact softmax attention tile by tile: queries in blocks of ``c`` rows, keys in
chunks of ``c`` columns, with an online softmax (Milakov & Gimelshein 2018, https://arxiv.org/abs/1805.02867;
Rabe & Staats 2021, https://arxiv.org/abs/2112.05682). Only one ``[B, H, c, c]`` tile of scores lives at a
time, so the working set is bounded by the budget whatever the sequence length (plus the output-sized
accumulators of one query block, which any exact method needs).

This module is private; :func:`choose_chunk_size` is re-exported by
:mod:`ml_attention_mechanisms.attention.self_attention` (``ChunkedAttention`` owns the choice) and used by
``utils.attention_utils.AttentionMemoryOptimizer``.
"""

from __future__ import annotations

import math

import torch

__all__ = ["DEFAULT_MAX_MEMORY_MB", "choose_chunk_size", "tile_bytes_per_score"]

DEFAULT_MAX_MEMORY_MB = 256.0  # the dispatch's default budget when chunked attention is forced without one
_ALIGN = 64  # tiles above this size are rounded down to a multiple of it (matmul-friendly)


def tile_bytes_per_score(dtype: torch.dtype) -> int:
    """Bytes one score element of a tile costs at peak.

    Scores and their exponentials are kept in float32 (float64 for float64 inputs), plus a boolean
    mask tile and the exponentials cast back to the value dtype for the ``p @ v`` product.
    """
    acc = 8 if dtype == torch.float64 else 4
    item = torch.empty((), dtype=dtype).element_size()
    return 3 * acc + 1 + item


def choose_chunk_size(
    q_len: int,
    k_len: int,
    *,
    batch: int,
    num_heads: int,
    dtype: torch.dtype,
    max_memory_mb: float,
) -> int:
    """Largest square tile side whose score working set fits in ``max_memory_mb``.

    The working set of one tile is ``batch * num_heads * c * c * tile_bytes_per_score(dtype)`` bytes;
    ``c`` is the largest side that fits, at most ``max(q_len, k_len)`` (one tile covers everything: no
    chunking needed) and at least 1. Sides above 64 are rounded down to a multiple of 64.

    Args:
        q_len: query length ``Tq``.
        k_len: key length ``Tk``.
        batch: batch size ``B``.
        num_heads: query heads ``H``.
        dtype: dtype of the queries.
        max_memory_mb: budget for the score tile in MiB.

    Returns:
        The tile side ``c`` used both for query blocks and key chunks.

    Raises:
        ValueError: a length, batch or head count is not a positive int, or the budget is not positive.

    Examples:
        >>> choose_chunk_size(8192, 8192, batch=1, num_heads=8, dtype=torch.float32, max_memory_mb=256.0)
        1344
    """
    for name, value in (("q_len", q_len), ("k_len", k_len), ("batch", batch), ("num_heads", num_heads)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"choose_chunk_size: {name}={value!r} must be a positive int")
    if not (isinstance(max_memory_mb, (int, float)) and max_memory_mb > 0 and math.isfinite(max_memory_mb)):
        raise ValueError(f"choose_chunk_size: max_memory_mb={max_memory_mb!r} must be a positive number")
    budget = max_memory_mb * 1024 * 1024
    per_row = batch * num_heads * tile_bytes_per_score(dtype)
    side = math.isqrt(int(budget // per_row))
    side = max(1, min(side, max(q_len, k_len)))
    if side > _ALIGN and side < max(q_len, k_len):
        side -= side % _ALIGN
    return side
