"""SelfAttention, ChunkedAttention (and its chunk-size choice), LinearAttention, CryptoMultiHeadAttention."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ml_attention_mechanisms import (
    AttentionConfig,
    ChunkedAttention,
    CryptoMultiHeadAttention,
    LinearAttention,
    MultiHeadAttention,
    SelfAttention,
    choose_chunk_size,
)
from ml_attention_mechanisms.attention._chunking import tile_bytes_per_score
from ml_attention_mechanisms.attention.reference import reference_attention, reference_linear_attention
from ml_attention_mechanisms.encodings.positional_encoding import ALiBi

D, H = 32, 4


def _copy(dst: MultiHeadAttention, src: MultiHeadAttention) -> MultiHeadAttention:
    dst.load_state_dict(src.state_dict(), strict=False)
    return dst


def _expected(layer: MultiHeadAttention, x: torch.Tensor, **ref_kwargs: object) -> torch.Tensor:
    q, k, v = layer.project_qkv(x, x, x)
    ref, _ = reference_attention(q, k, v, **ref_kwargs)  # type: ignore[arg-type]
    b, t = x.shape[:2]
    return layer.out_proj(ref.to(x.dtype).transpose(1, 2).reshape(b, t, D))


def test_self_attention_is_multi_head_attention_on_x() -> None:
    mha = MultiHeadAttention(AttentionConfig(d_model=D, num_heads=H))
    sa = _copy(SelfAttention(AttentionConfig(d_model=D, num_heads=H)), mha)
    x = torch.randn(2, 7, D)
    km = torch.rand(2, 7) > 0.3
    torch.testing.assert_close(sa(x, key_mask=km, is_causal=True), mha(x, key_mask=km, is_causal=True))


# -- chunked ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("t", [1, 3, 33, 65])
@pytest.mark.parametrize("chunk", [1, 8, 64])
@pytest.mark.parametrize("causal", [False, True])
def test_chunked_attention_is_exact(t: int, chunk: int, causal: bool) -> None:
    layer = ChunkedAttention(AttentionConfig(d_model=D, num_heads=H, num_kv_heads=2), chunk_size=chunk)
    x = torch.randn(2, t, D)
    km = torch.rand(2, t) > 0.2
    out = layer(x, key_mask=km, is_causal=causal)
    torch.testing.assert_close(
        out, _expected(layer, x, mask=km[:, None, None], is_causal=causal), atol=2e-5, rtol=1e-4
    )


def test_chunked_sliding_window_and_weights() -> None:
    cfg = AttentionConfig(d_model=D, num_heads=H, causal=True, sliding_window=5)
    layer = ChunkedAttention(cfg, chunk_size=4)
    x = torch.randn(1, 21, D)
    torch.testing.assert_close(layer(x), _expected(layer, x, is_causal=True, window=5), atol=2e-5, rtol=1e-4)
    out, w = layer(x, need_weights=True)  # weights requested: the exact math path
    assert w.shape == (1, H, 21, 21) and (w.triu(1) == 0).all()
    torch.testing.assert_close(out, layer(x), atol=2e-5, rtol=1e-4)


def test_chunked_budget_drives_tile_size() -> None:
    layer = ChunkedAttention(AttentionConfig(d_model=D, num_heads=H), max_memory_mb=0.01)
    side = layer.tile_size(500, 500, batch=2, dtype=torch.float32)
    assert side * side * 2 * H * tile_bytes_per_score(torch.float32) <= 0.01 * 2**20
    x = torch.randn(2, 70, D)
    torch.testing.assert_close(layer(x), _expected(layer, x), atol=2e-5, rtol=1e-4)


def test_choose_chunk_size_fits_budget_and_bounds() -> None:
    for budget in (0.5, 4.0, 64.0, 256.0):
        c = choose_chunk_size(8192, 8192, batch=4, num_heads=8, dtype=torch.float32, max_memory_mb=budget)
        assert 1 <= c <= 8192
        assert 4 * 8 * c * c * tile_bytes_per_score(torch.float32) <= budget * 2**20
        bigger = math.isqrt(int(budget * 2**20 // (4 * 8 * tile_bytes_per_score(torch.float32))))
        assert c > bigger - 64  # rounded down by less than one alignment step
    assert choose_chunk_size(10, 7, batch=1, num_heads=1, dtype=torch.float32, max_memory_mb=100) == 10
    assert choose_chunk_size(10, 7, batch=1, num_heads=1, dtype=torch.float32, max_memory_mb=1e-9) == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"q_len": 0}, "q_len=0"),
        ({"batch": -1}, "batch=-1"),
        ({"num_heads": 2.0}, "num_heads=2.0"),
        ({"max_memory_mb": 0.0}, "max_memory_mb=0.0"),
    ],
)
def test_choose_chunk_size_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    args = {"q_len": 8, "k_len": 8, "batch": 1, "num_heads": 1, "dtype": torch.float32, "max_memory_mb": 1.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        choose_chunk_size(args.pop("q_len"), args.pop("k_len"), **args)


# -- linear -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("t", [1, 3, 65, 130])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_linear_attention_matches_paper_formula(t: int, causal: bool, dtype: torch.dtype) -> None:
    layer = LinearAttention(AttentionConfig(d_model=D, num_heads=H, num_kv_heads=2)).to(dtype)
    x = torch.randn(2, t, D, dtype=dtype)
    km = torch.rand(2, t) > 0.2
    out = layer(x, key_mask=km, is_causal=causal)
    q, k, v = layer.project_qkv(x, x, x)
    ref = reference_linear_attention(q, k, v, key_mask=km, is_causal=causal)
    expected = layer.out_proj(ref.to(dtype).transpose(1, 2).reshape(2, t, D))
    tol = {"atol": 2e-5, "rtol": 1e-4} if dtype == torch.float32 else {"atol": 5e-2, "rtol": 5e-2}
    torch.testing.assert_close(out, expected, **tol)


@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_streamed_linear_attention_matches_paper_formula(
    cross: bool, bias: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks of 16 steps (projections included) over 37 queries / 53 keys equal the float64 formula."""
    from ml_attention_mechanisms.attention import self_attention

    calls: list[int] = []
    state = self_attention.linear_attention_state
    monkeypatch.setattr(
        self_attention, "linear_attention_state", lambda k, *a: calls.append(k.shape[-2]) or state(k, *a)
    )
    cfg = AttentionConfig(d_model=D, num_heads=H, num_kv_heads=2, bias=bias)
    layer = LinearAttention(cfg, block_rows=16).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_(0, 0.3)
    tq, tk = (37, 53) if cross else (53, 53)
    x = torch.randn(2, tq, D, dtype=torch.float64)
    key = torch.randn(2, tk, D, dtype=torch.float64) if cross else x
    value = torch.randn(2, tk, D, dtype=torch.float64) if cross else x
    km = torch.rand(2, tk) > 0.3
    km[1] = False  # a batch element with no key at all: zeros, never NaN
    out = layer(x, key, value, key_mask=km)
    assert calls == [16, 16, 16, 5]  # the key summary was built block by block
    q, k, v = layer.project_qkv(x, key, value)
    ref = reference_linear_attention(q, k, v, key_mask=km)
    expected = layer.out_proj(ref.transpose(1, 2).reshape(2, tq, D))
    expected[1] = layer.out_proj.bias if bias else 0.0
    torch.testing.assert_close(out, expected, atol=1e-10, rtol=1e-8)


def test_streamed_linear_attention_gradients_equal_the_one_block_path() -> None:
    layer = LinearAttention(AttentionConfig(d_model=D, num_heads=H), block_rows=8)
    whole = _copy(LinearAttention(AttentionConfig(d_model=D, num_heads=H), block_rows=1000), layer)
    x = torch.randn(2, 29, D, requires_grad=True)
    km = torch.rand(2, 29) > 0.2
    grads = []
    for m in (layer, whole):
        out = m(x, key_mask=km)
        grads.append(torch.autograd.grad(out.square().sum(), [x, *m.parameters()]))
    for got, want in zip(*grads, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_linear_attention_rejects_bad_block_rows() -> None:
    with pytest.raises(ValueError, match="block_rows=0"):
        LinearAttention(AttentionConfig(d_model=D, num_heads=H), block_rows=0)


def test_linear_attention_refuses_what_it_cannot_do() -> None:
    layer = LinearAttention(AttentionConfig(d_model=D, num_heads=H))
    x = torch.randn(1, 4, D)
    with pytest.raises(ValueError, match="need_weights"):
        layer(x, need_weights=True)
    with pytest.raises(ValueError, match=r"key_mask .* and is_causal only.*\(1, 1, 4, 4\)"):
        layer(x, attention_mask=torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="sliding_window=3"):
        LinearAttention(AttentionConfig(d_model=D, num_heads=H, causal=True, sliding_window=3))


# -- crypto -----------------------------------------------------------------------------------------
def test_crypto_without_market_inputs_is_multi_head_attention() -> None:
    mha = MultiHeadAttention(AttentionConfig(d_model=D, num_heads=H))
    crypto = _copy(CryptoMultiHeadAttention(AttentionConfig(d_model=D, num_heads=H)), mha)
    x = torch.randn(2, 9, D)
    torch.testing.assert_close(crypto(x), mha(x))
    torch.testing.assert_close(crypto(x, is_causal=True), mha(x, is_causal=True))


def test_crypto_time_bias_is_alibi_in_bars_of_elapsed_time() -> None:
    layer = CryptoMultiHeadAttention(AttentionConfig(d_model=D, num_heads=H))
    x = torch.randn(1, 6, D)
    ts = torch.tensor([[0, 3600, 7200, 18000, 21600, 25200]])  # a 3-hour gap after bar 2
    out = layer(x, timestamps=ts, is_causal=True)
    bars = (ts[:, :, None] - ts[:, None, :]).abs().double() / 3600.0  # distance in hourly bars
    bias = -ALiBi.get_slopes(H).double().view(1, H, 1, 1) * bars[:, None]
    torch.testing.assert_close(out, _expected(layer, x, mask=bias, is_causal=True), atol=2e-5, rtol=1e-4)
    # Milliseconds give the same result (the unit is the median bar spacing).
    torch.testing.assert_close(layer(x, timestamps=ts * 1000, is_causal=True), out)
    # The gap matters: index positions would say bar 3 is one bar after bar 2.
    assert not torch.allclose(out, layer(x, timestamps=torch.arange(6)[None] * 3600, is_causal=True))


def test_crypto_volatility_temperature() -> None:
    layer = CryptoMultiHeadAttention(AttentionConfig(d_model=D, num_heads=H))
    x = torch.randn(2, 8, D)
    calm = torch.ones(2, 8)
    torch.testing.assert_close(layer(x, volatility=calm), layer(x))  # relative volatility 1 -> temperature 1
    vol = torch.rand(2, 8) + 0.1
    tau = layer.temperature(vol, 8)
    expanding_mean = vol.cumsum(-1) / torch.arange(1, 9)  # the reference uses bars <= t only
    expected_tau = (vol / expanding_mean)[:, None, :, None] ** 0.5  # softplus(g) = 0.5 at init
    torch.testing.assert_close(tau, expected_tau.expand(2, H, 8, 1))
    q, k, v = layer.project_qkv(x, x, x)
    ref, _ = reference_attention(q * (1 / tau), k, v)
    torch.testing.assert_close(
        layer(x, volatility=vol), layer.out_proj(ref.float().transpose(1, 2).reshape(2, 8, D))
    )
    # Higher volatility flattens attention: the entropy of the weights grows.
    _, w_hi = layer(x, volatility=torch.tensor([[1.0] * 7 + [8.0]] * 2), need_weights=True)
    _, w_lo = layer(x, need_weights=True)
    ent = lambda w: -(w * w.clamp_min(1e-12).log()).sum(-1)  # noqa: E731
    assert (ent(w_hi)[:, :, -1] > ent(w_lo)[:, :, -1]).all()


def test_realized_volatility_matches_a_trailing_window_std() -> None:
    prices = torch.exp(torch.randn(2, 40, dtype=torch.float64).cumsum(-1) * 0.01) * 100
    vol = CryptoMultiHeadAttention.realized_volatility(prices, window=5)
    for row in range(2):
        r = np.diff(np.log(prices[row].numpy()), prepend=np.log(prices[row, 0].item()))
        # population std of the last 5 returns (fewer at the start), bar by bar
        expected = np.array([r[max(0, i - 4) : i + 1].std() for i in range(r.size)])
        np.testing.assert_allclose(vol[row].numpy(), expected, atol=1e-12)


def test_crypto_bad_market_inputs() -> None:
    layer = CryptoMultiHeadAttention(AttentionConfig(d_model=D, num_heads=H))
    x = torch.randn(2, 5, D)
    with pytest.raises(ValueError, match=r"timestamps must be int64 .* \(2, 5\), got shape \(2, 4\)"):
        layer(x, timestamps=torch.zeros(2, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"got shape .* dtype torch.float32"):
        layer(x, timestamps=torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"volatility must be \[batch\] or \[batch, q_len\]"):
        layer(x, volatility=torch.ones(3))
    with pytest.raises(ValueError, match=r"needs CryptoMultiHeadAttention\(reference_volatility"):
        layer(x, volatility=torch.ones(2))
    fixed = CryptoMultiHeadAttention(AttentionConfig(d_model=D, num_heads=H), reference_volatility=2.0)
    torch.testing.assert_close(fixed.temperature(torch.full((2,), 8.0), 5), torch.full((2, H, 5, 1), 2.0))
    with pytest.raises(ValueError, match="key_timestamps is required"):
        layer(x, torch.randn(2, 6, D), timestamps=torch.zeros(2, 5, dtype=torch.int64))
