"""The attention layer on CUDA: dispatch, fused kernels, empty rows, gradients, modules, KV caches.

What this file proves, on a CUDA device (every test is marked ``gpu``):

- ``attend`` (automatic dispatch) in float32, float16 and bfloat16 equals the float64 reference for no mask,
  2-D and 4-D bool masks, key masks, additive float masks, bottom-right causal with ``Tq < Tk``, sliding
  windows, grouped-query heads, odd lengths and length 1, within ``TOLERANCES[dtype]``; and the dispatch
  chose the backend it should (``sdpa``, or ``flash_attn`` when that package is installed and no mask).
- The fused kernels really run: under ``torch.nn.attention.sdpa_kernel`` restricted to FLASH_ATTENTION
  (half precision, no mask) or EFFICIENT_ATTENTION (bool and additive masks), ``attend`` still runs and
  matches the reference (a restricted context raises if its kernel cannot run).
- Query rows that may attend to nothing give exact zeros, never NaN, in values and gradients, for the
  backends sdpa, math, chunked and linear, in float32, float16 and bfloat16, for bool, additive and
  causal (``Tq > Tk``) masks and fully absent batch items.
- float32 gradients of q, k, v through the automatic (sdpa) path equal the float64 reference's gradients.
- Every attention module moved to CUDA gives its CPU output (same weights, float32, TF32 off).
- ``CausalAttention`` with a ``KVCache`` on CUDA: cached decoding equals one causal forward (also with a
  sliding window); outputs up to bar t are bit-for-bit unchanged when later bars change.

Dry run on CPU (checks the test logic only): ``MLATTN_TEST_DEVICE=cpu pytest tests/attention/test_attention_cuda.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
from test_causal_attention import _decode
from test_dispatch import _qkv
from test_temporal_attention import _minutes, _small

from _cuda_case import DEVICE, MARKS, to_device
from ml_attention_mechanisms import (
    AttentionConfig,
    CausalAttention,
    ChunkedAttention,
    CryptoMultiHeadAttention,
    LinearAttention,
    MultiHeadAttention,
    SelfAttention,
)
from ml_attention_mechanisms.attention._dispatch import TOLERANCES, attend, explain_dispatch
from ml_attention_mechanisms.attention._kernels import _HAS_FLASH_ATTN
from ml_attention_mechanisms.attention.cross_attention import (
    CrossAssetAttention,
    CrossAttention,
    CrossAttentionConfig,
)
from ml_attention_mechanisms.attention.reference import reference_attention, reference_linear_attention

pytestmark = MARKS

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
D, H = 32, 4  # module tests: d_model, heads


def _dev(*ts: torch.Tensor | None) -> list[torch.Tensor | None]:
    return [None if t is None else t.to(DEVICE) for t in ts]


def _close(out: torch.Tensor, ref: torch.Tensor, dtype: torch.dtype) -> None:
    atol, rtol = TOLERANCES[dtype]
    torch.testing.assert_close(out.detach().cpu().double(), ref.detach().cpu().double(), atol=atol, rtol=rtol)


# -- 1. the dispatch against the float64 reference ----------------------------------------------------------
# name -> (B, H, Hkv, Tq, Tk, D), mask kind, is_causal, window
CASES: dict[str, tuple[tuple[int, ...], str, bool, int | None]] = {
    "none": ((2, 2, 2, 17, 17, 16), "none", False, None),
    "none_causal": ((2, 2, 2, 17, 17, 16), "none", True, None),
    "bool2d": ((2, 2, 2, 9, 13, 16), "bool2d", False, None),
    "bool4d": ((2, 2, 2, 9, 13, 16), "bool4d", False, None),
    "bool4d_causal": ((2, 2, 2, 13, 13, 16), "bool4d", True, None),
    "key": ((3, 2, 2, 11, 11, 16), "key", False, None),
    "float": ((2, 2, 2, 9, 13, 16), "float", False, None),
    "causal_tq_lt_tk": ((2, 2, 2, 5, 19, 16), "none", True, None),
    "window": ((2, 2, 2, 21, 21, 16), "none", True, 4),
    "window_tq_lt_tk": ((1, 2, 2, 7, 21, 16), "none", True, 5),
    "gqa": ((2, 4, 2, 15, 15, 16), "none", False, None),
    "gqa_causal": ((2, 4, 1, 15, 15, 16), "none", True, None),
    "gqa_mask": ((2, 4, 2, 9, 13, 16), "bool4d", False, None),
    "odd": ((1, 2, 2, 33, 65, 8), "key", True, None),
    "len1": ((2, 2, 2, 1, 1, 16), "none", False, None),
    "len1_decode": ((2, 2, 2, 1, 23, 16), "none", True, None),
}


def _mask(kind: str, b: int, h: int, tq: int, tk: int, dtype: torch.dtype) -> torch.Tensor | None:
    """The library's mask forms on CPU; no row is empty here (empty rows have their own test)."""
    if kind == "none":
        return None
    if kind == "bool2d":
        m = torch.rand(tq, tk) > 0.3
        m[:, 0] = True
        return m[None, None]
    if kind == "bool4d":
        m = torch.rand(b, h, tq, tk) > 0.3
        m[..., -1] = True  # the last key is visible to every query, also under bottom-right causality
        return m
    if kind == "key":
        m = torch.rand(b, tk) > 0.3
        m[:, 0] = True
        return m[:, None, None, :]
    m = torch.randn(b, 1, tq, tk).masked_fill(torch.rand(b, 1, tq, tk) < 0.3, float("-inf"))
    m[..., 0] = 0.0
    return m.to(dtype)  # rounded to the input dtype first, so the reference sees the same numbers


def _expected_backend(dtype: torch.dtype, mask: torch.Tensor | None) -> str:
    flash_pkg = _HAS_FLASH_ATTN and DEVICE.type == "cuda" and dtype in (torch.float16, torch.bfloat16)
    return "flash_attn" if flash_pkg and mask is None else "sdpa"


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", list(CASES))
@torch.no_grad()
def test_dispatch_matches_float64_reference(case: str, dtype: torch.dtype) -> None:
    shape, kind, causal, window = CASES[case]
    q, k, v = _qkv(shape, dtype)
    mask = _mask(kind, shape[0], shape[1], shape[3], shape[4], dtype)
    dq, dk, dv, dm = _dev(q, k, v, mask)
    assert dq is not None and dk is not None and dv is not None
    text = explain_dispatch(dq, dk, dv, mask=dm, is_causal=causal, window=window)
    want = _expected_backend(dtype, mask)
    assert f"{want}: chosen" in text, text
    assert f"on {DEVICE.type}" in text, text
    out, w = attend(dq, dk, dv, mask=dm, is_causal=causal, window=window)
    assert w is None and out.device.type == DEVICE.type and out.dtype == dtype
    ref, _ = reference_attention(q, k, v, mask=mask, is_causal=causal, window=window)
    _close(out, ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@torch.no_grad()
def test_need_weights_and_no_fused_take_math_on_device(dtype: torch.dtype) -> None:
    q, k, v = _qkv((2, 4, 2, 9, 13, 16), dtype)
    mask = _mask("bool4d", 2, 4, 9, 13, dtype)
    dq, dk, dv, dm = _dev(q, k, v, mask)
    assert dq is not None and dk is not None and dv is not None
    assert "math: attention weights requested" in explain_dispatch(dq, dk, dv, mask=dm, need_weights=True)
    assert "math: use_flash_attn=False" in explain_dispatch(dq, dk, dv, allow_fused=False)
    out, w = attend(dq, dk, dv, mask=dm, need_weights=True)
    ref, ref_w = reference_attention(q, k, v, mask=mask)
    assert w is not None and w.dtype == dtype and w.device.type == DEVICE.type
    _close(out, ref, dtype)
    _close(w, ref_w, dtype)


# (kernel on CUDA, dtypes, mask kind, causal): flash takes no mask (head_dim 16, half precision only);
# the memory-efficient kernel takes bool (converted to additive) and additive masks in every dtype here.
FUSED = {
    "flash_causal": ("FLASH_ATTENTION", [torch.float16, torch.bfloat16], "none", True),
    "flash_full": ("FLASH_ATTENTION", [torch.float16, torch.bfloat16], "none", False),
    "efficient_bool": ("EFFICIENT_ATTENTION", DTYPES, "bool4d", False),
    "efficient_key": ("EFFICIENT_ATTENTION", DTYPES, "key", True),
    "efficient_float": ("EFFICIENT_ATTENTION", DTYPES, "float", False),
}


@pytest.mark.parametrize("name", list(FUSED))
@torch.no_grad()
def test_fused_sdpa_kernels_really_run(name: str) -> None:
    """Restricted to one fused kernel, the sdpa path still runs (else torch raises) and is exact."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    kernel_name, dtypes, kind, causal = FUSED[name]
    # On the CPU dry run only the math kernel is sure to exist; the logic is the same.
    kernel = getattr(SDPBackend, kernel_name) if DEVICE.type == "cuda" else SDPBackend.MATH
    for dtype in dtypes:
        q, k, v = _qkv((2, 2, 2, 19, 19, 16), dtype)
        mask = _mask(kind, 2, 2, 19, 19, dtype)
        dq, dk, dv, dm = _dev(q, k, v, mask)
        assert dq is not None and dk is not None and dv is not None
        with sdpa_kernel([kernel]):
            out, _ = attend(dq, dk, dv, mask=dm, is_causal=causal, backend="sdpa")
        ref, _ = reference_attention(q, k, v, mask=mask, is_causal=causal)
        _close(out, ref, dtype)


# -- 2. rows with nothing to attend to: zeros in values and gradients ----------------------------------------
EMPTY_FORMS = ["bool_row", "float_row", "causal_tq_gt_tk", "absent_item"]


def _empty_case(form: str, dtype: torch.dtype) -> tuple[torch.Tensor | None, bool, int, int]:
    """(mask on CPU, is_causal, Tq, Tk); query row 1 of batch item 0 (or all of item 1) sees nothing."""
    b, h, tq, tk = 2, 2, 7, 9
    if form == "bool_row":
        m = torch.rand(b, h, tq, tk) > 0.3
        m[..., 0] = True
        m[0, :, 1, :] = False
        return m, False, tq, tk
    if form == "float_row":
        m = torch.randn(b, 1, tq, tk)
        m[0, :, 1, :] = float("-inf")
        return m.to(dtype), False, tq, tk
    if form == "causal_tq_gt_tk":
        return None, True, 9, 6  # the first 3 queries come before the first key: nothing to see
    m = torch.ones(b, 1, 1, tk, dtype=torch.bool)
    m[1] = False  # batch item 1 has no key at all
    return m, False, tq, tk


def _empty_rows(mask: torch.Tensor | None, causal: bool, tq: int, tk: int) -> torch.Tensor:
    """bool [B|1, H|1, Tq]: the query rows with no allowed key (from the float64 reference's definition)."""
    allowed = torch.ones(1, 1, tq, tk, dtype=torch.bool)
    if mask is not None:
        allowed = allowed & (mask if mask.dtype == torch.bool else mask > float("-inf"))
    if causal:
        allowed = allowed & (torch.arange(tk)[None] <= torch.arange(tq)[:, None] + (tk - tq))
    return ~allowed.any(-1)


# Linear attention takes only key masks [B, 1, 1, Tk] (and causality): its forms are those.
EMPTY_PAIRS = [
    (form, backend)
    for backend in ("sdpa", "math", "chunked", "linear")
    for form in EMPTY_FORMS
    if backend != "linear" or form in ("causal_tq_gt_tk", "absent_item")
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("form", "backend"), EMPTY_PAIRS)
def test_empty_rows_are_zero_in_values_and_gradients(form: str, backend: str, dtype: torch.dtype) -> None:
    mask, causal, tq, tk = _empty_case(form, dtype)
    q, k, v = _qkv((2, 2, 2, tq, tk, 16), dtype)
    dq, dk, dv = (t.to(DEVICE, copy=True).requires_grad_() for t in (q, k, v))
    dm = None if mask is None else mask.to(DEVICE)
    assert dq is not None and dk is not None and dv is not None
    out, _ = attend(dq, dk, dv, mask=dm, is_causal=causal, backend=backend, chunk_size=4)
    empty = _empty_rows(mask, causal, tq, tk).expand(2, 2, tq).to(DEVICE)  # (B, H, Tq)
    assert bool(empty.any()) and not bool(empty.all())
    assert torch.isfinite(out).all(), f"{backend} {dtype}: NaN/inf in values"
    assert (out[empty] == 0).all(), f"{backend} {dtype}: empty rows are not zero"
    grad_out = torch.randn_like(out)
    (out * grad_out).sum().backward()
    for name, t in (("q", dq), ("k", dk), ("v", dv)):
        assert t.grad is not None and torch.isfinite(t.grad).all(), f"{backend} {dtype}: NaN in d{name}"
    assert (dq.grad[empty] == 0).all()  # type: ignore[index]
    if form == "absent_item":  # no key of item 1 is attended by anyone: no gradient reaches it
        assert (dk.grad[1] == 0).all() and (dv.grad[1] == 0).all()  # type: ignore[index]
    # The rows that may attend to something still give the reference's values.
    if backend == "linear":
        km = None if mask is None else mask[:, 0, 0, :]
        ref = reference_linear_attention(q, k, v, key_mask=km, is_causal=causal)
    else:
        ref, _ = reference_attention(q, k, v, mask=mask, is_causal=causal)
    assert (ref[empty.cpu()] == 0).all()
    _close(out, ref, dtype)


# -- 3. backward through the automatic (sdpa) path --------------------------------------------------------
GRAD_CASES = ["none_causal", "bool4d", "key", "float", "window", "gqa_causal", "causal_tq_lt_tk", "len1"]


@pytest.mark.parametrize("case", GRAD_CASES)
def test_sdpa_gradients_match_float64_reference(case: str) -> None:
    shape, kind, causal, window = CASES[case]
    q, k, v = _qkv(shape, torch.float32)
    mask = _mask(kind, shape[0], shape[1], shape[3], shape[4], torch.float32)
    g = torch.randn(shape[0], shape[1], shape[3], shape[5])
    leaves = [t.to(DEVICE, copy=True).requires_grad_() for t in (q, k, v)]
    dm = None if mask is None else mask.to(DEVICE)
    text = explain_dispatch(*leaves, mask=dm, is_causal=causal, window=window)
    assert f"{_expected_backend(torch.float32, mask)}: chosen" in text, text
    out, _ = attend(*leaves, mask=dm, is_causal=causal, window=window)
    (out * g.to(DEVICE)).sum().backward()
    ref_leaves = [t.detach().double().requires_grad_() for t in (q, k, v)]
    ref, _ = reference_attention(*ref_leaves, mask=mask, is_causal=causal, window=window)
    (ref * g.double()).sum().backward()
    for got, want in zip(leaves, ref_leaves):
        assert got.grad is not None and want.grad is not None
        torch.testing.assert_close(got.grad.cpu().double(), want.grad, atol=1e-4, rtol=1e-3)


# -- 4. modules: the same weights give the same output on CUDA and on CPU ---------------------------------
def _cfg(**kw: object) -> AttentionConfig:
    return AttentionConfig(d_model=D, num_heads=H, **kw)  # type: ignore[arg-type]


def _module_cases() -> dict[str, tuple[Callable[[], torch.nn.Module], Callable[[], tuple[tuple, dict]]]]:
    """name -> (module builder, inputs builder ``(args, kwargs)`` on CPU)."""
    b, t = 2, 11
    x = lambda: torch.randn(b, t, D)  # noqa: E731
    km = lambda: torch.rand(b, t) > 0.3  # noqa: E731
    ts = (1_700_000_000 + 3600 * torch.arange(t)).repeat(b, 1)
    ts[:, 6:] += 3 * 3600  # a gap: elapsed time differs from the index
    return {
        "mha_gqa_keymask": (
            lambda: MultiHeadAttention(_cfg(num_kv_heads=2)),
            lambda: ((x(),), {"key_mask": km()}),
        ),
        "mha_causal_window": (
            lambda: MultiHeadAttention(_cfg(causal=True, sliding_window=4)),
            lambda: ((x(),), {}),
        ),
        "mha_cross_bool2d": (
            lambda: MultiHeadAttention(_cfg()),
            lambda: ((x(), torch.randn(b, 7, D)), {"attention_mask": torch.rand(t, 7) > 0.3}),
        ),
        "mha_math": (
            lambda: MultiHeadAttention(_cfg(), use_flash_attn=False),
            lambda: ((x(),), {"is_causal": True}),
        ),
        "self": (lambda: SelfAttention(_cfg()), lambda: ((x(),), {"key_mask": km(), "is_causal": True})),
        "chunked": (
            lambda: ChunkedAttention(_cfg(num_kv_heads=2), chunk_size=4),
            lambda: ((x(),), {"key_mask": km(), "is_causal": True}),
        ),
        "linear": (lambda: LinearAttention(_cfg()), lambda: ((x(),), {"key_mask": km()})),
        "linear_causal": (lambda: LinearAttention(_cfg(causal=True)), lambda: ((x(),), {})),
        "crypto": (
            lambda: CryptoMultiHeadAttention(_cfg()),
            lambda: ((x(),), {"timestamps": ts, "volatility": torch.rand(b, t) + 0.1, "is_causal": True}),
        ),
        "cross": (
            lambda: CrossAttention(CrossAttentionConfig(d_model=D, num_heads=H, num_kv_heads=2)),
            lambda: ((torch.randn(b, 5, D), torch.randn(b, 9, D)), {"key_mask": torch.rand(b, 9) > 0.3}),
        ),
        "cross_asset": (
            lambda: CrossAssetAttention(CrossAttentionConfig(d_model=D, num_heads=H)),
            lambda: (
                (torch.randn(b, 5, 3, D), torch.tensor([[True, True, False], [False, False, False]])),
                {},
            ),
        ),
        "temporal": (
            lambda: _small(),
            lambda: ((torch.randn(b, 40, D), _minutes(b, 40)), {"key_mask": torch.rand(b, 40) > 0.2}),
        ),
        "causal_layer": (
            lambda: CausalAttention(_cfg(num_kv_heads=2), sliding_window=5),
            lambda: ((x(),), {}),
        ),
    }


@pytest.mark.parametrize("name", list(_module_cases()))
@torch.no_grad()
def test_module_on_device_matches_cpu(name: str) -> None:
    build, make_inputs = _module_cases()[name]
    cpu = build().eval()
    if name == "temporal":
        cpu.lag_bias.normal_()  # type: ignore[operator]  # a non-zero cyclical bias, so that it matters
    dev = copy.deepcopy(cpu).to(DEVICE)
    args, kwargs = make_inputs()
    want = cpu(*args, **kwargs)
    got = dev(*to_device(args), **to_device(kwargs))
    assert got.device.type == DEVICE.type and got.dtype == torch.float32
    torch.testing.assert_close(got.cpu(), want, atol=1e-4, rtol=1e-4)


# -- 5. CausalAttention + KVCache on the device --------------------------------------------------------------
@pytest.mark.parametrize("window", [None, 4])
@pytest.mark.parametrize("sizes", [[1] * 17, [3, 1, 5, 8]], ids=["steps", "chunks"])
@torch.no_grad()
def test_cached_decoding_on_device_equals_full_forward(window: int | None, sizes: list[int]) -> None:
    layer = CausalAttention(AttentionConfig(d_model=D, num_heads=H, num_kv_heads=2), sliding_window=window)
    layer = layer.eval().to(DEVICE)
    x = torch.randn(2, 17, D, device=DEVICE)
    full = layer(x)
    steps = _decode(layer, x, sizes)
    assert steps.device.type == DEVICE.type
    assert float((steps - full).abs().max()) <= 1e-5
    q, k, v = (t.cpu() for t in layer.project_qkv(x, x, x))
    ref, _ = reference_attention(q, k, v, is_causal=True, window=window)
    expected = layer.out_proj(ref.float().transpose(1, 2).reshape(2, 17, D).to(DEVICE))
    torch.testing.assert_close(full, expected, atol=2e-5, rtol=1e-4)


CAUSAL_PATHS = [
    "mha_fused",
    "mha_math",
    "mha_window",
    "chunked",
    "linear",
    "causal",
    "causal_window",
    "cached_steps",
    "cached_window",
]


def _device_causal_paths() -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """The causal paths on the device (built at test time: collection must not touch CUDA)."""
    torch.manual_seed(0)
    cfg = _cfg(num_kv_heads=2, causal=True)
    win = _cfg(causal=True, sliding_window=4)
    mods = {
        "mha_fused": MultiHeadAttention(cfg),
        "mha_math": MultiHeadAttention(cfg, use_flash_attn=False),
        "mha_window": MultiHeadAttention(win),
        "chunked": ChunkedAttention(cfg, chunk_size=5),
        "linear": LinearAttention(cfg),
        "causal": CausalAttention(cfg),
        "causal_window": CausalAttention(cfg, sliding_window=4),
    }
    m = {k: v.eval().to(DEVICE) for k, v in mods.items()}
    paths: dict[str, Callable[[torch.Tensor], torch.Tensor]] = dict(m)  # type: ignore[arg-type]
    paths["cached_steps"] = lambda x: _decode(m["causal"], x, [1] * x.shape[1])  # type: ignore[arg-type]
    paths["cached_window"] = lambda x: _decode(m["causal_window"], x, [5, 1, 6])  # type: ignore[arg-type]
    return paths


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("path", CAUSAL_PATHS)
@torch.no_grad()
def test_no_look_ahead_on_device_bit_for_bit(path: str, dtype: torch.dtype) -> None:
    paths = _device_causal_paths()
    assert sorted(paths) == sorted(CAUSAL_PATHS)
    fn = paths[path]
    x = torch.randn(2, 12, D, device=DEVICE)
    with torch.autocast(DEVICE.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        base = fn(x)
        for t in (0, 5, 10):
            y = x.clone()
            y[:, t + 1 :] = torch.randn_like(y[:, t + 1 :]) * 10
            out = fn(y)
            assert torch.equal(out[:, : t + 1], base[:, : t + 1]), f"{path} leaks the future into bar {t}"
