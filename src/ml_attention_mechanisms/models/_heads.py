"""Output heads whose constraints hold by construction (not by a penalty).

- :class:`MonotoneQuantileHead`: quantiles that cannot cross (median plus cumulative positive increments).
- :class:`TailRiskHead`: VaR/ES as positive losses with ``es >= var`` and VaR growing as the tail
  probability shrinks.
- :class:`PositiveHead`: positive scalars (volatility, drawdown) in log space.
- :func:`unit_correlation`: symmetric, unit-diagonal, positive semi-definite matrices from unit vectors.

Initial biases put outputs at the scale of hourly crypto returns (about 1%), so that training starts near
sensible values; every scale is learned.

Shapes:
    ``B`` batch, ``d`` = ``d_model``, ``Q`` quantile levels, ``L`` tail levels, ``A`` assets.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MonotoneQuantileHead", "PositiveHead", "TailRiskHead", "unit_correlation"]

_LOG_SCALE = math.log(0.01)  # hourly crypto returns and volatilities are of the order of 1%


def _inv_softplus(y: float) -> float:
    return math.log(math.expm1(y))


class MonotoneQuantileHead(nn.Module):
    """Quantiles ``[B, *shape, Q]`` non-decreasing along ``Q`` by construction.

    ``q_median = a``; above it ``q_median + cumsum(softplus(b))``, below ``q_median - cumsum(softplus(c))``.
    With ``log_space`` the construction is done on log values and exponentiated (positive targets such as
    volatility), which keeps the order.

    Args:
        d_model: input width.
        shape: leading output shape (e.g. ``(H, N)``).
        quantiles: increasing levels containing 0.5.
        log_space: per entry of ``shape[-1]``, whether that target is positive (log space). Default: all False.
    """

    levels: Tensor
    log_space: Tensor

    def __init__(
        self,
        d_model: int,
        shape: tuple[int, ...],
        quantiles: tuple[float, ...],
        *,
        log_space: tuple[bool, ...] | None = None,
    ) -> None:
        super().__init__()
        self.shape = shape
        self.num_quantiles = len(quantiles)
        self.median_index = quantiles.index(0.5)
        self.register_buffer("levels", torch.tensor(quantiles, dtype=torch.float32), persistent=False)
        flags = log_space if log_space is not None else (False,) * shape[-1]
        self.register_buffer("log_space", torch.tensor(flags, dtype=torch.bool), persistent=False)
        self.proj = nn.Linear(d_model, math.prod(shape) * self.num_quantiles)
        nn.init.normal_(self.proj.weight, std=0.01)
        with torch.no_grad():
            bias = self.proj.bias.view(*shape, self.num_quantiles)
            log_flags = self.log_space.view(*([1] * (len(shape) - 1)), -1)
            # Steps of ~1% (returns) or ~e^0.3 (log volatility); the log-space median starts at 1%.
            bias.copy_(
                torch.where(log_flags.unsqueeze(-1), _inv_softplus(0.3), _inv_softplus(0.01)).expand_as(bias)
            )
            bias[..., self.median_index] = torch.where(log_flags, _LOG_SCALE, 0.0).expand_as(bias[..., 0])

    def forward(self, h: Tensor) -> Tensor:
        """Quantiles ``[B, *shape, Q]`` from states ``[B, d]``."""
        raw = self.proj(h).view(h.shape[0], *self.shape, self.num_quantiles)
        m = self.median_index
        mid = raw[..., m : m + 1]
        up = mid + torch.cumsum(F.softplus(raw[..., m + 1 :]), dim=-1)
        down = mid - torch.cumsum(F.softplus(raw[..., :m].flip(-1)), dim=-1).flip(-1)
        q = torch.cat((down, mid, up), dim=-1)  # (B, *shape, Q), increasing
        return torch.where(self.log_space.unsqueeze(-1), torch.exp(q.clamp(max=20.0)), q)


class PositiveHead(nn.Module):
    """Positive outputs ``exp(W h + b)`` ``[B, *shape]``, starting near ``init``.

    Args:
        d_model: input width.
        shape: output shape after the batch axis. Default: ``()`` (one scalar per sample).
        init: initial output. Default: 0.01.
    """

    def __init__(self, d_model: int, shape: tuple[int, ...] = (), *, init: float = 0.01) -> None:
        super().__init__()
        self.shape = shape
        self.proj = nn.Linear(d_model, max(math.prod(shape), 1))
        nn.init.normal_(self.proj.weight, std=0.01)
        nn.init.constant_(self.proj.bias, math.log(init))

    def forward(self, h: Tensor) -> Tensor:
        return torch.exp(self.proj(h).clamp(-30.0, 20.0)).view(h.shape[0], *self.shape)


class TailRiskHead(nn.Module):
    """VaR and ES ``[B, *shape, L]`` as positive losses for tail probabilities ``levels``.

    Sorted from the widest tail (largest probability) inward: ``var_1 = exp(a)``,
    ``var_k = var_{k-1} (1 + softplus(b_k))`` and ``es_k = var_k (1 + softplus(c_k))``; so ``es >= var > 0``
    and a smaller tail probability never has a smaller VaR. Outputs come back in the order of ``levels``.

    Args:
        d_model: input width.
        levels: tail probabilities in (0, 0.5).
        shape: leading output shape. Default: ``()``.
    """

    order: Tensor
    inverse: Tensor
    levels: Tensor

    def __init__(self, d_model: int, levels: tuple[float, ...], shape: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.shape = shape
        self.num_levels = len(levels)
        order = sorted(range(len(levels)), key=lambda i: -levels[i])  # widest tail first
        self.register_buffer("order", torch.tensor(order, dtype=torch.long), persistent=False)
        self.register_buffer("inverse", torch.argsort(torch.tensor(order)), persistent=False)
        self.register_buffer("levels", torch.tensor(levels, dtype=torch.float32), persistent=False)
        n = max(math.prod(shape), 1)
        self.proj = nn.Linear(d_model, n * 2 * self.num_levels)
        nn.init.normal_(self.proj.weight, std=0.01)
        with torch.no_grad():
            bias = self.proj.bias.view(n, 2, self.num_levels)
            bias.fill_(_inv_softplus(0.3))
            bias[:, 0, 0] = math.log(0.02)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """``(var, es)``, each ``[B, *shape, L]``, from states ``[B, d]``."""
        raw = self.proj(h).view(h.shape[0], *self.shape, 2, self.num_levels)
        a, b = raw[..., 0, :], raw[..., 1, :]
        log_steps = torch.cat((a[..., :1].clamp(-30.0, 20.0), torch.log1p(F.softplus(a[..., 1:]))), dim=-1)
        var_sorted = torch.exp(torch.cumsum(log_steps, dim=-1))
        es_sorted = var_sorted * (1.0 + F.softplus(b))
        return var_sorted[..., self.inverse], es_sorted[..., self.inverse]


def unit_correlation(z: Tensor, eps: float = 1e-6) -> Tensor:
    """Correlation matrices ``[B, A, A]`` from vectors ``z [B, A, k]``: ``C = U U^T`` with unit rows ``U``.

    Symmetric and positive semi-definite (a Gram matrix) with an exactly unit diagonal.
    """
    u = z / z.norm(dim=-1, keepdim=True).clamp_min(eps)
    c = u @ u.transpose(-1, -2)  # (B, A, A), Gram matrix: PSD
    c = 0.5 * (c + c.transpose(-1, -2))
    eye = torch.eye(c.shape[-1], dtype=torch.bool, device=c.device)
    return torch.where(eye, torch.ones((), dtype=c.dtype, device=c.device), c.clamp(-1.0, 1.0))
