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

Backends (implemented in the private :mod:`._kernels`, which only this module imports): ``flash_attn`` (CUDA
package), ``sdpa`` (PyTorch fused kernels), ``chunked`` (exact online softmax
in bounded memory, tile side from ``_chunking.choose_chunk_size``), ``math`` (explicit softmax; weights) and
``linear`` (Katharopoulos et al. 2020: not softmax, used only when forced). ``TOLERANCES`` holds the expected
agreement of the exact backends with the float64 reference per dtype (the tests use it).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator

import torch
from torch import Tensor

from ._kernels import (
    AttentionInputs,
    Backend,
    ChunkedBackend,
    FlashAttnBackend,
    LinearBackend,
    MathBackend,
    SDPABackend,
    linear_attention_state,
    linear_readout,
)
from ._masks import PreparedMask, is_tracing

__all__ = [
    "BACKENDS",
    "TOLERANCES",
    "AttentionInputs",
    "Backend",
    "attend",
    "attention_backend",
    "choose_backend",
    "explain_dispatch",
    "linear_attention_readout",
    "linear_attention_state",
    "record_dispatch",
]

logger = logging.getLogger(__name__)

ENV_VAR = "MLATTN_ATTN_BACKEND"
# Expected agreement (atol, rtol) of any exact backend with the float64 reference, per input dtype: float32
# accumulates in float32; bfloat16 keeps 8 mantissa bits in q k^T and in the weights fed to p @ v.
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-10, 1e-8),
    torch.float32: (2e-5, 1e-4),
    torch.float16: (2e-3, 2e-3),
    torch.bfloat16: (3e-2, 2e-2),
}
_override: list[str | None] = [None]  # context-manager stack top; None = no restriction
_logged: set[str] = set()


_recorders: list[list[tuple[str, str]]] = []  # open record_dispatch() blocks


@contextlib.contextmanager
def record_dispatch() -> Iterator[list[tuple[str, str]]]:
    """Record the kernel of every attention call made inside the block (eager mode).

    Yields a list that fills with ``(backend, explanation)`` per call, the explanation being what
    :func:`explain_dispatch` says for that call's inputs. Blocks nest; each sees every call. Calls made while
    tracing (``torch.compile``, export) are not recorded.

    Examples:
        >>> q = k = v = torch.randn(1, 2, 4, 8)
        >>> with record_dispatch() as calls:
        ...     _ = attend(q, k, v)
        >>> calls[0][0]
        'sdpa'
    """
    calls: list[tuple[str, str]] = []
    _recorders.append(calls)
    try:
        yield calls
    finally:
        _recorders.remove(calls)


def _record(name: str, inp: AttentionInputs, lines: list[str]) -> None:
    if _recorders and not is_tracing():
        text = f"inputs: {_describe(inp)}\n" + "\n".join(lines)
        for calls in _recorders:
            calls.append((name, text))


def _log_once(msg: str) -> None:
    if msg not in _logged:
        _logged.add(msg)
        logger.info(msg)


def linear_attention_readout(q: Tensor, kv: Tensor, z: Tensor) -> Tensor:
    """Outputs of non-causal linear attention for queries ``q [B, H, Tq, D]`` from a key summary.

    ``out_i = phi(q_i) kv / phi(q_i) z`` with ``(kv, z)`` from :func:`linear_attention_state` (``Hkv`` heads,
    repeated to ``H`` for grouped-query attention). Returns ``[B, H, Tq, Dv]`` in ``q.dtype``. Recorded by
    :func:`record_dispatch` as a ``linear`` call.
    """
    if _recorders:
        inp = _inputs(q, kv, kv, None, False, None, 0.0, False)
        _record("linear", inp, ["linear: key summary kv [B, Hkv, D, Dv] read out (streamed non-causal form)"])
    return linear_readout(q, kv, z)


BACKENDS: dict[str, Backend] = {
    b.name: b for b in (FlashAttnBackend(), SDPABackend(), ChunkedBackend(), MathBackend(), LinearBackend())
}
# Priority for "auto": the first exact backend that can run wins (linear is not exact: never listed).
PRIORITY: list[str] = ["flash_attn", "sdpa", "chunked", "math"]


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

    Examples:
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
        if not BACKENDS[name].EXACT:
            reasons.append("not exact softmax attention: used only when forced with backend=")
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
    chunk_size: int | None = None,
    prepared: PreparedMask | None = None,
) -> AttentionInputs:
    return AttentionInputs(q, k, v, mask, is_causal, window, dropout_p, need_weights, chunk_size, prepared)


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
    mask: Tensor | PreparedMask | None = None,
    is_causal: bool = False,
    window: int | None = None,
    dropout_p: float = 0.0,
    scale: float | None = None,
    need_weights: bool = False,
    backend: str = "auto",
    allow_fused: bool = True,
    chunk_size: int | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Scaled dot-product attention through the chosen backend.

    Args:
        q: queries ``[B, H, Tq, D]``.
        k: keys ``[B, Hkv, Tk, D]``.
        v: values ``[B, Hkv, Tk, Dv]``.
        mask: bool (True = may attend) or additive float, broadcastable to ``[B, H, Tq, Tk]``; or a
            :class:`~._masks.PreparedMask` (masks, causal window and bias folded once for many calls; then
            ``is_causal`` and ``window`` stay unset: it holds them).
        is_causal: causal masking, aligned bottom-right when ``Tq < Tk``.
        window: with ``is_causal``, attend only to the last ``window`` keys.
        dropout_p: dropout on the attention weights (pass 0 in eval mode).
        scale: softmax scale. Default: ``1/sqrt(D)``.
        need_weights: also return the weights ``[B, H, Tq, Tk]`` (forces the math backend).
        backend: ``"auto"`` or a backend name to force.
        allow_fused: False restricts to the math backend (what ``use_flash_attn=False`` asks for).
        chunk_size: tile side of the ``chunked`` backend. Default: from a 256 MiB budget.

    Returns:
        ``(output [B, H, Tq, Dv], weights or None)``.

    Raises:
        RuntimeError: no backend can run (message lists inputs and every backend's reasons).
        ValueError: a prepared mask with ``is_causal`` or ``window``, or of a shape other than ``[.., Tq, Tk]``.
    """
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    prepared = mask if isinstance(mask, PreparedMask) else None
    plain = mask if not isinstance(mask, PreparedMask) else mask.mask
    if prepared is not None and not is_tracing():
        _check_prepared(prepared, q, k, is_causal, window)
    inp = _inputs(q, k, v, plain, is_causal, window, dropout_p, need_weights, chunk_size, prepared)
    name, lines = _decide(inp, backend, allow_fused)
    if name is None:
        raise RuntimeError(_no_backend_message(inp, lines))
    if not is_tracing():
        _log_once(f"attention backend {name} for {q.dtype} on {q.device.type} ({lines[-1]})")
        _record(name, inp, lines)
    out, weights = BACKENDS[name].run(inp, scale)
    if prepared is not None and prepared.row_ok is not None:
        keep = prepared.row_ok  # rows that may attend to nothing: zeros, as on every backend
        out = out * keep.to(out.dtype)
        weights = None if weights is None else weights * keep.to(weights.dtype)
    return out, weights


def _check_prepared(
    prepared: PreparedMask, q: Tensor, k: Tensor, is_causal: bool, window: int | None
) -> None:
    if is_causal or window is not None:
        raise ValueError(
            "a PreparedMask already holds the causal structure and the window: call with is_causal=False "
            f"and window=None (got is_causal={is_causal}, window={window})"
        )
    want = (q.shape[-2], k.shape[-2])
    if tuple(prepared.shape[-2:]) != want or prepared.mask.dim() != 4:
        raise ValueError(
            f"PreparedMask of shape {tuple(prepared.shape)} does not fit q_len, k_len = {want} "
            "(expected [B|1, H|1, q_len, k_len])"
        )
