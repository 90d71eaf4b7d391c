"""Forecasts relative to each asset's own scale, end to end from OHLCV bars (data layer, windows, models):

- prices in any unit (x1000, x0.001) and volumes in any unit (x1000, x0.001) give the same forecasts from
  all four models (float64, rtol 1e-4): returns, variance, quantiles, VaR/ES, signal probabilities, weights;
- a period twice as volatile (log returns and ranges x sqrt 2) moves the variance forecast with it: the
  variance doubles, volatilities, quantiles and VaR/ES grow by sqrt 2, the signal and weights inputs do not
  change.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ml_attention_mechanisms.data import MultiAssetWindows, SingleAssetWindows, align, prepare_panel
from ml_attention_mechanisms.models import create_crypto_model, get_model_entry

if TYPE_CHECKING:
    import pandas as pd

pytestmark = pytest.mark.extras("data")  # frames built with pandas: not in the core-only CI run

SEQ = 16
MODELS = ("price_predictor", "risk_assessor", "signal_generator", "portfolio_optimizer")
PREPARE = {"window": 96, "min_periods": 24, "horizons": (1, 2), "signal_horizon": 4, "rebalance_horizon": 4}


def _frame(n: int, seed: int, *, price: float = 1.0, volume: float = 1.0, vol: float = 1.0) -> pd.DataFrame:
    """Hourly OHLCV bars of a random walk whose volatility drifts; ``price``/``volume`` change the units,
    ``vol`` multiplies every log return and log range (a period ``vol**2`` times as volatile)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    sigma = 0.01 * np.exp(np.cumsum(rng.normal(0, 0.05, n)))
    steps = vol * sigma * rng.normal(size=n)
    log_close = np.cumsum(steps)
    log_open = np.concatenate([[0.0], log_close[:-1]])
    up = vol * np.abs(rng.normal(0, 0.5, n)) * sigma
    down = vol * np.abs(rng.normal(0, 0.5, n)) * sigma
    close, open_ = np.exp(log_close), np.exp(log_open)
    high = np.maximum(open_, close) * np.exp(up)
    low = np.minimum(open_, close) * np.exp(-down)
    base = rng.uniform(10, 100, n)
    index = pd.date_range("2021-01-01", periods=n, freq="1h", tz="UTC", name="timestamp")
    frame = pd.DataFrame(
        {"open": open_ * 100 * price, "high": high * 100 * price, "low": low * 100 * price,
         "close": close * 100 * price, "volume": base * volume, "quote_volume": base * close * 100 * price * volume},
        index=index,
    )  # fmt: skip
    frame.attrs["symbol"] = "SYN/USDT"
    return frame


def _prepared(scaler: dict[str, Any] | None = None, **units: float) -> Any:
    frames = {"A/USDT": _frame(700, 1, **units), "B/USDT": _frame(700, 2, **units)}
    frames["B/USDT"] = frames["B/USDT"].drop(frames["B/USDT"].index[[350, 351]])  # a gap
    return prepare_panel(align(frames), fit_end=450, scaler=scaler, **PREPARE)


def _as64(batch: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (_as64(v) if isinstance(v, dict) else v.double() if v.is_floating_point() else v)
        for k, v in batch.items()
    }


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    out = {}
    for name in MODELS:
        kwargs = {
            **get_model_entry(name).model_cls.test_kwargs(),
            "input_features": 17,
            "attention_window": SEQ,
        }
        model = create_crypto_model(name, **kwargs).double().eval()
        with torch.no_grad():
            for p in model.parameters():  # non-zero residuals and heads: every output depends on the inputs
                if p.dim() >= 2:
                    p.normal_(0, 0.2)
        out[name] = model
    return out


def _outputs(model: torch.nn.Module, prepared: Any) -> dict[str, torch.Tensor]:
    multi = getattr(model, "DATA_KIND", "") == "multi_asset"
    ds = MultiAssetWindows(prepared, SEQ, stride=9) if multi else SingleAssetWindows(prepared, SEQ, stride=7)
    batch = _as64(next(iter(DataLoader(ds, batch_size=len(ds)))))
    with torch.no_grad():
        out = model(**model.training_inputs(batch))
    return {k: v.double() for k, v in out.items() if isinstance(v, torch.Tensor) and v.is_floating_point()}


@pytest.mark.parametrize(
    "units", [{"price": 1e3}, {"price": 1e-3}, {"volume": 1e3}, {"volume": 1e-3}], ids=lambda u: str(u)
)
def test_price_and_volume_units_leave_every_forecast_unchanged(
    models: dict[str, torch.nn.Module], units: dict[str, float]
) -> None:
    # the other units prepared with statistics fitted on them and with the base's (as a checkpoint applies)
    base = _prepared()
    others = {
        "own statistics": _prepared(**units),
        "base statistics": _prepared(base.scaler.to_dict(), **units),
    }
    for name, model in models.items():
        a = _outputs(model, base)
        assert len(a) >= 3, name
        for how, other in others.items():
            b = _outputs(model, other)
            assert a.keys() == b.keys(), name
            for key in a:
                torch.testing.assert_close(
                    b[key],
                    a[key],
                    rtol=1e-4,
                    atol=1e-12,
                    msg=f"{name} {key} {units} ({how})",
                )


def test_a_twice_as_volatile_period_moves_the_forecasts_with_it(models: dict[str, torch.nn.Module]) -> None:
    # Log returns and ranges x sqrt 2: the anchor (ranges only) doubles exactly; the features are relative
    # to each asset's own history, exactly so for returns, ranges and realised volatilities and nearly so
    # for the price-based indicators (RSI, MACD, Bollinger, ATR), so the forecasts follow within a few %.
    base, wild = _prepared(), _prepared(vol=math.sqrt(2.0))
    ok = base.mask & wild.mask
    np.testing.assert_allclose(wild.scale[ok], 2 * base.scale[ok], rtol=1e-6)
    a, b = _outputs(models["price_predictor"], base), _outputs(models["price_predictor"], wild)
    ratio = (b["volatility_forecast"] / a["volatility_forecast"]) ** 2
    assert float(ratio.median()) == pytest.approx(2.0, rel=0.03)
    risk_a, risk_b = _outputs(models["risk_assessor"], base), _outputs(models["risk_assessor"], wild)
    assert float((risk_b["var"] / risk_a["var"]).median()) == pytest.approx(math.sqrt(2.0), rel=0.03)
