"""The demo's correlation forecast: the risk model's correlation head fitted on multi-asset training windows
(targets from the training split only, encoder frozen) and scored against the rolling-correlation baseline."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ml_attention_mechanisms.recipes import DemoConfig, run_demo
from ml_attention_mechanisms.recipes._correlation import (
    fit_correlation_head,
    forecast_correlation,
)
from ml_attention_mechanisms.recipes._data import DemoData, asset_column
from ml_attention_mechanisms.recipes._files import load_demo_data

ASSETS = ("BTC", "ETH", "LTC")


@pytest.fixture(scope="module")
def data() -> DemoData:
    q = DemoConfig.quick()
    return load_demo_data(start=q.start, end=q.end, train_end=q.train_end, val_end=q.val_end)


def _model(data: DemoData) -> tuple[torch.nn.Module, dict[str, Any]]:
    from ml_attention_mechanisms.models._factory import risk_assessor_small

    torch.manual_seed(0)
    overrides = dict(DemoConfig.quick().model_overrides)
    model = risk_assessor_small(
        **overrides, input_features=len(data.prepared.feature_names), num_assets=len(data.symbols) + 1
    )
    return model, {"symbols": dict(data.prepared.symbol_to_id)}


def _poisoned(data: DemoData, start: int) -> DemoData:
    """A copy whose returns and features from ``start`` on are replaced by noise."""
    bad = copy.deepcopy(data)
    rng = np.random.default_rng(1)
    bad.returns[start:] = rng.normal(0.0, 0.2, size=bad.returns[start:].shape)
    feats = bad.prepared.features
    feats[:, start:] = rng.normal(0.0, 5.0, size=feats[:, start:].shape).astype(feats.dtype)
    return bad


def _fitted(data: DemoData, **kw: Any) -> dict[str, torch.Tensor]:
    model, payload = _model(data)
    fit_correlation_head(model, payload, data, ASSETS, window=16, train_windows=256, steps=50, **kw)
    return {k: v.clone() for k, v in model.state_dict().items()}


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_head_ignores_test_period_prices(data: DemoData) -> None:
    clean = _fitted(data, val_windows=64)
    assert _equal(clean, _fitted(_poisoned(data, data.test_start), val_windows=64))


def test_head_reads_only_training_targets_without_validation(data: DemoData) -> None:
    # without early stopping the fit must not read anything from the validation period on
    clean = _fitted(data, val_windows=0)
    assert _equal(clean, _fitted(_poisoned(data, data.val_start), val_windows=0))
    # the check has teeth: poisoning the training period does change the head
    assert not _equal(clean, _fitted(_poisoned(data, data.val_start // 2), val_windows=0))


def test_only_the_correlation_head_trains(data: DemoData) -> None:
    model, payload = _model(data)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    info = fit_correlation_head(model, payload, data, ASSETS, window=16, train_windows=256, steps=50)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("correlation_proj.") for k in changed)
    assert info["train_windows"] == 256 and 0 < info["best_step"] <= 50


def test_forecast_is_a_correlation_matrix_and_needs_every_asset(data: DemoData) -> None:
    model, payload = _model(data)
    pos = np.arange(data.test_start, data.test_end)
    fc = forecast_correlation(model, payload, data, ASSETS, pos, window=16)
    cols = [asset_column(data, a) for a in ASSETS]
    present = data.prepared.mask[cols][:, pos].all(axis=0)
    ok = np.isfinite(fc[pos]).all(axis=(1, 2))
    assert np.array_equal(ok, present) and ok.any()
    c = fc[pos][ok]
    np.testing.assert_allclose(c, np.swapaxes(c, 1, 2), atol=1e-6)
    np.testing.assert_allclose(np.einsum("nii->ni", c), 1.0, atol=1e-6)
    assert np.isnan(fc[: data.test_start]).all()


def test_fit_refuses_a_single_asset(data: DemoData) -> None:
    model, payload = _model(data)
    with pytest.raises(ValueError, match="at least 2 assets"):
        fit_correlation_head(model, payload, data, ("BTC",), window=16)


def test_quick_demo_scores_model_and_rolling_correlation(tmp_path: Path) -> None:
    res = run_demo(DemoConfig.quick(models=("risk_assessor_small",)), tmp_path / "run", progress=False)
    corr = res.metrics["correlation"]
    assert corr["assets"] == list(ASSETS)
    for name in ("model", "rolling"):
        assert {"mae", "rmse", "frobenius", "n"} <= set(corr[name])
        assert all(math.isfinite(float(v)) for v in corr[name].values())
        assert corr[name]["n"] > 0
    head = res.metrics["calibration"]["correlation_head"]
    assert head["train_windows"] > 0 and head["val_windows"] > 0
    assert not any("Correlation-forecast" in s for s in res.metrics["not_covered"])
    assert "Correlation forecasts" in (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    # `evaluate` scores the fitted head on later data holding two of the assets (BTC, ETH)
    from ml_attention_mechanisms.data import load_dataset
    from ml_attention_mechanisms.recipes import evaluate_run

    later = load_dataset("binance-1h").between("2020-12-20", "2021-02-10 23:00")
    files = []
    for symbol in ("BTC/USDT", "ETH/USDT"):
        path = tmp_path / f"{symbol.replace('/', '')}_1h.csv"
        later.to_frame(symbol)[["open", "high", "low", "close", "volume"]].to_csv(path)  # type: ignore[attr-defined]
        files.append(path)
    ev = evaluate_run(tmp_path / "run", files, start="2021-01-25", out=tmp_path / "ev", progress=False)
    assert ev.metrics["correlation"]["assets"] == ["BTC", "ETH"]
    assert all(math.isfinite(float(v)) for v in ev.metrics["correlation"]["model"].values())
