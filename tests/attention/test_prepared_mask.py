"""PreparedMask: masks, causal window and bias folded once give what the per-call path gives, on every backend."""

from __future__ import annotations

import pytest
import torch

from ml_attention_mechanisms.attention import MultiHeadAttention
from ml_attention_mechanisms.attention._dispatch import attend
from ml_attention_mechanisms.attention._masks import PreparedMask, combine_masks, prepare_mask
from ml_attention_mechanisms.attention.reference import reference_attention
from ml_attention_mechanisms.config import AttentionConfig
from ml_attention_mechanisms.encodings.positional_encoding import ALiBi
from ml_attention_mechanisms.transformers.transformer_block import (
    TransformerBlockConfig,
    TransformerEncoderBlock,
)

B, H, T, D, W = 3, 4, 11, 8, 5


def _inputs() -> tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    q, k, v = (torch.randn(B, H, T, D) for _ in range(3))
    key_mask = torch.rand(B, T) > 0.3
    key_mask[0, :4] = False  # the first queries of row 0 see no present key: empty rows
    key_mask[:, -1] = True
    ts = 1_609_459_200 + 3600 * torch.arange(T).repeat(B, 1)
    ts[:, 6:] += 7200  # a gap
    bias = ALiBi(H, time_aware=True).bias(T, T, q_times=ts, k_times=ts)  # (B, H, T, T)
    return q, k, v, key_mask, bias


def _unfolded(backend: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    q, k, v, key_mask, bias = _inputs()
    mask = combine_masks(None, key_mask, batch=B, heads=H, q_len=T, k_len=T, dtype=torch.float32)
    assert mask is not None
    full = bias.masked_fill(~mask, float("-inf"))
    return attend(
        q, k, v, mask=full, is_causal=True, window=W, backend=backend, need_weights=backend == "math"
    )


def _folded(backend: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    q, k, v, key_mask, bias = _inputs()
    prepared = prepare_mask(T, T, key_mask=key_mask, bias=bias, is_causal=True, window=W, batch=B, heads=H)
    return attend(q, k, v, mask=prepared, backend=backend, need_weights=backend == "math")


@pytest.mark.parametrize("backend", ["sdpa", "math"])
def test_folded_mask_gives_the_per_call_outputs_bit_for_bit(backend: str) -> None:
    out, weights = _folded(backend)
    ref, ref_weights = _unfolded(backend)
    assert torch.equal(out, ref)
    if weights is not None:
        assert ref_weights is not None and torch.equal(weights, ref_weights)


@pytest.mark.parametrize("backend", ["sdpa", "math", "chunked"])
def test_folded_mask_matches_the_float64_reference_and_empty_rows_are_zero(backend: str) -> None:
    q, k, v, key_mask, bias = _inputs()
    allowed = torch.ones(T, T, dtype=torch.bool).tril() & ~torch.ones(T, T, dtype=torch.bool).tril(-W)
    allowed = allowed & key_mask[:, None, None, :]  # (B, 1, T, T)
    ref, _ = reference_attention(q, k, v, mask=bias.masked_fill(~allowed, float("-inf")))
    out, _ = _folded(backend)
    empty = ~allowed.any(-1)  # (B, 1, T)
    assert empty.any()
    ref = ref.masked_fill(empty.unsqueeze(-1), 0.0)
    torch.testing.assert_close(out.double(), ref, atol=2e-5, rtol=1e-4)
    assert torch.all(out[empty.expand(-1, H, -1)] == 0)


def test_head_scale_folds_to_the_same_bias_bit_for_bit() -> None:
    _, _, _, key_mask, _ = _inputs()
    alibi = ALiBi(H, time_aware=True)
    ts = 1_609_459_200 + 3600 * torch.arange(T).repeat(B, 1)
    dist = alibi.distance(T, T, q_times=ts, k_times=ts)  # (B, T, T)
    common = {"key_mask": key_mask, "is_causal": True, "window": W, "batch": B, "heads": H}
    a = prepare_mask(T, T, bias=-dist.unsqueeze(1), head_scale=alibi.slopes, **common)  # type: ignore[arg-type]
    b = prepare_mask(T, T, bias=alibi.bias(T, T, q_times=ts, k_times=ts), **common)  # type: ignore[arg-type]
    assert torch.equal(a.mask, b.mask)
    assert a.row_ok is not None and b.row_ok is not None and torch.equal(a.row_ok, b.row_ok)
    with pytest.raises(ValueError, match="head_scale"):
        prepare_mask(T, T, attention_mask=torch.zeros(T, T), bias=-dist.unsqueeze(1), head_scale=alibi.slopes)


def test_no_empty_row_drops_the_row_zeroing_and_dtypes_convert_as_the_dispatch_does() -> None:
    prepared = prepare_mask(T, T, key_mask=torch.ones(B, T, dtype=torch.bool), is_causal=True, batch=B)
    assert prepared.row_ok is None  # every causal row keeps its own key
    half = prepared.for_dtype(torch.bfloat16)
    assert half.dtype == torch.bfloat16 and prepared.for_dtype(torch.bfloat16) is half  # converted once
    torch.testing.assert_close(half.float(), prepared.mask.clamp_min(torch.finfo(torch.bfloat16).min))


def test_prepared_mask_refuses_what_it_already_holds() -> None:
    q, k, v, key_mask, bias = _inputs()
    prepared = prepare_mask(T, T, key_mask=key_mask, bias=bias, is_causal=True, window=W, batch=B, heads=H)
    with pytest.raises(ValueError, match="is_causal=False"):
        attend(q, k, v, mask=prepared, is_causal=True)
    with pytest.raises(ValueError, match="does not fit"):
        attend(q[..., :5, :], k, v, mask=prepared)
    mha = MultiHeadAttention(AttentionConfig(d_model=H * D, num_heads=H))
    with pytest.raises(ValueError, match="neither key_mask nor attn_bias"):
        mha(torch.randn(B, T, H * D), attention_mask=prepared, key_mask=key_mask)
    block = TransformerEncoderBlock(TransformerBlockConfig(d_model=H * D, num_heads=H, dropout=0.0))
    with pytest.raises(ValueError, match="query_index needs attention_mask to be a PreparedMask"):
        block(torch.randn(B, T, H * D), query_index=torch.zeros(B, 1, dtype=torch.long))


def test_block_at_chosen_queries_equals_the_full_block_there() -> None:
    _, _, _, key_mask, bias = _inputs()
    block = TransformerEncoderBlock(TransformerBlockConfig(d_model=H * D, num_heads=H, dropout=0.0)).eval()
    x = torch.randn(B, T, H * D)
    prepared = prepare_mask(T, T, key_mask=key_mask, bias=bias, is_causal=True, window=W, batch=B, heads=H)
    index = torch.tensor([[10, 3], [7, 7], [0, 9]])  # (B, Q): any positions, per row
    with torch.no_grad():
        full = block(x, attention_mask=prepared)
        some = block(x, attention_mask=prepared, query_index=index)
    want = full.gather(1, index.unsqueeze(-1).expand(-1, -1, H * D))  # type: ignore[union-attr]
    torch.testing.assert_close(some, want, atol=1e-6, rtol=1e-5)
    rows = prepared.select_queries(index)
    assert isinstance(rows, PreparedMask) and rows.shape == (B, H, 2, T)
    assert torch.equal(rows.mask[1, :, 0], prepared.mask[1, :, 7])
