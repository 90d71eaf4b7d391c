"""How much memory an attention call takes per backend, and how much history fits a budget.

Units: bytes internally, MB = MiB = ``2**20`` bytes in every public figure.

Shapes:
    ``B`` batch, ``H`` query heads, ``Hkv`` key/value heads, ``Tq``/``Tk`` query/key length, ``D`` head dim.

The per-score cost ``s = tile_bytes_per_score(dtype)`` is the chunked backend's (float32 scores and their
exponentials, a bool mask element, the weights cast back to the value dtype: ``3 * 4 + 1 + e`` bytes for
an input of ``e`` bytes per element, ``3 * 8 + 1 + 8`` for float64). The math backend builds the same
tensors for the whole ``Tq x Tk`` matrix at once, so both are priced with ``s``. Measured on CPU (peak
RSS rise, ``B = 1``, ``H = 8``, ``T = 1024``, output included) the math path takes 8-14 bytes per score in
float32, 10-16 in bfloat16 and 16-26 in float64, depending on the mask (none, bool, additive, causal): ``s``
(17, 15, 33) is an estimate, on the high side without a mask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..attention._chunking import DEFAULT_MAX_MEMORY_MB, tile_bytes_per_score
from ..attention.self_attention import choose_chunk_size
from ._benchmark import MIB

__all__ = ["BACKEND_ESTIMATES", "AttentionMemoryEstimate", "AttentionMemoryOptimizer"]

BACKEND_ESTIMATES = ("math", "sdpa", "flash_attn", "chunked")


@dataclass(frozen=True, slots=True)
class AttentionMemoryEstimate:
    """The estimated peak memory of one attention call (inference, no autograd), in MiB.

    Attributes:
        backend: the backend estimated.
        io_mb: ``q``, ``k``, ``v`` and the output: ``e * (2*B*H*Tq*D + 2*B*Hkv*Tk*D)``, plus the ``k``/``v``
            copies expanded to ``H`` heads (``2*B*H*Tk*D*e``) when grouped-query attention expands them.
        scores_mb: the score working set: math ``B*H*Tq*Tk*s``; chunked ``B*H*c*c*s`` for tile side ``c``
            plus the float32 accumulators of one query block ``B*H*c*(D+2)*4``; sdpa / flash_attn the
            log-sum-exp ``B*H*Tq*4`` (their kernels never hold the ``Tq x Tk`` matrix).
        mask_mb: a dense bool mask ``[B, H, Tq, Tk]`` (one byte per element) when one is passed.
        total_mb: the sum.
        chunk_size: the chunked backend's tile side (``None`` for the others).
    """

    backend: str
    io_mb: float
    scores_mb: float
    mask_mb: float
    total_mb: float
    chunk_size: int | None = None


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r}: must be a positive int")
    return value


def _budget(value: object, name: str = "max_memory_mb") -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value > 0)
    ):
        raise ValueError(f"{name}={value!r}: must be a positive, finite number of MiB")
    return float(value)


class AttentionMemoryOptimizer:
    """Memory estimates per attention backend and budget-driven sequence truncation.

    Every method is static: the class is a namespace, called as
    ``AttentionMemoryOptimizer.dynamic_sequence_truncation(...)``.
    """

    @staticmethod
    def estimate_attention_memory(
        *,
        batch: int,
        num_heads: int,
        q_len: int,
        k_len: int,
        head_dim: int,
        dtype: torch.dtype = torch.float32,
        backend: str = "math",
        num_kv_heads: int | None = None,
        dense_mask: bool = False,
        chunk_size: int | None = None,
        max_memory_mb: float = DEFAULT_MAX_MEMORY_MB,
    ) -> AttentionMemoryEstimate:
        """Estimate the peak memory of one inference attention call on ``backend``.

        Args:
            batch: ``B``.
            num_heads: ``H``.
            q_len: ``Tq``.
            k_len: ``Tk``.
            head_dim: ``D``.
            dtype: dtype of ``q``/``k``/``v``. Default: float32.
            backend: one of ``"math"``, ``"sdpa"``, ``"flash_attn"``, ``"chunked"``. Default: ``"math"``.
            num_kv_heads: ``Hkv`` for grouped-query attention. Default: ``num_heads``.
            dense_mask: a dense bool mask ``[B, H, Tq, Tk]`` is passed. Default: False.
            chunk_size: chunked tile side; ``None`` = ``choose_chunk_size`` from ``max_memory_mb``.
            max_memory_mb: the chunked backend's budget when ``chunk_size`` is None. Default: 256.

        Returns:
            :class:`AttentionMemoryEstimate` (the formulas are on its attributes).

        Raises:
            ValueError: a size is not a positive int, an unknown backend, or a bad budget.

        Examples:
            >>> est = AttentionMemoryOptimizer.estimate_attention_memory(
            ...     batch=1, num_heads=8, q_len=1024, k_len=1024, head_dim=64, backend="math")
            >>> round(est.scores_mb)  # 8 * 1024 * 1024 scores * 17 bytes
            136
        """
        b = _positive_int(batch, "batch")
        h = _positive_int(num_heads, "num_heads")
        tq = _positive_int(q_len, "q_len")
        tk = _positive_int(k_len, "k_len")
        d = _positive_int(head_dim, "head_dim")
        hkv = h if num_kv_heads is None else _positive_int(num_kv_heads, "num_kv_heads")
        if h % hkv:
            raise ValueError(f"num_kv_heads={hkv}: must divide num_heads={h}")
        if backend not in BACKEND_ESTIMATES:
            raise ValueError(f"backend={backend!r}: must be one of {', '.join(BACKEND_ESTIMATES)}")
        e = torch.empty((), dtype=dtype).element_size()
        s = tile_bytes_per_score(dtype)
        io = e * (2 * b * h * tq * d + 2 * b * hkv * tk * d)
        if hkv != h and backend in ("math", "chunked"):
            io += 2 * b * h * tk * d * e  # repeat_interleave of k and v to H heads
        mask = b * h * tq * tk if dense_mask else 0
        c: int | None = None
        if backend == "math":
            scores = b * h * tq * tk * s
        elif backend == "chunked":
            c = (
                _positive_int(chunk_size, "chunk_size")
                if chunk_size is not None
                else choose_chunk_size(
                    tq, tk, batch=b, num_heads=h, dtype=dtype, max_memory_mb=_budget(max_memory_mb)
                )
            )
            cq, ck = min(c, tq), min(c, tk)
            scores = b * h * cq * ck * s + b * h * cq * (d + 2) * 4
        else:
            scores = b * h * tq * 4
        return AttentionMemoryEstimate(
            backend=backend,
            io_mb=io / MIB,
            scores_mb=scores / MIB,
            mask_mb=mask / MIB,
            total_mb=(io + scores + mask) / MIB,
            chunk_size=c,
        )

    @staticmethod
    def compare_backends(
        *,
        batch: int,
        num_heads: int,
        q_len: int,
        k_len: int,
        head_dim: int,
        dtype: torch.dtype = torch.float32,
        num_kv_heads: int | None = None,
        dense_mask: bool = False,
        max_memory_mb: float = DEFAULT_MAX_MEMORY_MB,
    ) -> dict[str, AttentionMemoryEstimate]:
        """:meth:`estimate_attention_memory` for every backend, keyed by name."""
        return {
            name: AttentionMemoryOptimizer.estimate_attention_memory(
                batch=batch,
                num_heads=num_heads,
                q_len=q_len,
                k_len=k_len,
                head_dim=head_dim,
                dtype=dtype,
                backend=name,
                num_kv_heads=num_kv_heads,
                dense_mask=dense_mask,
                max_memory_mb=max_memory_mb,
            )
            for name in BACKEND_ESTIMATES
        }

    @staticmethod
    def max_sequence_length(*, batch: int, num_heads: int, dtype: torch.dtype, max_memory_mb: float) -> int:
        """Longest ``T`` whose math-path score memory fits the budget (0 if not even one step fits).

        The score memory of a ``T x T`` attention is ``B * H * T * T * s`` bytes (``s`` as in the module
        docstring); the budget is ``max_memory_mb * 2**20`` bytes. ``T`` is the chunked backend's tile
        side for that budget, from :func:`choose_chunk_size` (the one chooser of the library; it rounds
        sides above 64 down to a multiple of 64).
        """
        budget = _budget(max_memory_mb)
        b = _positive_int(batch, "batch")
        h = _positive_int(num_heads, "num_heads")
        if b * h * tile_bytes_per_score(dtype) > budget * MIB:
            return 0
        # The chooser caps the side at the longest length it is given: give it one that never binds.
        cap = math.isqrt(int(budget * MIB)) + 1
        return choose_chunk_size(cap, cap, batch=b, num_heads=h, dtype=dtype, max_memory_mb=budget)

    @staticmethod
    def dynamic_sequence_truncation(x: Tensor, max_memory_mb: float, head_dim: int, num_heads: int) -> Tensor:
        """Keep the most recent steps of ``x`` whose math-path attention scores fit ``max_memory_mb``.

        Rule: with ``B`` the batch and ``s`` the bytes per score (17 for float32: see the module
        docstring), the scores of ``T`` steps take ``B * num_heads * T * T * s`` bytes; ``x`` keeps its
        last ``T`` steps, ``T`` the chunked backend's tile side for the budget and the sequence
        (:func:`choose_chunk_size`: the largest side that fits, rounded down to a multiple of 64 when it
        is above 64 and shorter than the sequence). MiB = ``2**20`` bytes. A sequence that fits is returned unchanged (the same tensor). ``head_dim`` does not enter
        the score memory (it only prices ``q``/``k``/``v``, see :meth:`estimate_attention_memory`); it is
        validated all the same.

        Args:
            x: ``[B, T, F]`` (or ``[T, F]``, read as ``B = 1``); time is the second-to-last dimension.
            max_memory_mb: budget for the score matrix, in MiB.
            head_dim: ``D`` of the attention that will run on ``x``.
            num_heads: ``H`` of that attention.

        Returns:
            ``x[..., -T:, :]`` (a view).

        Raises:
            ValueError: ``x`` is not 2-D or 3-D floating, a bad budget or head count, or a budget too small
                for a single step (the message gives the minimum).

        Examples:
            >>> x = torch.randn(8, 2048, 512)
            >>> AttentionMemoryOptimizer.dynamic_sequence_truncation(x, 1000.0, 64, 8).shape
            torch.Size([8, 960, 512])
        """
        if not isinstance(x, Tensor) or x.dim() not in (2, 3) or x.shape[-2] == 0:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be a tensor [batch, seq_len, features] with seq_len >= 1, got {shape}")
        budget = _budget(max_memory_mb)
        _positive_int(head_dim, "head_dim")
        h = _positive_int(num_heads, "num_heads")
        b = x.shape[0] if x.dim() == 3 else 1
        dtype = x.dtype if x.is_floating_point() else torch.float32
        t = x.shape[-2]
        if b * h * tile_bytes_per_score(dtype) > budget * MIB:
            need = b * h * tile_bytes_per_score(dtype) / MIB
            raise ValueError(
                f"max_memory_mb={budget!r} cannot hold the scores of one step for batch {b} and "
                f"{h} heads: at least {need:.6f} MiB is needed"
            )
        # One tile covering all T steps means the whole score matrix fits; otherwise the tile side is the
        # longest history that does.
        keep = choose_chunk_size(t, t, batch=b, num_heads=h, dtype=dtype, max_memory_mb=budget)
        if keep >= t:
            return x
        return x[..., t - keep :, :]
