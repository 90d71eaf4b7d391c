"""The streaming form of the data layer's feature scaling (``data/scaling.py``), one bar at a time.

:class:`~ml_attention_mechanisms.data.scaling.FeatureScaler` scales in two stages: a z-score against each
feature's trailing ``window`` bars (bars ``<= t``, at least ``min_periods`` defined values, sample standard
deviation), then the affine map fitted on the training rows, then clipping. :class:`RollingScaler` keeps the
trailing ``window`` raw rows (missing bars as NaN rows, as on the panel's grid) and applies both stages to
the newest row, so that live inputs are scaled as the training windows were (tested against
``FeatureScaler.transform``). Without a scaler, features pass through unchanged (already normalised).

Shapes:
    ``F`` features (``[A, F]`` per bar for multi-asset models).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

__all__ = ["RollingScaler"]


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
        self._rows: deque[np.ndarray] = deque(maxlen=self.window)

    def reset(self) -> None:
        """Forget the trailing rows."""
        self._rows.clear()

    def push(self, raw: np.ndarray, *, replace: bool = False) -> np.ndarray:
        """Add (or, with ``replace``, overwrite the newest) raw row and return it scaled (float64, NaN kept).

        The first stage follows pandas' ``rolling(window, min_periods).mean()/.std()`` over the rows kept.
        """
        raw = np.asarray(raw, dtype=np.float64)
        if not self.enabled:
            return raw
        if replace and self._rows:
            self._rows[-1] = raw
        else:
            self._rows.append(raw)
        stack = np.stack(tuple(self._rows))  # (L, ..., F)
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
        if self.enabled and self._rows:
            nan = np.full_like(self._rows[-1], np.nan)
            for _ in range(min(count, self.window)):
                self._rows.append(nan)
