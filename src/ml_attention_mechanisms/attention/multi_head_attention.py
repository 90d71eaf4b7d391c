"""Multi-head attention (Vaswani et al. 2017, https://arxiv.org/abs/1706.03762) with fused kernels.

Shapes:
    ``B`` batch, ``Tq``/``Tk`` query/key length, ``H`` heads, ``Hkv`` key/value heads, ``D`` head dim,
    ``d_model = H * D``.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import AttentionConfig
from ._dispatch import attend
from ._masks import PreparedMask, combine_masks, is_tracing

__all__ = ["MultiHeadAttention", "RotaryLike"]


class RotaryLike(Protocol):
    """What attention needs from a rotary encoding: rotate ``[B, H, T, D]`` by positions ``[B, T]``/``[T]``."""

    def rotate(self, x: Tensor, positions: Tensor) -> Tensor: ...


class MultiHeadAttention(nn.Module):
    """Multi-head (and grouped-query) attention on the library's single kernel dispatch.

    Args:
        config: :class:`AttentionConfig`.
        use_flash_attn: overrides ``config.use_flash_attn`` when not ``None`` (fast kernels allowed and
            preferred; never forced: ``need_weights=True`` takes the exact math path).
        rotary: optional rotary encoding (``RotaryPositionalEncoding``) applied to queries and keys.

    The input projection is packed (one matmul for q, k, v in self-attention), laid out as
    ``torch.nn.MultiheadAttention.in_proj_weight`` (``[q; k; v]``) so that weights transfer one to one.

    Examples:
        >>> attn = MultiHeadAttention(AttentionConfig(d_model=64, num_heads=4))
        >>> attn(torch.randn(2, 10, 64)).shape
        torch.Size([2, 10, 64])
    """

    def __init__(
        self,
        config: AttentionConfig,
        use_flash_attn: bool | None = None,
        *,
        rotary: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(config, AttentionConfig):
            raise TypeError(f"config must be an AttentionConfig, got {type(config).__name__}")
        self.config = config
        self.use_flash_attn = bool(config.use_flash_attn if use_flash_attn is None else use_flash_attn)
        self.d_model = config.d_model
        self.num_heads = config.num_heads
        self.num_kv_heads = config.kv_heads
        self.head_dim = config.head_dim
        self.q_dim = self.num_heads * self.head_dim
        self.kv_dim = self.num_kv_heads * self.head_dim
        self.in_proj = nn.Linear(config.d_model, self.q_dim + 2 * self.kv_dim, bias=config.bias)
        self.out_proj = nn.Linear(self.q_dim, config.d_model, bias=config.bias)
        self.rotary = rotary
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # As torch.nn.MultiheadAttention: Xavier on the packed projection, zero biases.
        nn.init.xavier_uniform_(self.in_proj.weight)
        if self.in_proj.bias is not None:
            nn.init.zeros_(self.in_proj.bias)
            nn.init.zeros_(self.out_proj.bias)

    # -- projections ---------------------------------------------------------------------------------
    def _split_heads(self, x: Tensor, heads: int) -> Tensor:
        b, t, _ = x.shape
        return x.view(b, t, heads, self.head_dim).transpose(1, 2)  # (B, heads, T, D)

    def project_qkv(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Project inputs ``[B, T, d_model]`` to ``q [B, H, Tq, D]``, ``k``/``v`` ``[B, Hkv, Tk, D]``."""
        w, b = self.in_proj.weight, self.in_proj.bias
        qd, kd = self.q_dim, self.kv_dim
        if key is query and value is query:
            q, k, v = self.in_proj(query).split([qd, kd, kd], dim=-1)
        else:
            bq = bk = bv = None
            if b is not None:
                bq, bk, bv = b[:qd], b[qd : qd + kd], b[qd + kd :]
            q = F.linear(query, w[:qd], bq)
            if value is key:
                k, v = F.linear(key, w[qd:], None if b is None else b[qd:]).split([kd, kd], dim=-1)
            else:
                k = F.linear(key, w[qd : qd + kd], bk)
                v = F.linear(value, w[qd + kd :], bv)
        return (
            self._split_heads(q, self.num_heads),
            self._split_heads(k, self.num_kv_heads),
            self._split_heads(v, self.num_kv_heads),
        )

    def merge_heads(self, out: Tensor) -> Tensor:
        """``[B, H, T, D]`` -> output projection of ``[B, T, H*D]``."""
        b, _, t, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, t, self.q_dim))  # (B, T, d_model)

    # -- checks --------------------------------------------------------------------------------------
    def _check_inputs(self, query: Tensor, key: Tensor, value: Tensor) -> None:
        for name, t in (("query", query), ("key", key), ("value", value)):
            if t.dim() != 3:
                raise ValueError(f"{name} must be 3-D [batch, seq_len, d_model], got shape {tuple(t.shape)}")
            if t.shape[-1] != self.d_model:
                raise ValueError(
                    f"{name} has last dimension {t.shape[-1]}, expected d_model={self.d_model} "
                    f"(shape {tuple(t.shape)})"
                )
        if not (query.shape[0] == key.shape[0] == value.shape[0]):
            raise ValueError(
                f"batch sizes differ: query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}"
            )
        if key.shape[1] != value.shape[1]:
            raise ValueError(
                f"key and value lengths differ: key {tuple(key.shape)}, value {tuple(value.shape)}"
            )
        limit = self.config.max_seq_len
        if limit is not None and key.shape[1] > limit:
            raise ValueError(f"key length {key.shape[1]} exceeds AttentionConfig.max_seq_len={limit}")
        if not query.is_floating_point():
            raise ValueError(f"query must be a floating tensor, got dtype {query.dtype}")

    # -- forward -------------------------------------------------------------------------------------
    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        attention_mask: Tensor | PreparedMask | None = None,
        need_weights: bool = False,
        *,
        key_mask: Tensor | None = None,
        is_causal: bool | None = None,
        positions: Tensor | None = None,
        key_positions: Tensor | None = None,
        attn_bias: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Attend ``query`` to ``key``/``value`` (self-attention when they are omitted).

        Args:
            query: ``[B, Tq, d_model]``.
            key: ``[B, Tk, d_model]``. Default: ``query``.
            value: ``[B, Tk, d_model]``. Default: ``key``.
            attention_mask: bool ``[Tq, Tk]`` or 4-D broadcastable to ``[B, H, Tq, Tk]`` (True = may
                attend), or an additive float mask. 3-D and integer masks are rejected. Or a
                :class:`~ml_attention_mechanisms.attention._masks.PreparedMask` (key mask, causal window and
                bias folded once for a stack of layers): it replaces ``key_mask``, ``attn_bias`` and the
                causal flag, which must then stay unset.
            need_weights: also return the attention weights ``[B, H, Tq, Tk]`` (exact math path).
            key_mask: bool ``[B, Tk]``, True = the key is present.
            is_causal: causal masking (bottom-right aligned); ``None`` = ``config.causal``.
            positions: positions (or elapsed times) of the queries ``[B, Tq]`` for the rotary encoding.
            key_positions: positions of the keys ``[B, Tk]``. Default: ``positions``.
            attn_bias: additive float bias broadcastable to ``[B, H, Tq, Tk]`` (ALiBi and friends).

        Returns:
            ``[B, Tq, d_model]``, or ``(output, weights)`` with ``need_weights=True``.

        Raises:
            ValueError: wrong ranks, d_model mismatch, bad masks (eager mode only).
        """
        return self._forward(
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
        )

    def _forward(
        self,
        query: Tensor,
        key: Tensor | None,
        value: Tensor | None,
        attention_mask: Tensor | PreparedMask | None,
        need_weights: bool,
        *,
        key_mask: Tensor | None,
        is_causal: bool | None,
        positions: Tensor | None,
        key_positions: Tensor | None,
        attn_bias: Tensor | None,
        query_scale: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """:meth:`forward` plus ``query_scale`` ``[B|1, H|1, Tq, 1]`` multiplying the projected queries
        (a per-query softmax temperature, used by ``CryptoMultiHeadAttention``)."""
        key = query if key is None else key
        value = key if value is None else value
        if not is_tracing():
            self._check_inputs(query, key, value)
        causal = self.config.causal if is_causal is None else is_causal
        q, k, v = self.project_qkv(query, key, value)
        if query_scale is not None:
            q = q * query_scale.to(q.dtype)  # (B, H, Tq, D): scores / temperature
        if self.rotary is not None:
            q_pos = positions if positions is not None else torch.arange(q.shape[-2], device=q.device)
            k_pos = key_positions if key_positions is not None else q_pos
            q = self.rotary.rotate(q, q_pos)  # type: ignore[operator]
            k = self.rotary.rotate(k, k_pos)  # type: ignore[operator]
        out, weights = self.attend_heads(
            q,
            k,
            v,
            attention_mask=attention_mask,
            key_mask=key_mask,
            is_causal=causal,
            attn_bias=attn_bias,
            need_weights=need_weights,
        )
        out = self.merge_heads(out)
        if need_weights:
            assert weights is not None
            return out, weights
        return out

    def attend_heads(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        attention_mask: Tensor | PreparedMask | None = None,
        key_mask: Tensor | None = None,
        is_causal: bool = False,
        attn_bias: Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Combine masks and bias and call the dispatch on per-head tensors ``[B, H, T, D]``."""
        if isinstance(attention_mask, PreparedMask):
            if not is_tracing() and (key_mask is not None or attn_bias is not None):
                raise ValueError(
                    "attention_mask is a PreparedMask, which already holds the key mask and the bias: "
                    "pass neither key_mask nor attn_bias with it"
                )
            return self._kernel(
                q, k, v, mask=attention_mask, is_causal=False, window=None, need_weights=need_weights
            )
        b, tq, tk = q.shape[0], q.shape[-2], k.shape[-2]
        mask = combine_masks(
            attention_mask, key_mask, batch=b, heads=self.num_heads, q_len=tq, k_len=tk, dtype=q.dtype
        )
        if attn_bias is not None:
            bias = attn_bias.to(q.dtype)
            if mask is None:
                mask = bias
            elif mask.dtype == torch.bool:
                mask = bias.masked_fill(~mask, float("-inf"))
            else:
                mask = mask + bias
        window = self.config.sliding_window if is_causal else None
        return self._kernel(q, k, v, mask=mask, is_causal=is_causal, window=window, need_weights=need_weights)

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
        """The dispatch call; variants (chunked, linear) override it to pick their backend."""
        return attend(
            q,
            k,
            v,
            mask=mask,
            is_causal=is_causal,
            window=window,
            dropout_p=self.config.dropout if self.training else 0.0,
            scale=self.config.scale,
            need_weights=need_weights,
            allow_fused=self.use_flash_attn,
        )
