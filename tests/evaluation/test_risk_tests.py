"""VaR/ES backtests against textbook likelihood ratios and behaviour under known truths."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml_attention_mechanisms.evaluation import (
    acerbi_szekely_z2,
    christoffersen_independence,
    exceedances,
    kupiec_pof,
    var_backtest,
)


def _chi2_1_sf(x: float) -> float:
    return math.erfc(math.sqrt(x / 2))  # chi-square with one degree of freedom


def test_kupiec_matches_the_textbook_ratio() -> None:
    hits = np.zeros(500, dtype=bool)
    hits[::40] = True  # 13 exceedances where 25 are expected at 95%
    n, x, p = 500, 13, 0.05
    lr = -2 * (
        (n - x) * math.log(1 - p) + x * math.log(p) - (n - x) * math.log(1 - x / n) - x * math.log(x / n)
    )
    got_lr, got_p = kupiec_pof(hits, 0.95)
    assert got_lr == pytest.approx(lr) and got_p == pytest.approx(_chi2_1_sf(lr))
    assert kupiec_pof(np.zeros(100, dtype=bool), 0.99)[0] == pytest.approx(-2 * 100 * math.log(0.99))


def test_kupiec_p_values_are_uniform_under_the_null() -> None:
    rng = np.random.default_rng(0)
    p_values = np.array([kupiec_pof(rng.random(1000) < 0.05, 0.95)[1] for _ in range(400)])
    assert 0.02 < np.mean(p_values < 0.05) < 0.09
    assert 0.4 < np.mean(p_values < 0.5) < 0.62  # discrete statistic: roughly uniform


def test_christoffersen_matches_the_textbook_ratio_and_detects_clusters() -> None:
    hits = np.array([0, 1, 1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 1, 0], dtype=bool)
    prev, cur = hits[:-1].astype(int), hits[1:].astype(int)
    n = {(i, j): int(np.sum((prev == i) & (cur == j))) for i in (0, 1) for j in (0, 1)}
    pi01 = n[0, 1] / (n[0, 0] + n[0, 1])
    pi11 = n[1, 1] / (n[1, 0] + n[1, 1])
    pi = (n[0, 1] + n[1, 1]) / 15
    lr = -2 * (
        (n[0, 0] + n[1, 0]) * math.log(1 - pi)
        + (n[0, 1] + n[1, 1]) * math.log(pi)
        - n[0, 0] * math.log(1 - pi01)
        - n[0, 1] * math.log(pi01)
        - n[1, 0] * math.log(1 - pi11)
        - n[1, 1] * math.log(pi11)
    )
    got_lr, got_p = christoffersen_independence(hits)
    assert got_lr == pytest.approx(lr) and got_p == pytest.approx(_chi2_1_sf(lr))

    rng = np.random.default_rng(1)
    iid = [christoffersen_independence(rng.random(1000) < 0.05)[1] for _ in range(200)]
    assert np.mean(np.array(iid) < 0.05) < 0.1
    clustered = np.zeros(1000, dtype=bool)  # a Markov chain: an exceedance makes the next one likely
    for t in range(1, 1000):
        clustered[t] = rng.random() < (0.5 if clustered[t - 1] else 0.03)
    assert christoffersen_independence(clustered)[1] < 0.01


def test_var_backtest_summary() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal(2000)
    out = var_backtest(x, np.full(2000, 1.6448536), 0.95)
    assert out["exceedance_rate"] == pytest.approx(np.mean(x < -1.6448536))
    assert out["kupiec_p"] > 0.01 and out["christoffersen_p"] > 0.01
    assert exceedances([-2.0, 0.0], [1.0, 1.0]).tolist() == [True, False]


def test_acerbi_szekely_z2_formula_and_power() -> None:
    level, n = 0.975, 2500
    z = -1.959963985  # N(0,1) 2.5% quantile
    var, es = np.full(n, -z), np.full(n, math.exp(-(z**2) / 2) / math.sqrt(2 * math.pi) / 0.025)
    rng = np.random.default_rng(3)
    x = rng.standard_normal(n)
    out = acerbi_szekely_z2(x, var, es, level, n_sims=500)
    hits = x < -var
    assert out["z2"] == pytest.approx(1 + np.sum(x[hits] / es[hits]) / (n * 0.025))
    assert out["p_value"] > 0.05  # the model is right
    heavy = rng.standard_t(3, n) / math.sqrt(3)  # same variance, fatter tails than the normal model
    bad = acerbi_szekely_z2(heavy, var, es, level, n_sims=500)
    assert bad["z2"] < 0 and bad["p_value"] < 0.05
    with pytest.raises(ValueError, match="es: expected es > var"):
        acerbi_szekely_z2(x, var, var, level)
    with pytest.raises(ValueError, match="sampler: returned shape"):
        acerbi_szekely_z2(x, var, es, level, n_sims=5, sampler=lambda g, s: g.standard_normal((s, 3)))
