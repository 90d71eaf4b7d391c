"""Backtests of VaR and ES forecasts: exceedances, Kupiec, Christoffersen, Acerbi-Szekely.

Conventions (as :mod:`.baselines.risk`): VaR and ES are positive losses at confidence ``level``; the
realised return ``x[i]`` (the bar the forecast targets) is an exceedance when ``x[i] < -var[i]``.

References:
    Kupiec (1995), "Techniques for Verifying the Accuracy of Risk Measurement Models", J. Derivatives 3(2).
    Christoffersen (1998), "Evaluating Interval Forecasts", International Economic Review 39(4).
    Acerbi and Szekely (2014), "Backtesting Expected Shortfall", Risk, test 2 (Z2).

Shapes:
    N: forecasts; S: simulations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._import_guard import needs_extra
from ._checks import as_array, check_int, check_prob, check_same_length

__all__ = [
    "acerbi_szekely_z2",
    "christoffersen_independence",
    "exceedances",
    "kupiec_pof",
    "var_backtest",
]


def _xlogy(x: float, y: float) -> float:
    return 0.0 if x == 0 else x * float(np.log(y))


def _chi2_sf(stat: float, df: int) -> float:
    with needs_extra("eval"):
        from scipy.stats import chi2

    return float(chi2.sf(max(stat, 0.0), df))


def exceedances(realized: Any, var: Any) -> np.ndarray:
    """``realized < -var`` as a boolean array, shape ``(N,)``. Inputs must be finite."""
    x = as_array(realized, "realized", allow_nan=False)
    v = as_array(var, "var", allow_nan=False)
    check_same_length(realized=x, var=v)
    return x < -v


def _hits(hits: Any) -> np.ndarray:
    arr = np.asarray(getattr(hits, "to_numpy", lambda: hits)())
    if arr.ndim != 1 or arr.size == 0 or not np.isin(arr, (0, 1)).all():
        raise ValueError("hits: expected a non-empty 1-D array of booleans or 0/1")
    return arr.astype(bool)


def kupiec_pof(hits: Any, level: float) -> tuple[float, float]:
    """Kupiec's proportion-of-failures likelihood-ratio test.

    ``LR = -2 [ (n-x) ln(1-p) + x ln p - (n-x) ln(1-x/n) - x ln(x/n) ]`` with ``p = 1 - level``,
    ``x`` exceedances in ``n`` bars; ``LR ~ chi2(1)`` under a correct VaR.

    Returns:
        ``(lr, p_value)``.
    """
    h = _hits(hits)
    p = 1.0 - check_prob(level, "level")
    n, x = h.size, int(h.sum())
    phat = x / n
    null = _xlogy(n - x, 1 - p) + _xlogy(x, p)
    alt = _xlogy(n - x, 1 - phat) + _xlogy(x, phat)
    lr = -2.0 * (null - alt)
    return lr, _chi2_sf(lr, 1)


def christoffersen_independence(hits: Any) -> tuple[float, float]:
    """Christoffersen's test that exceedances are independent (first-order Markov alternative).

    With transition counts ``n_ij`` (state i at t-1 -> j at t), ``pi01 = n01/(n00+n01)``,
    ``pi11 = n11/(n10+n11)``, ``pi = (n01+n11)/(n-1)``:
    ``LR = -2 [ (n00+n10) ln(1-pi) + (n01+n11) ln pi - n00 ln(1-pi01) - n01 ln pi01 - n10 ln(1-pi11) -
    n11 ln pi11 ]`` ~ chi2(1).

    Returns:
        ``(lr, p_value)``; ``(0, 1)`` when there are no transitions to test (no or only exceedances).
    """
    h = _hits(hits).astype(np.int64)
    prev, cur = h[:-1], h[1:]
    n00 = int(np.sum((prev == 0) & (cur == 0)))
    n01 = int(np.sum((prev == 0) & (cur == 1)))
    n10 = int(np.sum((prev == 1) & (cur == 0)))
    n11 = int(np.sum((prev == 1) & (cur == 1)))
    total = n00 + n01 + n10 + n11
    if total == 0 or n01 + n11 in (0, total):
        return 0.0, 1.0
    pi = (n01 + n11) / total
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    null = _xlogy(n00 + n10, 1 - pi) + _xlogy(n01 + n11, pi)
    alt = _xlogy(n00, 1 - pi01) + _xlogy(n01, pi01) + _xlogy(n10, 1 - pi11) + _xlogy(n11, pi11)
    lr = -2.0 * (null - alt)
    return lr, _chi2_sf(lr, 1)


def var_backtest(realized: Any, var: Any, level: float) -> dict[str, float]:
    """Exceedance rate, Kupiec and Christoffersen tests (and their sum, conditional coverage) of a VaR.

    Returns:
        ``{"level", "n", "n_exceedances", "exceedance_rate", "expected_rate", "kupiec_lr", "kupiec_p",
        "christoffersen_lr", "christoffersen_p", "conditional_coverage_p"}``.
    """
    hits = exceedances(realized, var)
    lr_pof, p_pof = kupiec_pof(hits, level)
    lr_ind, p_ind = christoffersen_independence(hits)
    return {
        "level": float(level),
        "n": float(hits.size),
        "n_exceedances": float(hits.sum()),
        "exceedance_rate": float(hits.mean()),
        "expected_rate": 1.0 - float(level),
        "kupiec_lr": lr_pof,
        "kupiec_p": p_pof,
        "christoffersen_lr": lr_ind,
        "christoffersen_p": p_ind,
        "conditional_coverage_p": _chi2_sf(lr_pof + lr_ind, 2),
    }


def _z2(x: np.ndarray, var: np.ndarray, es: np.ndarray, tail: float) -> np.ndarray:
    # x: (..., N). Z2 = 1 - sum_t x_t I_t / (N * tail * ES_t) with ES > 0, I_t = 1{x_t < -VaR_t}.
    hits = x < -var
    return 1.0 + np.sum(np.where(hits, x / es, 0.0), axis=-1) / (x.shape[-1] * tail)


def acerbi_szekely_z2(
    realized: Any,
    var: Any,
    es: Any,
    level: float,
    *,
    sampler: Callable[[np.random.Generator, int], np.ndarray] | None = None,
    n_sims: int = 2000,
    seed: int = 0,
) -> dict[str, float]:
    """Acerbi-Szekely test 2 of an ES forecast, with a p-value simulated under the forecast model.

    ``Z2 = 1 - sum_t x_t 1{x_t < -VaR_t} / (N (1-level) ES_t)``; ``E[Z2] = 0`` when the model is right,
    and a negative value means the risk is underestimated. The p-value is the share of ``Z2`` computed on
    returns simulated from the model that are ``<= `` the observed one (one-sided).

    Args:
        realized: realised returns, shape ``(N,)``.
        var: VaR forecasts (positive losses), shape ``(N,)``.
        es: ES forecasts (positive losses, ``es >= var``), shape ``(N,)``.
        level: VaR/ES confidence, e.g. 0.975.
        sampler: ``sampler(rng, n_sims) -> (n_sims, N)`` returns drawn from the model's predictive
            distributions. Default: for each bar the normal distribution whose VaR and ES at ``level`` equal
            the forecasts (``sigma = (ES - VaR) / (phi(z) / (1-level) + z)``, ``mu = -VaR - sigma z``,
            ``z = Phi^-1(1-level)``).
        n_sims: simulations. Default: 2000.
        seed: random seed. Default: 0.

    Returns:
        ``{"z2", "p_value", "n_exceedances"}``.

    Raises:
        ValueError: lengths differ, ``es < var`` somewhere with the default sampler, or a bad sample shape.
    """
    with needs_extra("eval"):
        from scipy.stats import norm

    x = as_array(realized, "realized", allow_nan=False)
    v = as_array(var, "var", allow_nan=False)
    e = as_array(es, "es", allow_nan=False)
    check_same_length(realized=x, var=v, es=e)
    tail = 1.0 - check_prob(level, "level")
    n_sims = check_int(n_sims, "n_sims")
    if (e <= 0).any():
        raise ValueError("es: expected positive expected shortfalls")
    rng = np.random.default_rng(seed)
    if sampler is None:
        if (e <= v).any():
            raise ValueError(f"es: expected es > var everywhere (index {int(np.flatnonzero(e <= v)[0])})")
        z = float(norm.ppf(tail))
        sigma = (e - v) / (float(norm.pdf(z)) / tail + z)
        mu = -v - sigma * z
        sims = mu + sigma * rng.standard_normal((n_sims, x.shape[0]))
    else:
        sims = np.asarray(sampler(rng, n_sims), dtype=np.float64)
        if sims.shape != (n_sims, x.shape[0]):
            raise ValueError(f"sampler: returned shape {sims.shape}, expected {(n_sims, x.shape[0])}")
    observed = float(_z2(x, v, e, tail))
    simulated = _z2(sims, v, e, tail)
    return {
        "z2": observed,
        "p_value": float((np.sum(simulated <= observed) + 1) / (n_sims + 1)),
        "n_exceedances": float(np.sum(x < -v)),
    }
