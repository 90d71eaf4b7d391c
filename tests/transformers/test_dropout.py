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


def test_add_to_is_x_plus_dropout_with_its_gradients() -> None:
    x = torch.randn(8, 50, dtype=torch.float64, requires_grad=True)
    branch = torch.randn(8, 50, dtype=torch.float64, requires_grad=True)
    drop = Dropout(0.4).train()
    torch.manual_seed(5)
    fused = drop.add_to(x, branch)
    torch.manual_seed(5)
    noise = drop(torch.ones(8, 50, dtype=torch.float64))  # the same mask: 0 or 1 / 0.6
    torch.testing.assert_close(fused, x + branch * noise, rtol=1e-15, atol=1e-15)  # (one rounding: fma)
    fused.sum().backward()
    assert x.grad is not None and branch.grad is not None
    assert torch.equal(x.grad, torch.ones_like(x)) and torch.equal(branch.grad, noise)
    assert torch.equal(drop.eval().add_to(x, branch), x + branch)


def test_other_devices_run_nn_dropouts_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    # The NumPy mask is CPU-only: any other device (meta here, CUDA alike) must take nn.Dropout's path.
    monkeypatch.setattr(
        "ml_attention_mechanisms.transformers._dropout.keep_mask",
        lambda *a: pytest.fail("the CPU mask was drawn for a non-CPU tensor"),
    )
    x = torch.empty(4, 16, device="meta")
    drop = Dropout(0.2).train()
    assert drop(x).device.type == "meta"
    assert drop.add_to(x, x).device.type == "meta"


@pytest.mark.gpu
def test_cuda_is_nn_dropout() -> None:  # pragma: no cover - GPU machines
    x = torch.ones(10_000, device="cuda")
    torch.manual_seed(7)
    ours = Dropout(0.3).train()(x)
    torch.manual_seed(7)
    assert torch.equal(ours, nn.functional.dropout(x, 0.3, True))


def test_gradient_checkpointing_replays_the_mask() -> None:
    from ml_attention_mechanisms.transformers.transformer_block import (
        TransformerBlockConfig,
        TransformerEncoderBlock,
    )

    grads = []
    for checkpointed in (False, True):
        torch.manual_seed(0)
        block = TransformerEncoderBlock(
            TransformerBlockConfig(
                d_model=16, num_heads=2, d_ff=32, dropout=0.5, use_gradient_checkpointing=checkpointed
            )
        ).train()
        x = torch.randn(3, 10, 16, dtype=torch.float32)
        torch.manual_seed(11)
        out = block(x)
        assert isinstance(out, torch.Tensor)
        out.square().sum().backward()
        grads.append([p.grad.clone() for p in block.parameters() if p.grad is not None])
    # The recomputation in the backward pass drew the same masks as the forward pass.
    assert len(grads[0]) == len(grads[1])
    for g0, g1 in zip(*grads):
        torch.testing.assert_close(g0, g1)
