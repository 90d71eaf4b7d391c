"""Classical positional encodings used inside attention: RoPE and ALiBi.

(First versions, written with the foundation so that attention can use them; the encodings issue
extends this file with the sinusoidal and learned encodings and the factory.)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["ALiBi", "RotaryPositionalEncoding"]


class RotaryPositionalEncoding(nn.Module):
    """Rotary position embedding (Su et al. 2021, https://arxiv.org/abs/2104.09864), GPT-NeoX layout.

    Rotates pairs ``(x[..., i], x[..., i + D/2])`` by ``position * base**(-2i/D)``, so that the score of a
    rotated query and key depends only on their position offset. Positions may be fractional (elapsed
    time in bars).

    Args:
        head_dim: width ``D`` of one head (even).
        base: frequency base. Default: 10000.
    """

    def __init__(self, head_dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2 != 0 or head_dim <= 0:
            raise ValueError(f"RotaryPositionalEncoding.head_dim={head_dim!r}: must be a positive even int")
        self.head_dim = head_dim
        self.base = base
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def rotate(self, x: Tensor, positions: Tensor) -> Tensor:
        """Rotate ``x [B, H, T, D]`` by ``positions`` (``[T]`` or ``[B, T]``, int or float)."""
        pos = positions.to(torch.float64)
        angles = pos.unsqueeze(-1) * self.inv_freq  # (B?, T, D/2), float64: large positions keep precision
        if angles.dim() == 2:
            angles = angles.unsqueeze(0)
        cos = torch.cos(angles).unsqueeze(1).to(x.dtype)  # (B|1, 1, T, D/2)
        sin = torch.sin(angles).unsqueeze(1).to(x.dtype)
        x1, x2 = x[..., : self.head_dim // 2], x[..., self.head_dim // 2 :]
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)

    def forward(self, x: Tensor, positions: Tensor) -> Tensor:
        return self.rotate(x, positions)


class ALiBi(nn.Module):
    """Attention with Linear Biases (Press et al. 2022, https://arxiv.org/abs/2108.12409).

    Adds ``-slope_h * distance`` to the scores of head ``h``. ``distance`` is the index distance, or, with
    ``time_aware=True`` and timestamps given, the elapsed time between the two bars in units of
    ``time_unit_seconds`` (taken as an int64 difference before any conversion to float).

    Args:
        num_heads: number of heads; slopes follow the paper for any count.
        time_aware: use elapsed time when timestamps are passed to :meth:`bias`. Default: False.
        time_unit_seconds: the unit of the time distance. Default: 3600 (hours).
    """

    def __init__(self, num_heads: int, *, time_aware: bool = False, time_unit_seconds: float = 3600.0) -> None:
        super().__init__()
        if num_heads <= 0:
            raise ValueError(f"ALiBi.num_heads={num_heads!r}: must be a positive int")
        if time_unit_seconds <= 0:
            raise ValueError(f"ALiBi.time_unit_seconds={time_unit_seconds!r}: must be positive")
        self.num_heads = num_heads
        self.time_aware = time_aware
        self.time_unit_seconds = float(time_unit_seconds)
        self.register_buffer("slopes", self.get_slopes(num_heads), persistent=False)

    @staticmethod
    def get_slopes(num_heads: int) -> Tensor:
        """The paper's head slopes: a geometric sequence from ``2**(-8/n)``; non-powers of two interleave."""

        def power_of_two(n: int) -> list[float]:
            start = 2 ** (-(2 ** -(math.log2(n) - 3)))
            return [start * start**i for i in range(n)]

        if math.log2(num_heads).is_integer():
            slopes = power_of_two(num_heads)
        else:
            closest = 2 ** math.floor(math.log2(num_heads))
            slopes = power_of_two(closest) + power_of_two(2 * closest)[0::2][: num_heads - closest]
        return torch.tensor(slopes, dtype=torch.float32)

    def bias(
        self,
        q_len: int,
        k_len: int,
        *,
        q_times: Tensor | None = None,
        k_times: Tensor | None = None,
    ) -> Tensor:
        """Additive bias ``[B|1, H, Tq, Tk]``.

        Index form: query ``i`` sits at ``k_len - q_len + i`` (bottom-right, as causal decoding) and the
        distance to key ``j`` is ``|pos_i - j|``. Time form (``time_aware`` and both timestamps ``[B, T]``
        int64 seconds): distance ``|t_i - t_j| / time_unit_seconds``.
        """
        if self.time_aware and q_times is not None and k_times is not None:
            diff = q_times[:, :, None] - k_times[:, None, :]  # (B, Tq, Tk) int64, exact
            dist = diff.abs().to(torch.float32) / self.time_unit_seconds
            return -self.slopes.view(1, -1, 1, 1) * dist[:, None]  # (B, H, Tq, Tk)
        qi = torch.arange(q_len, device=self.slopes.device).unsqueeze(-1) + (k_len - q_len)
        kj = torch.arange(k_len, device=self.slopes.device).unsqueeze(0)
        dist = (qi - kj).abs().to(torch.float32)  # (Tq, Tk)
        return -self.slopes.view(1, -1, 1, 1) * dist  # (1, H, Tq, Tk)
