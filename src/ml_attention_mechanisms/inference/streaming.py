"""Live inference: :class:`StreamingPredictor` takes one candle at a time and returns the newest bar's outputs.

**What a candle is.** ``update(timestamp, features)``: the bar's open time (int Unix seconds) and its
*feature vector*, i.e. the row the data layer computes for that bar (``data.compute_features`` on the bars
so far; ``[F]``, or ``[A, F]`` for the portfolio model). Raw features when the predictor has scaling
statistics (a checkpoint's ``"scaler"``, or ``scaler=``): the predictor applies the data layer's two-stage
scaling itself (rolling z-score over the trailing ``window`` bars, then the training affine map and
clipping). Without statistics the features are taken as already normalised. A bar whose scaled features are
not all finite (NaN, warm-up of a rolling feature) is an *absent* bar, exactly as in the training windows'
``mask``.

**The scale.** The models forecast relative to each asset's causal scale (the data layer's variance anchor:
``batch["scale"]``). With statistics that carry the anchor (every checkpoint trained on data), the predictor
computes it for each candle from the raw rows' ``log_range`` and ``log_return_1`` features, as the data layer
does on the panel;
a bar whose scale is not yet defined (the anchor's warm-up) is absent too. ``update(..., scale=...)`` gives it
explicitly instead (a per-bar variance), e.g. for a feature set without those two; without either the
models use their default scale. The signal model reads no scale: its bars are absent or present alike.

**Bars and the policy for irregular feeds.** Timestamps define bars on a grid of ``bar_seconds`` (default:
the bar interval a checkpoint records, else the model's ``time_unit_seconds``, which the models use as the
bar interval):

- *same timestamp as the open bar* -> an update of the still-open bar (or a duplicate): it **replaces** the
  bar (the rolling window, the scaling row and the open bar's keys are recomputed; nothing is appended). An
  exact duplicate therefore returns the same outputs.
- *later timestamp* -> the open bar is closed (committed to the caches) and a new bar opens. A *gap* (``k``
  missing grid bars in between) inserts ``k`` absent bars (NaN rows), as the data layer's panel has them;
  only the last ``W`` (and the scaler's ``window``) can matter, so at most that many are inserted. A gap is
  downtime: send an hour a thin market did not trade as a candle at the previous close with zero volume
  (its feature row computed like any other), as ``load_ohlcv(missing_hours="no-trades")`` writes it.
- *earlier timestamp* (a *late* candle for a closed bar) -> its bar can no longer be revised (its keys are
  cached in every layer): ``late_policy="drop"`` (default) ignores it, logs a warning and returns the
  current outputs; ``"raise"`` raises ``ValueError``.
- *an implausible time* -> refused with a one-line ``ValueError`` that leaves the stream unchanged: a
  timestamp that is not Unix seconds (milliseconds are named as such), one off the grid (not a whole number
  of bars after the open bar), or a gap of more than ``max_gap_bars`` missing bars (see ``_candle_time``).

**Two modes.** ``"cached"`` (the default for the price, signal and risk models: causal sliding-window
attention of width ``W``): one bar costs one query per layer against a rolling KV cache of at most ``W``
closed bars per layer; the outputs equal the batch model run over the whole history at every step (tested
to 1e-5) in bounded memory. ``"recompute"`` (any other model, e.g. the portfolio optimizer, or on request):
keeps the last ``window`` bars (default: the model's reach, ``num_layers * (W - 1) + 1`` bars, and at least
``risk_lookback`` for the portfolio model) and runs the model over them for each candle.

**Restart.** ``StreamingPredictor("best.ckpt")`` rebuilds the model, its scaling statistics and symbol ids
from a training checkpoint; :meth:`StreamingPredictor.warm_up` replays recent history (in bars, at least
the longer of the model's reach plus the scaler's window and the variance anchor's ``history``, a year of
hourly bars by default) and the state is then the same as that of a predictor that
never stopped.

Shapes:
    ``F`` features, ``A`` assets; outputs keep the model's batch axis (``B = 1``).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..config import check_field
from ._cached_encoder import CachedEncoder, HeadView
from ._candle_time import check_candle_time
from ._inputs import is_multi_asset, load_model, model_config, takes_scale
from ._scaling import RollingAnchor, RollingScaler

__all__ = ["StreamingConfig", "StreamingPredictor"]

logger = logging.getLogger(__name__)

MODES = ("auto", "cached", "recompute")
LATE_POLICIES = ("drop", "raise")


@dataclass(frozen=True, slots=True)
class StreamingConfig:
    """How :class:`StreamingPredictor` treats the feed.

    Args:
        bar_seconds: the bar interval in seconds. Default: None (the interval the checkpoint records as
            ``"bar_seconds"``, else the model's ``time_unit_seconds``).
        late_policy: ``"drop"`` or ``"raise"`` for a candle older than the open bar. Default: "drop".
        mode: ``"auto"`` (cached when the model allows it), ``"cached"`` or ``"recompute"``. Default: "auto".
        window: bars kept by the recompute mode. Default: None (the model's reach).
        max_gap_bars: the most missing bars between the open bar and a new candle that are bridged with
            absent bars; a candle further ahead is refused (a unit or clock error, or an outage after which
            the stream should be reset and warmed up). ``None``: no limit. Default: 10000.

    Raises:
        ValueError: a field breaks its rule (the message names field, value and rule).
    """

    bar_seconds: int | None = None
    late_policy: str = "drop"  # a closed bar cannot be revised without replaying history
    mode: str = "auto"
    window: int | None = None
    max_gap_bars: int | None = 10_000

    def __post_init__(self) -> None:
        n = "StreamingConfig"
        if self.bar_seconds is not None:
            check_field(
                isinstance(self.bar_seconds, int) and self.bar_seconds > 0,
                n,
                "bar_seconds",
                self.bar_seconds,
                "must be a positive int or None",
            )
        check_field(
            self.late_policy in LATE_POLICIES,
            n,
            "late_policy",
            self.late_policy,
            f"must be one of {LATE_POLICIES}",
        )
        check_field(self.mode in MODES, n, "mode", self.mode, f"must be one of {MODES}")
        if self.window is not None:
            check_field(
                isinstance(self.window, int) and self.window > 0,
                n,
                "window",
                self.window,
                "must be a positive int or None",
            )
        if self.max_gap_bars is not None:
            check_field(
                isinstance(self.max_gap_bars, int)
                and not isinstance(self.max_gap_bars, bool)
                and self.max_gap_bars >= 0,
                n,
                "max_gap_bars",
                self.max_gap_bars,
                "must be an int >= 0 (0: no gap bridged) or None",
            )


def model_reach(model: nn.Module) -> int:
    """Bars the newest output can depend on: ``num_layers * (W - 1) + 1`` (and ``risk_lookback``)."""
    c = model_config(model)
    reach = int(c.num_encoder_layers) * (int(c.attention_window) - 1) + 1
    if is_multi_asset(model):
        reach = max(reach, int(c.risk_lookback))
    return reach


class StreamingPredictor:
    """One candle in, the newest bar's model outputs out (see the module docstring for the policies).

    Args:
        model_or_checkpoint: a registered crypto model (put in eval mode; the predictor reads its modules
            and weights, so later in-place weight updates, e.g. ``load_state_dict``, take effect), a
            checkpoint file written by training, or a registered model name.
        config: :class:`StreamingConfig`. Default: ``StreamingConfig()``.
        asset_id: the series' asset id (single-asset models). Default: the checkpoint's id of ``symbol``,
            else 0 (unknown asset).
        symbol: a symbol of the checkpoint's ``symbols`` map, giving ``asset_id``; written as the
            checkpoint stores it (``"BTC/USDT"``) or in any spelling the data layer normalises to it
            (``"BTCUSDT"``, ``"btc-usdt"``).
        scaler: scaling statistics (``FeatureScaler.to_dict()``) overriding the checkpoint's. Default: the
            checkpoint's ``"scaler"`` (none for a model or a name: features are already normalised).
        device: where the model runs (e.g. ``"cuda"``): the model is moved there. Default: the model's own
            device (CPU for a checkpoint or a name). Candles come in as numbers on the host either way; the
            outputs are tensors on this device.

    Attributes:
        model: the model (eval mode).
        device: the device the model runs on.
        mode: ``"cached"`` or ``"recompute"``.
        stats: counts of ``bars``, ``updates`` (open bar replaced), ``late`` (dropped), ``missing`` (absent
            bars inserted for gaps).

    Raises:
        ValueError: a bad config, an unknown symbol, ``mode="cached"`` for a model without a causal
            sliding-window encoder, or a price model with an order-book input.

    Examples:
        >>> from ml_attention_mechanisms import create_crypto_model
        >>> model = create_crypto_model("price_predictor_small", input_features=4, d_model=16, num_heads=2,
        ...                             num_encoder_layers=1, attention_window=8)
        >>> live = StreamingPredictor(model)
        >>> out = live.update(1_700_000_000, [0.1, -0.2, 0.3, 0.0])
        >>> out = live.update(1_700_000_000, [0.1, -0.2, 0.5, 0.0])   # the open bar changed: replaced
        >>> out = live.update(1_700_003_600, [0.2, 0.1, 0.0, 0.1])     # next bar
        >>> tuple(out["predictions"].shape), live.num_bars
        ((1, 5, 2), 2)
    """

    def __init__(
        self,
        model_or_checkpoint: nn.Module | str | os.PathLike[str],
        config: StreamingConfig | None = None,
        *,
        asset_id: int | None = None,
        symbol: str | None = None,
        scaler: dict[str, Any] | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        self.config = config if config is not None else StreamingConfig()
        if not isinstance(self.config, StreamingConfig):
            raise TypeError(f"config must be a StreamingConfig, got {type(self.config).__name__}")
        self.model, self.payload = load_model(model_or_checkpoint)
        if device is not None:
            self.model.to(device)
        param = next(self.model.parameters(), None)
        self.device = param.device if param is not None else torch.device("cpu")
        c = getattr(self.model, "config", None)
        if c is None or not hasattr(c, "attention_window"):
            raise TypeError(f"{type(self.model).__name__} is not a registered crypto model")
        self.multi_asset = is_multi_asset(self.model)
        self.bar_seconds = int(
            self.config.bar_seconds or self.payload.get("bar_seconds") or c.time_unit_seconds
        )
        streamable = bool(getattr(self.model, "STREAMABLE", False)) and hasattr(self.model, "encoder")
        if getattr(c, "orderbook_features", 0):
            raise ValueError(
                "StreamingPredictor: models with an order-book input (orderbook_features > 0) are not supported"
            )
        if self.config.mode == "cached" and not (streamable and not self.multi_asset):
            raise ValueError(
                f"StreamingConfig.mode='cached': {type(self.model).__name__} has no single-asset causal "
                "sliding-window encoder; use mode='recompute' (or 'auto')"
            )
        use_cache = self.config.mode == "cached" or (
            self.config.mode == "auto" and streamable and not self.multi_asset
        )
        self.mode = "cached" if use_cache else "recompute"
        self.asset_id = self._asset_id(asset_id, symbol)
        stats = scaler if scaler is not None else self.payload.get("scaler")
        self.scaler = RollingScaler(stats)
        self.anchor = RollingAnchor(stats)
        self.takes_scale = takes_scale(self.model)  # not the signal model (its bars are gated alike)
        self.window = self.config.window or model_reach(self.model)
        history = self.anchor.anchor.history if self.anchor.anchor is not None else 1
        self._gap_cap = max(int(c.attention_window), self.window, self.scaler.window, history)
        self._encoder = CachedEncoder(self.model.encoder) if use_cache else None  # type: ignore[arg-type]
        self._heads = HeadView(self.model) if use_cache else None
        self.reset()

    # -- set-up -----------------------------------------------------------------------------------------
    def _asset_id(self, asset_id: int | None, symbol: str | None) -> Tensor | None:
        if self.multi_asset:
            return None
        if symbol is not None:
            from ..data.loader import known_asset_id  # "BTCUSDT", "BTC/USD", "XBTUSD" -> BTC/USDT's id

            symbols = self.payload.get("symbols") or {}
            asset_id = known_asset_id(symbol, symbols)
            if asset_id == 0:
                raise ValueError(
                    f"symbol {symbol!r} is not in the checkpoint's symbols "
                    f"({', '.join(sorted(symbols)) or 'none'}), nor the same coin on another market"
                )
        aid = 0 if asset_id is None else int(asset_id)
        n = int(model_config(self.model).num_assets)
        if not 0 <= aid < n:
            raise ValueError(f"asset_id={aid}: expected an id in [0, num_assets={n}) (0 = unknown asset)")
        return torch.tensor([aid], device=self.device)

    def reset(self) -> None:
        """Forget the stream (caches, window, scaling rows, last outputs, ``stats``); keep the model."""
        self.stats = {"bars": 0, "updates": 0, "late": 0, "missing": 0}
        self.scaler.reset()
        self.anchor.reset()
        if self._encoder is not None:
            self._encoder.reset()
        self._bars: deque[tuple[int, Tensor, Tensor, Tensor | None]] = deque(maxlen=self.window)
        self._open_ts: int | None = None
        self._outputs: dict[str, Any] | None = None  # outputs at the last present bar
        self._closed_outputs: dict[str, Any] | None = None

    # -- properties ---------------------------------------------------------------------------------------
    @property
    def num_bars(self) -> int:
        """Bars seen since the last reset (inserted absent bars included)."""
        return self.stats["bars"]

    @property
    def cache_lengths(self) -> list[int]:
        """Closed bars held per attention layer (cached mode; never more than ``attention_window``)."""
        return [] if self._encoder is None else self._encoder.cache_lengths

    @property
    def last_timestamp(self) -> int | None:
        """Open time of the open bar."""
        return self._open_ts

    # -- the feed -----------------------------------------------------------------------------------------
    def _features(self, features: Any) -> np.ndarray:
        x = np.asarray(
            features.detach().cpu() if isinstance(features, Tensor) else features, dtype=np.float64
        )
        c = model_config(self.model)
        want = (c.input_features,) if not self.multi_asset else (None, c.input_features)
        ok = x.ndim == len(want) and x.shape[-1] == c.input_features
        if self.multi_asset and ok and self._bars and x.shape[0] != self._bars[-1][1].shape[0]:
            raise ValueError(f"features has {x.shape[0]} assets, the stream has {self._bars[-1][1].shape[0]}")
        if not ok:
            shape = "[input_features]" if not self.multi_asset else "[assets, input_features]"
            raise ValueError(
                f"features must be {shape} with input_features={c.input_features}, got shape {x.shape}"
            )
        return x

    def update(
        self, timestamp: int, features: Any, *, volume: Any = None, scale: Any = None
    ) -> dict[str, Any] | None:
        """Feed one candle; return the model's outputs for the newest bar.

        Args:
            timestamp: the bar's open time, int Unix seconds.
            features: the bar's feature row ``[F]`` (``[A, F]`` for the portfolio model); raw when the
                predictor has scaling statistics, else normalised.
            volume: the portfolio model's traded volume per asset ``[A]`` (optional).
            scale: the bar's scale, a positive per-bar variance (``[A]`` for the portfolio model). Default:
                computed from the statistics' variance anchor (see the module docstring).

        Returns:
            The output dict of ``model(history)`` for the newest present bar (tensors with batch axis 1);
            None until a bar with defined features has been seen.

        Raises:
            ValueError: a bad timestamp or feature shape; a time that is not Unix seconds, off the grid or
                more than ``max_gap_bars`` ahead (the stream is left unchanged); a late candle with
                ``late_policy="raise"``.
        """
        return self._update(timestamp, features, volume=volume, scale=scale, run=True)

    def _update(
        self, timestamp: int, features: Any, *, volume: Any, scale: Any, run: bool
    ) -> dict[str, Any] | None:
        """:meth:`update`; with ``run=False`` the candle only feeds the scaling, the anchor and the stream's
        clock (the model is not run: :meth:`warm_up`'s older candles)."""
        if isinstance(timestamp, bool) or not isinstance(timestamp, int | np.integer):
            raise ValueError(f"timestamp must be int Unix seconds, got {timestamp!r}")
        ts = int(timestamp)
        raw = self._features(features)
        check_candle_time(
            ts, open_ts=self._open_ts, bar_seconds=self.bar_seconds, max_gap_bars=self.config.max_gap_bars
        )
        if self._open_ts is not None and ts < self._open_ts:
            self.stats["late"] += 1
            if self.config.late_policy == "raise":
                raise ValueError(
                    f"late candle: timestamp {ts} is before the open bar {self._open_ts} (closed bars cannot be revised)"
                )
            logger.warning("late candle at %d dropped (open bar: %d)", ts, self._open_ts)
            return self._outputs
        replace = self._open_ts is not None and ts == self._open_ts
        if replace:
            self.stats["updates"] += 1
            self._outputs = self._closed_outputs
        elif self._open_ts is not None:
            self._close()
            missing = round((ts - self._open_ts) / self.bar_seconds) - 1
            if missing > 0:
                self._insert_missing(missing, raw, run=run)
        if run:
            scaled = self.scaler.push(raw, replace=replace)
            level = self.anchor.push(raw, replace=replace)  # () / (A,), or None when not computed here
        else:  # only the trailing rows matter: nothing reads this candle's scaled row or scale
            self.scaler.keep(raw, replace=replace)
            self.anchor.keep(raw, replace=replace)
        if scale is not None:
            level = self._scale(scale, raw)
        elif self.anchor.enabled and not self.anchor.readable and self.takes_scale:
            raise ValueError(
                "update: the statistics' variance anchor reads the log_range and log_return_1 features, which "
                "these features lack; give the bar's scale (scale=...)"
            )
        if not run:
            self.stats["bars"] += 0 if replace else 1
            self._open_ts = ts
            return self._outputs
        present_rows = np.isfinite(scaled).all(axis=-1)  # () or (A,)
        if level is not None:
            present_rows = present_rows & np.isfinite(level)
        x = torch.from_numpy(np.where(present_rows[..., None], scaled, 0.0).astype(np.float32)).to(
            self.device
        )
        vol = (
            None
            if volume is None
            else torch.as_tensor(np.asarray(volume, dtype=np.float32), device=self.device)
        )
        level_t = None
        if level is not None and self.takes_scale:
            safe = np.where(np.isfinite(level), level, 1.0).astype(np.float32).reshape(1, -1)  # (1, 1|A)
            level_t = torch.from_numpy(safe if self.multi_asset else safe[:, 0]).to(
                self.device
            )  # (1,) | (1, A)
        if not replace:
            self.stats["bars"] += 1
        self._open_ts = ts
        self._run(ts, x, torch.as_tensor(present_rows, device=self.device), vol, replace, level_t)
        return self._outputs

    def _scale(self, scale: Any, raw: np.ndarray) -> np.ndarray:
        value = np.asarray(scale.detach().cpu() if isinstance(scale, Tensor) else scale, dtype=np.float64)
        want = raw.shape[:-1]  # () or (A,)
        if value.shape != want or not (np.isfinite(value) & (value > 0)).all():
            raise ValueError(
                f"scale must be a positive finite per-bar variance of shape {list(want)}, got {value.tolist()}"
            )
        return value

    def _close(self) -> None:
        if self._encoder is not None:
            self._encoder.commit()
        self._closed_outputs = self._outputs

    def _insert_missing(self, missing: int, raw: np.ndarray, *, run: bool = True) -> None:
        assert self._open_ts is not None
        count = min(missing, self._gap_cap)
        self.stats["missing"] += missing
        self.stats["bars"] += missing
        self.scaler.push_missing(count)
        self.anchor.push_missing(count)
        if not run:
            return
        start = self._open_ts + (missing - count + 1) * self.bar_seconds
        zeros = torch.zeros(raw.shape, dtype=torch.float32, device=self.device)
        absent = torch.zeros(raw.shape[:-1], dtype=torch.bool, device=self.device)
        for i in range(count):
            self._run(start + i * self.bar_seconds, zeros, absent, None, False, None)
            self._close()

    @torch.no_grad()
    def _run(
        self,
        ts: int,
        x: Tensor,
        present: Tensor,
        volume: Tensor | None,
        replace: bool,
        scale: Tensor | None,
    ) -> None:
        if replace and self._bars:
            self._bars.pop()
        self._bars.append((ts, x, present, volume))
        if self._encoder is not None and self._heads is not None:
            t = torch.tensor([[ts]], dtype=torch.int64, device=self.device)
            state = self._encoder.step(x.view(1, 1, -1), t, present.view(1, 1), self.asset_id)
            if state is not None:
                self._outputs = self._heads(state, t, self.asset_id, scale)
            return
        if bool(present.any()):  # an absent newest bar leaves the outputs at the last present bar
            self._outputs = self._recompute(scale)

    def _recompute(self, scale: Tensor | None) -> dict[str, Any]:
        bars = list(self._bars)
        x = torch.stack([b[1] for b in bars]).unsqueeze(0)  # (1, T, F) or (1, T, A, F)
        ts = torch.tensor([[b[0] for b in bars]], dtype=torch.int64, device=self.device)  # (1, T)
        mask = torch.stack([b[2] for b in bars]).unsqueeze(0)  # (1, T) or (1, T, A)
        if self.multi_asset:
            kwargs: dict[str, Any] = {"timestamps": ts, "mask": mask}
            volumes = [b[3] for b in bars]
            if all(v is not None for v in volumes):
                kwargs["volume_data"] = torch.stack(volumes).unsqueeze(0)  # type: ignore[arg-type]
            if scale is not None:
                kwargs["scale"] = scale  # (1, A)
            return dict(self.model(x, **kwargs))
        extra = {} if scale is None else {"scale": scale}  # (1,)
        return dict(self.model(x, timestamps=ts, asset_ids=self.asset_id, mask=mask, **extra))

    def warm_up(self, timestamps: Any, features: Any) -> dict[str, Any] | None:
        """Replay history (``timestamps [N]``, ``features [N, F]``) candle by candle; returns the last outputs.

        The state afterwards is that of :meth:`update` called on every candle (tested), but the model runs
        on the last ``window`` candles only (at least the model's reach): no later output reads further
        back, so the older candles only join the trailing rows of the scaling and the variance anchor, whose
        windows are longer (a year of hourly bars replays in well under a second instead of a model step and
        a scaling per candle).

        Raises:
            ValueError: not one feature row per timestamp; any :meth:`update` raises on a candle.
        """
        times = np.asarray(timestamps).tolist()
        rows = np.asarray(features, dtype=np.float64)
        if len(times) != len(rows):
            raise ValueError(
                f"warm_up: {len(times)} timestamps and {len(rows)} feature rows; expected one each"
            )
        out = self._outputs
        first_run = len(times) - max(self.window, model_reach(self.model))
        for i, (ts, row) in enumerate(zip(times, rows)):
            out = self._update(ts, row, volume=None, scale=None, run=i >= first_run)
        return out
