"""Self-attention variants: standard, linear (kernel feature map), chunked (exact, bounded memory), and the
market-aware :class:`CryptoMultiHeadAttention` (in :mod:`._crypto_attention`, re-exported here).

All of them share :class:`MultiHeadAttention`'s packed projections and compute attention only through the
dispatch (:mod:`._dispatch`): ``LinearAttention`` forces the ``linear`` backend, ``ChunkedAttention`` the
``chunked`` backend with a tile size it chooses from a memory budget (:func:`choose_chunk_size`).

Shapes:
    ``B`` batch, ``T`` sequence length, ``H`` heads, ``D`` head dim, ``d_model = H * D``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import AttentionConfig
from ._chunking import DEFAULT_MAX_MEMORY_MB, choose_chunk_size
from ._crypto_attention import CryptoMultiHeadAttention
from ._dispatch import attend, linear_attention_readout, linear_attention_state
from ._masks import PreparedMask, combine_masks, is_tracing
from .multi_head_attention import MultiHeadAttention

__all__ = [
    "ChunkedAttention",
    "CryptoMultiHeadAttention",
    "LinearAttention",
    "SelfAttention",
    "choose_chunk_size",
]


class SelfAttention(MultiHeadAttention):
    """Standard scaled dot-product self-attention: queries, keys and values all come from ``x``.

    The same layer as :class:`MultiHeadAttention` with a self-attention signature.

    Examples:
        >>> layer = SelfAttention(AttentionConfig(d_model=32, num_heads=4))
        >>> layer(torch.randn(2, 7, 32)).shape
        torch.Size([2, 7, 32])
    """

    def forward(  # type: ignore[override]
        self,
        x: Tensor,
        attention_mask: Tensor | None = None,
        need_weights: bool = False,
        *,
        key_mask: Tensor | None = None,
        is_causal: bool | None = None,
        positions: Tensor | None = None,
        attn_bias: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Args and returns as :meth:`MultiHeadAttention.forward` with ``query = key = value = x [B, T, d_model]``."""
        return super().forward(
            x,
            None,
            None,
            attention_mask,
            need_weights,
            key_mask=key_mask,
            is_causal=is_causal,
            positions=positions,
            attn_bias=attn_bias,
        )


class ChunkedAttention(MultiHeadAttention):
    """Exact softmax attention in bounded memory (online softmax over tiles).

    Scores are computed tile by tile (query blocks x key chunks of side ``c``); only one
    ``[B, H, c, c]`` tile is alive at a time, so the score memory stays under ``max_memory_mb`` for any
    length (Rabe & Staats 2021, https://arxiv.org/abs/2112.05682). The result equals softmax attention up to
    float rounding. The layer owns the tile choice: :func:`choose_chunk_size` from the budget, per call
    shape, unless ``chunk_size`` fixes it. Causal and sliding-window tiles that are fully masked are
    skipped. Asking for weights (``need_weights=True``) takes the exact math path, which materialises them.

    Args:
        config: :class:`AttentionConfig`.
        max_memory_mb: budget for the score tile in MiB. Default: 256.
        chunk_size: fixed tile side; ``None`` = chosen from the budget. Default: None.
        rotary: optional rotary encoding, as in :class:`MultiHeadAttention`.

    Raises:
        ValueError: ``max_memory_mb`` is not positive or ``chunk_size`` is not a positive int.

    Examples:
        >>> layer = ChunkedAttention(AttentionConfig(d_model=32, num_heads=4), chunk_size=16)
        >>> layer(torch.randn(1, 50, 32)).shape
        torch.Size([1, 50, 32])
    """

    def __init__(
        self,
        config: AttentionConfig,
        *,
        max_memory_mb: float = DEFAULT_MAX_MEMORY_MB,
        chunk_size: int | None = None,
        rotary: nn.Module | None = None,
    ) -> None:
        super().__init__(config, rotary=rotary)
        if not max_memory_mb > 0:
            raise ValueError(f"ChunkedAttention.max_memory_mb={max_memory_mb!r}: must be positive")
        if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
            raise ValueError(f"ChunkedAttention.chunk_size={chunk_size!r}: must be a positive int or None")
        self.max_memory_mb = float(max_memory_mb)
        self.chunk_size = chunk_size

    def tile_size(self, q_len: int, k_len: int, *, batch: int, dtype: torch.dtype) -> int:
        """The tile side this layer uses for a call of these sizes."""
        if self.chunk_size is not None:
            return self.chunk_size
        return choose_chunk_size(
            q_len,
            k_len,
            batch=batch,
            num_heads=self.num_heads,
            dtype=dtype,
            max_memory_mb=self.max_memory_mb,
        )

    def _kernel(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        mask: Tensor | PreparedMask | None,
        is_causal: bool,
        window: int | None,
        need_weights: bool,
    ) -> tuple[Tensor, Tensor | None]:
        if need_weights:
            return super()._kernel(q, k, v, mask=mask, is_causal=is_causal, window=window, need_weights=True)
        return attend(
            q,
            k,
            v,
            mask=mask,
            is_causal=is_causal,
            window=window,
            dropout_p=self.config.dropout if self.training else 0.0,
            scale=self.config.scale,
            backend="chunked",
            chunk_size=self.tile_size(q.shape[-2], k.shape[-2], batch=q.shape[0], dtype=q.dtype),
        )


class LinearAttention(MultiHeadAttention):
    """Linear attention (Katharopoulos et al. 2020, "Transformers are RNNs", https://arxiv.org/abs/2006.16236).

    ``softmax(q k^T)`` is replaced by the kernel ``phi(q) phi(k)^T`` with ``phi(x) = elu(x) + 1``, so the
    cost is ``O(T * D^2)`` instead of ``O(T^2 * D)``. This is a *different* attention, not an approximation
    of softmax with an error bound. The causal form (``is_causal`` or ``config.causal``) is exact: each
    query sees the cumulative sums ``sum_{j<=i} phi(k_j) v_j^T`` and ``sum_{j<=i} phi(k_j)``, computed in
    blocks. Masks: ``key_mask`` (absent keys are dropped) and causal only; ``attention_mask``, ``attn_bias``,
    sliding windows, dropout and ``need_weights`` are refused with a ``ValueError``.

    The non-causal form streams long sequences in blocks of ``block_rows`` time steps, projections included:
    the key summary ``(sum_j phi(k_j) v_j^T, sum_j phi(k_j))`` is accumulated block by block, then the outputs
    are emitted block by block, so the working set stays ``O(B * block_rows * d_model)`` whatever the length
    (without it the packed projections of 8,192 steps alone are 200 MB at batch 4, d_model 512, and the cost per
    step grows with the length). Rotary positions and traced graphs (export, compile) take the one-block path.

    Args:
        config: :class:`AttentionConfig` (``sliding_window`` and ``dropout`` must be unset).
        rotary: optional rotary encoding, as in :class:`MultiHeadAttention`.
        block_rows: time steps per streamed block (non-causal form). Default: 1024.

    Raises:
        ValueError: ``config.sliding_window`` or ``config.dropout`` is set, or ``block_rows`` is not a positive
            int.

    Examples:
        >>> layer = LinearAttention(AttentionConfig(d_model=32, num_heads=4))
        >>> layer(torch.randn(2, 9, 32)).shape
        torch.Size([2, 9, 32])
    """

    def __init__(
        self, config: AttentionConfig, *, rotary: nn.Module | None = None, block_rows: int = 1024
    ) -> None:
        if not isinstance(block_rows, int) or block_rows < 1:
            raise ValueError(f"LinearAttention.block_rows={block_rows!r}: must be a positive int")
        if config.sliding_window is not None:
            raise ValueError(
                f"LinearAttention: AttentionConfig.sliding_window={config.sliding_window!r} is not supported"
            )
        if config.dropout > 0:
            raise ValueError(
                f"LinearAttention: AttentionConfig.dropout={config.dropout!r} is not supported (use 0)"
            )
        super().__init__(config, rotary=rotary)
        self.block_rows = block_rows

    def _forward(  # type: ignore[override]
        self,
        query: Tensor,
        key: Tensor | None,
        value: Tensor | None,
        attention_mask: Tensor | None,
        need_weights: bool,
        *,
        key_mask: Tensor | None,
        is_causal: bool | None,
        positions: Tensor | None,
        key_positions: Tensor | None,
        attn_bias: Tensor | None,
        query_scale: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        key = query if key is None else key
        value = key if value is None else value
        causal = self.config.causal if is_causal is None else is_causal
        plain = not (causal or need_weights or self.rotary is not None or is_tracing())
        plain = plain and attention_mask is None and attn_bias is None and query_scale is None
        if not plain or max(query.shape[1], key.shape[1]) <= self.block_rows:
            return super()._forward(
                query,
                key,
                value,
                attention_mask,
                need_weights,
                key_mask=key_mask,
                is_causal=is_causal,
                positions=positions,
                key_positions=key_positions,
                attn_bias=attn_bias,
                query_scale=query_scale,
            )
        self._check_inputs(query, key, value)
        return self._streamed(query, key, value, key_mask)

    def _streamed(self, query: Tensor, key: Tensor, value: Tensor, key_mask: Tensor | None) -> Tensor:
        """Non-causal linear attention in blocks of ``block_rows`` steps, projections included.

        Shapes: ``query [B, Tq, d_model]``, ``key``/``value`` ``[B, Tk, d_model]``, ``key_mask [B, Tk]``;
        returns ``[B, Tq, d_model]``.
        """
        b, tq, tk = query.shape[0], query.shape[1], key.shape[1]
        mask = combine_masks(
            None, key_mask, batch=b, heads=self.num_heads, q_len=tq, k_len=tk, dtype=query.dtype
        )  # (B, 1, 1, Tk) or None
        w, bias = self.in_proj.weight, self.in_proj.bias
        qd, kd, n = self.q_dim, self.kv_dim, self.block_rows

        def proj(x: Tensor, lo: int, hi: int) -> Tensor:
            return F.linear(x, w[lo:hi], None if bias is None else bias[lo:hi])

        kv = z = None
        for s in range(0, tk, n):
            if value is key:
                k, v = proj(key[:, s : s + n], qd, qd + 2 * kd).split([kd, kd], dim=-1)
            else:
                k, v = proj(key[:, s : s + n], qd, qd + kd), proj(value[:, s : s + n], qd + kd, qd + 2 * kd)
            part = linear_attention_state(
                self._split_heads(k, self.num_kv_heads),
                self._split_heads(v, self.num_kv_heads),
                None if mask is None else mask[..., s : s + n],
            )  # (B, Hkv, D, D), (B, Hkv, 1, D)
            kv, z = part if kv is None or z is None else (kv + part[0], z + part[1])
        assert kv is not None and z is not None
        out = query.new_empty((b, tq, self.d_model))
        for s in range(0, tq, n):
            q = self._split_heads(proj(query[:, s : s + n], 0, qd), self.num_heads)  # (B, H, n, D)
            out[:, s : s + n] = self.merge_heads(linear_attention_readout(q, kv, z))
        return out

    def _kernel(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        mask: Tensor | PreparedMask | None,
        is_causal: bool,
        window: int | None,
        need_weights: bool,
    ) -> tuple[Tensor, Tensor | None]:
        if not is_tracing():
            if need_weights:
                raise ValueError("LinearAttention has no softmax weights: need_weights=True is not supported")
            if isinstance(mask, PreparedMask) or (
                mask is not None
                and not (mask.dtype == torch.bool and mask.shape[1] == 1 and mask.shape[2] == 1)
            ):
                raise ValueError(
                    "LinearAttention supports key_mask [batch, k_len] and is_causal only; got a combined mask "
                    f"of shape {tuple(mask.shape)} and dtype {mask.dtype} (attention_mask or attn_bias)"
                )
        return attend(q, k, v, mask=mask, is_causal=is_causal, backend="linear")
