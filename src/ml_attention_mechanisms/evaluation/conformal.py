"""Split-conformal calibration of quantile intervals: conformalised quantile regression (CQR).

Romano, Patterson and Candes (2019), "Conformalized Quantile Regression", NeurIPS. On a calibration
(validation) split, the conformity score of each point is ``E = max(lo - y, y - hi)``; the interval is
widened (or narrowed, when ``E`` is mostly negative) by the ``ceil((n+1)(1-alpha)) / n`` empirical quantile
of the scores, which gives finite-sample marginal coverage ``>= 1 - alpha`` on exchangeable test data.

Shapes:
    N: calibration points; M: test points; Q: quantile levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._checks import as_array, check_prob, check_same_length

__all__ = ["ConformalQuantileCalibrator", "cqr_apply", "cqr_offset"]


def cqr_offset(y_cal: Any, lower_cal: Any, upper_cal: Any, *, alpha: float = 0.1) -> float:
    """The CQR correction ``Q_hat``: the ``ceil((n+1)(1-alpha))``-th smallest conformity score.

    Args:
        y_cal: realised values on the calibration split, shape ``(N,)``.
        lower_cal: lower quantile forecasts (level ``alpha/2``), shape ``(N,)``.
        upper_cal: upper quantile forecasts (level ``1 - alpha/2``), shape ``(N,)``.
        alpha: miscoverage; the interval targets ``1 - alpha``. Default: 0.1.

    Returns:
        ``Q_hat``; ``+inf`` when ``n`` is too small for the level (``ceil((n+1)(1-alpha)) > n``).
    """
    y = as_array(y_cal, "y_cal", allow_nan=False)
    lo = as_array(lower_cal, "lower_cal", allow_nan=False)
    hi = as_array(upper_cal, "upper_cal", allow_nan=False)
    n = check_same_length(y_cal=y, lower_cal=lo, upper_cal=hi)
    alpha = check_prob(alpha, "alpha")
    scores = np.sort(np.maximum(lo - y, y - hi))
    k = int(np.ceil((n + 1) * (1.0 - alpha)))
    return float("inf") if k > n else float(scores[k - 1])


def cqr_apply(lower: Any, upper: Any, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """The calibrated interval ``[lower - offset, upper + offset]``."""
    lo, hi = as_array(lower, "lower"), as_array(upper, "upper")
    check_same_length(lower=lo, upper=hi)
    return lo - offset, hi + offset


@dataclass(frozen=True, slots=True)
class ConformalQuantileCalibrator:
    """CQR for every symmetric pair of a quantile forecast (levels ``tau`` and ``1 - tau``).

    Built with :meth:`fit` on the validation split; :meth:`transform` shifts the test quantiles of each
    pair outward (or inward) by that pair's offset, so the central ``1 - 2 tau`` interval is calibrated.
    The median, if present, is left unchanged.

    Attributes:
        quantiles: the levels, increasing.
        offsets: ``{tau_low: Q_hat}`` per pair.
    """

    quantiles: tuple[float, ...]
    offsets: dict[float, float]

    @classmethod
    def fit(cls, y_cal: Any, q_cal: Any, quantiles: Sequence[float]) -> ConformalQuantileCalibrator:
        """Offsets from calibration data: ``y_cal`` ``(N,)``, quantile forecasts ``q_cal`` ``(N, Q)``.

        Raises:
            ValueError: levels not symmetric around 0.5 or not matching the columns.
        """
        levels = tuple(check_prob(q, "quantiles") for q in quantiles)
        q = as_array(q_cal, "q_cal", ndim=2, allow_nan=False)
        if q.shape[1] != len(levels) or bool(np.any(np.diff(levels) <= 0)):
            raise ValueError(f"quantiles={list(quantiles)!r}: expected {q.shape[1]} increasing levels")
        pairs = _pairs(levels)
        offsets = {levels[i]: cqr_offset(y_cal, q[:, i], q[:, j], alpha=2 * levels[i]) for i, j in pairs}
        return cls(quantiles=levels, offsets=offsets)

    def transform(self, q_pred: Any) -> np.ndarray:
        """Calibrated quantiles, shape ``(M, Q)`` (sorted along Q so they never cross)."""
        q = as_array(q_pred, "q_pred", ndim=2).copy()
        if q.shape[1] != len(self.quantiles):
            raise ValueError(f"q_pred: {q.shape[1]} columns, calibrated for {len(self.quantiles)} levels")
        for i, j in _pairs(self.quantiles):
            offset = self.offsets[self.quantiles[i]]
            q[:, i] -= offset
            q[:, j] += offset
        return np.sort(q, axis=1)

    def interval(self, q_pred: Any, coverage: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """The calibrated central interval of nominal ``coverage`` (its levels must be among the pairs)."""
        tau = round((1.0 - check_prob(coverage, "coverage")) / 2.0, 10)
        match = [i for i, lv in enumerate(self.quantiles) if abs(lv - tau) < 1e-9]
        if not match:
            raise ValueError(f"coverage={coverage}: level {tau} is not among quantiles {self.quantiles}")
        q = self.transform(q_pred)
        return q[:, match[0]], q[:, len(self.quantiles) - 1 - match[0]]


def _pairs(levels: tuple[float, ...]) -> list[tuple[int, int]]:
    n = len(levels)
    for i in range(n // 2):
        if abs(levels[i] + levels[n - 1 - i] - 1.0) > 1e-9:
            raise ValueError(f"quantiles={list(levels)!r}: expected levels symmetric around 0.5")
    return [(i, n - 1 - i) for i in range(n // 2)]
