"""Mask handling: the library's one convention, enforced where masks enter.

Convention (SDPA's): a boolean mask is ``True`` where a query **may attend** to a key. A floating mask
is *additive* (added to the scores; ``-inf`` blocks). A 0/1 float mask is therefore **not** a boolean
mask: ``0.0`` means "no change" and ``1.0`` adds one to the score. Integer masks are refused.

Shapes: ``attention_mask`` is ``[Tq, Tk]`` or 4-D broadcastable to ``[B, H, Tq, Tk]`` (3-D is
ambiguous between ``[B, Tq, Tk]`` and ``[B*H, Tq, Tk]`` and is rejected); ``key_mask`` is ``[B, Tk]``,
True = the key is present (the opposite of torch's ``key_padding_mask``).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["causal_mask", "combine_masks", "is_tracing", "validate_mask"]


def is_tracing() -> bool:
    """True under TorchScript, tracing, ``torch.compile`` or ``torch.export``.

    Eager-mode input checks step aside then, so that no data-dependent ``raise`` enters a traced graph.
    """
    if torch.jit.is_scripting() or torch.jit.is_tracing():
        return True
    return bool(torch.compiler.is_compiling())


def causal_mask(
    q_len: int, k_len: int, *, device: torch.device | None = None, window: int | None = None
) -> Tensor:
    """Bottom-right aligned causal mask ``[Tq, Tk]`` (True = may attend).

    Query ``i`` sits at absolute position ``k_len - q_len + i`` and sees keys ``j <= that position``; with
    ``window`` only the last ``window`` of them (``position - j < window``).
    """
    offset = k_len - q_len
    qi = torch.arange(q_len, device=device).unsqueeze(-1) + offset  # (Tq, 1)
    kj = torch.arange(k_len, device=device).unsqueeze(0)  # (1, Tk)
    allowed = kj <= qi
    if window is not None:
        allowed = allowed & (qi - kj < window)
    return allowed


def validate_mask(mask: Tensor, name: str, q_len: int, k_len: int, batch: int, heads: int) -> None:
    """Check dtype and shape of an ``attention_mask``; raise ``ValueError`` naming ``name`` and shapes."""
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise ValueError(
            f"{name} has integer dtype {mask.dtype}; pass a bool mask (True = may attend) "
            "or an additive float mask (-inf blocks)"
        )
    if mask.dim() == 3:
        raise ValueError(
            f"{name} of shape {tuple(mask.shape)} is 3-D, which is ambiguous; pass [q_len, k_len] "
            "or 4-D broadcastable to [batch, heads, q_len, k_len]"
        )
    if mask.dim() not in (2, 4):
        raise ValueError(f"{name} must be 2-D [q_len, k_len] or 4-D, got shape {tuple(mask.shape)}")
    want = (batch, heads, q_len, k_len) if mask.dim() == 4 else (q_len, k_len)
    for have, need in zip(mask.shape, want):
        if have not in (1, need):
            raise ValueError(
                f"{name} of shape {tuple(mask.shape)} does not broadcast to {want} "
                "([batch, heads, q_len, k_len] for 4-D)"
            )
    if mask.dim() == 2 and tuple(mask.shape) != (q_len, k_len):
        raise ValueError(f"{name} of shape {tuple(mask.shape)} must be [q_len, k_len] = {(q_len, k_len)}")


def combine_masks(
    attention_mask: Tensor | None,
    key_mask: Tensor | None,
    *,
    batch: int,
    heads: int,
    q_len: int,
    k_len: int,
    dtype: torch.dtype,
    check: bool = True,
) -> Tensor | None:
    """Merge ``attention_mask`` and ``key_mask`` into one 4-D mask (bool, or additive float).

    A key is attended only where both allow it. The result broadcasts to ``[B, H, Tq, Tk]``.

    Raises:
        ValueError: a mask has a wrong dtype or shape (only in eager mode when ``check``).
    """
    if check and not is_tracing():
        if attention_mask is not None:
            validate_mask(attention_mask, "attention_mask", q_len, k_len, batch, heads)
        if key_mask is not None:
            if key_mask.dtype != torch.bool:
                raise ValueError(
                    f"key_mask must be bool [batch, k_len] (True = present), got dtype {key_mask.dtype}"
                )
            if key_mask.dim() != 2 or tuple(key_mask.shape) != (batch, k_len):
                raise ValueError(
                    f"key_mask must have shape [batch, k_len] = {(batch, k_len)}, got {tuple(key_mask.shape)}"
                )
    mask: Tensor | None = None
    if attention_mask is not None:
        mask = attention_mask if attention_mask.dim() == 4 else attention_mask[None, None]
        if mask.is_floating_point():
            mask = mask.to(dtype)
    if key_mask is not None:
        km = key_mask[:, None, None, :]  # (B, 1, 1, Tk)
        if mask is None:
            mask = km
        elif mask.dtype == torch.bool:
            mask = mask & km
        else:
            mask = mask.masked_fill(~km, float("-inf"))
    return mask
