"""The library's Dropout: nn.Dropout's distribution and scaling from a cheaper CPU mask."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ml_attention_mechanisms.transformers._dropout import Dropout, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_rate_is_one_minus_p(p: float) -> None:
    torch.manual_seed(0)
    n = 1_000_001  # odd: the last 64-bit draw is half used
    keep = keep_mask(torch.Size([n]), p)
    sd = math.sqrt(p * (1 - p) / n)
    assert abs(float(keep.float().mean()) - (1 - p)) < 5 * sd
    # Neighbouring elements (the two halves of one draw) are independent: the rate of kept pairs is (1-p)^2.
    pairs = keep[: n - 1].view(-1, 2).all(-1).float().mean()
    assert abs(float(pairs) - (1 - p) ** 2) < 5 * math.sqrt((1 - p) ** 2 * (1 - (1 - p) ** 2) / (n // 2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_values_and_gradient_are_nn_dropouts(dtype: torch.dtype) -> None:
    torch.manual_seed(1)
    x = torch.randn(64, 33, dtype=dtype, requires_grad=True)
    drop = Dropout(0.3).train()
    y = drop(x)
    assert y.dtype == dtype and y.shape == x.shape
    scale = torch.ones((), dtype=dtype).div_(0.7)  # nn.Dropout's kept factor, in the input's dtype
    kept = y != 0
    assert torch.equal(y[kept], (x * scale)[kept])
    y.sum().backward()
    assert x.grad is not None and torch.equal(x.grad, torch.where(kept, scale, torch.zeros((), dtype=dtype)))


def test_seeded_like_torch_and_the_identity_in_eval() -> None:
    drop = Dropout(0.5).train()
    x = torch.ones(1000)
    torch.manual_seed(3)
    a = drop(x)
    torch.manual_seed(3)
    b = drop(x)
    c = drop(x)
    assert torch.equal(a, b) and not torch.equal(b, c)
    assert drop.eval()(x) is x and Dropout(0.0).train()(x) is x
    assert isinstance(drop, nn.Dropout)
    torch.testing.assert_close(Dropout(1.0).train()(x), torch.zeros(1000))  # p = 1: nn.Dropout's own kernel
