"""Trained at one volatility level, the price model's 24-bar variance forecast holds at a third and at three
times that level: on simulated GARCH(1,1) paths its QLIKE stays within 10% of the QLIKE of the true
conditional variance (computed here from the simulation's own recursion).

Paths: hourly GARCH(1,1) returns (alpha 0.08, beta 0.90, unconditional per-bar variance 1e-4), each bar a
12-step Brownian path with the bar's conditional variance, so that open, high, low and close are those of
the path (the variance anchor reads the range). Another level is ``omega x c^2``: every return x c.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ml_attention_mechanisms.data import SingleAssetWindows, align, prepare_panel
from ml_attention_mechanisms.data.splits import split_by_time
from ml_attention_mechanisms.models import create_crypto_model

if TYPE_CHECKING:
    import pandas as pd

pytestmark = pytest.mark.extras("data")  # frames built with pandas: not in the core-only CI run

ALPHA, BETA, OMEGA = 0.08, 0.90, 2e-6  # omega / (1 - alpha - beta) = 1e-4 per bar
H, SEQ, SUB = 24, 32, 12


def _garch(n: int, omega: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Hourly OHLCV bars of a GARCH(1,1) path and the true ``E_t[mean of r_{t+1..t+H}^2]`` at each bar."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    var = omega / (1 - ALPHA - BETA)
    rows = np.empty((n, 4))
    sigma2 = np.empty(n)  # sigma^2 of bar t (known at t - 1)
    level = 0.0
    for t in range(n):
        sigma2[t] = var
        path = level + np.concatenate([[0.0], np.cumsum(rng.normal(0.0, np.sqrt(var / SUB), SUB))])
        rows[t] = path[0], path.max(), path.min(), path[-1]
        r = path[-1] - level
        level = path[-1]
        var = omega + ALPHA * r * r + BETA * var
    p = ALPHA + BETA
    vbar = omega / (1 - p)
    nxt = np.r_[sigma2[1:], var]  # sigma^2 of bar t + 1, known at t
    truth = vbar + (nxt - vbar) * np.mean(p ** np.arange(H))  # mean of E_t[sigma^2_{t+k}], k = 1..H
    index = pd.date_range("2020-01-01", periods=n, freq="1h", tz="UTC", name="timestamp")
    prices = 100 * np.exp(rows)
    frame = pd.DataFrame(prices, index=index, columns=["open", "high", "low", "close"])
    frame["volume"] = rng.uniform(10, 100, n)
    frame.attrs["symbol"] = "SYN/USDT"
    return frame, truth


def _qlike(y: np.ndarray, f: np.ndarray) -> float:
    ratio = y / f
    return float(np.mean(ratio - np.log(ratio) - 1.0))


def _batches(ds: Any, size: int = 256) -> Any:
    return DataLoader(ds, batch_size=size, shuffle=False)


@pytest.fixture(scope="module")
def trained() -> dict[str, Any]:
    frames = {f"S{i}/USDT": _garch(3000, OMEGA, seed=i)[0] for i in range(3)}
    panel = align(frames)
    split = split_by_time(
        panel.timestamps, train_end=int(panel.timestamps[2199]), val_end=int(panel.timestamps[-1]), horizon=H
    )
    prepared = prepare_panel(
        panel, horizons=tuple(range(1, H + 1)), signal_horizon=H, fit_end=split.train_end
    )
    torch.manual_seed(0)
    model = create_crypto_model(
        "price_predictor", d_model=32, num_heads=4, num_encoder_layers=1, d_ff=64, dropout=0.0,
        input_features=prepared.num_features, attention_window=SEQ, num_assets=8, prediction_horizon=H,
        prediction_targets=["volatility"],
    )  # fmt: skip
    train = SingleAssetWindows(prepared, SEQ, positions=split.train, stride=2)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    loader = DataLoader(train, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0))
    model.train()
    for _, batch in zip(range(150), iter(loader)):
        loss, _ = model.loss(model(**model.training_inputs(batch)), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()  # the residual weights, chosen on the validation windows as training does
    head = model.volatility_head
    assert head is not None
    sums, counts = None, None
    with torch.no_grad():
        for batch in _batches(SingleAssetWindows(prepared, SEQ, positions=split.val)):
            s, c = model.residual_scores(model(**model.training_inputs(batch)), batch)
            sums, counts = (s, c) if sums is None else (sums + s, counts + c)
    head.choose_residual_weights(sums, counts)
    return {"model": model, "scaler": prepared.scaler.to_dict()}


@pytest.mark.parametrize("level", [1 / 3, 3.0])
def test_variance_qlike_within_10_percent_of_the_truth_at_other_levels(
    trained: dict[str, Any], level: float
) -> None:
    frame, truth = _garch(2500, OMEGA * level**2, seed=100)
    panel = align({"SYN/USDT": frame})
    prepared = prepare_panel(
        panel, horizons=tuple(range(1, H + 1)), signal_horizon=H, scaler=trained["scaler"]
    )
    ds = SingleAssetWindows(prepared, SEQ, positions=np.arange(800, 2500 - H))
    model = trained["model"]
    forecasts, targets, true = [], [], []
    with torch.no_grad():
        for batch in _batches(ds):
            out = model(**model.training_inputs(batch))
            forecasts.append(out["volatility_forecast"][:, -1].double().numpy() ** 2 / H)
            targets.append(batch["targets"]["volatility"][:, -1].double().numpy() ** 2 / H)
    ends = ds.index[:, 1]
    true = truth[ends]
    f, y = np.concatenate(forecasts), np.concatenate(targets)
    assert np.median(f) == pytest.approx(1e-4 * level**2, rel=0.5)  # the forecast is at the path's level
    ours, best = _qlike(y, f), _qlike(y, true)
    assert ours <= 1.10 * best, (
        f"QLIKE {ours:.4f} vs the true conditional variance's {best:.4f} (level x{level:.3g})"
    )
