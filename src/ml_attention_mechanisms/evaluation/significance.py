"""Tests of significance: Diebold-Mariano, block-bootstrap Sharpe intervals, the deflated Sharpe ratio.

References:
    Diebold and Mariano (1995), "Comparing Predictive Accuracy", JBES 13(3); Harvey, Leybourne and
    Newbold (1997) small-sample correction; Newey and West (1987) HAC variance.
    Politis and Romano (1992), circular block bootstrap.
    Bailey and Lopez de Prado (2014), "The Deflated Sharpe Ratio: Correcting for Selection Bias, Backtest
    Overfitting and Non-Normality", J. Portfolio Management 40(5).

Shapes:
    N: observations (losses or per-bar returns).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .._import_guard import needs_extra
from ._checks import as_array, check_int, check_prob, check_same_length, values_of

__all__ = [
    "block_bootstrap_sharpe_ci",
    "block_bootstrap_sharpe_difference",
    "deflated_sharpe_ratio",
    "diebold_mariano",
    "expected_max_sharpe",
    "newey_west_variance",
    "probabilistic_sharpe_ratio",
    "sharpe_ratio",
    "sharpe_summary",
]

_EULER_GAMMA = 0.5772156649015329


def newey_west_variance(x: np.ndarray, max_lag: int) -> float:
    """Long-run variance of ``x``: ``gamma_0 + 2 sum_{k=1}^{L} (1 - k/(L+1)) gamma_k`` (Bartlett weights),
    autocovariances with divisor ``N``."""
    d = x - x.mean()
    n = d.shape[0]
    lrv = float(d @ d) / n
    for k in range(1, min(max_lag, n - 1) + 1):
        lrv += 2.0 * (1.0 - k / (max_lag + 1)) * float(d[k:] @ d[:-k]) / n
    return lrv


def diebold_mariano(
    loss_a: Any, loss_b: Any, *, horizon: int = 1, max_lag: int | None = None, hln: bool = True
) -> dict[str, float]:
    """Diebold-Mariano test of equal expected loss, ``d = loss_a - loss_b``, with a HAC variance.

    ``DM = mean(d) / sqrt(LRV / N)``, ``LRV`` the Newey-West long-run variance of ``d``. With ``hln`` the
    statistic is scaled by ``sqrt((N + 1 - 2h + h(h-1)/N) / N)`` and compared with Student's t(N-1);
    otherwise with the standard normal. Negative = ``a`` has the lower loss.

    Args:
        loss_a: per-forecast losses of model a, shape ``(N,)``.
        loss_b: losses of model b on the same targets, shape ``(N,)``.
        horizon: forecast horizon h (overlapping targets are autocorrelated up to lag h-1). Default: 1.
        max_lag: HAC truncation. Default: ``max(h - 1, floor(4 (N/100)^(2/9)))``.
        hln: Harvey-Leybourne-Newbold correction. Default: True.

    Returns:
        ``{"statistic", "p_value" (two-sided), "mean_difference", "max_lag", "n"}``.

    Raises:
        ValueError: lengths differ, fewer than 10 observations, or ``d`` with zero variance.
    """
    with needs_extra("eval"):
        from scipy.stats import norm, t

    a = as_array(loss_a, "loss_a", allow_nan=False, min_len=10)
    b = as_array(loss_b, "loss_b", allow_nan=False, min_len=10)
    n = check_same_length(loss_a=a, loss_b=b)
    h = check_int(horizon, "horizon")
    lag = (
        max(h - 1, int(4 * (n / 100.0) ** (2.0 / 9.0)))
        if max_lag is None
        else check_int(max_lag, "max_lag", minimum=0)
    )
    d = a - b
    lrv = newey_west_variance(d, lag)
    if lrv <= 0:
        raise ValueError("loss_a - loss_b: zero (or negative HAC) variance; the losses are identical")
    stat = float(d.mean() / np.sqrt(lrv / n))
    if hln:
        stat *= float(np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n))
        p = 2.0 * float(t.sf(abs(stat), df=n - 1))
    else:
        p = 2.0 * float(norm.sf(abs(stat)))
    return {
        "statistic": stat,
        "p_value": p,
        "mean_difference": float(d.mean()),
        "max_lag": float(lag),
        "n": float(n),
    }


def sharpe_ratio(returns: Any, periods_per_year: int = 8760) -> float:
    """Annualised Sharpe ratio ``mean / std * sqrt(periods_per_year)`` of per-bar returns (NaN if std=0)."""
    r = as_array(returns, "returns", allow_nan=False, min_len=2)
    std = float(r.std(ddof=1))
    return float(r.mean() / std * np.sqrt(periods_per_year)) if std > 0 else float("nan")


def block_bootstrap_sharpe_ci(
    returns: Any,
    *,
    confidence: float = 0.95,
    n_boot: int = 1000,
    block_len: int | None = None,
    periods_per_year: int = 8760,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile confidence interval of the annualised Sharpe ratio by circular block bootstrap.

    Resamples blocks of ``block_len`` consecutive bars (wrapping around), which keeps the short-range
    dependence of intraday returns.

    Args:
        returns: per-bar returns, shape ``(N,)``.
        confidence: interval level. Default: 0.95.
        n_boot: bootstrap samples. Default: 1000.
        block_len: bars per block. Default: ``round(N^(1/3))``.
        periods_per_year: annualisation. Default: 8760.
        seed: random seed. Default: 0.

    Returns:
        ``(low, high)``.
    """
    r = as_array(returns, "returns", allow_nan=False, min_len=10)
    confidence, n_boot = check_prob(confidence, "confidence"), check_int(n_boot, "n_boot")
    sharpes = np.empty(n_boot)
    for rows, idx in _block_samples(r.shape[0], n_boot, block_len, seed):
        sharpes[rows] = _sharpes(r[idx])
    sharpes *= np.sqrt(periods_per_year)
    tail = (1.0 - confidence) / 2.0
    low, high = np.nanquantile(sharpes, [tail, 1.0 - tail])
    return float(low), float(high)


def block_bootstrap_sharpe_difference(
    returns: Any,
    other: Any,
    *,
    confidence: float = 0.9,
    n_boot: int = 1000,
    block_len: int | None = None,
    periods_per_year: int = 8760,
    seed: int = 0,
) -> dict[str, float]:
    """The difference of two strategies' annualised Sharpe ratios on the same bars, and its percentile
    interval by circular block bootstrap of the bars (both strategies resampled at the same bars, so their
    common moves cancel).

    With several columns (``K`` assets: one strategy per asset) the difference is that of the mean Sharpe
    ratios over the columns, the bars resampled together.

    Args:
        returns: per-bar returns of the first strategy, shape ``(N,)`` or ``(N, K)``.
        other: the second strategy's, the same shape.
        confidence: interval level. Default: 0.9.
        n_boot: bootstrap samples. Default: 1000.
        block_len: bars per block. Default: ``round(N^(1/3))``.
        periods_per_year: annualisation. Default: 8760.
        seed: random seed. Default: 0.

    Returns:
        ``{"difference", "low", "high", "confidence"}``: ``mean Sharpe(returns) - mean Sharpe(other)``.

    Raises:
        ValueError: shapes that differ, non-finite returns or fewer than 10 bars.
    """
    ndim = np.ndim(values_of(returns))
    a = as_array(returns, "returns", ndim=2 if ndim == 2 else 1, allow_nan=False, min_len=10)
    b = as_array(other, "other", ndim=a.ndim, allow_nan=False, min_len=10)
    if a.shape != b.shape:
        raise ValueError(f"returns {a.shape} and other {b.shape}: expected one shape, (N,) or (N, K)")
    confidence, n_boot = check_prob(confidence, "confidence"), check_int(n_boot, "n_boot")
    a2, b2 = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    root = np.sqrt(periods_per_year)

    def difference(x: np.ndarray, y: np.ndarray) -> np.ndarray:  # (..., N, K) -> (...)
        return (np.nanmean(_sharpes(x, axis=-2), axis=-1) - np.nanmean(_sharpes(y, axis=-2), axis=-1)) * root

    diffs = np.empty(n_boot)
    for rows, idx in _block_samples(a2.shape[0], n_boot, block_len, seed):
        diffs[rows] = difference(a2[idx], b2[idx])
    tail = (1.0 - confidence) / 2.0
    low, high = np.nanquantile(diffs, [tail, 1.0 - tail])
    point = float(difference(a2, b2))
    return {"difference": point, "low": float(low), "high": float(high), "confidence": confidence}


def _sharpes(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Per-bar Sharpe ratios ``mean / std`` along ``axis`` (NaN where std is 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        std = x.std(axis=axis, ddof=1)
        return np.where(std > 0, x.mean(axis=axis) / np.where(std > 0, std, 1.0), np.nan)


def _block_samples(
    n: int, n_boot: int, block_len: int | None, seed: int
) -> Iterator[tuple[slice, np.ndarray]]:
    """Circular block-bootstrap row indices of ``n`` bars, in chunks: ``(rows of the n_boot samples, indices
    (chunk, n))``; blocks of ``block_len`` consecutive bars (default ``round(n^(1/3))``), wrapping around."""
    block = max(1, round(n ** (1 / 3))) if block_len is None else check_int(block_len, "block_len")
    n_blocks = -(-n // block)
    rng = np.random.default_rng(seed)
    offsets = np.arange(block)
    for lo in range(0, n_boot, 100):  # chunks bound the (chunk, N) index array
        hi = min(n_boot, lo + 100)
        starts = rng.integers(0, n, size=(hi - lo, n_blocks))
        yield slice(lo, hi), ((starts[:, :, None] + offsets) % n).reshape(hi - lo, -1)[:, :n]


def probabilistic_sharpe_ratio(
    sharpe: float, n_obs: int, *, skew: float = 0.0, kurtosis: float = 3.0, benchmark: float = 0.0
) -> float:
    """``P(true SR > benchmark)``: ``Phi((SR - SR*) sqrt(N-1) / sqrt(1 - skew SR + (kurtosis-1)/4 SR^2))``.

    ``sharpe`` and ``benchmark`` are per-period (not annualised); ``kurtosis`` is the plain (not excess)
    kurtosis of the returns, 3 for normal ones.
    """
    with needs_extra("eval"):
        from scipy.stats import norm

    n_obs = check_int(n_obs, "n_obs", minimum=2)
    denom = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if denom <= 0:
        raise ValueError(f"skew={skew}, kurtosis={kurtosis}: give a non-positive variance term {denom}")
    return float(norm.cdf((sharpe - benchmark) * np.sqrt(n_obs - 1) / np.sqrt(denom)))


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """Expected maximum of ``n_trials`` zero-skill Sharpe estimates with variance ``sharpe_variance``:
    ``sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e)))``, ``g`` Euler-Mascheroni; 0 for N = 1."""
    with needs_extra("eval"):
        from scipy.stats import norm

    n_trials = check_int(n_trials, "n_trials")
    if n_trials == 1:
        return 0.0
    return float(
        np.sqrt(sharpe_variance)
        * (
            (1 - _EULER_GAMMA) * norm.ppf(1 - 1.0 / n_trials)
            + _EULER_GAMMA * norm.ppf(1 - 1.0 / (n_trials * np.e))
        )
    )


def deflated_sharpe_ratio(
    returns: Any,
    *,
    n_trials: int,
    trial_sharpes: Sequence[float] | None = None,
    sharpe_variance: float | None = None,
) -> dict[str, float]:
    """Deflated Sharpe ratio: the probabilistic Sharpe ratio against the expected maximum of ``n_trials``.

    Args:
        returns: per-bar returns of the selected strategy, shape ``(N,)``.
        n_trials: configurations tried before choosing this one.
        trial_sharpes: per-period Sharpe ratios of all trials, used for their variance.
        sharpe_variance: the trials' per-period Sharpe variance, if known directly. Default (neither
            given): ``1 / (N - 1)``, the sampling variance of a zero-skill Sharpe estimate.

    Returns:
        ``{"sharpe_per_period", "benchmark_sharpe", "deflated_sharpe", "n_trials", "skew", "kurtosis"}``;
        ``deflated_sharpe`` is a probability.
    """
    r = as_array(returns, "returns", allow_nan=False, min_len=10)
    n = r.shape[0]
    std = float(r.std(ddof=1))
    sr = float(r.mean() / std) if std > 0 else 0.0
    z = (r - r.mean()) / (r.std() if r.std() > 0 else 1.0)
    skew, kurt = float(np.mean(z**3)), float(np.mean(z**4))
    if sharpe_variance is None:
        sharpe_variance = (
            float(np.var(trial_sharpes, ddof=1))
            if trial_sharpes is not None and len(trial_sharpes) > 1
            else 1.0 / (n - 1)
        )
    benchmark = expected_max_sharpe(n_trials, sharpe_variance)
    return {
        "sharpe_per_period": sr,
        "benchmark_sharpe": benchmark,
        "deflated_sharpe": probabilistic_sharpe_ratio(sr, n, skew=skew, kurtosis=kurt, benchmark=benchmark),
        "n_trials": float(n_trials),
        "skew": skew,
        "kurtosis": kurt,
    }


def sharpe_summary(
    returns: Any,
    *,
    n_configs: int,
    periods_per_year: int = 8760,
    n_boot: int = 1000,
    block_len: int | None = None,
    confidence: float = 0.95,
    trial_sharpes: Sequence[float] | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """A Sharpe ratio as it should be reported: with its bootstrap interval, the number of configurations
    tried and the deflated Sharpe ratio.

    Returns:
        ``{"sharpe", "sharpe_ci_low", "sharpe_ci_high", "n_configs_tried", "deflated_sharpe"}``.
    """
    low, high = block_bootstrap_sharpe_ci(
        returns,
        confidence=confidence,
        n_boot=n_boot,
        block_len=block_len,
        periods_per_year=periods_per_year,
        seed=seed,
    )
    dsr = deflated_sharpe_ratio(
        returns, n_trials=check_int(n_configs, "n_configs"), trial_sharpes=trial_sharpes
    )
    return {
        "sharpe": sharpe_ratio(returns, periods_per_year),
        "sharpe_ci_low": low,
        "sharpe_ci_high": high,
        "n_configs_tried": float(n_configs),
        "deflated_sharpe": dsr["deflated_sharpe"],
    }
