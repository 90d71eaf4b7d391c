"""Learnable and content-adaptive positional encodings.

Design:

* :class:`LearnablePositionalEncoding` learns a *function* of position rather than a table: learnable
  Fourier features (Li et al. 2021, https://arxiv.org/abs/2106.02795) ``[cos(p·w), sin(p·w)]`` with learned
  frequencies ``w`` (initialised log-spaced like the sinusoidal encoding), followed by a small MLP. Being a
  function, it accepts any position: fractional elapsed time (``time_aware=True``: ``p`` is the time since
  the row's first bar, an int64 difference, in ``time_unit_seconds``), gaps, and lengths past training.
* :class:`AdaptivePositionalEncoding` lets the content decide, per token, how much position to use:
  ``x + g(x) ⊙ pe`` with ``g(x) = sigmoid(Linear(x))`` (one gate per token, or per channel). ``pe`` is the
  additive contribution of any inner :class:`PositionalEncoding` (default: a
  :class:`LearnablePositionalEncoding`). Where position is noise for the task, training drives ``g``
  towards 0; where it carries signal, ``g`` stays open. The gate bias starts at 0 (``g = 0.5``).

Shapes:
    ``B`` batch, ``T`` bars, ``F`` Fourier features.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ._base import PositionalEncoding
from ._time import TimeUnit, elapsed_seconds, is_tracing

__all__ = ["AdaptivePositionalEncoding", "LearnablePositionalEncoding"]


class LearnablePositionalEncoding(PositionalEncoding):
    """Learnable Fourier features of position (or elapsed time) through an MLP, added to ``x``.

    Args:
        d_model: model width.
        num_frequencies: learned frequencies ``F/2``. Default: 16.
        hidden_dim: MLP width. Default: ``d_model``.
        time_aware: with timestamps, positions are elapsed time since the row's first bar. Default: False.
        time_unit_seconds: one position unit in seconds when time-aware. Default: 3600.
        base: largest wavelength of the initial log-spaced frequencies. Default: 10000.
        unit: unit of incoming timestamps. Default: ``"auto"``.

    Examples:
        >>> LearnablePositionalEncoding(16)(torch.zeros(2, 7, 16)).shape
        torch.Size([2, 7, 16])
    """

    def __init__(
        self,
        d_model: int,
        *,
        num_frequencies: int = 16,
        hidden_dim: int | None = None,
        time_aware: bool = False,
        time_unit_seconds: float = 3600.0,
        base: float = 10000.0,
        unit: TimeUnit = "auto",
    ) -> None:
        super().__init__(d_model, unit=unit)
        name = type(self).__name__
        if not isinstance(num_frequencies, int) or num_frequencies <= 0:
            raise ValueError(f"{name}.num_frequencies={num_frequencies!r}: must be a positive int")
        if not time_unit_seconds > 0:
            raise ValueError(f"{name}.time_unit_seconds={time_unit_seconds!r}: must be positive")
        hidden = d_model if hidden_dim is None else hidden_dim
        if not isinstance(hidden, int) or hidden <= 0:
            raise ValueError(f"{name}.hidden_dim={hidden_dim!r}: must be a positive int or None")
        self.time_aware = time_aware
        self.time_unit_seconds = float(time_unit_seconds)
        init = base ** (-torch.arange(num_frequencies, dtype=torch.float32) / num_frequencies)
        self.frequencies = nn.Parameter(init)  # (F/2,) radians per position unit
        self.mlp = nn.Sequential(
            nn.Linear(2 * num_frequencies, hidden), nn.GELU(), nn.Linear(hidden, d_model)
        )
        self._scale = 1.0 / math.sqrt(num_frequencies)

    def positions(
        self,
        seq_len: int,
        timestamps: Tensor | None = None,
        *,
        offset: int = 0,
        origin: Tensor | None = None,
    ) -> Tensor:
        """``[1, T]`` indices from ``offset``, or ``[B, T]`` elapsed time since ``origin``.

        ``origin`` (int64 Unix time ``[B]`` or ``[B, 1]``, same unit as ``timestamps``) defaults to each row's
        first bar; pass the stream's first bar when encoding new bars one at a time (cached decoding).
        """
        if self.time_aware and timestamps is not None:
            ts = self._seconds(timestamps)
            start = ts[:, :1] if origin is None else self._seconds(origin.reshape(-1, 1), name="origin")
            dt = elapsed_seconds(ts, start)  # (B, T) int64, exact; signed (unsorted allowed)
            return dt.to(torch.float32) / self.time_unit_seconds
        idx = torch.arange(offset, offset + seq_len, device=self.device, dtype=torch.float32)
        return idx.unsqueeze(0)  # (1, T)

    def encoding(self, positions: Tensor) -> Tensor:
        """The encoding ``[B|1, T, d_model]`` of positions ``[B|1, T]``."""
        angles = positions.unsqueeze(-1) * self.frequencies  # (B, T, F/2)
        feats = torch.cat((torch.cos(angles), torch.sin(angles)), dim=-1) * self._scale  # (B, T, F)
        return self.mlp(feats)

    def forward(
        self,
        x: Tensor,
        timestamps: Tensor | None = None,
        *,
        offset: int = 0,
        origin: Tensor | None = None,
    ) -> Tensor:
        """``x [B, T, d_model]`` plus the encoding of its positions (or elapsed times; see :meth:`positions`)."""
        self._check_x(x)
        if timestamps is not None and self.time_aware and not is_tracing():
            self._seconds(timestamps, x)
        pos = self.positions(x.shape[1], timestamps, offset=offset, origin=origin).to(x.device)
        return x + self.encoding(pos).to(x.dtype)


class AdaptivePositionalEncoding(PositionalEncoding):
    """Content-gated position: ``x + sigmoid(Linear(x)) ⊙ pe`` (see the module doc for the design).

    Args:
        d_model: model width.
        position: the inner additive encoding whose contribution is gated. Default: a
            :class:`LearnablePositionalEncoding` of ``d_model``.
        per_channel: one gate per channel instead of one per token. Default: False.

    Examples:
        >>> enc = AdaptivePositionalEncoding(16)
        >>> out, gate = enc(torch.randn(2, 5, 16)), enc.gate(torch.randn(2, 5, 16))
        >>> out.shape, gate.shape
        (torch.Size([2, 5, 16]), torch.Size([2, 5, 1]))
    """

    def __init__(
        self, d_model: int, *, position: PositionalEncoding | None = None, per_channel: bool = False
    ) -> None:
        super().__init__(d_model)
        inner = position if position is not None else LearnablePositionalEncoding(d_model)
        if not isinstance(inner, PositionalEncoding) or inner.d_model != d_model:
            raise ValueError(
                f"AdaptivePositionalEncoding.position must be a PositionalEncoding of d_model={d_model}, "
                f"got {type(inner).__name__}"
            )
        self.position = inner
        self.time_aware = inner.time_aware
        self.gate_proj = nn.Linear(d_model, d_model if per_channel else 1)
        nn.init.zeros_(self.gate_proj.bias)  # g = 0.5 at the start: neither on nor off

    def gate(self, x: Tensor) -> Tensor:
        """The gate ``[B, T, 1]`` (or ``[B, T, d_model]`` per channel), in (0, 1)."""
        w = self.gate_proj.weight
        return torch.sigmoid(self.gate_proj(x.to(w.dtype))).to(x.dtype)  # x may be wider than the weights

    def forward(self, x: Tensor, timestamps: Tensor | None = None, **position_kwargs: Any) -> Tensor:
        """``x [B, T, d_model] + gate(x) * pe`` where ``pe`` is the inner encoding's contribution.

        ``position_kwargs`` (e.g. ``offset=`` for cached decoding) go to the inner encoding.
        """
        self._check_x(x)
        pe = self.position(torch.zeros_like(x), timestamps, **position_kwargs)  # (B, T, d_model)
        return x + self.gate(x) * pe
