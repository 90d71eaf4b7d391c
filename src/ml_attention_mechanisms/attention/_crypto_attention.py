"""Market-aware multi-head attention (re-exported by :mod:`.self_attention`).

Design (why it earns its name):

1. **Real elapsed time, not positions.** Crypto candles have gaps (exchange outages, delisted hours,
   resampled sources). With ``timestamps`` (int64 Unix seconds or milliseconds, ``[B, T]``), each head adds
   the time-aware ALiBi bias ``-slope_h * |t_i - t_j| / unit`` (Press et al. 2022,
   https://arxiv.org/abs/2108.12409, with time instead of index distance), computed by
   :class:`~ml_attention_mechanisms.encodings.positional_encoding.ALiBi` ``(time_aware=True)``. By default
   ``unit`` is the row's median bar spacing, so the bias counts bars of the typical interval: a candle 3
   hours back in hourly data is 3 bars away even if 2 candles are missing in between, where an index
   distance would say 1. The unit cancels the seconds/milliseconds ambiguity. The median is a property of
   the whole window's sampling grid; for strictly causal live use (each bar's output independent of later
   timestamps, as the KV-cache path needs) pass ``time_unit_seconds`` (e.g. the bar interval). Heads keep the paper's
   geometric slopes, so some heads look far back and some stay local.
2. **Volatility-adaptive temperature.** With ``volatility`` (``[B]`` or ``[B, Tq]``, e.g. the realised
   volatility of :meth:`CryptoMultiHeadAttention.realized_volatility`), the scores of head ``h`` at query ``i``
   are divided by ``tau = (vol_i / vol_ref) ** gamma_h``, ``gamma_h = softplus(g_h)`` learned per head
   (initialised at 0.5), clamped to ``[1/max_temperature, max_temperature]``. ``vol_ref`` is
   ``reference_volatility`` or, by default, the expanding mean of the row's volatility over bars ``<= t``
   (never the future: the layer stays causal). In turbulent bars attention
   flattens (single noisy bars are trusted less); in calm bars it sharpens. The temperature scales the
   queries, so the fused kernels still apply.
3. Without ``timestamps`` and ``volatility`` the layer *is* :class:`MultiHeadAttention` (same weights,
   same output): the benchmark example calls it with a plain tensor.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import AttentionConfig
from ..encodings.positional_encoding import ALiBi
from ._masks import is_tracing
from .multi_head_attention import MultiHeadAttention

__all__ = ["CryptoMultiHeadAttention"]


class CryptoMultiHeadAttention(MultiHeadAttention):
    """Multi-head attention with an elapsed-time ALiBi bias and a volatility-adaptive temperature.

    Args:
        config: :class:`AttentionConfig`.
        use_flash_attn: as in :class:`MultiHeadAttention`.
        rotary: optional rotary encoding.
        time_unit_seconds: unit of the time distance; ``None`` = the row's median bar spacing. Default: None.
        reference_volatility: ``vol_ref``; ``None`` = expanding mean of the row's volatility (then a
            ``[B]`` volatility is refused). Default: None.
        max_temperature: clamp of the temperature (and of its inverse). Default: 4.0.

    Shapes:
        ``query [B, Tq, d_model]``, ``timestamps [B, Tq]``, ``key_timestamps [B, Tk]``,
        ``volatility [B]`` or ``[B, Tq]``.

    Examples:
        >>> layer = CryptoMultiHeadAttention(AttentionConfig(d_model=32, num_heads=4))
        >>> ts = torch.arange(0, 10 * 3600, 3600).repeat(2, 1)
        >>> layer(torch.randn(2, 10, 32), timestamps=ts, volatility=torch.rand(2, 10)).shape
        torch.Size([2, 10, 32])
    """

    def __init__(
        self,
        config: AttentionConfig,
        use_flash_attn: bool | None = None,
        *,
        rotary: nn.Module | None = None,
        time_unit_seconds: float | None = None,
        reference_volatility: float | None = None,
        max_temperature: float = 4.0,
    ) -> None:
        super().__init__(config, use_flash_attn, rotary=rotary)
        if time_unit_seconds is not None and not time_unit_seconds > 0:
            raise ValueError(
                f"CryptoMultiHeadAttention.time_unit_seconds={time_unit_seconds!r}: must be positive"
            )
        if reference_volatility is not None and not reference_volatility > 0:
            raise ValueError(
                f"CryptoMultiHeadAttention.reference_volatility={reference_volatility!r}: must be positive"
            )
        if not max_temperature >= 1.0:
            raise ValueError(f"CryptoMultiHeadAttention.max_temperature={max_temperature!r}: must be >= 1")
        self.time_unit_seconds = time_unit_seconds
        self.reference_volatility = reference_volatility
        self.max_temperature = float(max_temperature)
        self.alibi = ALiBi(config.num_heads, time_aware=True, time_unit_seconds=time_unit_seconds or 1.0)
        # softplus(g) = 0.5 at initialisation: tau = sqrt(relative volatility).
        self.volatility_gain = nn.Parameter(torch.full((config.num_heads,), math.log(math.expm1(0.5))))

    @staticmethod
    def realized_volatility(prices: Tensor, window: int = 20) -> Tensor:
        """Causal rolling standard deviation of log returns ``[B, T]`` from prices ``[B, T]``.

        Bar ``t`` uses returns up to ``t`` only (no look-ahead); the first bar has volatility 0.
        """
        if prices.dim() != 2:
            raise ValueError(f"prices must be [batch, seq_len], got shape {tuple(prices.shape)}")
        if window < 2:
            raise ValueError(f"window={window!r} must be >= 2")
        r = torch.diff(torch.log(prices.double()), dim=-1, prepend=torch.log(prices[:, :1].double()))
        c1 = torch.cumsum(F.pad(r, (1, 0)), dim=-1)  # (B, T+1) prefix sums
        c2 = torch.cumsum(F.pad(r * r, (1, 0)), dim=-1)
        t = torch.arange(r.shape[-1], device=r.device)
        lo = (t + 1 - window).clamp_min(0)
        n = (t + 1 - lo).to(r.dtype)
        mean = (c1[:, t + 1] - c1[:, lo]) / n
        var = ((c2[:, t + 1] - c2[:, lo]) / n - mean * mean).clamp_min(0.0)
        return var.sqrt().to(prices.dtype if prices.is_floating_point() else torch.float32)

    def time_bias(self, timestamps: Tensor, key_timestamps: Tensor) -> Tensor:
        """Elapsed-time ALiBi bias ``[B, H, Tq, Tk]`` from int timestamps ``[B, Tq]`` and ``[B, Tk]``."""
        unit = None  # time_unit_seconds (the ALiBi's own unit)
        if self.time_unit_seconds is None and key_timestamps.shape[-1] > 1:
            spacing = torch.diff(key_timestamps, dim=-1).abs().to(torch.float64).median(dim=-1).values
            unit = spacing.clamp_min(1.0).to(torch.float32)  # (B,): distance in bars of the median spacing
        return self.alibi.bias(
            timestamps.shape[-1],
            key_timestamps.shape[-1],
            q_times=timestamps,
            k_times=key_timestamps,
            unit_seconds=unit,
        )

    def temperature(self, volatility: Tensor, q_len: int) -> Tensor:
        """Per-head temperature ``[B, H, Tq, 1]`` from volatility ``[B]`` or ``[B, Tq]``."""
        vol = volatility.to(torch.float32).clamp_min(0.0)
        vol = vol[:, None].expand(-1, q_len) if vol.dim() == 1 else vol  # (B, Tq)
        if self.reference_volatility is not None:
            vref = torch.full_like(vol, self.reference_volatility)
        else:  # expanding mean over bars <= t: no look-ahead
            steps = torch.arange(1, q_len + 1, device=vol.device, dtype=vol.dtype)
            vref = vol.cumsum(dim=-1) / steps
        rel = (vol + 1e-12) / (vref + 1e-12)
        gamma = F.softplus(self.volatility_gain).view(1, -1, 1)  # (1, H, 1)
        log_t = (gamma * torch.log(rel)[:, None, :]).clamp(
            -math.log(self.max_temperature), math.log(self.max_temperature)
        )
        return torch.exp(log_t).unsqueeze(-1)  # (B, H, Tq, 1)

    def _check_market_inputs(
        self, query: Tensor, key: Tensor, timestamps: Tensor | None, key_ts: Tensor | None, vol: Tensor | None
    ) -> None:
        b, tq, tk = query.shape[0], query.shape[1], key.shape[1]
        for name, t, want in (("timestamps", timestamps, (b, tq)), ("key_timestamps", key_ts, (b, tk))):
            if t is not None and (tuple(t.shape) != want or t.is_floating_point() or t.dtype == torch.bool):
                raise ValueError(
                    f"{name} must be int64 [batch, len] = {want}, got shape {tuple(t.shape)} dtype {t.dtype}"
                )
        if vol is not None and tuple(vol.shape) not in ((b,), (b, tq)):
            raise ValueError(
                f"volatility must be [batch] or [batch, q_len] = {(b, tq)}, got {tuple(vol.shape)}"
            )
        if vol is not None and vol.dim() == 1 and self.reference_volatility is None:
            raise ValueError(
                "volatility of shape [batch] needs CryptoMultiHeadAttention(reference_volatility=...): "
                "a per-bar [batch, q_len] volatility is compared with its own expanding mean"
            )

    def forward(  # type: ignore[override]
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        attention_mask: Tensor | None = None,
        need_weights: bool = False,
        *,
        key_mask: Tensor | None = None,
        is_causal: bool | None = None,
        timestamps: Tensor | None = None,
        key_timestamps: Tensor | None = None,
        volatility: Tensor | None = None,
        positions: Tensor | None = None,
        key_positions: Tensor | None = None,
        attn_bias: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """As :meth:`MultiHeadAttention.forward`, plus the market inputs.

        Args:
            timestamps: int64 times of the queries ``[B, Tq]`` (seconds or ms). Enables the time bias.
            key_timestamps: times of the keys ``[B, Tk]``. Default: ``timestamps`` (self-attention).
            volatility: ``[B]`` or ``[B, Tq]``, non-negative. Enables the adaptive temperature.

        Raises:
            ValueError: as :class:`MultiHeadAttention`, or market inputs of the wrong shape or dtype.
        """
        k_in = query if key is None else key
        if timestamps is not None and key_timestamps is None:
            if key is not None and key is not query:
                raise ValueError("key_timestamps is required with timestamps when key differs from query")
            key_timestamps = timestamps
        if not is_tracing():
            self._check_market_inputs(query, k_in, timestamps, key_timestamps, volatility)
        bias = attn_bias
        if timestamps is not None and key_timestamps is not None:
            tb = self.time_bias(timestamps, key_timestamps)
            bias = tb if bias is None else bias + tb
        scale = None if volatility is None else 1.0 / self.temperature(volatility, query.shape[1])
        return self._forward(
            query,
            key,
            value,
            attention_mask,
            need_weights,
            key_mask=key_mask,
            is_causal=is_causal,
            positions=positions,
            key_positions=key_positions,
            attn_bias=bias,
            query_scale=scale,
        )
