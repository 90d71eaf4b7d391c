"""CausalAttention and KVCache: cached decoding equals the full causal forward; windows; RoPE; no look-ahead."""

from __future__ import annotations

import pytest
import torch

from ml_attention_mechanisms import (
    AttentionConfig,
    CausalAttention,
    ChunkedAttention,
    CryptoMultiHeadAttention,
    KVCache,
    LinearAttention,
    MultiHeadAttention,
)
from ml_attention_mechanisms.attention.reference import reference_attention
from ml_attention_mechanisms.encodings.positional_encoding import RotaryPositionalEncoding

D, H = 32, 4


def _layer(window: int | None = None, rotary: bool = False, kv_heads: int = 2) -> CausalAttention:
    cfg = AttentionConfig(d_model=D, num_heads=H, num_kv_heads=kv_heads)
    rope = RotaryPositionalEncoding(D // H) if rotary else None
    return CausalAttention(cfg, sliding_window=window, rotary=rope).eval()


def _decode(layer: CausalAttention, x: torch.Tensor, sizes: list[int], **kw: object) -> torch.Tensor:
    cache, outs, i = layer.new_cache(), [], 0
    for n in sizes:
        outs.append(layer(x[:, i : i + n], cache=cache, **kw))  # type: ignore[arg-type]
        i += n
    return torch.cat(outs, dim=1)


@pytest.mark.parametrize("window", [None, 1, 4, 7])
@pytest.mark.parametrize("rotary", [False, True])
@pytest.mark.parametrize("sizes", [[1] * 17, [3, 1, 5, 8], [17]], ids=["steps", "chunks", "one"])
@torch.no_grad()
def test_cached_decoding_equals_full_causal_forward(
    window: int | None, rotary: bool, sizes: list[int]
) -> None:
    layer = _layer(window, rotary)
    x = torch.randn(2, 17, D)
    full = layer(x)
    assert (_decode(layer, x, sizes) - full).abs().max() <= 1e-5
    q, k, v = layer.project_qkv(x, x, x)
    if rotary:
        pos = torch.arange(17)
        q, k = layer.rotary.rotate(q, pos), layer.rotary.rotate(k, pos)  # type: ignore[union-attr]
    ref, _ = reference_attention(q, k, v, is_causal=True, window=window)
    expected = layer.out_proj(ref.float().transpose(1, 2).reshape(2, 17, D))
    torch.testing.assert_close(full, expected, atol=2e-5, rtol=1e-4)


@torch.no_grad()
def test_step_api_and_rolling_cache_is_bounded() -> None:
    layer = _layer(window=5)
    x = torch.randn(2, 40, D)
    full = layer(x)
    cache = layer.new_cache()
    assert isinstance(cache, KVCache) and cache.max_len == 5 and len(cache) == 0
    outs = []
    for t in range(40):
        outs.append(layer.step(x[:, t], cache))
        assert len(cache) == min(t + 1, 5) and cache.position == t + 1
        assert cache.capacity <= max(2 * (5 + 1), 16)  # bounded buffer
    assert (torch.stack(outs, 1) - full).abs().max() <= 1e-5
    assert cache.keys is not None and cache.keys.shape == (2, 2, 5, D // H)
    cache.reset()
    assert len(cache) == 0 and cache.position == 0 and cache.keys is None


@torch.no_grad()
def test_rotary_positions_may_be_elapsed_time() -> None:
    layer = _layer(rotary=True)
    x = torch.randn(2, 9, D)
    pos = torch.rand(2, 9).cumsum(-1) * 4  # irregular elapsed time in bars
    full = layer(x, positions=pos)
    cache, outs = layer.new_cache(), []
    for t in range(9):
        outs.append(layer.step(x[:, t], cache, position=pos[:, t]))
    assert (torch.stack(outs, 1) - full).abs().max() <= 1e-5


@torch.no_grad()
def test_cache_remembers_key_mask() -> None:
    layer = _layer()
    x = torch.randn(2, 10, D)
    km = torch.rand(2, 10) > 0.3
    km[:, 0] = True
    full = layer(x, key_mask=km)
    cache, outs = layer.new_cache(), []
    for s, e in [(0, 3), (3, 4), (4, 10)]:
        outs.append(layer(x[:, s:e], cache=cache, key_mask=km[:, s:e]))
    assert (torch.cat(outs, 1) - full).abs().max() <= 1e-5


def test_cache_under_autograd_matches_full_forward() -> None:
    layer = _layer(window=3).train()
    x = torch.randn(1, 8, D, requires_grad=True)
    out = _decode(layer, x, [2, 3, 3])
    torch.testing.assert_close(out, layer(x), atol=1e-5, rtol=1e-5)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_cache_and_layer_reject_bad_input() -> None:
    layer = _layer()
    cache = layer.new_cache()
    layer(torch.randn(2, 3, D), cache=cache)
    with pytest.raises(ValueError, match=r"does not match the cache .* call reset\(\)"):
        layer(torch.randn(3, 1, D), cache=cache)
    with pytest.raises(ValueError, match="attention_mask is not supported with a cache"):
        layer(torch.randn(2, 1, D), torch.ones(1, 4, dtype=torch.bool), cache=cache)
    with pytest.raises(ValueError, match=r"key_mask must be bool \[batch, n\]"):
        layer(torch.randn(2, 1, D), key_mask=torch.ones(2, 2, dtype=torch.bool), cache=cache)
    with pytest.raises(ValueError, match=r"KVCache.max_len=0"):
        KVCache(max_len=0)


def _causal_paths() -> dict[str, object]:
    cfg = AttentionConfig(d_model=D, num_heads=H, num_kv_heads=2, causal=True)
    window_cfg = AttentionConfig(d_model=D, num_heads=H, causal=True, sliding_window=4)
    crypto = CryptoMultiHeadAttention(cfg)
    layer, win = _layer(), _layer(window=4)
    ts = torch.arange(12)[None].repeat(2, 1) * 60

    def vol(x: torch.Tensor) -> torch.Tensor:  # derived from the inputs: perturbing the future changes it
        return CryptoMultiHeadAttention.realized_volatility(torch.exp(x[..., 0].cumsum(-1) * 0.1), window=3)

    return {
        "mha_fused": lambda x: MultiHeadAttention(cfg).eval()(x),
        "mha_math": lambda x: MultiHeadAttention(cfg, use_flash_attn=False).eval()(x),
        "mha_window": lambda x: MultiHeadAttention(window_cfg).eval()(x),
        "chunked": lambda x: ChunkedAttention(cfg, chunk_size=5)(x),
        "chunked_window": lambda x: ChunkedAttention(window_cfg, chunk_size=3)(x),
        "linear": lambda x: LinearAttention(cfg)(x),
        "crypto": lambda x: crypto(x, timestamps=ts, volatility=vol(x)),
        "causal": lambda x: layer(x),
        "cached_steps": lambda x: _decode(layer, x, [1] * 12),
        "cached_window": lambda x: _decode(win, x, [5, 1, 6]),
    }


@pytest.mark.parametrize("path", list(_causal_paths()))
@torch.no_grad()
def test_no_look_ahead_bit_for_bit(path: str) -> None:
    """Changing bars after t leaves every output up to t bit-for-bit unchanged."""
    x = torch.randn(2, 12, D)
    for t in (0, 5, 10):
        torch.manual_seed(0)
        fn = _causal_paths()[path]
        base = fn(x)  # type: ignore[operator]
        y = x.clone()
        y[:, t + 1 :] = torch.randn_like(y[:, t + 1 :]) * 10
        torch.manual_seed(0)
        fn = _causal_paths()[path]
        out = fn(y)  # type: ignore[operator]
        assert torch.equal(out[:, : t + 1], base[:, : t + 1]), f"{path} leaks the future into bar {t}"
