"""Output heads whose constraints hold by construction (not by a penalty).

- :class:`MonotoneQuantileHead`: quantiles that cannot cross (median plus cumulative positive increments),
  optionally in units of a volatility forecast (location-scale).
- :class:`TailRiskHead`: VaR/ES as positive losses with ``es >= var`` and VaR growing as the tail
  probability shrinks; optionally volatility times learned multipliers (location-scale).
- :class:`PositiveHead`: positive scalars (volatility, drawdown) in log space.
- :func:`unit_correlation`: symmetric, unit-diagonal, positive semi-definite matrices from unit vectors.

Initial biases put outputs at the scale of hourly crypto returns (about 1%), so that training starts near
sensible values; every scale is learned.

Shapes:
    ``B`` batch, ``d`` = ``d_model``, ``Q`` quantile levels, ``L`` tail levels, ``A`` assets.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MonotoneQuantileHead", "PositiveHead", "TailRiskHead", "unit_correlation"]

_LOG_SCALE = math.log(0.01)  # hourly crypto returns and volatilities are of the order of 1%


def _inv_softplus(y: float) -> float:
    return math.log(math.expm1(y))


class MonotoneQuantileHead(nn.Module):
    """Quantiles ``[B, *shape, Q]`` non-decreasing along ``Q`` by construction (location-scale form).

    ``q = loc(h) + exp(log_scale(h)) * o`` with offsets ``o`` that are 0 at the median and cumulative sums of
    positive steps ``softplus(w_k)`` above and below it: the state sets where and how wide the distribution
    is, the learned steps its (shared) shape. Few conditional outputs, so it trains quickly and does not
    overfit the tails. With ``log_space`` the construction is done on log values and exponentiated (positive
    targets such as volatility), which keeps the order. Entries marked ``scaled`` are multiplied by an external
    positive ``scale`` (a volatility forecast): their location and width are then in units of that forecast, so
    the conditional scale (volatility clustering) comes from it even early in training (filtered historical
    simulation, as in :class:`TailRiskHead`); for a log-space entry this shifts the log location.

    Args:
        d_model: input width.
        shape: leading output shape (e.g. ``(H, N)``).
        quantiles: increasing levels containing 0.5.
        log_space: per entry of ``shape[-1]``, whether that target is positive (log space). Default: all False.
        scaled: per entry of ``shape[-1]``, whether ``forward`` multiplies it by ``scale``. Default: all False.
    """

    levels: Tensor
    log_space: Tensor
    scaled: Tensor

    def __init__(
        self,
        d_model: int,
        shape: tuple[int, ...],
        quantiles: tuple[float, ...],
        *,
        log_space: tuple[bool, ...] | None = None,
        scaled: tuple[bool, ...] | None = None,
    ) -> None:
        super().__init__()
        self.shape = shape
        self.num_quantiles = len(quantiles)
        self.median_index = quantiles.index(0.5)
        self.register_buffer("levels", torch.tensor(quantiles, dtype=torch.float32), persistent=False)
        flags = log_space if log_space is not None else (False,) * shape[-1]
        self.register_buffer("log_space", torch.tensor(flags, dtype=torch.bool), persistent=False)
        scaled_entries = scaled if scaled is not None else (False,) * shape[-1]
        self.register_buffer("scaled", torch.tensor(scaled_entries, dtype=torch.bool), persistent=False)
        self.needs_scale = any(scaled_entries)
        self.proj = nn.Linear(d_model, 2 * math.prod(shape))  # location and log-scale per entry
        nn.init.normal_(self.proj.weight, std=0.01)
        # Shape: Gaussian-like spacing of the levels (in units of the scale).
        normal = NormalDist()
        z = [normal.inv_cdf(q) for q in quantiles]
        gaps = [max(abs(z[i + 1] - z[i]), 1e-3) for i in range(len(z) - 1)]
        self.steps = nn.Parameter(torch.tensor([_inv_softplus(g) for g in gaps]).repeat(*shape, 1))
        with torch.no_grad():
            bias = self.proj.bias.view(2, *shape)
            log_flags = self.log_space.view(*([1] * (len(shape) - 1)), -1).expand(*shape)
            scaled_flags = self.scaled.view(*([1] * (len(shape) - 1)), -1).expand(*shape)
            # Returns: location 0, width 1% (scaled: 1 x the scale). Log volatility: location log(1%) (scaled:
            # log 1, the scale itself), width 0.3 (a factor e^0.3).
            bias[0] = torch.where(log_flags & ~scaled_flags, _LOG_SCALE, 0.0)
            bias[1] = torch.where(log_flags, math.log(0.3), torch.where(scaled_flags, 0.0, _LOG_SCALE))

    def forward(self, h: Tensor, scale: Tensor | None = None) -> Tensor:
        """Quantiles ``[B, *shape, Q]`` from states ``[B, d]`` and, with ``scaled`` entries, a positive
        ``scale [B, *shape]`` (its values at unscaled entries are ignored)."""
        raw = self.proj(h).view(h.shape[0], 2, *self.shape)
        loc, width = raw[:, 0].unsqueeze(-1), torch.exp(raw[:, 1].clamp(-30.0, 10.0)).unsqueeze(-1)
        steps = F.softplus(self.steps)  # (*shape, Q-1), positive
        m = self.median_index
        up = torch.cumsum(steps[..., m:], dim=-1)
        down = -torch.cumsum(steps[..., :m].flip(-1), dim=-1).flip(-1)
        offsets = torch.cat((down, torch.zeros_like(steps[..., :1]), up), dim=-1)  # (*shape, Q), increasing
        q = loc + width * offsets
        q = torch.where(self.log_space.unsqueeze(-1), torch.exp(q.clamp(-40.0, 20.0)), q)
        if self.needs_scale:
            if scale is None:
                raise ValueError(
                    f"MonotoneQuantileHead with scaled entries needs scale [batch, *{self.shape}], got None"
                )
            q = q * torch.where(self.scaled, scale, torch.ones_like(scale)).unsqueeze(-1)
        return q


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

    Sorted from the widest tail (largest probability) inward: ``m_1 = exp(a_1)``,
    ``m_k = m_{k-1} (1 + softplus(a_k))`` and ``es_k = var_k (1 + softplus(c_k))``; so ``es >= var > 0`` and a
    smaller tail probability never has a smaller VaR. Outputs come back in the order of ``levels``.

    Location-scale form (the idea of filtered historical simulation, Barone-Adesi et al. 1999): with a
    ``scale`` (a volatility forecast) ``var_k = scale * m_k``, so the multipliers ``m`` only learn the shape of
    the tail, starting at the Gaussian values ``z_alpha`` and ``phi(z_alpha) / alpha``; without one
    ``var_k = m_k`` starts at 2%.

    Args:
        d_model: input width.
        levels: tail probabilities in (0, 0.5).
        shape: leading output shape. Default: ``()``.
        scaled: ``forward`` receives a ``scale``. Default: False.
    """

    inverse: Tensor
    levels: Tensor

    def __init__(
        self, d_model: int, levels: tuple[float, ...], shape: tuple[int, ...] = (), *, scaled: bool = False
    ) -> None:
        super().__init__()
        self.shape = shape
        self.scaled = scaled
        self.num_levels = len(levels)
        order = sorted(range(len(levels)), key=lambda i: -levels[i])  # widest tail first
        self.register_buffer("inverse", torch.argsort(torch.tensor(order)), persistent=False)
        self.register_buffer("levels", torch.tensor(levels, dtype=torch.float32), persistent=False)
        n = max(math.prod(shape), 1)
        self.proj = nn.Linear(d_model, n * 2 * self.num_levels)
        nn.init.normal_(self.proj.weight, std=0.01)
        normal = NormalDist()
        z = [-normal.inv_cdf(levels[i]) for i in order]  # Gaussian VaR multipliers, increasing
        es = [normal.pdf(normal.inv_cdf(levels[i])) / levels[i] for i in order]
        with torch.no_grad():
            bias = self.proj.bias.view(n, 2, self.num_levels)
            bias[:, 0, 0] = math.log(z[0]) if scaled else math.log(0.02)
            for k in range(1, self.num_levels):
                bias[:, 0, k] = _inv_softplus(max(z[k] / z[k - 1] - 1.0, 1e-3))
            for k in range(self.num_levels):
                bias[:, 1, k] = _inv_softplus(max(es[k] / z[k] - 1.0, 1e-3))

    def forward(self, h: Tensor, scale: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(var, es)``, each ``[B, *shape, L]``, from states ``[B, d]`` (and ``scale [B, *shape]``)."""
        raw = self.proj(h).view(h.shape[0], *self.shape, 2, self.num_levels)
        a, b = raw[..., 0, :], raw[..., 1, :]
        log_steps = torch.cat((a[..., :1].clamp(-30.0, 20.0), torch.log1p(F.softplus(a[..., 1:]))), dim=-1)
        var_sorted = torch.exp(torch.cumsum(log_steps, dim=-1))
        if scale is not None:
            var_sorted = var_sorted * scale.unsqueeze(-1)
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
