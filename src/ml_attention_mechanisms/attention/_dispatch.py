"""The one place that chooses and calls an attention kernel.

Every module of the library computes attention through :func:`attend`; no other file calls
``F.scaled_dot_product_attention`` or a hand-written softmax path (a test greps for it).

Precedence, one rule everywhere:
    weights requested -> ``math``; ``allow_fused=False`` (``use_flash_attn=False``) -> ``math``;
    otherwise the first backend of the priority list whose ``not_supported_reasons`` is empty. The list can
    be restricted for debugging by the environment variable ``MLATTN_ATTN_BACKEND`` or by the context
    manager :func:`attention_backend`; an explicit ``backend=`` argument forces one backend and raises, with
    every reason, if it cannot run.

Shapes:
    ``q [B, H, Tq, D]``, ``k``/``v`` ``[B, Hkv, Tk, D]`` with ``H % Hkv == 0`` (grouped-query attention),
    ``mask`` broadcastable to ``[B, H, Tq, Tk]`` (bool True = may attend, or additive float).
    Output ``[B, H, Tq, D]``; weights ``[B, H, Tq, Tk]`` from the math backend only.

A query row that may attend to nothing yields zeros (never NaN) in values and gradients, on every backend.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from ._masks import causal_mask, is_tracing

__all__ = [
    "BACKENDS",
    "AttentionInputs",
    "Backend",
    "attend",
    "attention_backend",
    "choose_backend",
    "explain_dispatch",
]

logger = logging.getLogger(__name__)

ENV_VAR = "MLATTN_ATTN_BACKEND"
_override: list[str | None] = [None]  # context-manager stack top; None = no restriction
_logged: set[str] = set()


def _log_once(msg: str) -> None:
    if msg not in _logged:
        _logged.add(msg)
        logger.info(msg)


@dataclass(frozen=True)
class AttentionInputs:
    """What a backend needs to know to decide whether it can run."""

    q: Tensor
    k: Tensor
    v: Tensor
    mask: Tensor | None
    is_causal: bool
    window: int | None
    dropout_p: float
    need_weights: bool


class Backend:
    """A kernel with declared capabilities.

    Subclasses set the class attributes and implement :meth:`run`; :meth:`not_supported_reasons` returns
    an empty list when the backend can run the inputs.
    """

    name: ClassVar[str] = "base"
    SUPPORTED_DTYPES: ClassVar[tuple[torch.dtype, ...]] = (
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
    )
    SUPPORTS_DROPOUT: ClassVar[bool] = True
    RETURNS_WEIGHTS: ClassVar[bool] = False
    EXACT: ClassVar[bool] = True  # computes softmax attention exactly (linear attention does not)
    REQUIRES_CUDA: ClassVar[bool] = False

    def not_supported_reasons(self, inp: AttentionInputs) -> list[str]:
        reasons = []
        if inp.q.dtype not in self.SUPPORTED_DTYPES:
            reasons.append(f"dtype {inp.q.dtype} not in {self.SUPPORTED_DTYPES}")
        if inp.dropout_p > 0 and not self.SUPPORTS_DROPOUT:
            reasons.append("dropout not supported")
        if inp.need_weights and not self.RETURNS_WEIGHTS:
            reasons.append("does not return attention weights")
        if self.REQUIRES_CUDA and not inp.q.is_cuda:
            reasons.append("needs CUDA tensors")
        return reasons

    def run(self, inp: AttentionInputs, scale: float) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError


def _full_mask(inp: AttentionInputs) -> Tensor | None:
    """The explicit mask (bool or additive float) including causal/window structure."""
    mask = inp.mask
    if inp.is_causal or inp.window is not None:
        cm = causal_mask(inp.q.shape[-2], inp.k.shape[-2], device=inp.q.device, window=inp.window)
        if mask is None:
            mask = cm
        elif mask.dtype == torch.bool:
            mask = mask & cm
        else:
            mask = mask.masked_fill(~cm, float("-inf"))
    return mask


def _allowed(mask: Tensor) -> Tensor:
    return mask if mask.dtype == torch.bool else mask > float("-inf")


def _expand_kv(x: Tensor, heads: int) -> Tensor:
    rep = heads // x.shape[1]
    return x if rep == 1 else x.repeat_interleave(rep, dim=1)  # (B, H, Tk, D)


class MathBackend(Backend):
    """Explicit ``softmax(q k^T * scale + mask) v``; the only backend that returns weights."""

    name = "math"
    RETURNS_WEIGHTS = True

    def run(self, inp: AttentionInputs, scale: float) -> tuple[Tensor, Tensor | None]:
        q, heads = inp.q, inp.q.shape[1]
        k, v = _expand_kv(inp.k, heads), _expand_kv(inp.v, heads)
        scores = torch.matmul(q, k.transpose(-2, -1)).float() * scale  # (B, H, Tq, Tk)
        mask = _full_mask(inp)
        row_ok: Tensor | None = None
        if mask is not None:
            if mask.dtype == torch.bool:
                allowed = mask
            else:
                scores = scores + mask.float()
                allowed = scores > float("-inf")
            # A finite floor instead of -inf keeps softmax and its gradient finite on empty rows;
            # those rows are then zeroed explicitly.
            scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
            row_ok = allowed.any(dim=-1, keepdim=True)  # (B|1, H|1, Tq, 1)
        weights = torch.softmax(scores, dim=-1)
        if row_ok is not None:
            weights = weights * row_ok
        weights = weights.to(q.dtype)
        attn = F.dropout(weights, p=inp.dropout_p) if inp.dropout_p > 0 else weights
        out = torch.matmul(attn, v)  # (B, H, Tq, D)
        return out, (weights if inp.need_weights else None)


class SDPABackend(Backend):
    """``torch.nn.functional.scaled_dot_product_attention`` (flash / memory-efficient / math kernels)."""

    name = "sdpa"

    def run(self, inp: AttentionInputs, scale: float) -> tuple[Tensor, Tensor | None]:
        q, k, v = inp.q, inp.k, inp.v
        gqa = q.shape[1] != k.shape[1]
        tq, tk = q.shape[-2], k.shape[-2]
        if inp.mask is None and inp.window is None and inp.is_causal and tq == tk:
            # The fused causal kernel skips the upper triangle: the fast path for training and prefill.
            out = F.scaled_dot_product_attention(
                q, k, v, dropout_p=inp.dropout_p, is_causal=True, scale=scale, enable_gqa=gqa
            )
            return out, None
        mask = _full_mask(inp)
        row_ok: Tensor | None = None
        if mask is not None:
            allowed = _allowed(mask)
            row_ok = allowed.any(dim=-1, keepdim=True)  # (B|1, H|1, Tq, 1)
            # Rows that may attend to nothing would come back NaN (and poison gradients): let them attend
            # everywhere, then zero them.
            if mask.dtype == torch.bool:
                mask = mask | ~row_ok
            else:
                mask = mask.masked_fill(~row_ok, 0.0)
            if mask.dtype != torch.bool and mask.dtype != q.dtype:
                mask = mask.to(q.dtype)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=inp.dropout_p, is_causal=False, scale=scale, enable_gqa=gqa
        )
        if row_ok is not None:
            out = out * row_ok.to(out.dtype)
        return out, None


class FlashAttnBackend(Backend):
    """The ``flash-attn`` package (CUDA only, fp16/bf16, no arbitrary masks)."""

    name = "flash_attn"
    SUPPORTED_DTYPES = (torch.float16, torch.bfloat16)
    REQUIRES_CUDA = True

    def not_supported_reasons(self, inp: AttentionInputs) -> list[str]:
        reasons = super().not_supported_reasons(inp)
        if inp.mask is not None:
            reasons.append("arbitrary masks not supported")
        try:
            import flash_attn  # noqa: F401
        except ImportError:
            reasons.append("package flash-attn not installed")
        return reasons

    def run(
        self, inp: AttentionInputs, scale: float
    ) -> tuple[Tensor, Tensor | None]:  # pragma: no cover - CUDA
        from flash_attn import flash_attn_func

        window = (inp.window - 1, 0) if inp.window is not None else (-1, -1)
        out = flash_attn_func(
            inp.q.transpose(1, 2),  # (B, Tq, H, D)
            inp.k.transpose(1, 2),
            inp.v.transpose(1, 2),
            dropout_p=inp.dropout_p,
            softmax_scale=scale,
            causal=inp.is_causal,
            window_size=window,
        )
        return out.transpose(1, 2), None


BACKENDS: dict[str, Backend] = {b.name: b for b in (FlashAttnBackend(), SDPABackend(), MathBackend())}
# Priority for "auto": the first exact backend that can run wins.
PRIORITY: list[str] = ["flash_attn", "sdpa", "math"]


def register_backend(backend: Backend, *, priority: int | None = None) -> None:
    """Add a backend (e.g. chunked, linear). ``priority`` inserts it into the auto list at that index."""
    if backend.name in BACKENDS:
        raise ValueError(f"attention backend {backend.name!r} is already registered")
    BACKENDS[backend.name] = backend
    if priority is not None:
        PRIORITY.insert(priority, backend.name)


@contextlib.contextmanager
def attention_backend(name: str | None) -> Iterator[None]:
    """Restrict automatic dispatch to one backend inside the block (a debugging override).

    >>> with attention_backend("math"):
    ...     pass
    """
    if name is not None and name not in BACKENDS:
        raise ValueError(f"unknown attention backend {name!r}; available: {', '.join(BACKENDS)}")
    _override.append(name)
    try:
        yield
    finally:
        _override.pop()


def _restriction() -> str | None:
    if _override[-1] is not None:
        return _override[-1]
    env = os.environ.get(ENV_VAR)
    if env:
        if env not in BACKENDS:
            raise ValueError(f"{ENV_VAR}={env!r} is not a backend; available: {', '.join(BACKENDS)}")
        return env
    return None


def _decide(inp: AttentionInputs, backend: str, allow_fused: bool) -> tuple[str | None, list[str]]:
    """Return (chosen backend name or None, explanation lines)."""
    lines: list[str] = []
    if backend != "auto":
        if backend not in BACKENDS:
            raise ValueError(f"unknown attention backend {backend!r}; available: {', '.join(BACKENDS)}")
        reasons = BACKENDS[backend].not_supported_reasons(inp)
        if reasons:
            return None, [f"{backend} (forced): " + "; ".join(reasons)]
        return backend, [f"{backend}: forced by backend= argument"]
    if inp.need_weights:
        return "math", ["math: attention weights requested (only the math path returns them)"]
    if not allow_fused:
        return "math", ["math: use_flash_attn=False"]
    restrict = _restriction()
    candidates = [restrict] if restrict is not None else PRIORITY
    if restrict is not None:
        lines.append(f"restricted to {restrict!r} by override")
    for name in candidates:
        reasons = BACKENDS[name].not_supported_reasons(inp)
        if not reasons:
            lines.append(f"{name}: chosen")
            return name, lines
        lines.append(f"{name}: refused ({'; '.join(reasons)})")
    return None, lines


def _inputs(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None,
    is_causal: bool,
    window: int | None,
    dropout_p: float,
    need_weights: bool,
) -> AttentionInputs:
    return AttentionInputs(q, k, v, mask, is_causal, window, dropout_p, need_weights)


def choose_backend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    mask: Tensor | None = None,
    is_causal: bool = False,
    window: int | None = None,
    dropout_p: float = 0.0,
    need_weights: bool = False,
    backend: str = "auto",
    allow_fused: bool = True,
) -> str:
    """Name of the backend :func:`attend` would run for these inputs (raises if none can)."""
    inp = _inputs(q, k, v, mask, is_causal, window, dropout_p, need_weights)
    name, lines = _decide(inp, backend, allow_fused)
    if name is None:
        raise RuntimeError(_no_backend_message(inp, lines))
    return name


def explain_dispatch(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    mask: Tensor | None = None,
    is_causal: bool = False,
    window: int | None = None,
    dropout_p: float = 0.0,
    need_weights: bool = False,
    backend: str = "auto",
    allow_fused: bool = True,
) -> str:
    """Explain, one line per backend considered, which kernel :func:`attend` would use and why."""
    inp = _inputs(q, k, v, mask, is_causal, window, dropout_p, need_weights)
    _, lines = _decide(inp, backend, allow_fused)
    return f"inputs: {_describe(inp)}\n" + "\n".join(lines)


def _describe(inp: AttentionInputs) -> str:
    m = "none" if inp.mask is None else f"{tuple(inp.mask.shape)} {inp.mask.dtype}"
    return (
        f"q {tuple(inp.q.shape)} k {tuple(inp.k.shape)} v {tuple(inp.v.shape)} {inp.q.dtype} on {inp.q.device}, "
        f"mask {m}, causal={inp.is_causal}, window={inp.window}, dropout={inp.dropout_p}, "
        f"need_weights={inp.need_weights}"
    )


def _no_backend_message(inp: AttentionInputs, lines: list[str]) -> str:
    return "no attention backend can run these inputs: " + _describe(inp) + "\n" + "\n".join(lines)


def attend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    mask: Tensor | None = None,
    is_causal: bool = False,
    window: int | None = None,
    dropout_p: float = 0.0,
    scale: float | None = None,
    need_weights: bool = False,
    backend: str = "auto",
    allow_fused: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """Scaled dot-product attention through the chosen backend.

    Args:
        q: queries ``[B, H, Tq, D]``.
        k: keys ``[B, Hkv, Tk, D]``.
        v: values ``[B, Hkv, Tk, Dv]``.
        mask: bool (True = may attend) or additive float, broadcastable to ``[B, H, Tq, Tk]``.
        is_causal: causal masking, aligned bottom-right when ``Tq < Tk``.
        window: with ``is_causal``, attend only to the last ``window`` keys.
        dropout_p: dropout on the attention weights (pass 0 in eval mode).
        scale: softmax scale. Default: ``1/sqrt(D)``.
        need_weights: also return the weights ``[B, H, Tq, Tk]`` (forces the math backend).
        backend: ``"auto"`` or a backend name to force.
        allow_fused: False restricts to the math backend (the spec's ``use_flash_attn=False``).

    Returns:
        ``(output [B, H, Tq, Dv], weights or None)``.

    Raises:
        RuntimeError: no backend can run (message lists inputs and every backend's reasons).
    """
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    inp = _inputs(q, k, v, mask, is_causal, window, dropout_p, need_weights)
    name, lines = _decide(inp, backend, allow_fused)
    if name is None:
        raise RuntimeError(_no_backend_message(inp, lines))
    if not is_tracing():
        _log_once(f"attention backend {name} for {q.dtype} on {q.device.type} ({lines[-1]})")
    return BACKENDS[name].run(inp, scale)
