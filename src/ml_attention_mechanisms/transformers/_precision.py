"""The one autocast switch behind every model's ``use_mixed_precision`` (the trainer's
``--precision`` maps onto it)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["forward_autocast"]


@contextlib.contextmanager
def forward_autocast(enabled: bool, device: torch.device) -> Iterator[None]:
    """Autocast a forward when ``enabled``: bfloat16 on CPU; bfloat16 (else float16) on CUDA.

    Weights stay float32; a disabled switch is a no-op context.
    """
    if not enabled:
        yield
        return
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    else:
        dtype = torch.bfloat16
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield
