"""Every backend of the dispatch against the float64 reference: shapes, masks, dtypes, empty rows, gradients."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_attention_mechanisms.attention._dispatch import (
    BACKENDS,
    PRIORITY,
    TOLERANCES,
    AttentionInputs,
    attend,
    attention_backend,
    choose_backend,
    explain_dispatch,
    record_dispatch,
)
from ml_attention_mechanisms.attention.reference import reference_attention, reference_linear_attention

EXACT = ["sdpa", "math", "chunked"]
# (B, H, Hkv, Tq, Tk, D): odd lengths, length 1, q_len != k_len, GQA ratios 1, 2, 4
SHAPES = [
    (2, 2, 2, 1, 1, 8),
    (1, 4, 2, 3, 3, 8),
    (2, 4, 1, 33, 33, 16),
    (1, 2, 2, 1, 65, 8),
    (1, 4, 2, 33, 65, 8),
    (2, 2, 1, 65, 33, 8),
]
MASKS = ["none", "bool2d", "bool4d", "key", "float", "float01"]


def _qkv(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    b, h, hkv, tq, tk, d = shape
    return (
        torch.randn(b, h, tq, d, dtype=dtype),
        torch.randn(b, hkv, tk, d, dtype=dtype),
        torch.randn(b, hkv, tk, d, dtype=dtype),
    )


def _mask(kind: str, b: int, h: int, tq: int, tk: int) -> torch.Tensor | None:
    if kind == "none":
        return None
    if kind == "bool2d":
        return (torch.rand(tq, tk) > 0.3)[None, None]
    if kind == "bool4d":
        return torch.rand(b, h, tq, tk) > 0.3
    if kind == "key":
        return (torch.rand(b, tk) > 0.3)[:, None, None, :]
    if kind == "float":  # additive with -inf holes
        m = torch.randn(b, 1, tq, tk)
        return m.masked_fill(torch.rand(b, 1, tq, tk) < 0.3, float("-inf"))
    return (torch.rand(1, 1, tq, tk) > 0.5).float()  # a 0/1 float mask is additive, not boolean


def _check(out: torch.Tensor, ref: torch.Tensor, dtype: torch.dtype) -> None:
    atol, rtol = TOLERANCES[dtype]
    torch.testing.assert_close(out.double(), ref, atol=atol, rtol=rtol)


@pytest.mark.parametrize("backend", EXACT)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("causal", [False, True])
def test_exact_backends_match_reference(backend: str, shape: tuple, mask_kind: str, causal: bool) -> None:
    q, k, v = _qkv(shape)
    mask = _mask(mask_kind, shape[0], shape[1], shape[3], shape[4])
    out, _ = attend(q, k, v, mask=mask, is_causal=causal, backend=backend, chunk_size=16)
    ref, _ = reference_attention(q, k, v, mask=mask, is_causal=causal)
    _check(out, ref, torch.float32)


@pytest.mark.parametrize("backend", EXACT)
@pytest.mark.parametrize("window", [1, 4, 20])
def test_sliding_window_matches_reference(backend: str, window: int) -> None:
    q, k, v = _qkv((1, 2, 1, 33, 65, 8))
    out, _ = attend(q, k, v, is_causal=True, window=window, backend=backend, chunk_size=8)
    ref, _ = reference_attention(q, k, v, is_causal=True, window=window)
    _check(out, ref, torch.float32)


@pytest.mark.parametrize("backend", EXACT)
@pytest.mark.parametrize("mask_kind", ["none", "bool4d", "float"])
def test_bfloat16_within_its_tolerance(backend: str, mask_kind: str) -> None:
    q, k, v = _qkv((2, 4, 2, 33, 33, 16), torch.bfloat16)
    mask = _mask(mask_kind, 2, 4, 33, 33)
    out, _ = attend(q, k, v, mask=mask, is_causal=True, backend=backend, chunk_size=16)
    assert out.dtype == torch.bfloat16
    ref, _ = reference_attention(q, k, v, mask=mask, is_causal=True)
    _check(out, ref, torch.bfloat16)


@pytest.mark.parametrize("backend", EXACT)
def test_math_weights_match_reference(backend: str) -> None:
    q, k, v = _qkv((2, 4, 2, 5, 7, 8))
    mask = _mask("bool4d", 2, 4, 5, 7)
    out, w = attend(q, k, v, mask=mask, need_weights=True)
    ref, ref_w = reference_attention(q, k, v, mask=mask)
    assert w is not None and w.shape == (2, 4, 5, 7)
    _check(w, ref_w, torch.float32)
    _check(out, ref, torch.float32)


@pytest.mark.parametrize("backend", EXACT)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_fully_masked_rows_give_zeros_and_zero_grads(backend: str, dtype: torch.dtype) -> None:
    q, k, v = (t.requires_grad_() for t in _qkv((1, 2, 2, 4, 6, 8), dtype))
    mask = torch.ones(1, 1, 4, 6, dtype=torch.bool)
    mask[..., 1, :] = False  # query row 1 may attend to nothing
    out, _ = attend(q, k, v, mask=mask, backend=backend, chunk_size=4)
    assert torch.isfinite(out).all() and (out[:, :, 1] == 0).all()
    out.sum().backward()
    for t in (q, k, v):
        assert t.grad is not None and torch.isfinite(t.grad).all()
    assert (q.grad[:, :, 1] == 0).all()  # type: ignore[index]
    ref, _ = reference_attention(q.detach(), k.detach(), v.detach(), mask=mask)
    assert (ref[:, :, 1] == 0).all()


@pytest.mark.parametrize("backend", [*EXACT, "linear"])
def test_gradcheck_float64(backend: str) -> None:
    q, k, v = (t.double().requires_grad_() for t in _qkv((1, 2, 1, 5, 7, 4)))
    mask = None if backend == "linear" else _mask("bool4d", 1, 2, 5, 7)
    if mask is not None:
        mask[..., 2, :] = False  # an empty row: zeros, smooth
    for causal in (False, True):

        def fn(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = causal) -> torch.Tensor:
            return attend(q, k, v, mask=mask, is_causal=causal, backend=backend, chunk_size=3)[0]

        assert torch.autograd.gradcheck(fn, (q, k, v), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("key_mask", [False, True])
def test_linear_backend_matches_its_formula(shape: tuple, causal: bool, key_mask: bool) -> None:
    q, k, v = _qkv(shape)
    km = torch.rand(shape[0], shape[4]) > 0.3 if key_mask else None
    out, _ = attend(
        q, k, v, mask=None if km is None else km[:, None, None, :], is_causal=causal, backend="linear"
    )
    ref = reference_linear_attention(q, k, v, key_mask=km, is_causal=causal)
    _check(out, ref, torch.float32)


def test_linear_is_never_chosen_automatically() -> None:
    q, k, v = _qkv((1, 2, 2, 4, 4, 8))
    assert "linear" not in PRIORITY
    with attention_backend("linear"):
        with pytest.raises(RuntimeError, match="not exact"):
            attend(q, k, v)
    assert choose_backend(q, k, v) == "sdpa"


def test_explain_dispatch_names_choice_and_refusals() -> None:
    q, k, v = _qkv((1, 2, 2, 4, 4, 8))
    assert "math: attention weights requested" in explain_dispatch(q, k, v, need_weights=True)
    assert "math: use_flash_attn=False" in explain_dispatch(q, k, v, allow_fused=False)
    text = explain_dispatch(q, k, v, backend="linear", dropout_p=0.1)
    assert "linear (forced): dropout not supported" in text
    with pytest.raises(RuntimeError, match="dropout not supported"):
        attend(q, k, v, backend="linear", dropout_p=0.1)
    with pytest.raises(ValueError, match="unknown attention backend 'nope'"):
        attend(q, k, v, backend="nope")


@settings(max_examples=15, deadline=None)
@given(
    b=st.integers(1, 2),
    hkv=st.integers(1, 2),
    rep=st.sampled_from([1, 2]),
    tq=st.integers(1, 20),
    tk=st.integers(1, 20),
    d=st.sampled_from([4, 8]),
    causal=st.booleans(),
    density=st.floats(0.0, 1.0),
    backend=st.sampled_from(EXACT),
    chunk=st.integers(1, 8),
)
def test_random_shapes_and_masks(
    b: int,
    hkv: int,
    rep: int,
    tq: int,
    tk: int,
    d: int,
    causal: bool,
    density: float,
    backend: str,
    chunk: int,
) -> None:
    q, k, v = _qkv((b, hkv * rep, hkv, tq, tk, d))
    mask = torch.rand(b, 1, tq, tk) < density
    out, _ = attend(q, k, v, mask=mask, is_causal=causal, backend=backend, chunk_size=chunk)
    ref, _ = reference_attention(q, k, v, mask=mask, is_causal=causal)
    _check(out, ref, torch.float32)


@pytest.mark.parametrize("backend", ["sdpa", "math", "chunked"])
def test_half_precision_keeps_large_finite_mask_values_finite(backend: str) -> None:
    """A float32 additive mask of -1e9 on a whole row is a row that may attend, also with fp16 inputs.

    Which average such a row gets depends on the precision (float64 keeps softmax(scores), float32 rounds the
    scores away): what must hold is a finite convex combination of the values, never NaN or zeros.
    """
    q, k, v = torch.randn(1, 2, 5, 8), torch.randn(1, 2, 7, 8), torch.randn(1, 2, 7, 8)
    mask = torch.randn(5, 7)[None, None].repeat(1, 2, 1, 1)
    mask[..., 1, :] = -1e9
    expected, _ = reference_attention(q, k, v, mask=mask)
    out, _ = attend(q.half(), k.half(), v.half(), mask=mask, backend=backend)
    assert torch.isfinite(out).all()
    rows = [0, 2, 3, 4]
    torch.testing.assert_close(out[..., rows, :].double(), expected[..., rows, :], atol=3e-3, rtol=3e-3)
    row = out[..., 1, :].float()  # (1, 2, 8)
    vh = v.half().float()
    assert (row >= vh.amin(dim=-2) - 1e-3).all() and (row <= vh.amax(dim=-2) + 1e-3).all()
    assert row.abs().amax() > 0


@pytest.mark.parametrize(
    ("d", "dv", "ok"), [(64, 64, True), (12, 12, False), (512, 512, False), (64, 32, False)]
)
def test_flash_attn_backend_refuses_head_dims_it_cannot_run(d: int, dv: int, ok: bool) -> None:
    q, k = torch.randn(1, 2, 4, d, dtype=torch.float16), torch.randn(1, 2, 4, d, dtype=torch.float16)
    v = torch.randn(1, 2, 4, dv, dtype=torch.float16)
    inp = AttentionInputs(q, k, v, None, False, None, 0.0, False)
    reasons = BACKENDS["flash_attn"].not_supported_reasons(inp)
    assert any("head dim" in r for r in reasons) != ok, reasons


def test_record_dispatch_sees_every_call_with_its_explanation() -> None:
    q, k, v = _qkv((1, 2, 2, 5, 5, 8))
    with record_dispatch() as outer:
        attend(q, k, v, is_causal=True)
        with record_dispatch() as inner:
            attend(q, k, v, need_weights=True)
    assert [name for name, _ in outer] == ["sdpa", "math"] and [name for name, _ in inner] == ["math"]
    assert outer[0][1] == explain_dispatch(q, k, v, is_causal=True)
    attend(q, k, v)  # outside the blocks: not recorded
    assert len(outer) == 2
