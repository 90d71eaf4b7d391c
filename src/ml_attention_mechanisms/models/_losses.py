"""Training losses and closed-form risk helpers of the crypto models.

- :func:`pinball_loss`: the quantile (check) loss, whose minimiser is the quantile (Koenker & Bassett 1978).
- :func:`qlike_loss`: QLIKE for variance forecasts, robust to noise in the realised proxy (Patton 2011,
  https://doi.org/10.1016/j.jeconom.2010.03.034); the transformers layer's, re-exported here.
- :func:`fz0_loss`: the FZ0 loss of Patton, Ziegel and Chen (2019, https://arxiv.org/abs/1707.05108), a strictly
  consistent scoring function for the pair (VaR, ES): its expectation is minimised by the true pair.
- :func:`sharpe_with_costs`: negative Sharpe ratio of realised portfolio returns net of turnover costs
  (Zhang, Zohren and Roberts 2020, https://arxiv.org/abs/2005.13665).

Sign convention: ``var`` and ``es`` are reported as positive *losses* (VaR = minus the alpha-quantile of the
return; ES = minus the mean return below it), so ``es >= var``.

Shapes:
    ``B`` batch, ``Q`` quantile levels, ``A`` assets, ``L`` tail levels.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..transformers._losses import qlike_loss

__all__ = [
    "expected_calibration_error",
    "fz0_loss",
    "gaussian_var_es",
    "pinball_loss",
    "qlike_loss",
    "sharpe_with_costs",
]


def pinball_loss(pred: Tensor, target: Tensor, quantiles: Tensor) -> Tensor:
    """Mean pinball loss ``max(q (y - p), (q - 1)(y - p))`` over all elements and levels.

    Args:
        pred: quantile forecasts ``[..., Q]``.
        target: observations ``[...]``.
        quantiles: levels ``[Q]`` in (0, 1).
    """
    diff = target.unsqueeze(-1) - pred  # (..., Q)
    q = quantiles.to(pred.dtype)
    return torch.maximum(q * diff, (q - 1.0) * diff).mean()


def fz0_loss(returns: Tensor, var: Tensor, es: Tensor, alpha: float | Tensor) -> Tensor:
    """Mean FZ0 loss of Patton, Ziegel and Chen (2019), eq. (6), for VaR/ES reported as positive losses.

    With ``v = -var`` and ``e = -es`` (the alpha-quantile and expected shortfall of the return,
    ``e <= v < 0``): ``L = -1/(alpha e) * 1{y <= v} (v - y) + v / e + log(-e) - 1``.

    Args:
        returns: realised returns ``y`` ``[B]`` (or ``[B, 1]`` broadcasting against ``[B, L]``).
        var: VaR forecasts (> 0) ``[B]`` or ``[B, L]``.
        es: ES forecasts (>= var) of the same shape.
        alpha: tail probability (scalar or ``[L]``).
    """
    v, e = -var, -es
    hit = (returns <= v).to(v.dtype)
    a = alpha if isinstance(alpha, Tensor) else torch.tensor(alpha, dtype=v.dtype, device=v.device)
    loss = -hit * (v - returns) / (a * e) + v / e + torch.log(-e) - 1.0
    return loss.mean()


def gaussian_var_es(mean: Tensor, std: Tensor, alpha: float) -> tuple[Tensor, Tensor]:
    """VaR and ES (positive losses) of a normal return ``N(mean, std^2)`` at tail probability ``alpha``.

    ``VaR = -(mean + std z_alpha)``, ``ES = -(mean - std phi(z_alpha) / alpha)``.
    """
    z = math.sqrt(2.0) * torch.erfinv(torch.tensor(2.0 * alpha - 1.0, dtype=torch.float64)).item()
    phi = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return -(mean + std * z), -(mean - std * phi / alpha)


def sharpe_with_costs(
    weights: Tensor,
    next_returns: Tensor,
    current_weights: Tensor,
    cost_rate: Tensor | float,
    eps: float = 1e-8,
) -> tuple[Tensor, dict[str, float]]:
    """Negative Sharpe ratio over the batch of the net portfolio returns.

    ``r_b = sum_a w_ba R_ba - sum_a c_ba |w_ba - w0_ba|`` with simple returns ``R``, loss ``= -mean(r) / std(r)``.

    Args:
        weights: new weights ``[B, A]``.
        next_returns: next-period simple returns ``[B, A]`` (masked assets: any finite value; their weight is 0).
        current_weights: weights held before trading ``[B, A]``.
        cost_rate: proportional cost per unit traded, scalar or ``[B, A]``.
        eps: added to the standard deviation.

    Returns:
        ``(loss, {"sharpe", "mean_return", "turnover"})``.
    """
    turnover = (weights - current_weights).abs()
    net = (weights * next_returns).sum(-1) - (cost_rate * turnover).sum(-1)  # (B,)
    mean = net.mean()
    std = net.std(unbiased=False)
    sharpe = mean / (std + eps)
    return -sharpe, {
        "sharpe": float(sharpe.detach()),
        "mean_return": float(mean.detach()),
        "turnover": float(turnover.sum(-1).mean().detach()),
    }


def expected_calibration_error(
    probabilities: Tensor, labels: Tensor, num_bins: int = 10
) -> dict[str, object]:
    """Reliability of the top-class confidence: ECE and the per-bin table (Guo et al. 2017).

    Args:
        probabilities: class probabilities ``[B, C]``.
        labels: true classes ``[B]`` (int64).
        num_bins: equal-width confidence bins on [0, 1]. Default: 10.

    Returns:
        ``{"ece": float, "bins": [{"lower", "upper", "count", "confidence", "accuracy"}, ...]}``.
    """
    conf, pred = probabilities.detach().max(dim=-1)
    correct = (pred == labels).to(torch.float64)
    edges = torch.linspace(0.0, 1.0, num_bins + 1, dtype=torch.float64)
    total = max(int(labels.numel()), 1)
    ece, bins = 0.0, []
    for i in range(num_bins):
        lo, hi = float(edges[i]), float(edges[i + 1])
        sel = (conf > lo) & (conf <= hi) if i > 0 else (conf >= lo) & (conf <= hi)
        n = int(sel.sum())
        if n == 0:
            bins.append(
                {"lower": lo, "upper": hi, "count": 0, "confidence": float("nan"), "accuracy": float("nan")}
            )
            continue
        c, a = float(conf[sel].double().mean()), float(correct[sel].mean())
        ece += n / total * abs(c - a)
        bins.append({"lower": lo, "upper": hi, "count": n, "confidence": c, "accuracy": a})
    return {"ece": ece, "bins": bins}
