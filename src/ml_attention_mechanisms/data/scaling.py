"""Feature scaling: per asset from its own trailing data, then one affine map fitted on the training split.

Two stages, both causal:

1. :func:`rolling_standardize`: each asset's features become z-scores against that asset's own trailing
   ``window`` bars (bars <= t). An asset the training period never saw (BNB and ADA start 2020-08-01,
   after the default training period) is scaled by its own history, not by another asset's.
2. :class:`FeatureScaler`: a per-feature mean and standard deviation of those z-scores, fitted on the
   training rows only, then clipping. Its statistics are plain data (:meth:`FeatureScaler.to_dict`), so a
   checkpoint carries them and a model can be served without the training data.

The scaler also carries the fitted variance anchor (:class:`~.anchor.VarianceAnchor`, each asset's causal
scale that the models forecast relative to) as plain data, so that whatever keeps the feature statistics
keeps the anchor's coefficients too.

Shapes: ``T`` bars, ``A`` assets, ``F`` features.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._import_guard import needs_extra

__all__ = ["FeatureScaler", "rolling_standardize"]


def rolling_standardize(x: np.ndarray, window: int = 720, min_periods: int = 168) -> np.ndarray:
    """(x_t - mean) / std over each asset's trailing ``window`` bars (bars <= t), per feature.

    Args:
        x: float ``[T, A, F]`` (NaN where undefined).
        window: trailing bars. Default: 720 (30 days of hourly bars).
        min_periods: defined values needed in the window; NaN before. Default: 168 (a week).

    Returns:
        float64 ``[T, A, F]``; NaN where ``x`` is NaN, in the warm-up, or the window has zero spread.
    """
    with needs_extra("data"):
        import pandas as pd

    if window < 2 or not 2 <= min_periods <= window:
        raise ValueError(
            f"rolling_standardize: window={window}, min_periods={min_periods}: expected 2 <= min_periods <= window"
        )
    t, a, f = x.shape
    flat = pd.DataFrame(x.reshape(t, a * f))  # (T, A*F): one column per (asset, feature)
    roll = flat.rolling(window, min_periods=min_periods)
    mean, std = roll.mean(), roll.std()
    z = (flat - mean) / std.where(std > 1e-12)
    return z.to_numpy(dtype=np.float64).reshape(t, a, f)


@dataclass
class FeatureScaler:
    """The second stage: a per-feature affine map fitted on training rows, then clipping.

    Args:
        feature_names: the features, in order.
        window: bars of the first stage's trailing window. Default: 720.
        min_periods: the first stage's warm-up. Default: 168.
        clip: the final values are clipped to ``[-clip, clip]``. Default: 5.0.
        mean: fitted mean per feature (empty until :meth:`fit`).
        std: fitted standard deviation per feature (empty until :meth:`fit`).
        anchor: the fitted variance anchor's ``VarianceAnchor.to_dict()``, or None. Default: None.
    """

    feature_names: list[str]
    window: int = 720
    min_periods: int = 168
    clip: float = 5.0
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    anchor: dict[str, Any] | None = None

    @property
    def fitted(self) -> bool:
        return len(self.mean) == len(self.feature_names) > 0

    def fit(self, z: np.ndarray, rows: np.ndarray) -> FeatureScaler:
        """Fit on first-stage z-scores ``z [T, A, F]`` at the bool ``rows [T, A]`` (training bars only)."""
        if z.shape[-1] != len(self.feature_names):
            raise ValueError(f"FeatureScaler.fit: {z.shape[-1]} features, expected {len(self.feature_names)}")
        sample = z[rows]  # (N, F)
        finite = np.isfinite(sample)
        count = finite.sum(axis=0)
        if sample.shape[0] == 0 or (count == 0).any():
            raise ValueError(
                "FeatureScaler.fit: no training rows with defined features (is the training split empty?)"
            )
        mean = np.where(finite, sample, 0.0).sum(axis=0) / count
        var = (np.where(finite, sample - mean, 0.0) ** 2).sum(axis=0) / np.maximum(count - 1, 1)
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in np.maximum(np.sqrt(var), 1e-6)]
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Raw features ``[T, A, F]`` -> scaled float32 (NaN stays NaN: the mask marks it)."""
        if not self.fitted:
            raise RuntimeError("FeatureScaler.transform: not fitted; call fit() or build it with from_dict()")
        z = rolling_standardize(x, self.window, self.min_periods)
        return self.apply(z)

    def apply(self, z: np.ndarray) -> np.ndarray:
        """First-stage z-scores -> scaled float32 (the second stage only)."""
        out = (z - np.asarray(self.mean)) / np.asarray(self.std)
        return np.clip(out, -self.clip, self.clip).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (floats and lists) for a checkpoint."""
        return {
            "kind": "rolling_zscore+affine",
            "feature_names": list(self.feature_names),
            "window": self.window,
            "min_periods": self.min_periods,
            "clip": self.clip,
            "mean": list(self.mean),
            "std": list(self.std),
            **({"anchor": dict(self.anchor)} if self.anchor else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureScaler:
        """The inverse of :meth:`to_dict`."""
        try:
            return cls(
                feature_names=list(data["feature_names"]),
                window=int(data["window"]),
                min_periods=int(data["min_periods"]),
                clip=float(data["clip"]),
                mean=[float(v) for v in data["mean"]],
                std=[float(v) for v in data["std"]],
                anchor=dict(data["anchor"]) if data.get("anchor") else None,
            )
        except KeyError as exc:
            raise ValueError(f"FeatureScaler.from_dict: missing key {exc.args[0]!r}") from None
