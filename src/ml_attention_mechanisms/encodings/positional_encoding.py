"""Classical positional encodings: sinusoidal, learned, RoPE and ALiBi.

The raw mechanisms used inside attention are :class:`RotaryPositionalEncoding` (``rotate(x, positions)``)
and :class:`ALiBi` (``bias(q_len, k_len, q_times=, k_times=)``). The :class:`PositionalEncoding` forms that a
transformer holds are :class:`SinusoidalPositionalEncoding`, :class:`LearnedPositionalEncoding`,
:class:`RoPEEncoding` and :class:`ALiBiEncoding` (see ``_base.py`` for the interface).

Shapes:
    ``B`` batch, ``T`` bars, ``H`` heads, ``D`` head dim, ``Tq``/``Tk`` query/key lengths.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._base import PositionalEncoding
from ._time import TimeUnit, elapsed_seconds, is_tracing

__all__ = [
    "ALiBi",
    "ALiBiEncoding",
    "LearnedPositionalEncoding",
    "PositionalEncoding",
    "RoPEEncoding",
    "RotaryPositionalEncoding",
    "SinusoidalPositionalEncoding",
]


def _positive_int(cls: str, field: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{cls}.{field}={value!r}: must be a positive int")


def _check_length(cls: str, seq_len: int, offset: int, max_seq_len: int) -> None:
    if not is_tracing() and offset + seq_len > max_seq_len:
        raise ValueError(
            f"{cls}: positions up to {offset + seq_len - 1} (seq_len={seq_len}, offset={offset}) exceed "
            f"max_seq_len={max_seq_len}; build it with a larger max_seq_len or use a relative encoding "
            "(rope, alibi)"
        )


# ---------------------------------------------------------------------------------------------------
# Absolute encodings
# ---------------------------------------------------------------------------------------------------
class SinusoidalPositionalEncoding(PositionalEncoding):
    """Fixed sine/cosine positions (Vaswani et al. 2017, https://arxiv.org/abs/1706.03762, §3.5).

    ``pe[p, 2i] = sin(p / base**(2i/d_model))``, ``pe[p, 2i+1] = cos(p / base**(2i/d_model))``, added to
    ``x``. Index-based: timestamps are ignored.

    Args:
        d_model: model width (odd widths drop the last cosine column).
        max_seq_len: longest ``offset + seq_len`` accepted. Default: 4096.
        base: wavelength base. Default: 10000.

    Examples:
        >>> SinusoidalPositionalEncoding(8)(torch.zeros(1, 3, 8)).shape
        torch.Size([1, 3, 8])
    """

    pe: Tensor

    def __init__(self, d_model: int, *, max_seq_len: int = 4096, base: float = 10000.0) -> None:
        super().__init__(d_model)
        _positive_int(type(self).__name__, "max_seq_len", max_seq_len)
        self.max_seq_len = max_seq_len
        pos = torch.arange(max_seq_len, dtype=torch.float64).unsqueeze(1)  # (T, 1)
        inv = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (ceil(d/2),)
        pe = torch.zeros(max_seq_len, d_model, dtype=torch.float64)
        pe[:, 0::2] = torch.sin(pos * inv)
        pe[:, 1::2] = torch.cos(pos * inv)[:, : d_model // 2]
        self.register_buffer("pe", pe.to(torch.float32), persistent=False)

    def encoding(self, seq_len: int, *, offset: int = 0) -> Tensor:
        """The table rows ``[T, d_model]`` for positions ``offset .. offset+T-1``."""
        _check_length(type(self).__name__, seq_len, offset, self.max_seq_len)
        return self.pe[offset : offset + seq_len]

    def forward(self, x: Tensor, timestamps: Tensor | None = None, *, offset: int = 0) -> Tensor:
        """``x [B, T, d_model]`` plus the encoding of positions ``offset ..`` (timestamps ignored)."""
        self._check_x(x)
        return x + self.encoding(x.shape[1], offset=offset).to(x.dtype)


class LearnedPositionalEncoding(PositionalEncoding):
    """A trained table of absolute positions (BERT/GPT style; Devlin et al. 2019,
    https://arxiv.org/abs/1810.04805), added to ``x``. Index-based; cannot extrapolate past its table.

    Args:
        d_model: model width.
        max_seq_len: rows of the table; longer inputs raise. Default: 4096.
        init_std: std of the normal initialisation. Default: 0.02 (GPT-2).
    """

    def __init__(self, d_model: int, *, max_seq_len: int = 4096, init_std: float = 0.02) -> None:
        super().__init__(d_model)
        _positive_int(type(self).__name__, "max_seq_len", max_seq_len)
        self.max_seq_len = max_seq_len
        self.weight = nn.Parameter(torch.randn(max_seq_len, d_model) * init_std)  # (T_max, d_model)

    def forward(self, x: Tensor, timestamps: Tensor | None = None, *, offset: int = 0) -> Tensor:
        """``x [B, T, d_model]`` plus the rows ``offset .. offset+T-1`` (timestamps ignored)."""
        self._check_x(x)
        _check_length(type(self).__name__, x.shape[1], offset, self.max_seq_len)
        return x + self.weight[offset : offset + x.shape[1]].to(x.dtype)


# ---------------------------------------------------------------------------------------------------
# Relative encodings: the raw mechanisms used by attention
# ---------------------------------------------------------------------------------------------------
class RotaryPositionalEncoding(nn.Module):
    """Rotary position embedding (Su et al. 2021, https://arxiv.org/abs/2104.09864), GPT-NeoX layout.

    Rotates pairs ``(x[..., i], x[..., i + D/2])`` by ``position * base**(-2i/D)``, so that the score of a
    rotated query and key depends only on their position offset. Positions may be fractional (elapsed time
    in bars) and large: angles are computed in float64 (a position of 1.6e9/60 keeps ~1e-8 rad accuracy)
    and only ``cos``/``sin`` are cast to ``x``'s dtype.

    Args:
        head_dim: width ``D`` of one head (even).
        base: frequency base. Default: 10000.
    """

    inv_freq: Tensor

    def __init__(self, head_dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if not isinstance(head_dim, int) or head_dim % 2 != 0 or head_dim <= 0:
            raise ValueError(f"RotaryPositionalEncoding.head_dim={head_dim!r}: must be a positive even int")
        if not base > 1.0:
            raise ValueError(f"RotaryPositionalEncoding.base={base!r}: must be > 1")
        self.head_dim = head_dim
        self.base = float(base)
        inv_freq = self.base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def rotate(self, x: Tensor, positions: Tensor) -> Tensor:
        """Rotate ``x [B, H, T, D]`` by ``positions`` (``[T]`` or ``[B, T]``, int or float).

        Raises:
            ValueError: ``x`` is not 4-D with last dim ``head_dim``; positions of another length, or
                with NaN/inf (eager mode only).
        """
        if not is_tracing():
            if x.dim() != 4 or x.shape[-1] != self.head_dim:
                raise ValueError(
                    f"rotate: x must be [batch, heads, seq_len, head_dim={self.head_dim}], "
                    f"got {tuple(x.shape)}"
                )
            if positions.dim() not in (1, 2) or positions.shape[-1] != x.shape[-2]:
                raise ValueError(
                    f"rotate: positions must be [seq_len] or [batch, seq_len] with seq_len={x.shape[-2]}, "
                    f"got {tuple(positions.shape)}"
                )
            if positions.is_floating_point() and not torch.isfinite(positions).all():
                raise ValueError("rotate: positions contain NaN or inf")
        pos = positions.to(torch.float64)
        angles = pos.unsqueeze(-1) * self.inv_freq  # (B?, T, D/2), float64: large positions keep precision
        if angles.dim() == 2:
            angles = angles.unsqueeze(0)  # (1, T, D/2)
        cos = torch.cos(angles).unsqueeze(1).to(x.dtype)  # (B|1, 1, T, D/2)
        sin = torch.sin(angles).unsqueeze(1).to(x.dtype)
        x1, x2 = x[..., : self.head_dim // 2], x[..., self.head_dim // 2 :]
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)  # (B, H, T, D)

    def forward(self, x: Tensor, positions: Tensor) -> Tensor:
        return self.rotate(x, positions)


class ALiBi(nn.Module):
    """Attention with Linear Biases (Press et al. 2022, https://arxiv.org/abs/2108.12409).

    Adds ``-slope_h * distance`` to the scores of head ``h``. ``distance`` is the index distance, or, with
    ``time_aware=True`` and timestamps given, the elapsed time between the two bars in units of
    ``time_unit_seconds``: the signed int64 difference ``t_query - t_key`` (exact; timestamps need not be
    sorted), whose magnitude is converted to float.

    Args:
        num_heads: number of heads; slopes follow the paper for any count.
        time_aware: use elapsed time when timestamps are passed to :meth:`bias`. Default: False.
        time_unit_seconds: the unit of the time distance. Default: 3600 (hours).
    """

    slopes: Tensor

    def __init__(
        self, num_heads: int, *, time_aware: bool = False, time_unit_seconds: float = 3600.0
    ) -> None:
        super().__init__()
        _positive_int("ALiBi", "num_heads", num_heads)
        if not time_unit_seconds > 0:
            raise ValueError(f"ALiBi.time_unit_seconds={time_unit_seconds!r}: must be positive")
        self.num_heads = num_heads
        self.time_aware = time_aware
        self.time_unit_seconds = float(time_unit_seconds)
        self.register_buffer("slopes", self.get_slopes(num_heads), persistent=False)

    @staticmethod
    def get_slopes(num_heads: int) -> Tensor:
        """The paper's head slopes ``[H]``.

        For ``n`` a power of two: the geometric sequence starting at and with ratio ``2**(-8/n)``. Otherwise
        the ``2**floor(log2 n)`` slopes of the nearest lower power of two, followed by every other slope of
        the ``2 * 2**floor(log2 n)`` sequence until ``n`` slopes (the reference implementation).
        """

        def power_of_two(n: int) -> list[float]:
            start = 2 ** (-(2 ** -(math.log2(n) - 3)))
            return [start * start**i for i in range(n)]

        if math.log2(num_heads).is_integer():
            slopes = power_of_two(num_heads)
        else:
            closest = 2 ** math.floor(math.log2(num_heads))
            slopes = power_of_two(closest) + power_of_two(2 * closest)[0::2][: num_heads - closest]
        return torch.tensor(slopes, dtype=torch.float32)

    def distance(
        self,
        q_len: int,
        k_len: int,
        *,
        q_times: Tensor | None = None,
        k_times: Tensor | None = None,
        unit_seconds: Tensor | None = None,
    ) -> Tensor:
        """The distance of :meth:`bias`, the same for every head: ``[B|1, Tq, Tk]`` (float32).

        Args:
            q_len: query length.
            k_len: key length.
            q_times: int64 seconds ``[B, Tq]`` of the queries (time form, with ``time_aware``).
            k_times: int64 seconds ``[B, Tk]`` of the keys (time form, with ``time_aware``).
            unit_seconds: a distance unit per row ``[B]`` in place of ``time_unit_seconds`` (time form).
        """
        if self.time_aware and q_times is not None and k_times is not None:
            diff = elapsed_seconds(q_times[:, :, None], k_times[:, None, :])  # (B, Tq, Tk) int64, exact
            unit = self.time_unit_seconds if unit_seconds is None else unit_seconds.view(-1, 1, 1)
            return diff.abs().to(torch.float32) / unit
        qi = torch.arange(q_len, device=self.slopes.device).unsqueeze(-1) + (k_len - q_len)
        kj = torch.arange(k_len, device=self.slopes.device).unsqueeze(0)
        return (qi - kj).abs().to(torch.float32).unsqueeze(0)  # (1, Tq, Tk)

    def bias(
        self,
        q_len: int,
        k_len: int,
        *,
        q_times: Tensor | None = None,
        k_times: Tensor | None = None,
        unit_seconds: Tensor | None = None,
    ) -> Tensor:
        """Additive bias ``[B|1, H, Tq, Tk]`` (float32): ``-slope_h x`` :meth:`distance`.

        Index form: query ``i`` sits at ``k_len - q_len + i`` (bottom-right, as causal decoding) and the
        distance to key ``j`` is ``|pos_i - j|``. Time form (``time_aware`` and both timestamps int64
        seconds, ``[B, Tq]`` and ``[B, Tk]``): distance ``|t_i - t_j| / time_unit_seconds`` (or
        ``/ unit_seconds`` of the row).
        """
        dist = self.distance(q_len, k_len, q_times=q_times, k_times=k_times, unit_seconds=unit_seconds)
        return -self.slopes.view(1, -1, 1, 1) * dist[:, None]  # (B|1, H, Tq, Tk)


# ---------------------------------------------------------------------------------------------------
# Relative encodings: the PositionalEncoding forms a transformer holds
# ---------------------------------------------------------------------------------------------------
def _head_dim(cls: str, d_model: int, num_heads: int) -> int:
    _positive_int(cls, "num_heads", num_heads)
    if d_model % num_heads != 0:
        raise ValueError(f"{cls}.num_heads={num_heads!r}: must divide d_model ({d_model})")
    return d_model // num_heads


class RoPEEncoding(PositionalEncoding):
    """RoPE as a :class:`PositionalEncoding`: identity on ``x``; ``rotary`` and its positions for attention.

    Index positions by default. With ``time_aware=True`` and timestamps, the positions are elapsed time
    ``t / time_unit_seconds`` (float64, from int64 seconds; only offsets matter to RoPE, and a fixed epoch
    origin keeps cached decoding consistent), so a gap of ``n`` units rotates like ``n`` bars.

    Args:
        d_model: model width.
        num_heads: attention heads (``d_model / num_heads`` must be even).
        base: RoPE frequency base. Default: 10000.
        time_aware: positions from timestamps when given. Default: False.
        time_unit_seconds: one position unit in seconds (e.g. the bar interval). Default: 3600.
        unit: unit of incoming timestamps. Default: ``"auto"``.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        *,
        base: float = 10000.0,
        time_aware: bool = False,
        time_unit_seconds: float = 3600.0,
        unit: TimeUnit = "auto",
    ) -> None:
        super().__init__(d_model, unit=unit)
        head_dim = _head_dim(type(self).__name__, d_model, num_heads)
        if not time_unit_seconds > 0:
            raise ValueError(f"RoPEEncoding.time_unit_seconds={time_unit_seconds!r}: must be positive")
        self.rotary = RotaryPositionalEncoding(head_dim, base)
        self.time_aware = time_aware
        self.time_unit_seconds = float(time_unit_seconds)

    def rotary_positions(self, seq_len: int, timestamps: Tensor | None = None, *, offset: int = 0) -> Tensor:
        """``[T]`` indices from ``offset``; with ``time_aware`` and timestamps ``[B, T]`` float64 time."""
        if self.time_aware and timestamps is not None:
            ts = self._seconds(timestamps)
            if not is_tracing() and ts.shape[1] != seq_len:
                raise ValueError(f"timestamps has {ts.shape[1]} bars, expected seq_len={seq_len}")
            return ts.to(torch.float64) / self.time_unit_seconds  # (B, T), exact int64 -> float64
        return super().rotary_positions(seq_len, offset=offset)


class ALiBiEncoding(PositionalEncoding):
    """ALiBi as a :class:`PositionalEncoding`: identity on ``x``; the bias for attention.

    Args:
        d_model: model width.
        num_heads: attention heads (one slope each).
        time_aware: distances from timestamps when given (else index distance). Default: False.
        time_unit_seconds: one distance unit in seconds. Default: 3600.
        unit: unit of incoming timestamps. Default: ``"auto"``.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        *,
        time_aware: bool = False,
        time_unit_seconds: float = 3600.0,
        unit: TimeUnit = "auto",
    ) -> None:
        super().__init__(d_model, unit=unit)
        _positive_int(type(self).__name__, "num_heads", num_heads)
        self.alibi = ALiBi(num_heads, time_aware=time_aware, time_unit_seconds=time_unit_seconds)
        self.time_aware = time_aware

    @property
    def slopes(self) -> Tensor:
        """The heads' slopes ``[H]``."""
        return self.alibi.slopes

    def distance(
        self,
        q_len: int,
        k_len: int,
        timestamps: Tensor | None = None,
        key_timestamps: Tensor | None = None,
    ) -> Tensor:
        """The head-independent distance ``[1|B, Tq, Tk]`` of :meth:`attention_bias` (``-slope_h x`` it):
        index distance, or elapsed time with ``time_aware`` and timestamps (see :meth:`attention_bias`)."""
        if not (self.time_aware and timestamps is not None):
            return self.alibi.distance(q_len, k_len)
        q_ts, k_ts = self._query_key_seconds(q_len, k_len, timestamps, key_timestamps)
        return self.alibi.distance(q_len, k_len, q_times=q_ts, k_times=k_ts)

    def attention_bias(
        self,
        q_len: int,
        k_len: int,
        timestamps: Tensor | None = None,
        key_timestamps: Tensor | None = None,
    ) -> Tensor | None:
        """``[1, H, Tq, Tk]`` (index distance) or ``[B, H, Tq, Tk]`` (time-aware, timestamps given).

        ``timestamps`` are the queries' ``[B, Tq]``; ``key_timestamps`` the keys' ``[B, Tk]`` (default:
        ``timestamps``, which then needs ``Tq == Tk``; in cached decoding pass the cache's timestamps).
        """
        return (
            -self.slopes.view(1, -1, 1, 1) * self.distance(q_len, k_len, timestamps, key_timestamps)[:, None]
        )
