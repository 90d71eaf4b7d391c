"""The positional-encoding interface shared with the transformer layer (notes/pe_interface.md)."""

from __future__ import annotations

import pytest
import torch

from ml_attention_mechanisms import AttentionConfig, MultiHeadAttention
from ml_attention_mechanisms.encodings import (
    POSITIONAL_ENCODING_KINDS,
    PositionalEncoding,
    RotaryPositionalEncoding,
    create_positional_encoding,
)

D, H, B, T = 32, 4, 2, 12
TS = torch.arange(1_609_459_200, 1_609_459_200 + T * 3600, 3600).repeat(B, 1)  # 2021-01-01, hourly


def test_interface_kinds_are_all_there() -> None:
    assert {"sinusoidal", "learned", "rope", "alibi", "crypto"} <= set(POSITIONAL_ENCODING_KINDS)


@pytest.mark.parametrize("kind", POSITIONAL_ENCODING_KINDS)
def test_every_kind_follows_the_interface_inside_attention(kind: str) -> None:
    pe = create_positional_encoding(kind, d_model=D, num_heads=H, max_seq_len=64)
    assert isinstance(pe, PositionalEncoding)
    x = torch.randn(B, T, D)
    y = pe(x, TS)
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all()
    if kind in ("rope", "alibi"):
        torch.testing.assert_close(y, x, rtol=0, atol=0)
    assert (pe.rotary is not None) == (kind == "rope")
    if pe.rotary is not None:
        assert isinstance(pe.rotary, RotaryPositionalEncoding)
    positions = pe.rotary_positions(T, TS)
    assert positions.shape[-1] == T
    bias = pe.attention_bias(T, T, TS)
    if kind in ("alibi", "crypto"):
        assert bias is not None and bias.shape[1:] == (H, T, T) and bias.shape[0] in (1, B)
    else:
        assert bias is None
    attn = MultiHeadAttention(AttentionConfig(d_model=D, num_heads=H), rotary=pe.rotary)
    out = attn(y, positions=positions, attn_bias=bias)
    assert isinstance(out, torch.Tensor) and out.shape == x.shape and torch.isfinite(out).all()


def test_unknown_kind_lists_the_valid_names() -> None:
    with pytest.raises(
        ValueError, match="Unknown positional encoding kind 'nope'; valid: sinusoidal, learned"
    ):
        create_positional_encoding("nope", d_model=D, num_heads=H)


def test_unknown_argument_lists_the_valid_ones() -> None:
    with pytest.raises(TypeError, match=r"unknown argument.*bogus.*valid: .*time_aware"):
        create_positional_encoding("rope", d_model=D, num_heads=H, bogus=1)
    with pytest.raises(TypeError, match=r"unknown field.*bogus"):
        create_positional_encoding("crypto", d_model=D, num_heads=H, bogus=1)


def test_kwargs_reach_the_class() -> None:
    pe = create_positional_encoding("crypto", d_model=D, num_heads=H, halving=False, time_unit_seconds=60)
    assert not any(n.startswith("halving") for n in pe.feature_names)
    rope = create_positional_encoding("rope", d_model=D, num_heads=H, time_aware=True, time_unit_seconds=60)
    assert rope.rotary_positions(T, TS).shape == (B, T)


@pytest.mark.parametrize("kind", POSITIONAL_ENCODING_KINDS)
def test_every_kind_is_deterministic_and_keeps_the_input_dtype(kind: str) -> None:
    def build() -> PositionalEncoding:
        torch.manual_seed(5)
        return create_positional_encoding(kind, d_model=D, num_heads=H, max_seq_len=64)

    a, b = build(), build()
    x = torch.randn(B, T, D, dtype=torch.float64)
    y = a(x, TS)
    assert y.dtype == torch.float64
    assert torch.equal(y, b(x, TS)) and torch.equal(y, a(x, TS))
    bias = a.attention_bias(T, T, TS)
    assert bias is None or (bias.dtype == torch.float32 and torch.equal(bias, b.attention_bias(T, T, TS)))


def test_a_float32_model_resolves_2021_seconds() -> None:
    # Time-aware RoPE (positions in minutes) and ALiBi in a float32 attention layer at 2021 magnitudes:
    # shifting every timestamp by the same amount changes nothing (only elapsed time matters), while
    # moving one bar by a single minute changes the output. Naive float32 time (spacing 128 s) fails both.
    rope = create_positional_encoding("rope", d_model=D, num_heads=H, time_aware=True, time_unit_seconds=60)
    alibi = create_positional_encoding("alibi", d_model=D, num_heads=H, time_aware=True, time_unit_seconds=60)
    attn = MultiHeadAttention(AttentionConfig(d_model=D, num_heads=H), rotary=rope.rotary)
    x = torch.randn(B, T, D)
    minutes = torch.arange(1_625_097_600, 1_625_097_600 + T * 60, 60).repeat(B, 1)  # 2021-07-01, 1-min bars

    def run(ts: torch.Tensor) -> torch.Tensor:
        out = attn(x, positions=rope.rotary_positions(T, ts), attn_bias=alibi.attention_bias(T, T, ts))
        assert isinstance(out, torch.Tensor)
        return out

    base = run(minutes)
    torch.testing.assert_close(run(minutes + 86_400 * 7 + 37), base, atol=1e-5, rtol=1e-5)
    moved = minutes.clone()
    moved[:, 5] += 60
    assert (run(moved) - base).abs().max() > 1e-3


@pytest.mark.gpu
@pytest.mark.parametrize("kind", POSITIONAL_ENCODING_KINDS)
def test_every_kind_on_cuda_matches_cpu(kind: str) -> None:
    pe = create_positional_encoding(kind, d_model=D, num_heads=H, max_seq_len=64).eval()
    x = torch.randn(B, T, D)
    want = pe(x, TS)
    want_bias = pe.attention_bias(T, T, TS)
    pe = pe.cuda()
    got = pe(x.cuda(), TS.cuda())
    torch.testing.assert_close(got.cpu(), want, atol=1e-5, rtol=1e-5)
    bias = pe.attention_bias(T, T, TS.cuda())
    assert (bias is None) == (want_bias is None)
    if bias is not None and want_bias is not None:
        torch.testing.assert_close(bias.cpu(), want_bias)
    assert pe.rotary_positions(T, TS.cuda()).device.type == "cuda"
