"""Example inputs a registered crypto model accepts (for tracing, export and tests), and what a model is.

Shapes:
    ``B`` batch, ``T`` bars, ``A`` assets, ``F`` features.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["EXAMPLE_START_SECONDS", "example_inputs", "is_multi_asset", "model_config"]

EXAMPLE_START_SECONDS = 1_700_000_000  # 2023-11-14 22:13 UTC: any recent epoch second works
_EXAMPLE_ASSETS = 3


def is_multi_asset(model: nn.Module) -> bool:
    """Whether ``model`` reads ``[B, T, A, F]`` (``DATA_KIND == "multi_asset"``)."""
    return getattr(model, "DATA_KIND", "single_asset") == "multi_asset"


def model_config(model: nn.Module) -> Any:
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "input_features"):
        raise TypeError(
            f"{type(model).__name__} is not a registered crypto model (no config.input_features); "
            "build one with create_crypto_model"
        )
    return config


def example_inputs(
    model: nn.Module,
    *,
    batch: int = 2,
    seq_len: int | None = None,
    num_assets: int | None = None,
    bar_seconds: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Random ``(features, timestamps)`` that ``model`` accepts.

    Args:
        model: a registered crypto model.
        batch: ``B``. Default: 2 (``torch.export`` specialises a size-1 axis, so examples use 2).
        seq_len: ``T``. Default: ``min(2 * attention_window, 64)``.
        num_assets: ``A`` for multi-asset models. Default: 3.
        bar_seconds: spacing of the timestamps. Default: ``config.time_unit_seconds``.
        generator: random generator of the features. Default: torch's global one.

    Returns:
        ``features`` float32 ``[B, T, F]`` (``[B, T, A, F]`` multi-asset) and ``timestamps`` int64 ``[B, T]``.
    """
    c = model_config(model)
    t = seq_len if seq_len is not None else min(2 * c.attention_window, 64)
    step = int(bar_seconds if bar_seconds is not None else c.time_unit_seconds)
    shape: tuple[int, ...] = (batch, t, c.input_features)
    if is_multi_asset(model):
        shape = (batch, t, num_assets or min(_EXAMPLE_ASSETS, c.num_assets), c.input_features)
    features = torch.randn(shape, generator=generator)
    timestamps = (EXAMPLE_START_SECONDS + step * torch.arange(t, dtype=torch.int64)).repeat(batch, 1)
    return features, timestamps
