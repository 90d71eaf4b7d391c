"""Mask handling: the library's one convention, enforced where masks enter.

Convention (SDPA's): a boolean mask is ``True`` where a query **may attend** to a key. A floating mask
is *additive* (added to the scores; ``-inf`` blocks). A 0/1 float mask is therefore **not** a boolean
mask: ``0.0`` means "no change" and ``1.0`` adds one to the score. Integer masks are refused.

Shapes: ``attention_mask`` is ``[Tq, Tk]`` or 4-D broadcastable to ``[B, H, Tq, Tk]`` (3-D is
ambiguous between ``[B, Tq, Tk]`` and ``[B*H, Tq, Tk]`` and is rejected); ``key_mask`` is ``[B, Tk]``,
True = the key is present (the opposite of torch's ``key_padding_mask``).

A stack of layers that attend with the same masks and bias (an encoder's blocks) folds them once with
:func:`prepare_mask` into a :class:`PreparedMask` and hands that to every layer, instead of each layer
combining the key mask, the causal window and the bias again (several passes over ``[B, H, Tq, Tk]`` per
layer).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["PreparedMask", "causal_mask", "combine_masks", "is_tracing", "prepare_mask", "validate_mask"]


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


class PreparedMask:
    """Masks and an additive bias folded once, for every attention call of one shape (e.g. all the blocks
    of an encoder).

    ``mask`` is the additive float mask the kernels receive: the bias (or 0) where a query may attend to a
    key, ``-inf`` where it may not, and 0 on the rows that may attend to nothing (a fused kernel would give
    NaN there); ``row_ok`` marks those rows, whose outputs the dispatch sets to zero (None: every row may
    attend). The values are exactly those the dispatch builds from the unfolded masks, so the outputs are
    bit for bit the same. Build it with :func:`prepare_mask`; pass it as ``attention_mask`` (with no
    ``key_mask``, ``attn_bias`` or causal flag: it holds them).

    Attributes:
        mask: float32 (or float64) ``[B|1, H|1, Tq, Tk]``.
        row_ok: bool ``[B|1, H|1, Tq, 1]`` or None.
    """

    def __init__(self, mask: Tensor, row_ok: Tensor | None) -> None:
        self.mask = mask
        self.row_ok = row_ok
        self._converted: dict[torch.dtype, Tensor] = {}

    @property
    def shape(self) -> torch.Size:
        """Shape of :attr:`mask`."""
        return self.mask.shape

    @property
    def dtype(self) -> torch.dtype:
        """Dtype of :attr:`mask`."""
        return self.mask.dtype

    def select_queries(self, index: Tensor) -> PreparedMask:
        """The mask of the queries at ``index [B, Q]`` (positions per batch row): ``[B, H|1, Q, Tk]``."""
        b = index.shape[0]
        mask = self.mask.expand(b, -1, -1, -1)  # (B, H|1, Tq, Tk)
        rows = mask.gather(2, index[:, None, :, None].expand(-1, mask.shape[1], -1, mask.shape[-1]))
        row_ok = None
        if self.row_ok is not None:
            ok = self.row_ok.expand(b, -1, -1, -1)  # (B, H|1, Tq, 1)
            row_ok = ok.gather(2, index[:, None, :, None].expand(-1, ok.shape[1], -1, 1))
        return PreparedMask(rows, row_ok)

    def for_dtype(self, dtype: torch.dtype) -> Tensor:
        """:attr:`mask` in ``dtype`` for a fused kernel (``-inf`` clamped to the dtype's lowest finite value
        when the dtype differs, as the dispatch does); converted once per dtype."""
        if dtype == self.mask.dtype:
            return self.mask
        if dtype not in self._converted:
            self._converted[dtype] = self.mask.clamp_min(torch.finfo(dtype).min).to(dtype)
        return self._converted[dtype]


def prepare_mask(
    q_len: int,
    k_len: int,
    *,
    key_mask: Tensor | None = None,
    attention_mask: Tensor | None = None,
    bias: Tensor | None = None,
    head_scale: Tensor | None = None,
    is_causal: bool = False,
    window: int | None = None,
    batch: int = 1,
    heads: int = 1,
    device: torch.device | None = None,
) -> PreparedMask:
    """Fold a key mask, an attention mask, a causal (sliding-window) structure and an additive bias into
    one :class:`PreparedMask`.

    Args:
        q_len: query length (causal structure aligned bottom-right, as everywhere).
        k_len: key length.
        key_mask: bool ``[B, Tk]``, True = the key is present.
        attention_mask: bool (True = may attend) or additive float, ``[Tq, Tk]`` or 4-D.
        bias: additive float bias broadcastable to ``[B, H, Tq, Tk]`` (ALiBi).
        head_scale: positive per-head factors ``[H]`` of a bias that is ``head_scale_h x bias`` with ``bias``
            the same for every head (``[B|1, 1, Tq, Tk]``; ALiBi: the slopes and minus the distance). The masks
            are then folded into ``bias`` before it is multiplied out to the heads: one pass over
            ``[B, H, Tq, Tk]`` instead of several. Not with a float ``attention_mask``.
        is_causal: causal masking.
        window: with ``is_causal``, only the last ``window`` keys.
        batch, heads: ``B`` and ``H`` (for the shape checks of ``attention_mask``).
        device: device of the causal mask. Default: that of the first tensor given.

    Raises:
        ValueError: a mask of a wrong dtype or shape, or ``head_scale`` with a float ``attention_mask``
            (eager mode).
    """
    if device is None:
        first = next((t for t in (key_mask, attention_mask, bias) if t is not None), None)
        device = None if first is None else first.device
    float_mask = attention_mask is not None and attention_mask.is_floating_point()
    if float_mask and not is_tracing():
        assert attention_mask is not None
        validate_mask(attention_mask, "attention_mask", q_len, k_len, batch, heads)  # (bool: checked below)
    if head_scale is not None and float_mask:
        raise ValueError(
            "prepare_mask: head_scale scales the bias alone; a float attention_mask cannot be folded"
        )
    # Where a query may attend (bool), and what is added there (float): each folded once, at the smallest shape.
    allowed = combine_masks(
        None if float_mask else attention_mask,
        key_mask,
        batch=batch,
        heads=heads,
        q_len=q_len,
        k_len=k_len,
        dtype=torch.float32,
    )  # None or bool (B|1, H|1, Tq|1, Tk)
    if is_causal or window is not None:
        cm = causal_mask(q_len, k_len, device=device, window=window if is_causal else None)
        allowed = cm if allowed is None else allowed & cm
    added = bias
    if float_mask:
        assert attention_mask is not None
        am = attention_mask if attention_mask.dim() == 4 else attention_mask[None, None]
        added = am.to(torch.float32) if added is None else am.to(torch.float32) + added
    if added is None:
        added = torch.zeros(1, 1, q_len, k_len, device=device)
    elif added.dim() == 2:
        added = added[None, None]
    mask = added
    if allowed is not None:  # (masked_fill: torch.where with a scalar is an unvectorised path on the CPU)
        a, b = tuple(added.shape), tuple(allowed.shape)
        a, b = (1,) * (len(b) - len(a)) + a, (1,) * (len(a) - len(b)) + b
        shape = tuple(max(x, y) for x, y in zip(a, b))  # the broadcast shape (sizes are 1 or equal)
        mask = added.expand(shape).masked_fill(~allowed, float("-inf"))  # (B|1, H|1, Tq, Tk)
    # A causal row keeps at least its own key (bottom-right, Tq <= Tk): only a key mask, an explicit mask or
    # more queries than keys can leave a row with nothing to attend to.
    row_ok: Tensor | None = None
    if key_mask is not None or attention_mask is not None or q_len > k_len:
        ok = mask > float("-inf") if float_mask or allowed is None else allowed
        row_ok = ok.any(dim=-1, keepdim=True)  # (B|1, H|1, Tq, 1)
        row_ok = row_ok if row_ok.dim() == 4 else row_ok[None, None]
        if not is_tracing() and row_ok.device.type == "cpu" and bool(row_ok.all()):
            row_ok = None  # no empty row (a free check on the CPU; elsewhere it would wait for the device)
    if row_ok is not None:
        mask = mask.masked_fill(~row_ok, 0.0)
    if head_scale is not None and bias is not None:
        mask = head_scale.view(1, -1, 1, 1) * mask  # (B|1, H, Tq, Tk); -inf stays -inf (positive scales)
    return PreparedMask(mask, row_ok)
