"""Shared helpers of the models tests: tiny configs, random batches, a short training loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

TINY: dict[str, Any] = {
    "d_model": 16,
    "num_heads": 2,
    "num_encoder_layers": 1,
    "d_ff": 32,
    "dropout": 0.0,
    "input_features": 6,
    "attention_window": 8,
    "num_assets": 8,
}

T0 = 1_609_459_200  # 2021-01-01 00:00 UTC


def hourly_timestamps(batch: int, seq_len: int, start: int = T0) -> Tensor:
    """int64 Unix seconds ``[batch, seq_len]``, one bar per hour."""
    return (start + 3600 * torch.arange(seq_len, dtype=torch.int64)).repeat(batch, 1)


def single_asset_batch(
    model: nn.Module, batch: int = 3, seq_len: int = 12, horizon: int = 2
) -> dict[str, Any]:
    """A random data-layer batch (keys of the model contract) for a single-asset model."""
    f = model.config.input_features  # type: ignore[union-attr]
    returns = 0.01 * torch.randn(batch, horizon).cumsum(-1)
    return {
        "price_data": torch.randn(batch, seq_len, f),
        "timestamps": hourly_timestamps(batch, seq_len),
        "asset_ids": torch.randint(1, 4, (batch,)),
        "mask": torch.ones(batch, seq_len, dtype=torch.bool),
        "targets": {
            "returns": returns,
            "volatility": 0.01 * torch.rand(batch, horizon) + 1e-3,
            "signal": torch.randint(0, 3, (batch,)),
            "drawdown": 0.02 * torch.rand(batch),
            "regime": torch.zeros(batch, dtype=torch.int64),
        },
    }


def multi_asset_batch(model: nn.Module, batch: int = 3, seq_len: int = 12, assets: int = 3) -> dict[str, Any]:
    """A random multi-asset batch for the portfolio model."""
    f = model.config.input_features  # type: ignore[union-attr]
    return {
        "asset_features": torch.randn(batch, seq_len, assets, f),
        "asset_mask": torch.ones(batch, seq_len, assets, dtype=torch.bool),
        "volume_data": torch.rand(batch, seq_len, assets) + 0.1,
        "timestamps": hourly_timestamps(batch, seq_len),
        "next_returns": 0.01 * torch.randn(batch, assets),
        "targets": {},
    }


def train(
    model: nn.Module,
    make_batch: Callable[[torch.Generator], dict[str, Any]],
    *,
    steps: int,
    lr: float = 3e-3,
    seed: int = 0,
) -> None:
    """Adam on ``model.loss`` over freshly drawn synthetic batches, learning rate decaying linearly to 0."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 - i / steps)
    model.train()
    for _ in range(steps):
        batch = make_batch(gen)
        out = model(**model.training_inputs(batch))  # type: ignore[operator]
        loss, _ = model.loss(out, batch)  # type: ignore[operator]
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
