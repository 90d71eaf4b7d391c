"""Split-conformal calibration of quantile intervals: conformalised quantile regression (CQR), on a fixed
calibration split or rolling causally over a live feed (:class:`RollingConformalCalibrator`).

Romano, Patterson and Candes (2019), "Conformalized Quantile Regression", NeurIPS. On a calibration
(validation) split, the conformity score of each point is ``E = max(lo - y, y - hi)``; the interval is
widened (or narrowed, when ``E`` is mostly negative) by the ``ceil((n+1)(1-alpha)) / n`` empirical quantile
of the scores, which gives finite-sample marginal coverage ``>= 1 - alpha`` on exchangeable test data.

Shapes:
    N: calibration points; M: test points; Q: quantile levels.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._checks import as_array, check_prob, check_same_length

__all__ = [
    "ConformalQuantileCalibrator",
    "RollingConformalCalibrator",
    "conformal_quantile",
    "cqr_apply",
    "cqr_offset",
]


def conformal_quantile(scores: np.ndarray, alpha: float) -> float:
    """The split-conformal quantile of ``n`` scores: their ``ceil((n + 1)(1 - alpha))``-th smallest (the
    largest when that rank passes ``n``)."""
    n = scores.shape[0]
    k = min(n, int(np.ceil((n + 1) * (1.0 - alpha))))
    return float(np.partition(scores, k - 1)[k - 1])


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


@dataclass(eq=False)
class RollingConformalCalibrator:
    """The causal rolling calibration of one asset's live forecasts, one bar at a time: the streaming form
    of the calibration ``mlattn evaluate`` and ``predict`` apply (equal to it bar for bar; tested).

    At each bar the calibration set is the forecasts of the last ``window`` bars whose outcome (the next
    bar's log return) is known. Each symmetric quantile pair is widened by the split-conformal quantile of
    its CQR scores ``max(lo - y, y - hi)``, each VaR (and its ES) scaled by the split-conformal ``1 - level``
    quantile of ``loss / VaR``. While fewer than ``min_rows`` outcomes are known, the stored calibration
    (fitted on the run's validation split) applies.

    Call :meth:`step` once per bar of the grid, bars without a price included.

    Attributes:
        quantile_levels: levels of the quantile forecasts, increasing, symmetric around 0.5.
        offsets: the stored CQR offset per pair, by its lower level.
        var_levels: tail probabilities of the VaR forecasts (0.05 for a 95% VaR).
        var_scale: the stored VaR/ES factor per tail probability.
        window: bars the calibration looks back over. Default: 720.
        min_rows: known outcomes that replace the stored calibration. Default: 168.

    >>> cal = RollingConformalCalibrator.from_calibration(
    ...     {"quantile_levels": [0.05, 0.5, 0.95], "cqr_offsets": {"0.05": 0.001}})
    >>> cal.step(None, quantiles=[-0.01, 0.0, 0.01])["quantiles"]
    array([-0.011,  0.   ,  0.011])
    """

    quantile_levels: tuple[float, ...]
    offsets: dict[float, float]
    var_levels: tuple[float, ...] = ()
    var_scale: dict[float, float] = field(default_factory=dict)
    window: int = 720
    min_rows: int = 168
    _bar: int = field(default=-1, init=False, repr=False)
    _pending: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False)
    _scores: dict[str, deque[tuple[int, float]]] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_calibration(
        cls, calibration: Mapping[str, Any], *, window: int = 720, min_rows: int = 168
    ) -> RollingConformalCalibrator:
        """From a run's ``calibration.json`` (``quantile_levels``, ``cqr_offsets``, ``var_levels``,
        ``var_scale``; a missing part is not calibrated)."""
        levels = tuple(float(v) for v in calibration.get("quantile_levels", ()))
        offsets = {float(k): float(v) for k, v in (calibration.get("cqr_offsets") or {}).items()}
        var_scale = {float(k): float(v) for k, v in (calibration.get("var_scale") or {}).items()}
        var_levels = tuple(float(v) for v in calibration.get("var_levels", tuple(var_scale)))
        return cls(levels, offsets, var_levels, var_scale, window=int(window), min_rows=int(min_rows))

    def step(
        self, outcome: float | None, *, quantiles: Any = None, var: Any = None, es: Any = None
    ) -> dict[str, np.ndarray]:
        """Take one bar: its log return since the last bar with a price (``None`` or NaN for a bar without
        a price), which resolves the previous bar's forecasts, then this bar's raw forecasts.

        Args:
            outcome: the bar's log return (the outcome of the forecasts given at the previous step).
            quantiles: this bar's raw quantiles of the next bar's log return, shape ``(Q,)``; None: none.
            var: this bar's raw VaR per tail probability of ``var_levels``, shape ``(Lv,)``; None: none.
            es: its expected shortfall, shape ``(Lv,)``, scaled with the VaR; None: none.

        Returns:
            The calibrated ``quantiles`` (sorted), ``var`` and ``es``: those given.

        Raises:
            ValueError: ``quantiles`` or ``var`` without one value per level (the bar is not taken).
        """
        given = {
            k: np.asarray(v, dtype=np.float64) for k, v in (("q", quantiles), ("var", var)) if v is not None
        }
        for key, name, levels in (("q", "quantiles", self.quantile_levels), ("var", "var", self.var_levels)):
            if key in given and given[key].shape != (len(levels),):
                raise ValueError(
                    f"RollingConformalCalibrator.step: {name} has shape {given[key].shape}, expected "
                    f"({len(levels)},): one value per level {list(levels)}"
                )
        self._bar += 1
        y = float("nan") if outcome is None else float(outcome)
        self._resolve(y)
        self._pending = given
        out: dict[str, np.ndarray] = {}
        if "q" in given:
            out["quantiles"] = self._intervals(given["q"])
        if "var" in given:
            factor = self._var_factors(given["var"])
            out["var"] = given["var"] * factor
            if es is not None:
                out["es"] = np.asarray(es, dtype=np.float64) * factor
        return out

    def _pairs(self) -> list[tuple[int, int]]:
        return _pairs(self.quantile_levels)

    def _resolve(self, y: float) -> None:
        """Score the previous bar's forecasts against ``y`` (no score without an outcome)."""
        row = self._bar - 1
        for key, values in self._pending.items():
            for k, score in enumerate(self._scores_of(key, values, y)):
                self._scores.setdefault(f"{key}{k}", deque()).append((row, score))
        for history in self._scores.values():  # keep the rows a later bar can still read
            while history and history[0][0] <= self._bar - 1 - self.window:
                history.popleft()

    def _scores_of(self, key: str, values: np.ndarray, y: float) -> list[float]:
        if key == "q":
            return [float(max(values[i] - y, y - values[j])) for i, j in self._pairs()]
        return [float(-y / v) if v > 0 else float("nan") for v in values]

    def _known(self, key: str) -> np.ndarray:
        """The finite scores of ``key`` from the last ``window`` bars before this one."""
        scores = np.array([s for _, s in self._scores.get(key, ())], dtype=np.float64)
        return scores[np.isfinite(scores)]

    def _intervals(self, q: np.ndarray) -> np.ndarray:
        out = q.copy()
        for k, (i, j) in enumerate(self._pairs()):
            known = self._known(f"q{k}")
            if known.size >= self.min_rows:
                shift = conformal_quantile(known, 2 * self.quantile_levels[i])
            else:
                shift = self.offsets.get(self.quantile_levels[i], 0.0)
            out[i], out[j] = q[i] - shift, q[j] + shift
        return np.sort(out)

    def _var_factors(self, var: np.ndarray) -> np.ndarray:
        factors = np.ones(var.shape[0])
        for k, level in enumerate(self.var_levels):
            known = self._known(f"var{k}")
            if known.size >= self.min_rows:
                factors[k] = conformal_quantile(known, level)
            else:
                factors[k] = self.var_scale.get(level, 1.0)
        return factors
