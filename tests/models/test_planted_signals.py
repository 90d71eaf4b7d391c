"""Each model recovers a signal planted in synthetic data, judged on held-out data, over 3 seeds.

Tiny configs and short training (a few seconds per seed): these are checks that the outputs, losses and
constraints let the models learn what they claim, not benchmarks.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from _model_helpers import hourly_timestamps, train

from ml_attention_mechanisms import create_crypto_model
from ml_attention_mechanisms.models._losses import pinball_loss

SEEDS = (0, 1, 2)
SMALL: dict[str, Any] = {
    "d_model": 16,
    "num_heads": 4,
    "num_encoder_layers": 1,
    "d_ff": 32,
    "dropout": 0.0,
    "attention_window": 16,
    "use_market_time": False,
}


def _signal_batch(gen: torch.Generator, n: int = 64, t: int = 12) -> dict[str, Any]:
    x = torch.randn(n, t, 4, generator=gen)
    # planted two-class rule: buy when the last two bars of feature 0 sum above 0, else sell
    label = torch.where(x[:, -2:, 0].sum(1) > 0, 2, 0)
    return {"price_data": x, "timestamps": hourly_timestamps(n, t), "targets": {"signal": label}}


@pytest.mark.parametrize("seed", SEEDS)
def test_signal_generator_learns_two_class_rule(seed: int) -> None:
    torch.manual_seed(seed)
    model = create_crypto_model("signal_generator", **SMALL, input_features=4)
    train(model, _signal_batch, steps=100, lr=1e-2, seed=seed)
    test = _signal_batch(torch.Generator().manual_seed(100 + seed), n=1000)
    with torch.no_grad():
        out = model(**model.training_inputs(test))
    acc = (out["probabilities"].argmax(-1) == test["targets"]["signal"]).float().mean()
    assert acc >= 0.70, f"held-out accuracy {float(acc):.3f}"


def _price_batch(gen: torch.Generator, n: int = 64, t: int = 12) -> dict[str, Any]:
    x = torch.randn(n, t, 4, generator=gen)
    drift = 0.01 * x[:, -1, 0]  # planted: the next bars' drift is read off the last bar
    steps = drift.unsqueeze(-1) + 0.004 * torch.randn(n, 2, generator=gen)
    return {"price_data": x, "timestamps": hourly_timestamps(n, t), "targets": {"returns": steps.cumsum(-1)}}


@pytest.mark.parametrize("seed", SEEDS)
def test_price_predictor_beats_zero_forecast(seed: int) -> None:
    torch.manual_seed(seed)
    model = create_crypto_model(
        "price_predictor", **SMALL, input_features=4, prediction_horizon=2, prediction_targets=["price"]
    )
    train(model, _price_batch, steps=40, lr=1e-2, seed=seed)
    test = _price_batch(torch.Generator().manual_seed(100 + seed), n=1000)
    with torch.no_grad():
        q = model(**model.training_inputs(test))["quantiles"][:, :, 0]  # (B, H, Q)
    y = test["targets"]["returns"]
    levels = model.quantile_head.levels
    model_loss = float(pinball_loss(q, y, levels))
    zero_loss = float(pinball_loss(torch.zeros_like(q), y, levels))
    assert model_loss <= 0.8 * zero_loss, f"pinball {model_loss:.5f} vs zero forecast {zero_loss:.5f}"


def _garch(gen: torch.Generator, n: int, t: int) -> torch.Tensor:
    """``n`` independent GARCH(1,1) paths of ``t + 1`` returns (omega, alpha, beta = 1e-6, 0.1, 0.85)."""
    omega, alpha, beta = 1e-6, 0.10, 0.85
    var = torch.full((n,), omega / (1 - alpha - beta))
    var = var * torch.exp(0.5 * torch.randn(n, generator=gen))  # start paths at different regimes
    out = torch.empty(n, t + 1)
    for i in range(t + 1):
        r = var.sqrt() * torch.randn(n, generator=gen)
        out[:, i] = r
        var = omega + alpha * r**2 + beta * var
    return out


def _risk_batch(gen: torch.Generator, n: int = 128, t: int = 24) -> dict[str, Any]:
    r = _garch(gen, n, t)
    past, nxt = r[:, :t], r[:, t]
    x = torch.stack((past / 0.005, past.abs() / 0.005), dim=-1)
    return {
        "price_data": x,
        "timestamps": hourly_timestamps(n, t),
        "targets": {"returns": nxt, "volatility": nxt.abs(), "drawdown": (-nxt).clamp_min(0.0)},
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_risk_assessor_var_breach_rate_on_garch(seed: int) -> None:
    torch.manual_seed(seed)
    model = create_crypto_model(
        "risk_assessor", **SMALL, input_features=2, prediction_horizon=1, var_confidence=0.05
    )
    train(model, _risk_batch, steps=100, lr=5e-3, seed=seed)
    test = _risk_batch(torch.Generator().manual_seed(100 + seed), n=4000)
    with torch.no_grad():
        var = model(**model.training_inputs(test))["var"][:, 0]
    breach = float((test["targets"]["returns"] < -var).float().mean())
    assert 0.03 <= breach <= 0.07, f"95% VaR breach rate {breach:.4f}"


def _portfolio_batch(gen: torch.Generator, n: int = 64, t: int = 12, a: int = 4) -> dict[str, Any]:
    hot = torch.randint(0, a, (n,), generator=gen)  # the asset with the planted drift, per sample
    drift = 0.004 * torch.nn.functional.one_hot(hot, a).float()  # (B, A)
    past = drift.unsqueeze(1) + 0.005 * torch.randn(n, t, a, generator=gen)
    nxt = drift + 0.005 * torch.randn(n, a, generator=gen)
    return {
        "asset_features": (past / 0.005).unsqueeze(-1),
        "volume_data": torch.ones(n, t, a),
        "timestamps": hourly_timestamps(n, t),
        "next_returns": nxt,
        "hot": hot,
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_portfolio_optimizer_weights_the_drifting_asset(seed: int) -> None:
    torch.manual_seed(seed)
    model = create_crypto_model(
        "portfolio_optimizer", **SMALL, input_features=1, risk_lookback=8, transaction_cost=1e-4
    )
    train(model, _portfolio_batch, steps=100, lr=1e-2, seed=seed)
    test = _portfolio_batch(torch.Generator().manual_seed(100 + seed), n=500)
    with torch.no_grad():
        w = model(**model.training_inputs(test))["optimal_weights"]
    on_hot = float(w.gather(1, test["hot"].view(-1, 1)).mean())
    assert on_hot >= 0.60, f"mean weight on the drifting asset {on_hot:.3f}"
