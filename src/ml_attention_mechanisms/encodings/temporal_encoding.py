"""Market-time encodings for a 24/7 crypto market: calendar, sessions, crypto cycles, seasonality.

:class:`MarketTimeEncoding` turns int64 Unix seconds into features computed with integer torch arithmetic
(``_calendar.py`` states the session hours, DST rules and halving extrapolation) and adds a learned
projection of them to ``x``. :class:`CryptoPositionalEncoding` (``pos_encoding_type="crypto"``) combines it
with the time-aware ALiBi bias, so that attention decays with elapsed time rather than bar count.

Shapes:
    ``B`` batch, ``T`` bars, ``F`` features, ``H`` heads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import check_field
from . import _calendar as cal
from ._base import PositionalEncoding
from ._feature_cache import TimestampFeatureCache
from ._time import TimeUnit, is_tracing
from .positional_encoding import ALiBi

__all__ = ["CryptoPositionalEncoding", "MarketTimeConfig", "MarketTimeEncoding"]

DAY = 86_400
WEEK = 7 * DAY
MEAN_MONTH = 2_629_746  # 365.2425 / 12 days: the mean Gregorian month
MEAN_YEAR = 31_556_952  # 365.2425 days: the mean Gregorian year


@dataclass(frozen=True, slots=True)
class MarketTimeConfig:
    """Which market-time features :class:`MarketTimeEncoding` computes.

    Args:
        calendar: cyclical UTC minute of hour, hour of day, day of week, day of month (over the month's
            own length) and month of year (10 features). Default: True.
        sessions: Asia / Europe / US session flags with DST, their two overlaps, weekend (6). Default: True.
        funding: 8-hour funding clock: sin, cos and linear phase (3). Default: True.
        halving: Bitcoin halving-cycle phase: sin, cos and linear phase (3). Default: True.
        seasonality_periods: periods in whole seconds of the learned Fourier seasonality; ``()`` turns it
            off. Default: day, week, mean month, mean year.
        seasonality_harmonics: harmonics ``k = 1..K`` per period (2K features each). Default: 2.
        dropout: dropout on the projected encoding. Default: 0.0.

    Raises:
        ValueError: every part switched off, a non-positive period or harmonic count, dropout outside
            [0, 1).
    """

    calendar: bool = True
    sessions: bool = True
    funding: bool = True
    halving: bool = True
    seasonality_periods: tuple[int, ...] = (DAY, WEEK, MEAN_MONTH, MEAN_YEAR)
    seasonality_harmonics: int = 2
    dropout: float = 0.0

    def __post_init__(self) -> None:
        n = "MarketTimeConfig"
        any_on = self.calendar or self.sessions or self.funding or self.halving or self.seasonality_periods
        check_field(bool(any_on), n, "calendar", self.calendar, "at least one part must be switched on")
        check_field(
            isinstance(self.seasonality_periods, tuple)
            and all(
                isinstance(p, int) and not isinstance(p, bool) and p > 0 for p in self.seasonality_periods
            ),
            n,
            "seasonality_periods",
            self.seasonality_periods,
            "must be a tuple of positive ints (seconds)",
        )
        check_field(
            isinstance(self.seasonality_harmonics, int) and self.seasonality_harmonics >= 1,
            n,
            "seasonality_harmonics",
            self.seasonality_harmonics,
            "must be a positive int",
        )
        check_field(0.0 <= self.dropout < 1.0, n, "dropout", self.dropout, "must be in [0, 1)")


class MarketTimeEncoding(PositionalEncoding):
    """Adds a learned projection of market-time features of each bar's timestamp to ``x``.

    ``features(timestamps)`` are fixed functions of UTC time (integer arithmetic, see ``_calendar.py``):
    calendar (cyclical), sessions with DST, the funding clock, the halving-cycle phase, and Fourier terms
    ``sin/cos(2πk·(t mod p)/p)`` for each configured period ``p``. One ``Linear(F, d_model)`` maps them to
    the model width; its columns for the Fourier terms are the learned seasonal coefficients. The encoding
    remembers the features of the timestamps it has seen (:class:`~._feature_cache.TimestampFeatureCache`:
    the same values, without a few hundred tensor operations per call); :meth:`features` always computes.

    Args:
        d_model: model width.
        config: :class:`MarketTimeConfig`. Default: all parts on.
        unit: unit of incoming timestamps (``"auto"``, ``"s"``, ``"ms"``). Default: ``"auto"``.

    Examples:
        >>> enc = MarketTimeEncoding(16)
        >>> ts = torch.arange(1_609_459_200, 1_609_459_200 + 5 * 3600, 3600).repeat(2, 1)  # 2021, hourly
        >>> enc(torch.zeros(2, 5, 16), ts).shape
        torch.Size([2, 5, 16])
    """

    time_aware = True

    periods: Tensor

    def __init__(
        self, d_model: int, config: MarketTimeConfig | None = None, *, unit: TimeUnit = "auto"
    ) -> None:
        super().__init__(d_model, unit=unit)
        self.config = config if config is not None else MarketTimeConfig()
        if not isinstance(self.config, MarketTimeConfig):
            raise TypeError(f"config must be a MarketTimeConfig, got {type(self.config).__name__}")
        self.feature_names = self._feature_names()
        self.proj = nn.Linear(len(self.feature_names), d_model)
        self.dropout = nn.Dropout(self.config.dropout)
        periods = torch.tensor(self.config.seasonality_periods, dtype=torch.int64)
        self.register_buffer("periods", periods, persistent=False)
        self.feature_cache = TimestampFeatureCache(self._features)

    def _feature_names(self) -> list[str]:
        c = self.config
        names: list[str] = []
        if c.calendar:
            for f in ("minute", "hour", "weekday", "monthday", "month"):
                names += [f"{f}_sin", f"{f}_cos"]
        if c.sessions:
            names += list(cal.SESSION_NAMES)
        if c.funding:
            names += ["funding_sin", "funding_cos", "funding_phase"]
        if c.halving:
            names += ["halving_sin", "halving_cos", "halving_phase"]
        for p in c.seasonality_periods:
            for k in range(1, c.seasonality_harmonics + 1):
                names += [f"season{p}s_k{k}_sin", f"season{p}s_k{k}_cos"]
        return names

    @property
    def num_features(self) -> int:
        """``F``: number of features before the projection."""
        return len(self.feature_names)

    def features(self, timestamps: Tensor) -> Tensor:
        """Market-time features ``[B, T, F]`` (float32) of timestamps ``[B, T]`` (names: ``feature_names``).

        Raises:
            ValueError: bad timestamps (NaN, negative, after 2100, wrong dtype or rank); see
                :func:`~ml_attention_mechanisms.encodings.to_unix_seconds`.
        """
        return self._features(self._seconds(timestamps))

    def _features(self, s: Tensor) -> Tensor:
        """:meth:`features` of validated int64 Unix seconds ``[B, T]``."""
        c = self.config
        parts: list[Tensor] = []
        f = cal.calendar_fields(s) if (c.calendar or c.sessions) else {}  # civil date computed once
        if c.calendar:
            phases = (
                f["minute"].to(torch.float32) / 60.0,
                f["hour"].to(torch.float32) / 24.0,
                f["weekday"].to(torch.float32) / 7.0,
                (f["day"] - 1).to(torch.float32) / f["days_in_month"].to(torch.float32),
                (f["month"] - 1).to(torch.float32) / 12.0,
            )
            for ph in phases:
                parts += list(cal.cyclical(ph))
        if c.sessions:
            parts += list(cal.session_flags(s, f["year"]).unbind(-1))
        if c.funding:
            ph = cal.funding_phase(s)
            parts += [*cal.cyclical(ph), ph]
        if c.halving:
            ph = cal.halving_phase(s)
            parts += [*cal.cyclical(ph), ph]
        if c.seasonality_periods:
            within = torch.remainder(s.unsqueeze(-1), self.periods)  # (B, T, P) int64, exact
            phase = within.to(torch.float64) / self.periods.to(torch.float64)  # [0, 1)
            k = torch.arange(1, c.seasonality_harmonics + 1, dtype=torch.float64, device=s.device)
            angle = (2.0 * math.pi) * phase.unsqueeze(-1) * k  # (B, T, P, K)
            sc = torch.stack((torch.sin(angle), torch.cos(angle)), dim=-1)  # (B, T, P, K, 2)
            parts.append(sc.to(torch.float32).flatten(-3))  # (B, T, P*K*2)
        feats = [p.unsqueeze(-1) if p.dim() == s.dim() else p for p in parts]
        return torch.cat(feats, dim=-1)  # (B, T, F)

    def encoding(self, timestamps: Tensor) -> Tensor:
        """The additive encoding ``[B, T, d_model]`` (projection of :meth:`features`)."""
        return self.encode_seconds(self._seconds(timestamps))

    def encode_seconds(self, seconds: Tensor) -> Tensor:
        """:meth:`encoding` of timestamps already validated as int64 Unix seconds ``[B, T]`` (see
        :func:`~ml_attention_mechanisms.encodings.to_unix_seconds`); features from the cache in eager mode."""
        feats = self._features(seconds) if is_tracing() else self.feature_cache(seconds)
        out = self.proj(feats.to(self.proj.weight.dtype))
        return self.dropout(out) if self.config.dropout > 0 else out

    def forward(self, x: Tensor, timestamps: Tensor | None = None) -> Tensor:
        """``x [B, T, d_model]`` plus the market-time encoding of ``timestamps [B, T]``.

        Raises:
            ValueError: ``timestamps`` missing or invalid, or of a shape other than ``x.shape[:2]``.
        """
        self._check_x(x)
        if timestamps is None:
            raise ValueError(
                f"{type(self).__name__} needs timestamps [batch, seq_len] (int64 Unix seconds); got None"
            )
        return x + self.encode_seconds(self._seconds(timestamps, x)).to(x.dtype)


class CryptoPositionalEncoding(MarketTimeEncoding):
    """``pos_encoding_type="crypto"``: market time added to ``x`` plus a time-aware ALiBi bias.

    The additive part is :class:`MarketTimeEncoding`; the relative part is :class:`ALiBi` with
    ``time_aware=True``, whose distance is the elapsed time ``|t_query - t_key| / time_unit_seconds``
    (int64 difference first; timestamps need not be sorted), so a gap in the data weakens attention across
    it while index-based encodings would not notice it. This is the one time-aware bias of the library.

    Args:
        d_model: model width.
        num_heads: attention heads (one ALiBi slope each).
        config: :class:`MarketTimeConfig`. Default: all parts on.
        time_unit_seconds: one ALiBi distance unit in seconds (e.g. the bar interval). Default: 3600.
        unit: unit of incoming timestamps. Default: ``"auto"``.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        config: MarketTimeConfig | None = None,
        *,
        time_unit_seconds: float = 3600.0,
        unit: TimeUnit = "auto",
    ) -> None:
        super().__init__(d_model, config, unit=unit)
        if not isinstance(num_heads, int) or isinstance(num_heads, bool) or num_heads <= 0:
            raise ValueError(f"CryptoPositionalEncoding.num_heads={num_heads!r}: must be a positive int")
        self.alibi = ALiBi(num_heads, time_aware=True, time_unit_seconds=time_unit_seconds)

    def attention_bias(
        self,
        q_len: int,
        k_len: int,
        timestamps: Tensor | None = None,
        key_timestamps: Tensor | None = None,
    ) -> Tensor | None:
        """Time-aware ALiBi bias ``[B, H, Tq, Tk]`` from query ``timestamps [B, Tq]`` and
        ``key_timestamps [B, Tk]`` (default: ``timestamps``).

        Raises:
            ValueError: timestamps missing or invalid, or their lengths differ from ``q_len``/``k_len``.
        """
        if timestamps is None:
            raise ValueError(
                "CryptoPositionalEncoding.attention_bias needs timestamps [batch, q_len]; got None"
            )
        q_ts, k_ts = self._query_key_seconds(q_len, k_len, timestamps, key_timestamps)
        return self.alibi.bias(q_len, k_len, q_times=q_ts, k_times=k_ts)
