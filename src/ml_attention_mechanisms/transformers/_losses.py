"""Generic losses for the trading heads (the models' losses reuse :func:`qlike_loss`).

- :func:`qlike_loss`: QLIKE of a volatility forecast against the realised volatility (Patton 2011,
  "Volatility forecast comparison using imperfect volatility proxies", J. Econometrics 160(1)); robust to
  noise in the realised proxy, and minimised in expectation by the true conditional variance.
- :func:`regime_loss`: cross-entropy of regime logits against integer labels, with ignored positions.

Shapes:
    ``B`` batch, ``T`` bars, ``R`` regimes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["qlike_loss", "regime_loss"]


def qlike_loss(
    predicted_vol: Tensor, realised_vol: Tensor, *, mask: Tensor | None = None, eps: float = 1e-8
) -> Tensor:
    """Mean QLIKE ``RV/h - log(RV/h) - 1`` with ``h = predicted_vol**2`` and ``RV = realised_vol**2``.

    Zero when the forecast equals the realisation, positive otherwise; ``eps`` is added to both variances
    so that a zero realised move stays finite.

    Args:
        predicted_vol: positive volatility forecasts (any shape).
        realised_vol: realised volatility, same shape.
        mask: bool, True = the element counts. Default: all.
        eps: variance floor. Default: 1e-8 (0.01% of an hourly variance of 1e-4: a zero realised move
            stays finite without biasing the loss; the models train with it).

    Returns:
        Scalar loss (float32 or the inputs' wider dtype).

    Raises:
        ValueError: shapes differ.
    """
    if predicted_vol.shape != realised_vol.shape:
        raise ValueError(
            f"predicted_vol {tuple(predicted_vol.shape)} and realised_vol {tuple(realised_vol.shape)} differ"
        )
    dtype = torch.promote_types(predicted_vol.dtype, torch.float32)
    ratio = (realised_vol.to(dtype).pow(2) + eps) / (predicted_vol.to(dtype).pow(2) + eps)
    loss = ratio - torch.log(ratio) - 1.0
    if mask is not None:
        loss = loss[mask]
    return loss.mean()


def regime_loss(logits: Tensor, labels: Tensor, *, ignore_index: int = -1) -> Tensor:
    """Cross-entropy of regime ``logits [..., R]`` against integer ``labels [...]``.

    Labels equal to ``ignore_index`` (bars without a label, e.g. the warm-up of the labelling window) do
    not count.

    Raises:
        ValueError: shapes do not match or a label is out of range.
    """
    if logits.shape[:-1] != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} must be labels {tuple(labels.shape)} + [num_regimes]")
    r = logits.shape[-1]
    valid = labels != ignore_index
    if bool(((labels[valid] < 0) | (labels[valid] >= r)).any()):
        raise ValueError(f"regime labels must be in [0, {r}) or {ignore_index} (ignored)")
    return F.cross_entropy(
        logits.reshape(-1, r).float(), labels.reshape(-1).long(), ignore_index=ignore_index
    )
