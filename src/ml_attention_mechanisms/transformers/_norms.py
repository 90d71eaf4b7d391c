"""Normalisation layers: LayerNorm and RMSNorm (Zhang & Sennrich 2019, https://arxiv.org/abs/1910.07467).

Shapes:
    ``[..., d_model]`` in and out.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["NORM_TYPES", "RMSNorm", "make_norm"]

NORM_TYPES: tuple[str, ...] = ("layernorm", "rmsnorm")


class RMSNorm(nn.Module):
    """Root-mean-square normalisation: ``x / sqrt(mean(x**2) + eps) * weight`` (no centring, no bias).

    Computed in float32 whatever the input dtype (bfloat16 squares lose too much), then cast back.

    Args:
        d_model: normalised width.
        eps: added to the mean square. Default: 1e-6.

    Examples:
        >>> RMSNorm(8)(torch.randn(2, 3, 8)).shape
        torch.Size([2, 3, 8])
    """

    def __init__(self, d_model: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return (normed * self.weight.float()).to(x.dtype)


def make_norm(norm_type: str, d_model: int, eps: float = 1e-5) -> nn.Module:
    """``"layernorm"`` -> :class:`torch.nn.LayerNorm`; ``"rmsnorm"`` -> :class:`RMSNorm`.

    Raises:
        ValueError: unknown ``norm_type`` (the message lists the valid names).
    """
    if norm_type == "layernorm":
        return nn.LayerNorm(d_model, eps=eps)
    if norm_type == "rmsnorm":
        return RMSNorm(d_model, eps=eps)
    raise ValueError(f"norm_type={norm_type!r}: must be one of {', '.join(NORM_TYPES)}")
