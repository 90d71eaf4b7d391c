"""The float64 reference itself: the textbook formula, masks, and empty rows."""

from __future__ import annotations

import math

import torch

from ml_attention_mechanisms.attention.reference import reference_attention, reference_linear_attention


def test_reference_is_the_textbook_formula() -> None:
    q, k, v = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 4)
    out, w = reference_attention(q, k, v)
    scores = q.double() @ k.double().transpose(-2, -1) / math.sqrt(4)
    expected_w = torch.exp(scores) / torch.exp(scores).sum(-1, keepdim=True)
    torch.testing.assert_close(w, expected_w)
    torch.testing.assert_close(out, expected_w @ v.double())


def test_reference_masks_gqa_and_empty_rows() -> None:
    q, k, v = torch.randn(1, 4, 3, 4), torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4)
    mask = torch.tensor([[True, False, True], [False, False, False], [True, True, True]])
    out, w = reference_attention(q, k, v, mask=mask)
    assert (w[..., 1, :] == 0).all() and (out[..., 1, :] == 0).all()
    assert (w[..., 0, 1] == 0).all()
    torch.testing.assert_close(w.sum(-1)[..., [0, 2]], torch.ones(1, 4, 2, dtype=torch.float64))
    # GQA: heads 0, 1 share kv head 0
    out_h0, _ = reference_attention(q[:, :1], k[:, :1], v[:, :1], mask=mask)
    torch.testing.assert_close(out[:, 1:2], reference_attention(q[:, 1:2], k[:, :1], v[:, :1], mask=mask)[0])
    torch.testing.assert_close(out[:, :1], out_h0)
    causal, _ = reference_attention(q, k, v, is_causal=True)
    lower = torch.tril(torch.ones(3, 3, dtype=torch.bool))
    torch.testing.assert_close(causal, reference_attention(q, k, v, mask=lower)[0])


def test_reference_linear_non_causal_closed_form() -> None:
    q, k, v = torch.randn(1, 1, 3, 2), torch.randn(1, 1, 4, 2), torch.randn(1, 1, 4, 2)
    phi = lambda x: torch.nn.functional.elu(x.double()) + 1  # noqa: E731
    num = phi(q) @ (phi(k).transpose(-2, -1) @ v.double())
    den = phi(q) @ phi(k).sum(-2, keepdim=True).transpose(-2, -1)
    torch.testing.assert_close(reference_linear_attention(q, k, v), num / den)
