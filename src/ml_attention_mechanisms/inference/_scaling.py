"""The streaming form of the data layer's feature scaling (``data/scaling.py``), one bar at a time.

:class:`~ml_attention_mechanisms.data.scaling.FeatureScaler` scales in two stages: a z-score against each
feature's trailing ``window`` bars (bars ``<= t``, at least ``min_periods`` defined values, sample standard
deviation), then the affine map fitted on the training rows, then clipping. :class:`RollingScaler` keeps the
trailing ``window`` raw rows (missing bars as NaN rows, as on the panel's grid) and applies both stages to
the newest row, so that live inputs are scaled as the training windows were (tested against
``FeatureScaler.transform``). Without a scaler, features pass through unchanged (already normalised).

:class:`RollingAnchor` is the streaming form of the variance anchor (``data/anchor.py``) that the statistics
carry under ``"anchor"``: it keeps the Parkinson variances and squared returns of the trailing bars, from
each row's ``log_range`` and ``log_return_1`` features, and gives the newest bar's scale, the per-bar variance the models forecast relative
to (tested against ``VarianceAnchor.scale`` on the panel).

Shapes:
    ``F`` features (``[A, F]`` per bar for multi-asset models).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.anchor import VarianceAnchor, parkinson_variance

__all__ = ["RollingAnchor", "RollingScaler"]


class _Rows:
    """The last ``maxlen`` rows (each of one shape) in one contiguous array: :meth:`view` costs nothing and an
    append is O(1) amortised (the rows move to the front once every ``maxlen`` appends), where stacking a
    deque of rows would copy them all at every candle."""

    def __init__(self, maxlen: int) -> None:
        self.maxlen = max(1, int(maxlen))
        self._buf: np.ndarray | None = None
        self._n = 0

    def __len__(self) -> int:
        return min(self._n, self.maxlen)

    def clear(self) -> None:
        self._n = 0

    def append(self, row: np.ndarray) -> None:
        if self._buf is None or self._buf.shape[1:] != row.shape:
            self._buf, self._n = np.empty((2 * self.maxlen, *row.shape)), 0
        if self._n == self._buf.shape[0]:
            keep = self.maxlen - 1
            self._buf[:keep] = self._buf[self._n - keep : self._n]
            self._n = keep
        self._buf[self._n] = row
        self._n += 1

    def replace_last(self, row: np.ndarray) -> None:
        assert self._buf is not None and self._n > 0
        self._buf[self._n - 1] = row

    def put(self, row: np.ndarray, *, replace: bool) -> None:
        """Append ``row``, or with ``replace`` overwrite the newest row (append when there is none)."""
        if replace and len(self):
            self.replace_last(row)
        else:
            self.append(row)

    def append_missing(self, count: int) -> None:
        """Append ``count`` NaN rows shaped like the newest (at most ``maxlen``; none before a first row)."""
        if len(self):
            nan = np.full_like(self.view()[-1], np.nan)
            for _ in range(min(count, self.maxlen)):
                self.append(nan)

    def view(self) -> np.ndarray:
        """The kept rows, oldest first: ``(len(self), *row_shape)``."""
        assert self._buf is not None
        return self._buf[max(0, self._n - self.maxlen) : self._n]


class RollingScaler:
    """Scale each new raw feature row with the checkpoint's statistics and a rolling window.

    Args:
        stats: ``FeatureScaler.to_dict()`` (a checkpoint's ``"scaler"``), or None / ``{}`` for no scaling.

    Raises:
        ValueError: ``stats`` lacks a key, or has inconsistent lengths.
    """

    def __init__(self, stats: dict[str, Any] | None) -> None:
        self.enabled = bool(stats)
        self.feature_names: list[str] = []
        self.window = 1
        if stats:
            try:
                self.feature_names = [str(n) for n in stats["feature_names"]]
                self.window = int(stats["window"])
                self.min_periods = int(stats["min_periods"])
                self.clip = float(stats["clip"])
                self.mean = np.asarray(stats["mean"], dtype=np.float64)
                self.std = np.asarray(stats["std"], dtype=np.float64)
            except KeyError as exc:
                raise ValueError(
                    f"scaler statistics lack key {exc.args[0]!r} (expected FeatureScaler.to_dict())"
                ) from None
            n = len(self.feature_names)
            if self.mean.shape != (n,) or self.std.shape != (n,):
                raise ValueError(
                    f"scaler statistics: mean {self.mean.shape} and std {self.std.shape} must have one value per "
                    f"feature ({n})"
                )
        self._rows = _Rows(self.window)

    def reset(self) -> None:
        """Forget the trailing rows."""
        self._rows.clear()

    def keep(self, raw: np.ndarray, *, replace: bool = False) -> None:
        """Add (or, with ``replace``, overwrite the newest) raw row without scaling it: :meth:`push` for a
        row whose scaled value is not needed (a replayed candle older than the model's reach)."""
        if self.enabled:
            self._rows.put(np.asarray(raw, dtype=np.float64), replace=replace)

    def push(self, raw: np.ndarray, *, replace: bool = False) -> np.ndarray:
        """Add (or, with ``replace``, overwrite the newest) raw row and return it scaled (float64, NaN kept).

        The first stage follows pandas' ``rolling(window, min_periods).mean()/.std()`` over the rows kept.
        """
        raw = np.asarray(raw, dtype=np.float64)
        if not self.enabled:
            return raw
        self._rows.put(raw, replace=replace)
        stack = self._rows.view()  # (L, ..., F)
        finite = np.isfinite(stack)
        count = finite.sum(axis=0)
        values = np.where(finite, stack, 0.0)
        mean = values.sum(axis=0) / np.maximum(count, 1)
        var = (np.where(finite, stack - mean, 0.0) ** 2).sum(axis=0) / np.maximum(count - 1, 1)
        std = np.sqrt(var)
        ok = (count >= self.min_periods) & (std > 1e-12) & np.isfinite(raw)
        z = np.where(ok, (raw - mean) / np.where(ok, std, 1.0), np.nan)
        return np.clip((z - self.mean) / self.std, -self.clip, self.clip)

    def push_missing(self, count: int) -> None:
        """Record ``count`` missing bars (NaN rows, as the panel's grid has them)."""
        if self.enabled:
            self._rows.append_missing(count)


class RollingAnchor:
    """The newest bar's scale from the checkpoint's variance anchor and the trailing raw feature rows.

    Args:
        stats: ``FeatureScaler.to_dict()`` (a checkpoint's ``"scaler"``); its ``"anchor"`` and the positions of
            ``log_range`` and ``log_return_1`` in its ``feature_names``. None / no anchor: disabled
            (:meth:`push` returns None).

    Attributes:
        enabled: the statistics carry an anchor.
        readable: ... and the features hold ``log_range`` and ``log_return_1`` (else the scale must be given
            per candle).
    """

    def __init__(self, stats: dict[str, Any] | None) -> None:
        data = (stats or {}).get("anchor")
        self.anchor = VarianceAnchor.from_dict(data) if data else None
        self.enabled = self.anchor is not None
        names = [str(n) for n in (stats or {}).get("feature_names", [])]
        self.columns = (
            (names.index("log_range"), names.index("log_return_1"))
            if {"log_range", "log_return_1"} <= set(names)
            else None
        )
        self.readable = self.enabled and self.columns is not None
        self._rows = _Rows(self.anchor.history if self.anchor else 1)

    def reset(self) -> None:
        """Forget the trailing rows."""
        self._rows.clear()

    def keep(self, raw: np.ndarray, *, replace: bool = False) -> None:
        """Add (or, with ``replace``, overwrite the newest) raw feature row ``[F]`` or ``[A, F]`` without
        computing its scale: :meth:`push` for a row whose scale is not needed (a replayed older candle)."""
        if not self.readable or self.columns is None:
            return
        row = np.asarray(raw, dtype=np.float64)
        p = parkinson_variance(row[..., self.columns[0]])  # () or (A,)
        pair = np.stack([p, np.square(row[..., self.columns[1]])])  # (2,) or (2, A)
        self._rows.put(pair, replace=replace)

    def push(self, raw: np.ndarray, *, replace: bool = False) -> np.ndarray | None:
        """Add (or, with ``replace``, overwrite the newest) raw feature row ``[F]`` or ``[A, F]``; return
        the newest bar's scale (``[]`` or ``[A]``, NaN where undefined), or None when not readable."""
        if not self.readable or self.anchor is None:
            return None
        self.keep(raw, replace=replace)
        history = self._rows.view()  # (L, 2) or (L, 2, A)
        return np.exp(self.anchor.log_scale_last(history[:, 0], history[:, 1]))

    def push_missing(self, count: int) -> None:
        """Record ``count`` missing bars (NaN rows)."""
        if self.readable:
            self._rows.append_missing(count)
