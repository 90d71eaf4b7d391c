"""Scoring a run's strategies, sized by the variance forecast, through the evaluation suite (references
computed here)."""

from __future__ import annotations

import numpy as np
import pytest
from _recipe_helpers import fake_data

from ml_attention_mechanisms.evaluation import BacktestConfig, VolTargetConfig
from ml_attention_mechanisms.recipes._score import score_strategies
from ml_attention_mechanisms.recipes._sizing import Sizing


def _sizing(target_vol: float) -> Sizing:
    cfg = VolTargetConfig(target_vol=target_vol)
    return Sizing(
        {"signal": cfg, "buy_and_hold_vol_target": cfg},
        {"signal": [{"score": 1.0}] * 3},
        "planted",
        "planted",
    )


def test_always_buy_signal_matches_buy_and_hold_but_for_the_entry_fee() -> None:
    rng = np.random.default_rng(5)
    r = rng.normal(0.0002, 0.01, (1500, 2))
    data = fake_data(r, 1000)
    calm = np.full((1500, 2), 1e-8)  # a forecast so calm that every position hits the cap of 1
    out = score_strategies(data, {"BTC": np.ones(1500)}, None, config=BacktestConfig(fee_bps=0.0),
                           sizing=_sizing(0.5), variance=calm, n_configs={"signal": 3}, n_boot=50)  # fmt: skip
    block = out["signal_BTC"]
    assert block["model"]["sharpe"] == pytest.approx(block["baselines"]["buy_and_hold"]["sharpe"], rel=1e-9)
    assert block["model"]["n_configs_tried"] == 3
    assert set(block["baselines"]) == {"buy_and_hold", "momentum_24", "buy_and_hold_vol_target"}
    expected = np.exp(r[1001:, 0]).prod() - 1.0  # held from the close of the first test bar
    assert block["model"]["net_return"] == pytest.approx(expected, rel=1e-9)


def test_signal_is_sized_by_the_variance_forecast() -> None:
    rng = np.random.default_rng(6)
    r = rng.normal(0.0002, 0.01, (1500, 2))
    data = fake_data(r, 1000)
    variance = np.full((1500, 2), 24 * 1e-4)  # 0.936 a year: a target of 0.3 holds 0.3 / 0.936
    signal = np.where(np.arange(1500) < 1200, 1.0, -1.0)  # long, then sell (flat: long/flat)
    out = score_strategies(data, {"BTC": signal}, None, config=BacktestConfig(fee_bps=10.0),
                           sizing=_sizing(0.3), variance=variance, n_configs={}, n_boot=50)  # fmt: skip
    size = 0.3 / np.sqrt(1e-4 * 24 * 365)
    held = np.where(np.arange(1000, 1499) < 1200, size, 0.0)  # decided at t, earns bar t+1
    net = held * np.expm1(r[1001:, 0]) - 0.001 * np.abs(np.diff(np.r_[0.0, held]))
    assert out["signal_BTC"]["model"]["net_return"] == pytest.approx(np.prod(1 + net) - 1, rel=1e-9)


def test_the_variance_anchor_is_scored_beside_the_model_on_its_rows() -> None:
    """``variance_anchor`` is 24 x the asset's scale on the rows the model forecast: a model whose forecast is
    exactly that scores the same QLIKE on the same rows; one 1.5 times as large scores another."""
    from ml_attention_mechanisms.recipes._score import score_assets

    rng = np.random.default_rng(7)
    n = 1500
    r = rng.normal(0.0, 0.01, (n, 2))
    data = fake_data(r, 1000)
    scale = np.exp(rng.normal(np.log(1e-4), 0.3, (2, n)))  # per-bar variance forecasts [A, T]
    mask = np.ones((2, n), dtype=bool)
    mask[0, 1100:1105] = False  # absent bars: no scale, no forecast
    data.prepared.mask, data.prepared.scale = mask, np.where(mask, scale, 1.0)
    exact = np.where(mask[0], 24 * scale[0], np.nan)
    exact[1300:1310] = np.nan  # bars the model did not forecast
    for factor, same in ((1.0, True), (1.5, False)):
        out = score_assets(data, {"BTC": {"variance": factor * exact}}, {}, quantile_levels=(), var_levels=(),
                           refit_every=500, n_sims=10)  # fmt: skip
        vol = out["BTC"]["volatility"]
        assert vol["variance_anchor"]["n"] == vol["model"]["n"] == n - 1000 - 24 - 15
        assert (vol["variance_anchor"]["qlike"] == pytest.approx(vol["model"]["qlike"], rel=1e-12)) is same


def test_the_empirical_quantiles_are_scored_with_the_models_calibration_beside_it() -> None:
    """``empirical_quantile_calibrated``: the 720-bar empirical quantiles of the asset's returns from its
    first bar, with the rolling calibration of the model's intervals, scored on the model's rows."""
    from ml_attention_mechanisms.evaluation import quantile_scores, rolling_quantile_forecast
    from ml_attention_mechanisms.recipes._calibration import rolling_calibrated_quantiles
    from ml_attention_mechanisms.recipes._score import CALIBRATED_EMPIRICAL, score_assets

    rng = np.random.default_rng(5)
    n, levels = 2200, (0.05, 0.25, 0.5, 0.75, 0.95)
    sigma = np.exp(np.cumsum(rng.normal(0, 0.03, n))) * 0.01
    r = (sigma[:, None] * rng.standard_t(5, (n, 2))).astype(np.float64)
    data = fake_data(r, 1500)
    q = sigma[:, None] * np.array([-1.7, -0.7, 0.0, 0.7, 1.7])
    out = score_assets(data, {"BTC": {"quantiles": q, "quantiles_raw": 0.9 * q}}, {}, quantile_levels=levels,
                       var_levels=(), refit_every=500, n_sims=10)  # fmt: skip
    table = out["BTC"]["interval90"]
    assert table[CALIBRATED_EMPIRICAL]["n"] == table["model"]["n"] == table["empirical_quantile"]["n"] > 0
    expected = rolling_calibrated_quantiles(rolling_quantile_forecast(r[:, 0], levels), r[:, 0], list(levels))
    rows = slice(1500, n - 1)  # the test rows whose next bar is known
    reference = quantile_scores(r[1501:, 0], expected[rows], list(levels))
    assert table[CALIBRATED_EMPIRICAL]["coverage"] == pytest.approx(reference["coverage"], rel=1e-12)
    assert table[CALIBRATED_EMPIRICAL]["width"] == pytest.approx(reference["width"], rel=1e-12)
    assert table[CALIBRATED_EMPIRICAL]["width"] != pytest.approx(
        table["empirical_quantile"]["width"], rel=1e-3
    )
