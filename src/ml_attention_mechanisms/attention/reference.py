"""Plain float64 reference attention: the definition every backend is tested against.

``softmax(q k^T * scale + bias) v`` written out, with grouped-query heads expanded, the library's mask
convention (bool True = may attend; float = additive), bottom-right causal alignment, and rows that may
attend to nothing defined as zeros. It doubles as documentation: nothing here is optimised.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["reference_attention", "reference_linear_attention"]


def reference_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    mask: Tensor | None = None,
    is_causal: bool = False,
    window: int | None = None,
    scale: float | None = None,
) -> tuple[Tensor, Tensor]:
    """Reference scaled dot-product attention in float64.

    Args:
        q: ``[B, H, Tq, D]``.
        k: ``[B, Hkv, Tk, D]`` (``H % Hkv == 0``).
        v: ``[B, Hkv, Tk, Dv]``.
        mask: bool (True = may attend) or additive float, broadcastable to ``[B, H, Tq, Tk]``.
        is_causal: query ``i`` (at absolute position ``Tk - Tq + i``) sees keys ``j <= Tk - Tq + i``.
        window: with ``is_causal``, only keys with ``position - j < window``.
        scale: Default ``1/sqrt(D)``.

    Returns:
        ``(output [B, H, Tq, Dv], weights [B, H, Tq, Tk])`` in float64.
    """
    q, k, v = q.double(), k.double(), v.double()
    heads, tq, tk = q.shape[1], q.shape[-2], k.shape[-2]
    rep = heads // k.shape[1]
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ k.transpose(-2, -1) * scale  # (B, H, Tq, Tk)
    allowed = torch.ones_like(scores, dtype=torch.bool)
    if mask is not None:
        if mask.dtype == torch.bool:
            allowed = allowed & mask
        else:
            scores = scores + mask.double()
            allowed = allowed & (scores > float("-inf"))
    if is_causal or window is not None:
        pos = torch.arange(tq).unsqueeze(-1) + (tk - tq)
        j = torch.arange(tk).unsqueeze(0)
        causal = j <= pos
        if window is not None:
            causal = causal & (pos - j < window)
        allowed = allowed & causal
    scores = torch.where(allowed, scores, torch.zeros_like(scores))
    any_allowed = allowed.any(-1, keepdim=True)
    row_max = torch.where(any_allowed, scores.masked_fill(~allowed, -1e300).amax(-1, keepdim=True), 0.0)
    exp = torch.where(allowed, torch.exp(scores - row_max), 0.0)
    denom = exp.sum(-1, keepdim=True)
    weights = torch.where(denom > 0, exp / denom.clamp_min(1e-300), torch.zeros_like(exp))
    return weights @ v, weights


def reference_linear_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    key_mask: Tensor | None = None,
    is_causal: bool = False,
) -> Tensor:
    """Linear attention (Katharopoulos et al. 2020) written as its quadratic form, in float64.

    ``A = phi(q) phi(k)^T`` with ``phi = elu + 1``; masked entries (absent keys, and ``j > Tk - Tq + i`` when
    causal) are zeroed; ``out = A v / A.sum(-1)``, rows with nothing to attend give zeros.

    Args:
        q: ``[B, H, Tq, D]``; k: ``[B, Hkv, Tk, D]``; v: ``[B, Hkv, Tk, Dv]``.
        key_mask: bool ``[B, Tk]``, True = the key is present.
        is_causal: bottom-right causal masking.

    Returns:
        ``[B, H, Tq, Dv]`` in float64.
    """
    q, k, v = q.double(), k.double(), v.double()
    heads, tq, tk = q.shape[1], q.shape[-2], k.shape[-2]
    rep = heads // k.shape[1]
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    phi_q = torch.where(q > 0, q + 1.0, torch.exp(q))  # elu(x) + 1
    phi_k = torch.where(k > 0, k + 1.0, torch.exp(k))
    a = phi_q @ phi_k.transpose(-2, -1)  # (B, H, Tq, Tk)
    if key_mask is not None:
        a = a * key_mask[:, None, None, :].double()
    if is_causal:
        pos = torch.arange(tq).unsqueeze(-1) + (tk - tq)
        a = a * (torch.arange(tk).unsqueeze(0) <= pos).double()
    den = a.sum(-1, keepdim=True)
    return torch.where(den > 0, (a @ v) / den.clamp_min(1e-300), torch.zeros(()).double())
