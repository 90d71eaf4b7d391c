"""MultiHeadAttention against torch.nn.MultiheadAttention (same weights) and the float64 reference."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ml_attention_mechanisms import AttentionConfig, MultiHeadAttention
from ml_attention_mechanisms.attention import _dispatch
from ml_attention_mechanisms.attention._masks import causal_mask, is_tracing
from ml_attention_mechanisms.attention.reference import reference_attention
from ml_attention_mechanisms.encodings.positional_encoding import RotaryPositionalEncoding

D, H = 32, 4


def _pair(**cfg: object) -> tuple[MultiHeadAttention, nn.MultiheadAttention]:
    ours = MultiHeadAttention(AttentionConfig(d_model=D, num_heads=H, **cfg))  # type: ignore[arg-type]
    theirs = nn.MultiheadAttention(D, H, batch_first=True)
    with torch.no_grad():
        theirs.in_proj_bias.normal_()
        theirs.out_proj.bias.normal_()
        ours.in_proj.weight.copy_(theirs.in_proj_weight)
        ours.in_proj.bias.copy_(theirs.in_proj_bias)
        ours.out_proj.weight.copy_(theirs.out_proj.weight)
        ours.out_proj.bias.copy_(theirs.out_proj.bias)
    return ours, theirs


def _compare(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    rows = ~torch.isnan(theirs).any(-1)  # rows torch turns to NaN (nothing to attend) are excluded
    torch.testing.assert_close(ours[rows], theirs[rows], atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("mask_kind", ["none", "bool2d", "bool4d", "float", "key", "causal", "causal+key"])
@pytest.mark.parametrize(("tq", "tk"), [(1, 1), (7, 7), (5, 9), (9, 5)])
@pytest.mark.parametrize("use_flash_attn", [True, False])
def test_matches_torch_multihead_attention(
    mode: str, mask_kind: str, tq: int, tk: int, use_flash_attn: bool
) -> None:
    ours, theirs = _pair(use_flash_attn=use_flash_attn)
    ours.train(mode == "train")
    theirs.train(mode == "train")
    b = 3
    q, kv = torch.randn(b, tq, D), torch.randn(b, tk, D)
    am = km = None
    t_am = t_kpm = None
    causal = "causal" in mask_kind
    if mask_kind == "bool2d":
        am = torch.rand(tq, tk) > 0.3
        t_am = ~am
    elif mask_kind == "bool4d":
        am = torch.rand(b, H, tq, tk) > 0.3
        t_am = ~am.reshape(b * H, tq, tk)
    elif mask_kind == "float":
        am = torch.randn(tq, tk).masked_fill(torch.rand(tq, tk) < 0.2, float("-inf"))
        t_am = am
    if "key" in mask_kind:
        km = torch.rand(b, tk) > 0.3
        t_kpm = ~km
    if causal:
        t_am = ~causal_mask(tq, tk)
    out = ours(q, kv, kv, am, key_mask=km, is_causal=causal)
    ref, _ = theirs(q, kv, kv, attn_mask=t_am, key_padding_mask=t_kpm, need_weights=False)
    _compare(out, ref)


def test_self_attention_and_weights_match_torch() -> None:
    ours, theirs = _pair()
    x = torch.randn(2, 6, D)
    out, w = ours(x, need_weights=True)
    ref, ref_w = theirs(x, x, x, need_weights=True, average_attn_weights=False)
    _compare(out, ref)
    torch.testing.assert_close(w, ref_w, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("num_kv_heads", [1, 2])
@pytest.mark.parametrize("causal", [False, True])
def test_grouped_query_attention_matches_reference(num_kv_heads: int, causal: bool) -> None:
    layer = MultiHeadAttention(AttentionConfig(d_model=D, num_heads=H, num_kv_heads=num_kv_heads))
    x = torch.randn(2, 9, D)
    km = torch.rand(2, 9) > 0.2
    out = layer(x, key_mask=km, is_causal=causal)
    q, k, v = layer.project_qkv(x, x, x)
    assert k.shape == (2, num_kv_heads, 9, D // H)
    ref, _ = reference_attention(q, k, v, mask=km[:, None, None, :], is_causal=causal)
    expected = layer.out_proj(ref.float().transpose(1, 2).reshape(2, 9, D))
    torch.testing.assert_close(out, expected, atol=2e-5, rtol=1e-4)


def test_rotary_matches_reference() -> None:
    rope = RotaryPositionalEncoding(D // H)
    layer = MultiHeadAttention(AttentionConfig(d_model=D, num_heads=H), rotary=rope)
    x = torch.randn(2, 7, D)
    pos = torch.rand(2, 7).cumsum(-1) * 3  # elapsed time, not indices
    out = layer(x, positions=pos, is_causal=True)
    q, k, v = layer.project_qkv(x, x, x)
    ref, _ = reference_attention(rope.rotate(q, pos), rope.rotate(k, pos), v, is_causal=True)
    torch.testing.assert_close(
        out, layer.out_proj(ref.float().transpose(1, 2).reshape(2, 7, D)), atol=2e-5, rtol=1e-4
    )


def test_use_flash_attn_false_takes_math_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    for name in ("math", "sdpa"):
        backend = _dispatch.BACKENDS[name]
        original = backend.run
        monkeypatch.setattr(
            backend, "run", lambda inp, scale, _o=original, _n=name: (calls.append(_n), _o(inp, scale))[1]
        )
    x = torch.randn(1, 4, D)
    MultiHeadAttention(AttentionConfig(d_model=D, num_heads=H), use_flash_attn=False)(x)
    MultiHeadAttention(AttentionConfig(d_model=D, num_heads=H, use_flash_attn=False), use_flash_attn=True)(x)
    MultiHeadAttention(AttentionConfig(d_model=D, num_heads=H))(x, need_weights=True)
    assert calls == ["math", "sdpa", "math"]


@pytest.mark.parametrize("use_flash_attn", [True, False])
def test_fully_masked_query_rows_are_zero_in_values_and_gradients(use_flash_attn: bool) -> None:
    layer = MultiHeadAttention(
        AttentionConfig(d_model=D, num_heads=H, bias=False), use_flash_attn=use_flash_attn
    )
    x = torch.randn(2, 5, D, requires_grad=True)
    mask = torch.ones(5, 5, dtype=torch.bool)
    mask[2] = False
    out = layer(x, attention_mask=mask)
    assert (out[:, 2] == 0).all()  # no bias: zero attention -> zero output
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_gradcheck_float64() -> None:
    layer = MultiHeadAttention(AttentionConfig(d_model=8, num_heads=2)).double()
    x = torch.randn(1, 4, 8, dtype=torch.float64, requires_grad=True)
    km = torch.tensor([[True, False, True, True]])
    assert torch.autograd.gradcheck(lambda t: layer(t, key_mask=km, is_causal=True), (x,))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m: m(torch.randn(2, 3)), r"query must be 3-D .* got shape \(2, 3\)"),
        (lambda m: m(torch.randn(2, 3, 16)), r"query has last dimension 16, expected d_model=32"),
        (lambda m: m(torch.randn(2, 3, D), torch.randn(3, 4, D)), r"batch sizes differ"),
        (
            lambda m: m(torch.randn(2, 3, D), torch.randn(2, 4, D), torch.randn(2, 5, D)),
            r"key and value lengths",
        ),
        (
            lambda m: m(torch.randn(2, 3, D), attention_mask=torch.ones(2, 3, 3, dtype=torch.bool)),
            r"3-D.*ambiguous",
        ),
        (
            lambda m: m(torch.randn(2, 3, D), attention_mask=torch.ones(3, 3, dtype=torch.int64)),
            r"integer dtype",
        ),
        (lambda m: m(torch.randn(2, 3, D), attention_mask=torch.ones(3, 4, dtype=torch.bool)), r"\(3, 4\)"),
        (
            lambda m: m(torch.randn(2, 3, D), key_mask=torch.ones(2, 4, dtype=torch.bool)),
            r"key_mask must have shape",
        ),
        (lambda m: m(torch.randn(2, 3, D), key_mask=torch.ones(2, 3)), r"key_mask must be bool"),
    ],
)
def test_bad_inputs_raise_value_errors(call: object, match: str) -> None:
    layer = MultiHeadAttention(AttentionConfig(d_model=D, num_heads=H))
    with pytest.raises(ValueError, match=match):
        call(layer)  # type: ignore[operator]


def test_heads_must_divide_d_model() -> None:
    with pytest.raises(ValueError, match=r"AttentionConfig.num_heads=5: must divide d_model \(32\)"):
        AttentionConfig(d_model=32, num_heads=5)


def test_checks_step_aside_under_torch_compile() -> None:
    layer = MultiHeadAttention(AttentionConfig(d_model=D, num_heads=H)).eval()
    x = torch.randn(2, 5, D)
    seen: list[bool] = []

    def fn(t: torch.Tensor) -> torch.Tensor:
        seen.append(is_tracing())
        return layer(t, is_causal=True)  # type: ignore[return-value]

    compiled = torch.compile(fn, backend="eager", fullgraph=True)  # fullgraph: no data-dependent raise/break
    torch.testing.assert_close(compiled(x), layer(x, is_causal=True))
    assert seen[0] is True


def test_checks_step_aside_under_torch_export() -> None:
    layer = MultiHeadAttention(AttentionConfig(d_model=D, num_heads=H)).eval()
    x = torch.randn(2, 5, D)
    exported = torch.export.export(layer, (x,))
    torch.testing.assert_close(exported.module()(x), layer(x))


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("num_kv_heads", [None, 2])
def test_checks_step_aside_under_tracing(num_kv_heads: int | None) -> None:
    layer = MultiHeadAttention(
        AttentionConfig(d_model=D, num_heads=H, num_kv_heads=num_kv_heads, causal=True)
    )
    x = torch.randn(2, 5, D)
    with torch.no_grad():
        traced = torch.jit.trace(layer.eval(), (x,))
        torch.testing.assert_close(traced(x), layer(x))
