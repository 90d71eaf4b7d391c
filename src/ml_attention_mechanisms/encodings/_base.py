"""The common interface of every positional encoding (agreed with the transformer layer).

A transformer holds one :class:`PositionalEncoding` ``pe`` and uses it in three places:

1. ``x = pe(x, timestamps)`` on the embedded input (additive encodings; identity for relative ones);
2. ``MultiHeadAttention(..., rotary=pe.rotary)`` and ``positions=pe.rotary_positions(T, timestamps)``
   (rotary encodings; ``pe.rotary`` is ``None`` otherwise);
3. ``attn_bias=pe.attention_bias(Tq, Tk, timestamps)`` (ALiBi-like encodings; ``None`` otherwise).

Shapes:
    ``B`` batch, ``T`` bars, ``H`` heads, ``Tq``/``Tk`` query/key lengths.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._time import TimeUnit, is_tracing, to_unix_seconds

__all__ = ["PositionalEncoding"]


class PositionalEncoding(nn.Module):
    """Base class: identity forward, no rotary, no bias. Subclasses override what they provide.

    Args:
        d_model: model width the encoding adds to.
        unit: unit of the ``timestamps`` passed to the methods (``"auto"``, ``"s"``, ``"ms"``; see
            :func:`~ml_attention_mechanisms.encodings.to_unix_seconds`). Default: ``"auto"``.

    Attributes:
        rotary: the rotary module to hand to attention, or ``None``.
        time_aware: whether timestamps change what the encoding produces.
    """

    rotary: nn.Module | None
    _anchor: Tensor
    time_aware: bool = False

    def __init__(self, d_model: int, *, unit: TimeUnit = "auto") -> None:
        super().__init__()
        if not isinstance(d_model, int) or isinstance(d_model, bool) or d_model <= 0:
            raise ValueError(f"{type(self).__name__}.d_model={d_model!r}: must be a positive int")
        if unit not in ("auto", "s", "ms"):
            raise ValueError(f"{type(self).__name__}.unit={unit!r}: must be 'auto', 's' or 'ms'")
        self.d_model = d_model
        self.unit: TimeUnit = unit
        self.rotary = None
        # A zero-size anchor so that index tensors are made on the module's device (no parameters needed).
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)

    @property
    def device(self) -> torch.device:
        """Device of the module's buffers."""
        return self._anchor.device

    # -- helpers for subclasses --------------------------------------------------------------------
    def _check_x(self, x: Tensor) -> None:
        if is_tracing():
            return
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(
                f"x must be [batch, seq_len, d_model={self.d_model}], got shape {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise ValueError(f"x must be a floating tensor, got dtype {x.dtype}")

    def _seconds(self, timestamps: Tensor, x: Tensor | None = None, name: str = "timestamps") -> Tensor:
        """Validated int64 Unix seconds ``[B, T]``; with ``x`` the shape must be ``x.shape[:2]``."""
        ts = to_unix_seconds(timestamps, self.unit, name=name)
        if x is not None and not is_tracing() and tuple(ts.shape) != tuple(x.shape[:2]):
            raise ValueError(
                f"{name} must have shape [batch, seq_len] = {tuple(x.shape[:2])} matching x, "
                f"got {tuple(timestamps.shape)}"
            )
        return ts

    def _query_key_seconds(
        self, q_len: int, k_len: int, timestamps: Tensor, key_timestamps: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """Validated seconds of the queries ``[B, Tq]`` and keys ``[B, Tk]`` (default: the queries')."""
        q_ts = self._seconds(timestamps)
        k_ts = q_ts if key_timestamps is None else self._seconds(key_timestamps, name="key_timestamps")
        if not is_tracing() and (q_ts.shape[1] != q_len or k_ts.shape[1] != k_len):
            raise ValueError(
                f"timestamps {tuple(q_ts.shape)} / key_timestamps {tuple(k_ts.shape)} do not match "
                f"q_len={q_len}, k_len={k_len} (pass key_timestamps when keys differ from queries)"
            )
        return q_ts, k_ts

    # -- the interface -----------------------------------------------------------------------------
    def forward(self, x: Tensor, timestamps: Tensor | None = None) -> Tensor:
        """Return ``x [B, T, d_model]`` plus any additive encoding (here: ``x`` unchanged)."""
        self._check_x(x)
        return x

    def rotary_positions(self, seq_len: int, timestamps: Tensor | None = None, *, offset: int = 0) -> Tensor:
        """Positions for the rotary encoding: ``[T]`` indices ``offset .. offset+T-1``.

        Time-aware subclasses return float64 ``[B, T]`` elapsed-time positions when timestamps are given.
        ``offset`` is the number of bars already in a KV cache (index positions only).
        """
        return torch.arange(offset, offset + seq_len, device=self.device)

    def attention_bias(
        self,
        q_len: int,
        k_len: int,
        timestamps: Tensor | None = None,
        key_timestamps: Tensor | None = None,
    ) -> Tensor | None:
        """Additive attention bias broadcastable to ``[B, H, Tq, Tk]``, or ``None`` (here: ``None``)."""
        return None
