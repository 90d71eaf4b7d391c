"""Models of one config as if trained apart, for the ``ModelEnsemble`` tests (models, export, streaming)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ml_attention_mechanisms.models import create_crypto_model


def trained_apart(name: str, n: int, **config: Any) -> list[nn.Module]:
    """``n`` models ``create_crypto_model(name, **config)``, seeds 0..n-1, each weight moved by its own
    noise: untrained, the variance heads' residuals are 0 and every member would forecast the anchor alike."""
    out = []
    for seed in range(n):
        torch.manual_seed(seed)
        model = create_crypto_model(name, **config).eval()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
        out.append(model)
    return out
