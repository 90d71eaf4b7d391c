"""Cached decoding with the KV cache equals the full causal forward: RoPE (index and time-aware, bar by bar and in
chunks) and the time-aware ALiBi bias of "crypto"."""

from __future__ import annotations

import pytest
import torch

from ml_attention_mechanisms import AttentionConfig, CausalAttention
from ml_attention_mechanisms.encodings import create_positional_encoding


@pytest.mark.parametrize("time_aware", [False, True])
@pytest.mark.parametrize("use_flash_attn", [True, False])
def test_cached_decoding_with_rope_equals_the_full_forward(time_aware: bool, use_flash_attn: bool) -> None:
    b, t, d, h = 2, 9, 32, 4
    pe = create_positional_encoding(
        "rope", d_model=d, num_heads=h, time_aware=time_aware, time_unit_seconds=60
    )
    layer = CausalAttention(AttentionConfig(d_model=d, num_heads=h), use_flash_attn, rotary=pe.rotary).eval()
    x = torch.randn(b, t, d)
    # Real 2021 minute bars with gaps, different per row.
    steps = torch.randint(1, 5, (b, t)) * 60
    ts = 1_620_000_000 + steps.cumsum(1)
    positions = pe.rotary_positions(t, ts)
    full = layer(x, positions=positions)
    assert isinstance(full, torch.Tensor)

    cache = layer.new_cache()
    outs = []
    for i in range(t):
        pos = positions[:, i] if time_aware else None  # None: the cache's own index position
        outs.append(layer.step(x[:, i], cache, position=pos))
    torch.testing.assert_close(torch.stack(outs, dim=1), full, atol=1e-5, rtol=1e-5)

    # Chunks (3 + 6 bars): rotary_positions(offset=) continues the index positions.
    cache = layer.new_cache()
    first = layer(x[:, :3], cache=cache, positions=pe.rotary_positions(3, ts[:, :3]))
    rest_pos = pe.rotary_positions(6, ts[:, 3:], offset=3)
    rest = layer(x[:, 3:], cache=cache, positions=rest_pos)
    assert isinstance(first, torch.Tensor) and isinstance(rest, torch.Tensor)
    torch.testing.assert_close(torch.cat((first, rest), dim=1), full, atol=1e-5, rtol=1e-5)


def test_cached_decoding_with_the_time_aware_alibi_bias_equals_the_full_forward() -> None:
    # "crypto": the bias of a new bar against the cache uses key_timestamps = the cached bars' times.
    b, t, d, h = 2, 7, 32, 4
    pe = create_positional_encoding("crypto", d_model=d, num_heads=h, time_unit_seconds=60)
    layer = CausalAttention(AttentionConfig(d_model=d, num_heads=h)).eval()
    x = torch.randn(b, t, d)
    ts = 1_620_000_000 + (torch.randint(1, 30, (b, t)) * 60).cumsum(1)
    full = layer(x, attn_bias=pe.attention_bias(t, t, ts))
    cache = layer.new_cache()
    outs = [
        layer(
            x[:, i : i + 1],
            cache=cache,
            attn_bias=pe.attention_bias(1, i + 1, ts[:, i : i + 1], ts[:, : i + 1]),
        )
        for i in range(t)
    ]
    assert all(isinstance(o, torch.Tensor) for o in outs)
    torch.testing.assert_close(torch.cat(outs, dim=1), full, atol=1e-5, rtol=1e-5)  # type: ignore[arg-type]
