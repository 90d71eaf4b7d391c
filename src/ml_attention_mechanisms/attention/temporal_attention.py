"""Temporal attention for bar series: multi-timeframe pooled keys and cyclical (same-phase) keys.

Design. Each bar attends, for every window ``w`` of ``timeframe_windows`` (in bars), to a
**pooled multi-resolution key set**: the series cut into blocks of ``w`` bars, each block averaged over its
present bars, and the query sees the last ``keys_per_timeframe`` (``K``) *complete* blocks. Window 1 is plain
local attention over the last ``K`` bars; window 240 sees ``K`` four-hour summaries (``K * 240`` bars back).

Why pooled keys rather than local windows of ``w`` bars at several horizons: local windows of width 240 cost
``T * 240`` scores and only look 240 bars back, whereas pooled keys cost ``T * K`` per timeframe whatever
``w`` and reach ``K * w`` bars back. Memory is bounded by the chunk size, not by ``T``: queries are
processed ``chunk_size`` rows at a time and each chunk only gathers the keys it can see, so 10,080 bars (a
week of minutes) never build a ``T x T`` score matrix (``benchmarks/temporal_attention_memory.py``).

Causality: a block is visible to bar ``t`` only once complete (its last bar ``<= t``), so pooled keys never
leak bars after ``t``; the in-progress block is covered by the finer windows (window 1 includes bar ``t``).

Cyclical attention (``use_cyclical_attention``): bar ``t`` attends to itself and to the bars at the same
market-time phase ``cycles_back`` days and weeks earlier (timestamps ``t - n * period``, looked up in the
timestamps, so missing bars and irregular grids are handled by time, not by index), with a learned bias per
head and lag; the branch's input carries the market-time encoding
(:class:`~ml_attention_mechanisms.encodings.MarketTimeEncoding`: calendar, sessions, seasonality), so its
scores can tell, e.g., a weekend key from a weekday one. The per-timeframe and cyclical outputs are fused by a per-bar softmax gate.

Shapes:
    ``B`` batch, ``T`` bars, ``H`` heads, ``D`` head dim, ``K`` keys per timeframe, ``N`` cyclical keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import AttentionConfig, check_field
from ..encodings import MarketTimeEncoding, to_unix_seconds
from ._masks import is_tracing
from .multi_head_attention import MultiHeadAttention

__all__ = ["TemporalAttention", "TemporalAttentionConfig"]


@dataclass(frozen=True, slots=True)
class TemporalAttentionConfig:
    """Configuration of :class:`TemporalAttention`.

    Args:
        d_model: width. Default: 256.
        num_heads: heads; must divide ``d_model``. Default: 8.
        dropout: dropout on the attention weights, in [0, 1). Default: 0.0.
        use_multi_timeframe: attend over every window of ``timeframe_windows``; False = window 1 only
            (local attention over the last ``keys_per_timeframe`` bars). Default: True.
        use_cyclical_attention: add the same-phase keys of earlier days and weeks. Default: True.
        timeframe_windows: block sizes in bars (positive, distinct). Default: (1, 5, 15, 60, 240), 1m to 4h
            on minute bars.
        keys_per_timeframe: complete blocks each bar sees per window. Default: 64.
        cycle_periods_seconds: cycle lengths. Default: (86400, 604800), a day and a week.
        cycles_back: earlier cycles looked at per period. Default: 7.
        cycle_tolerance_seconds: a bar matches ``t - n * period`` if it is at most this much earlier (0 =
            exact phase). Default: 0.
        bar_seconds: bar spacing assumed when ``timestamps`` is None. Default: 60.
        causal: bars see only the past (regime detection must not read the future). Default: True.
        chunk_size: queries processed at a time (bounds memory). Default: 512.
        use_flash_attn: fused kernels allowed. Default: True.

    Raises:
        ValueError: a field breaks its rule (message names field, value and rule).
    """

    d_model: int = 256
    num_heads: int = 8
    dropout: float = 0.0
    use_multi_timeframe: bool = True
    use_cyclical_attention: bool = True
    timeframe_windows: tuple[int, ...] = (1, 5, 15, 60, 240)
    keys_per_timeframe: int = 64  # 64 complete blocks: 4h windows reach ~10 days back
    cycle_periods_seconds: tuple[int, ...] = (86_400, 604_800)
    cycles_back: int = 7
    cycle_tolerance_seconds: int = 0
    bar_seconds: int = 60  # the documented examples use minute bars
    causal: bool = True
    chunk_size: int = 512
    use_flash_attn: bool = True

    def __post_init__(self) -> None:
        n = "TemporalAttentionConfig"
        # Lists (as in the documented examples) are stored as tuples so that the config stays hashable.
        object.__setattr__(self, "timeframe_windows", tuple(self.timeframe_windows))
        object.__setattr__(self, "cycle_periods_seconds", tuple(self.cycle_periods_seconds))
        AttentionConfig(d_model=self.d_model, num_heads=self.num_heads, dropout=self.dropout)  # same rules
        w = self.timeframe_windows
        check_field(
            len(w) > 0 and all(isinstance(v, int) and v >= 1 for v in w) and len(set(w)) == len(w),
            n,
            "timeframe_windows",
            w,
            "must be a non-empty sequence of distinct positive ints (bars)",
        )
        for name in ("keys_per_timeframe", "cycles_back", "bar_seconds", "chunk_size"):
            value = getattr(self, name)
            check_field(isinstance(value, int) and value >= 1, n, name, value, "must be a positive int")
        p = self.cycle_periods_seconds
        check_field(
            len(p) > 0 and all(isinstance(v, int) and v >= 1 for v in p),
            n,
            "cycle_periods_seconds",
            p,
            "must be a non-empty sequence of positive ints (seconds)",
        )
        check_field(
            isinstance(self.cycle_tolerance_seconds, int) and self.cycle_tolerance_seconds >= 0,
            n,
            "cycle_tolerance_seconds",
            self.cycle_tolerance_seconds,
            "must be a non-negative int",
        )

    @property
    def windows(self) -> tuple[int, ...]:
        """The windows used: ``timeframe_windows``, or ``(1,)`` without multi-timeframe."""
        return self.timeframe_windows if self.use_multi_timeframe else (1,)

    @property
    def num_cyclical_keys(self) -> int:
        """``N``: the bar itself plus ``cycles_back`` lags per period."""
        return 1 + self.cycles_back * len(self.cycle_periods_seconds)


class TemporalAttention(nn.Module):
    """Multi-timeframe and cyclical attention over a bar series (see the module docstring).

    Args:
        config: :class:`TemporalAttentionConfig`.

    Examples:
        >>> cfg = TemporalAttentionConfig(d_model=32, num_heads=4, timeframe_windows=[1, 5])
        >>> x = torch.randn(2, 30, 32)
        >>> ts = torch.arange(1640995200, 1640995200 + 30 * 60, 60).repeat(2, 1)
        >>> TemporalAttention(cfg)(x, timestamps=ts).shape
        torch.Size([2, 30, 32])
    """

    def __init__(self, config: TemporalAttentionConfig) -> None:
        super().__init__()
        if not isinstance(config, TemporalAttentionConfig):
            raise TypeError(f"config must be a TemporalAttentionConfig, got {type(config).__name__}")
        self.config = config
        attn_cfg = AttentionConfig(
            d_model=config.d_model,
            num_heads=config.num_heads,
            dropout=config.dropout,
            use_flash_attn=config.use_flash_attn,
        )
        self.windows = config.windows
        self.timeframe_attn = nn.ModuleList(MultiHeadAttention(attn_cfg) for _ in self.windows)
        num_branches = len(self.windows)
        self.cyclical_attn: MultiHeadAttention | None = None
        if config.use_cyclical_attention:
            self.cyclical_attn = MultiHeadAttention(attn_cfg)
            # Market time (calendar, sessions, seasonality) added to the cyclical branch's input, so that its
            # queries and keys know the phase they stand at (weekday vs weekend, session, hour).
            self.market_time = MarketTimeEncoding(config.d_model)
            # One learned bias per head and lag (lag 0 = the bar itself), added to the scores.
            self.lag_bias = nn.Parameter(torch.zeros(config.num_heads, config.num_cyclical_keys))
            num_branches += 1
        self.gate = nn.Linear(config.d_model, num_branches)

    # -- multi-timeframe --------------------------------------------------------------------------------
    def _visible_range(self, t0: int, t1: int, w: int, num_blocks: int) -> tuple[int, int]:
        """Block range ``[lo, hi)`` visible to some query of ``[t0, t1)`` at window ``w``."""
        k = self.config.keys_per_timeframe
        if self.config.causal:
            return max(0, (t0 + 1) // w - k), min(num_blocks, t1 // w)
        return max(0, t0 // w - k + 1), min(num_blocks, (t1 - 1) // w + k)

    def _block_mask(self, t0: int, t1: int, lo: int, hi: int, w: int, device: torch.device) -> Tensor:
        """``[t1 - t0, hi - lo]`` bool: query ``t`` may see block ``j``."""
        k = self.config.keys_per_timeframe
        t = torch.arange(t0, t1, device=device).unsqueeze(-1)  # (C, 1)
        j = torch.arange(lo, hi, device=device).unsqueeze(0)  # (1, nk)
        if self.config.causal:
            done = (t + 1) // w  # complete blocks at bar t
            return (j < done) & (j >= done - k)
        return (j - t // w).abs() < k

    def _timeframe(self, attn: MultiHeadAttention, x: Tensor, present: Tensor, w: int) -> Tensor:
        b, t, d = x.shape
        if w == 1:
            pooled, block_ok = x, present
        else:
            nb = math.ceil(t / w)
            pad = nb * w - t
            m = present.to(x.dtype).unsqueeze(-1)  # (B, T, 1)
            xs = nn.functional.pad(x * m, (0, 0, 0, pad)).view(b, nb, w, d).sum(dim=2)  # (B, nb, d)
            cnt = nn.functional.pad(m, (0, 0, 0, pad)).view(b, nb, w, 1).sum(dim=2)  # (B, nb, 1)
            pooled = xs / cnt.clamp(min=1.0)  # mean over the block's present bars
            block_ok = cnt.squeeze(-1) > 0
        q, k, v = attn.project_qkv(x, pooled, pooled)  # q (B, H, T, D); k, v (B, H, nb, D)
        outs = []
        for t0 in range(0, t, self.config.chunk_size):
            t1 = min(t, t0 + self.config.chunk_size)
            lo, hi = self._visible_range(t0, t1, w, pooled.shape[1])
            if hi <= lo:  # nothing visible yet (first bars of a coarse window): zero output
                outs.append(q.new_zeros(b, q.shape[1], t1 - t0, q.shape[-1]))
                continue
            mask = self._block_mask(t0, t1, lo, hi, w, x.device)[None, None] & block_ok[:, None, None, lo:hi]
            out, _ = attn.attend_heads(q[:, :, t0:t1], k[:, :, lo:hi], v[:, :, lo:hi], attention_mask=mask)
            outs.append(out)  # (B, H, C, D)
        return attn.merge_heads(torch.cat(outs, dim=2))  # (B, T, d_model)

    # -- cyclical ----------------------------------------------------------------------------------------
    def _cyclical_index(self, ts: Tensor, present: Tensor) -> tuple[Tensor, Tensor]:
        """Indices ``[B, T, N]`` of the same-phase bars and their validity."""
        cfg = self.config
        b, t = ts.shape
        lags = [0] + [n * p for p in cfg.cycle_periods_seconds for n in range(1, cfg.cycles_back + 1)]
        offsets = torch.tensor(lags, dtype=torch.int64, device=ts.device)  # (N,)
        target = ts.unsqueeze(-1) - offsets  # (B, T, N)
        if not cfg.causal:
            target = torch.cat([target, ts.unsqueeze(-1) + offsets[1:]], dim=-1)
        flat = target.reshape(b, -1)
        idx = torch.searchsorted(ts.contiguous(), flat.contiguous(), right=True) - 1  # last bar <= target
        idx_c = idx.clamp(min=0)
        found = ts.gather(1, idx_c)
        ok = (idx >= 0) & (flat - found <= cfg.cycle_tolerance_seconds) & (flat >= found)
        ok = ok & present.gather(1, idx_c)
        idx_c, ok = idx_c.view(b, t, -1), ok.view(b, t, -1)
        if cfg.causal:
            # Timestamps need not be sorted (the documented examples draw random ones): by index too, never look
            # ahead.
            ok = ok & (idx_c <= torch.arange(t, device=ts.device).view(1, t, 1))
        return idx_c, ok

    def _cyclical(self, attn: MultiHeadAttention, x: Tensor, ts: Tensor, present: Tensor) -> Tensor:
        b, t, _ = x.shape
        idx, ok = self._cyclical_index(ts, present)
        n = idx.shape[-1]
        bias = (
            self.lag_bias if self.config.causal else torch.cat([self.lag_bias, self.lag_bias[:, 1:]], dim=-1)
        )
        bias = bias.view(1, -1, 1, n)  # (1, H, 1, N)
        x = self.market_time(x, ts)  # + market-time encoding of each bar
        q, k, v = attn.project_qkv(x, x, x)  # (B, H, T, D)
        h, dh = q.shape[1], q.shape[-1]
        outs = []
        for t0 in range(0, t, self.config.chunk_size):
            t1 = min(t, t0 + self.config.chunk_size)
            c = t1 - t0
            gidx = idx[:, t0:t1].reshape(b, 1, c * n, 1).expand(b, h, c * n, dh)
            kc = (
                k.gather(2, gidx).view(b, h, c, n, dh).transpose(1, 2).reshape(b * c, h, n, dh)
            )  # (B*C, H, N, D)
            vc = v.gather(2, gidx).view(b, h, c, n, dh).transpose(1, 2).reshape(b * c, h, n, dh)
            qc = q[:, :, t0:t1].transpose(1, 2).reshape(b * c, h, 1, dh)  # one query per row: (B*C, H, 1, D)
            mask = ok[:, t0:t1].reshape(b * c, 1, 1, n)
            out, _ = attn.attend_heads(qc, kc, vc, attention_mask=mask, attn_bias=bias)  # (B*C, H, 1, D)
            outs.append(out.view(b, c, h, dh).transpose(1, 2))  # (B, H, C, D)
        return attn.merge_heads(torch.cat(outs, dim=2))

    # -- forward -----------------------------------------------------------------------------------------
    def forward(
        self, x: Tensor, timestamps: Tensor | None = None, *, key_mask: Tensor | None = None
    ) -> Tensor:
        """Fuse the multi-timeframe and cyclical attention outputs.

        Args:
            x: ``[B, T, d_model]``.
            timestamps: int64 Unix seconds (or milliseconds) ``[B, T]``, increasing along ``T``. Default:
                bars spaced by ``bar_seconds`` from the epoch.
            key_mask: bool ``[B, T]``, True = the bar exists; missing bars are never attended to and do not
                enter the pooled blocks.

        Returns:
            ``[B, T, d_model]``.

        Raises:
            ValueError: wrong shapes or dtypes (eager mode).
        """
        b, t = x.shape[0], x.shape[1]
        if not is_tracing():
            if x.dim() != 3 or x.shape[-1] != self.config.d_model:
                raise ValueError(f"x must be [batch, seq, {self.config.d_model}], got {tuple(x.shape)}")
            if timestamps is not None and tuple(timestamps.shape) != (b, t):
                raise ValueError(f"timestamps must be [batch, seq] = {(b, t)}, got {tuple(timestamps.shape)}")
            if timestamps is not None and timestamps.is_floating_point():
                raise ValueError(f"timestamps must be int64 Unix seconds, got dtype {timestamps.dtype}")
            if key_mask is not None and (key_mask.dtype != torch.bool or tuple(key_mask.shape) != (b, t)):
                raise ValueError(
                    f"key_mask must be bool [batch, seq] = {(b, t)}, got {key_mask.dtype} {tuple(key_mask.shape)}"
                )
        present = key_mask if key_mask is not None else torch.ones(b, t, dtype=torch.bool, device=x.device)
        branches = [self._timeframe(a, x, present, w) for a, w in zip(self.timeframe_attn, self.windows)]  # type: ignore[arg-type]
        if self.cyclical_attn is not None:
            if timestamps is None:
                ts = (torch.arange(t, device=x.device) * self.config.bar_seconds).expand(b, t)
            else:
                ts = to_unix_seconds(timestamps)  # milliseconds are detected
            branches.append(self._cyclical(self.cyclical_attn, x, ts, present))
        gate = torch.softmax(self.gate(x).float(), dim=-1).to(x.dtype)  # (B, T, branches)
        out = branches[0] * gate[..., 0:1]
        for i, br in enumerate(branches[1:], start=1):
            out = out + br * gate[..., i : i + 1]
        return out
