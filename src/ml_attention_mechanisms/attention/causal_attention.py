"""Causal (autoregressive) attention with a key/value cache for incremental decoding.

Live inference feeds one candle (or a few) at a time: the layer projects only the new bars, appends their
keys and values to a :class:`KVCache`, and attends the new queries to everything cached. The outputs equal
one causal forward over the whole sequence (bottom-right causal alignment). With a sliding window ``W`` the
cache keeps only the last ``W`` entries, so a rolling window runs forever in bounded memory.

Cache API (what the models and the streaming predictor use)::

    layer = CausalAttention(AttentionConfig(d_model=64, num_heads=4), sliding_window=256)
    cache = layer.new_cache()           # empty KVCache (rolling when the layer has a window)
    for bar in stream:                  # bar: [B, d_model]
        y = layer.step(bar, cache)      # [B, d_model]; appends the bar's key/value
    len(cache)                          # cached positions (<= W with a window)
    cache.position                      # positions seen so far (the next bar's index)
    cache.reset()                       # start a new stream

``layer(x_chunk, cache=cache)`` does the same for a chunk ``[B, n, d_model]``. With a rotary encoding the
cache stores keys already rotated at their own positions (indices, or elapsed times passed as
``positions``), so past keys are never re-rotated.

Shapes:
    ``B`` batch, ``n`` new bars, ``L`` cached bars, ``Hkv`` key/value heads, ``D`` head dim.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import AttentionConfig, replace_config
from ._masks import is_tracing
from .multi_head_attention import MultiHeadAttention

__all__ = ["CausalAttention", "KVCache"]


class KVCache:
    """Keys and values of past positions, for one attention layer.

    Storage is a preallocated buffer grown geometrically (amortised O(1) per appended bar; attention reads
    a view, not a copy). With ``max_len`` (the sliding window ``W``) it is a rolling cache: after each append
    it holds the last ``W`` positions and the buffer never exceeds ``2 * (W + n)`` entries. When the
    appended tensors require grad (training through the cache) it concatenates instead, keeping autograd
    intact.

    Args:
        max_len: keep only the last ``max_len`` positions (``None`` = unbounded). Default: None.

    Attributes:
        position: number of positions appended since the last :meth:`reset` (the next position index).
    """

    def __init__(self, max_len: int | None = None) -> None:
        if max_len is not None and (not isinstance(max_len, int) or max_len < 1):
            raise ValueError(f"KVCache.max_len={max_len!r}: must be a positive int or None")
        self.max_len = max_len
        self.reset()

    def reset(self) -> None:
        """Forget everything (a new stream)."""
        self._k: Tensor | None = None
        self._v: Tensor | None = None
        self._mask: Tensor | None = None  # (B, cap) bool, created when a key_mask is first given
        self._start = 0
        self._end = 0
        self.position = 0

    def __len__(self) -> int:
        return self._end - self._start

    @property
    def length(self) -> int:
        """Number of cached positions (``<= max_len`` when rolling)."""
        return len(self)

    @property
    def capacity(self) -> int:
        """Positions the allocated buffer can hold (bounded by ``2 * (max_len + n)`` when rolling)."""
        return 0 if self._k is None else self._k.shape[2]

    @property
    def keys(self) -> Tensor | None:
        """Cached keys ``[B, Hkv, L, D]`` (a view), or None when empty."""
        return None if self._k is None else self._k[:, :, self._start : self._end]

    @property
    def values(self) -> Tensor | None:
        """Cached values ``[B, Hkv, L, Dv]`` (a view), or None when empty."""
        return None if self._v is None else self._v[:, :, self._start : self._end]

    def append(
        self, k: Tensor, v: Tensor, key_mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Append ``k``/``v`` ``[B, Hkv, n, D]`` and return what the ``n`` new queries attend to.

        Returns ``(keys, values, key_mask)``: the cached positions the new queries can reach followed by the
        new ones, ``[B, Hkv, L', D]`` (with a window ``W``: the last ``W - 1`` cached plus the ``n`` new), and
        the key mask ``[B, L']`` (None when no key mask was ever given).

        Raises:
            ValueError: shapes, batch, heads, dtype or device differ from what is cached.
        """
        n = k.shape[-2]
        if not is_tracing():
            self._check(k, v, key_mask)
        keep_from = self._start if self.max_len is None else max(self._start, self._end - (self.max_len - 1))
        if key_mask is not None and self._mask is None and self._k is not None:
            self._mask = torch.ones(k.shape[0], self._k.shape[2], dtype=torch.bool, device=k.device)
        if self._k is None or k.requires_grad or v.requires_grad or (self._k.requires_grad):
            self._append_concat(k, v, key_mask, keep_from)
        else:
            self._append_buffer(k, v, key_mask, keep_from)
        out_start = self._start  # both paths leave exactly the reachable + new positions in [start, end)
        keys = self._k[:, :, out_start : self._end]  # type: ignore[index]
        values = self._v[:, :, out_start : self._end]  # type: ignore[index]
        mask = None if self._mask is None else self._mask[:, out_start : self._end]
        if self.max_len is not None:
            self._start = max(out_start, self._end - self.max_len)
        self.position += n
        return keys, values, mask

    def _append_concat(self, k: Tensor, v: Tensor, key_mask: Tensor | None, keep_from: int) -> None:
        km = None
        if self._mask is not None or key_mask is not None:
            new = (
                key_mask
                if key_mask is not None
                else torch.ones(k.shape[0], k.shape[-2], dtype=torch.bool, device=k.device)
            )
            old = self._mask[:, keep_from : self._end] if self._mask is not None else None
            km = new.to(k.device) if old is None else torch.cat((old, new.to(k.device)), dim=-1)
        if self._k is None or self._v is None:
            self._k, self._v = k, v
        else:
            self._k = torch.cat((self._k[:, :, keep_from : self._end], k), dim=2)
            self._v = torch.cat((self._v[:, :, keep_from : self._end], v), dim=2)
        self._mask = km
        self._start, self._end = 0, self._k.shape[2]

    def _append_buffer(self, k: Tensor, v: Tensor, key_mask: Tensor | None, keep_from: int) -> None:
        assert self._k is not None and self._v is not None
        n, kept = k.shape[-2], self._end - keep_from
        if self._end + n > self._k.shape[2]:
            cap = max(2 * (kept + n), 16)
            if self.max_len is not None:
                cap = max(2 * (self.max_len + n), 16)
            nk = self._k.new_empty((*self._k.shape[:2], cap, self._k.shape[-1]))
            nv = self._v.new_empty((*self._v.shape[:2], cap, self._v.shape[-1]))
            nk[:, :, :kept] = self._k[:, :, keep_from : self._end]
            nv[:, :, :kept] = self._v[:, :, keep_from : self._end]
            if self._mask is not None:
                nm = self._mask.new_ones((self._mask.shape[0], cap))
                nm[:, :kept] = self._mask[:, keep_from : self._end]
                self._mask = nm
            self._k, self._v, self._start, self._end = nk, nv, 0, kept
            keep_from = 0
        self._k[:, :, self._end : self._end + n] = k
        self._v[:, :, self._end : self._end + n] = v
        if self._mask is not None:
            self._mask[:, self._end : self._end + n] = True if key_mask is None else key_mask
        self._start = keep_from
        self._end += n

    def _check(self, k: Tensor, v: Tensor, key_mask: Tensor | None) -> None:
        if k.dim() != 4 or v.dim() != 4 or k.shape[:3] != v.shape[:3]:
            raise ValueError(
                f"KVCache.append: k and v must be [batch, kv_heads, n, head_dim] with equal leading dims, got "
                f"k {tuple(k.shape)}, v {tuple(v.shape)}"
            )
        if key_mask is not None and (
            key_mask.dtype != torch.bool or tuple(key_mask.shape) != (k.shape[0], k.shape[2])
        ):
            raise ValueError(
                f"KVCache.append: key_mask must be bool [batch, n] = {(k.shape[0], k.shape[2])}, got "
                f"{tuple(key_mask.shape)} {key_mask.dtype}"
            )
        if self._k is not None and self._v is not None:
            ck, cv = self._k, self._v
            if k.shape[:2] != ck.shape[:2] or k.shape[-1] != ck.shape[-1] or v.shape[-1] != cv.shape[-1]:
                raise ValueError(
                    f"KVCache.append: k {tuple(k.shape)} does not match the cache [batch, kv_heads, L, head_dim] = "
                    f"{tuple(ck[:, :, self._start : self._end].shape)}; call reset() for a new stream"
                )
            if k.dtype != ck.dtype or k.device != ck.device:
                raise ValueError(
                    f"KVCache.append: k is {k.dtype} on {k.device}, the cache holds {ck.dtype} on {ck.device}"
                )


class CausalAttention(MultiHeadAttention):
    """Causal self-attention with incremental decoding through a :class:`KVCache`.

    The layer is always causal (``config.causal`` is set to True). ``sliding_window`` (or
    ``config.sliding_window``) limits each query to the last ``W`` positions, its own included; the cache
    is then rolling and bounded.

    Args:
        config: :class:`AttentionConfig`.
        use_flash_attn: as in :class:`MultiHeadAttention`.
        sliding_window: overrides ``config.sliding_window`` when given. Default: None.
        rotary: optional rotary encoding; keys are cached already rotated.

    Examples:
        >>> layer = CausalAttention(AttentionConfig(d_model=32, num_heads=4), sliding_window=8).eval()
        >>> cache = layer.new_cache()
        >>> ys = [layer.step(x_t, cache) for x_t in torch.randn(5, 2, 32)]
        >>> len(cache), ys[-1].shape
        (5, torch.Size([2, 32]))
    """

    def __init__(
        self,
        config: AttentionConfig,
        use_flash_attn: bool | None = None,
        *,
        sliding_window: int | None = None,
        rotary: nn.Module | None = None,
    ) -> None:
        window = config.sliding_window if sliding_window is None else sliding_window
        super().__init__(
            replace_config(config, causal=True, sliding_window=window), use_flash_attn, rotary=rotary
        )
        self.sliding_window = window

    def new_cache(self) -> KVCache:
        """An empty cache for this layer (rolling over ``sliding_window`` positions when set)."""
        return KVCache(max_len=self.sliding_window)

    def step(self, x: Tensor, cache: KVCache, *, position: Tensor | None = None) -> Tensor:
        """Decode one bar: ``x [B, d_model]`` -> ``[B, d_model]``, appending it to ``cache``.

        ``position`` (``[B]`` or scalar; e.g. elapsed time) is the bar's rotary position. Default: ``cache.position``.
        """
        pos = None if position is None else position.reshape(-1, 1) if position.dim() else position.reshape(1)
        out = self.forward(x.unsqueeze(1), cache=cache, positions=pos)
        assert isinstance(out, Tensor)
        return out.squeeze(1)

    def forward(  # type: ignore[override]
        self,
        x: Tensor,
        attention_mask: Tensor | None = None,
        need_weights: bool = False,
        *,
        key_mask: Tensor | None = None,
        cache: KVCache | None = None,
        positions: Tensor | None = None,
        attn_bias: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Causal self-attention over ``x [B, n, d_model]``, optionally continuing a cached stream.

        Args:
            x: the new bars ``[B, n, d_model]``.
            attention_mask: extra mask (without a cache only; see :class:`MultiHeadAttention`).
            need_weights: also return the weights ``[B, H, n, L']``.
            key_mask: bool ``[B, n]``, True = the bar is present; with a cache it is remembered.
            cache: continue from (and append to) this cache. Default: None (a plain causal forward).
            positions: rotary positions of the new bars (``[n]`` or ``[B, n]``, int or elapsed time).
                Default: ``cache.position + arange(n)`` (``arange(n)`` without a cache).
            attn_bias: additive bias broadcastable to ``[B, H, n, L']`` (``L'`` = attended keys).

        Returns:
            ``[B, n, d_model]`` (and the weights with ``need_weights=True``).

        Raises:
            ValueError: bad shapes (as :class:`MultiHeadAttention`), or ``attention_mask`` with a cache.
        """
        if cache is None:
            return self._forward(
                x, None, None, attention_mask, need_weights, key_mask=key_mask, is_causal=True,
                positions=positions, key_positions=None, attn_bias=attn_bias,
            )  # fmt: skip
        if not is_tracing():
            self._check_inputs(x, x, x)
            if attention_mask is not None:
                raise ValueError(
                    "attention_mask is not supported with a cache; pass key_mask [batch, n] instead"
                )
        n = x.shape[1]
        q, k, v = self.project_qkv(x, x, x)  # (B, H|Hkv, n, D)
        if self.rotary is not None:
            pos = (
                positions
                if positions is not None
                else torch.arange(cache.position, cache.position + n, device=x.device)
            )
            # Keys are rotated at their own positions once, then cached rotated.
            q = self.rotary.rotate(q, pos)  # type: ignore[operator]
            k = self.rotary.rotate(k, pos)  # type: ignore[operator]
        keys, values, km = cache.append(k, v, key_mask)
        # The cache returns only reachable keys, so a single new query needs no causal mask.
        out, weights = self.attend_heads(
            q, keys, values, key_mask=km, is_causal=n > 1, attn_bias=attn_bias, need_weights=need_weights
        )
        out = self.merge_heads(out)
        if need_weights:
            assert weights is not None
            return out, weights
        return out
