"""The demo pipeline's own pieces: validation-only calibrations, data helpers, the learner's causal inputs,
strategies through the suite, shortfall sentences and the terminal table (references computed here)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ml_attention_mechanisms.evaluation.criteria import evaluate_bar
from ml_attention_mechanisms.recipes import DemoConfig
from ml_attention_mechanisms.recipes._calibration import (
    apply_calibration,
    fit_calibration,
    var_scale,
    variance_scale,
)
from ml_attention_mechanisms.recipes._data import DemoData, log_returns, subsample
from ml_attention_mechanisms.recipes._learner import learner_inputs
from ml_attention_mechanisms.recipes._report import shortfalls, terminal_table
from ml_attention_mechanisms.recipes._score import score_strategies


def _qlike(y: np.ndarray, f: np.ndarray) -> float:
    return float(np.mean(y / f - np.log(y / f) - 1.0))


def test_variance_scale_minimises_qlike() -> None:
    rng = np.random.default_rng(0)
    f = rng.uniform(0.5, 2.0, 4000)
    y = 3.0 * f * rng.chisquare(4, 4000) / 4
    c = variance_scale(y, f)
    grid = np.linspace(0.5 * c, 1.5 * c, 201)
    best = grid[np.argmin([_qlike(y, g * f) for g in grid])]
    assert abs(c - best) <= grid[1] - grid[0]
    assert _qlike(y, c * f) <= _qlike(y, f)


@pytest.mark.parametrize("level", [0.05, 0.01])
def test_var_scale_hits_the_level_on_calibration_rows(level: float) -> None:
    rng = np.random.default_rng(1)
    sigma = rng.uniform(0.5, 2.0, 20000)
    loss = sigma * rng.standard_t(4, 20000)
    s = var_scale(loss, sigma, level)
    rate = float(np.mean(loss > s * sigma))
    assert abs(rate - level) <= 2.0 / 20000 + 1e-12


def test_fit_and_apply_calibration_cover_fresh_data() -> None:
    rng = np.random.default_rng(2)
    n = 6000
    r = rng.normal(0, 0.01, n)
    levels = (0.05, 0.25, 0.5, 0.75, 0.95)
    too_narrow = np.tile(np.array([-1.0, -0.4, 0.0, 0.4, 1.0]) * 0.008, (n, 1))  # true 5/95%: +-0.0164
    forecast = {"quantiles": too_narrow, "variance": np.full(n, 1e-4), "var": np.full((n, 2), 0.01),
                "es": np.full((n, 2), 0.012)}  # fmt: skip
    rows = np.zeros(n, dtype=bool)
    rows[: n // 2] = True
    cal = fit_calibration({"BTC": forecast}, {"BTC": r}, rows, quantile_levels=levels, var_levels=(0.05, 0.01),
                          horizon=24)  # fmt: skip
    out = apply_calibration(forecast, cal)
    y = np.r_[r[1:], np.nan]
    test = ~rows & np.isfinite(y)
    raw_cov = np.mean((y[test] >= too_narrow[test, 0]) & (y[test] <= too_narrow[test, -1]))
    cov = np.mean((y[test] >= out["quantiles"][test, 0]) & (y[test] <= out["quantiles"][test, -1]))
    assert raw_cov < 0.8 and abs(cov - 0.9) < 0.02
    np.testing.assert_allclose(out["quantiles_raw"], too_narrow)
    # the 24-bar variance scale is the validation mean of target / forecast
    rv = np.array([np.sum(r[t + 1 : t + 25] ** 2) if t + 24 < n else np.nan for t in range(n)])
    assert cal["variance_scale"] == pytest.approx(np.nanmean(rv[rows] / 1e-4), rel=1e-9)
    np.testing.assert_allclose(out["variance"], 1e-4 * cal["variance_scale"])
    exceed = np.mean(-y[test] > out["var"][test, 0])
    assert abs(exceed - 0.05) < 0.015


def test_log_returns_and_gaps() -> None:
    close = np.array([[100.0, 101.0, np.nan, 99.0, 100.0]])
    r = log_returns(close)
    assert r.shape == (5, 1)
    np.testing.assert_allclose(r[:, 0], [0.0, np.log(1.01), 0.0, 0.0, np.log(100 / 99)])


def test_subsample_is_fixed_sorted_and_sized() -> None:
    data = list(range(100))
    a, b = subsample(data, 10, seed=3), subsample(data, 10, seed=3)  # type: ignore[arg-type]
    assert list(a.indices) == list(b.indices) == sorted(a.indices) and len(a) == 10  # type: ignore[attr-defined]
    assert subsample(data, None, 0) is data and subsample(data, 500, 0) is data  # type: ignore[arg-type]


def test_learner_inputs_are_causal() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    mask = np.ones(200, dtype=bool)
    base = learner_inputs(x, mask)
    y = x.copy()
    y[121:] = rng.normal(size=(79, 3))
    moved = learner_inputs(y, mask)
    np.testing.assert_array_equal(base[:121], moved[:121])
    np.testing.assert_allclose(base[120, 3:6], x[97:121].mean(0), rtol=1e-6)  # mean of the last 24 bars
    np.testing.assert_array_equal(base[120, 6:], x[96])  # the bar 24 before


def _fake_data(r: np.ndarray, test_start: int) -> DemoData:
    n = r.shape[0]
    ts = 1_600_000_000 // 86400 * 86400 + 3600 * np.arange(n, dtype=np.int64)
    prepared = SimpleNamespace(symbols=("BTC/USDT", "ETH/USDT"), timestamps=ts)
    return DemoData(prepared=prepared, split=None, returns=r, val_start=test_start // 2,
                    test_start=test_start, test_end=n)  # fmt: skip


def test_always_buy_signal_matches_buy_and_hold_but_for_the_entry_fee() -> None:
    from ml_attention_mechanisms.evaluation import BacktestConfig

    rng = np.random.default_rng(5)
    r = rng.normal(0.0002, 0.01, (1500, 2))
    data = _fake_data(r, 1000)
    out = score_strategies(data, {"BTC": np.ones(1500)}, None, config=BacktestConfig(fee_bps=0.0),
                           n_configs={"signal": 3}, n_boot=50)  # fmt: skip
    block = out["signal_BTC"]
    assert block["model"]["sharpe"] == pytest.approx(block["baselines"]["buy_and_hold"]["sharpe"], rel=1e-9)
    assert block["model"]["n_configs_tried"] == 3
    expected = np.exp(r[1001:, 0]).prod() - 1.0  # held from the close of the first test bar
    assert block["model"]["net_return"] == pytest.approx(expected, rel=1e-9)


def _planted_metrics() -> dict[str, object]:
    good = {"volatility": {"model": {"qlike": 0.5}, "har_rv": {"qlike": 1.0}, "garch": {"qlike": 0.9}},
            "interval90": {"model": {"coverage": 0.9, "width": 0.01}, "empirical_quantile": {"width": 0.02,
                                                                                            "coverage": 0.9}},
            "var95": {"kupiec_p": 0.5, "christoffersen_p": 0.5, "exceedance_rate": 0.05},
            "var99": {"kupiec_p": 0.01, "christoffersen_p": 0.5, "exceedance_rate": 0.03}}  # fmt: skip
    return {"assets": {"BTC": good}, "strategies": {"portfolio": {"model": {"sharpe": 1.0},
            "baselines": {"equal_weight": {"sharpe": 2.0}}}}}  # fmt: skip


def test_shortfalls_and_table_name_every_failed_criterion() -> None:
    metrics = _planted_metrics()
    bar = evaluate_bar(metrics, assets=("BTC",), strategy_kinds=("portfolio",))  # type: ignore[arg-type]
    metrics["bar"] = bar
    lines = shortfalls(bar)
    assert len(lines) == 2 and "var99 FAILS" in lines[0] and "strategy_portfolio FAILS" in lines[1]
    table = terminal_table(metrics)
    assert "the bar: 3 of 5 criteria pass" in table
    assert table.count("PASS") == 3 and table.count("FAIL") == 2


def test_demo_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="models"):
        DemoConfig(models=("nope",))
    with pytest.raises(ValueError, match="window"):
        DemoConfig(window=1)
    assert DemoConfig.quick().window < DemoConfig().window


def test_load_files_panel_refuses_bad_ranges(tmp_path: object) -> None:
    from pathlib import Path

    from ml_attention_mechanisms.recipes._files import load_files_panel

    path = Path(str(tmp_path)) / "BTCUSDT_1h.csv"
    t = 1_600_000_000 // 3600 * 3600 + 3600 * np.arange(60)
    close = 100 + np.arange(60.0)
    rows = [f"{a},{c},{c + 1},{c - 1},{c},10" for a, c in zip(t, close)]
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="after --end"):
        load_files_panel([path], scaler={}, window=16, start="2021-01-02", end="2021-01-01")
    with pytest.raises(ValueError, match="fewer than the window"):
        load_files_panel([path], scaler={}, window=64)
    with pytest.raises(ValueError, match="HAR-RV"):
        load_files_panel([path], scaler={}, window=16)


def _regime_shift(seed: int = 6) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, object]]:
    rng = np.random.default_rng(seed)
    n = 4000
    sigma = np.where(np.arange(n) < 2000, 0.01, 0.025)  # volatility jumps at bar 2000
    r = rng.normal(0, 1, n) * sigma
    base = np.array([-1.645, -0.674, 0.0, 0.674, 1.645]) * 0.01  # right for the first regime only
    forecast = {"quantiles": np.tile(base, (n, 1)), "variance": np.full(n, 24 * 1e-4),
                "var": np.tile([1.645e-2, 2.326e-2], (n, 1)), "es": np.tile([2.06e-2, 2.67e-2], (n, 1))}  # fmt: skip
    cal = {"quantile_levels": [0.05, 0.25, 0.5, 0.75, 0.95], "cqr_offsets": {"0.05": 0.0, "0.25": 0.0},
           "variance_scale": 1.0, "var_scale": {"0.05": 1.0, "0.01": 1.0}, "var_levels": [0.05, 0.01]}  # fmt: skip
    return r, forecast, cal


def test_rolling_calibration_follows_a_regime_change() -> None:
    from ml_attention_mechanisms.recipes._calibration import rolling_calibration

    r, forecast, cal = _regime_shift()
    out = rolling_calibration(forecast, r, cal, window=720, min_rows=168)
    y = np.r_[r[1:], np.nan]
    late = np.arange(3000, 3999)  # a month after the change
    cover = np.mean((y[late] >= out["quantiles"][late, 0]) & (y[late] <= out["quantiles"][late, -1]))
    static = np.mean(
        (y[late] >= forecast["quantiles"][late, 0]) & (y[late] <= forecast["quantiles"][late, -1])
    )
    assert static < 0.6 and abs(cover - 0.9) < 0.04
    assert abs(np.mean(-y[late] > out["var"][late, 0]) - 0.05) < 0.025
    rv = np.array([np.sum(r[t + 1 : t + 25] ** 2) for t in late])
    assert np.mean(out["variance"][late]) == pytest.approx(np.mean(rv), rel=0.15)


def test_rolling_calibration_is_causal() -> None:
    from ml_attention_mechanisms.recipes._calibration import rolling_calibration

    r, forecast, cal = _regime_shift()
    k = 2500
    moved = r.copy()
    moved[k + 1 :] = np.random.default_rng(9).normal(0, 0.05, r.size - k - 1)
    a = rolling_calibration(forecast, r, cal, window=720, min_rows=168)
    b = rolling_calibration(forecast, moved, cal, window=720, min_rows=168)
    for key in ("quantiles", "var", "es"):  # these read outcomes up to bar t
        np.testing.assert_array_equal(a[key][: k + 1], b[key][: k + 1])
    np.testing.assert_array_equal(
        a["variance"][: k + 1], b["variance"][: k + 1]
    )  # 24-bar targets resolved by t
