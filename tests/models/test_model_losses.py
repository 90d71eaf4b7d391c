"""Losses against their paper formulas (float64, written out here) and their minimisers."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest
import torch

from ml_attention_mechanisms.models._losses import (
    expected_calibration_error,
    fz0_loss,
    gaussian_var_es,
    pinball_loss,
    qlike_loss,
)


def test_pinball_formula_and_minimiser_is_the_quantile() -> None:
    gen = torch.Generator().manual_seed(0)
    y = torch.randn(4000, generator=gen, dtype=torch.float64)
    levels = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    pred = torch.tensor([-1.0, 0.2, 1.0], dtype=torch.float64).expand(4000, 3)
    ref = sum(
        float(sum(max(q * (yi - p), (q - 1) * (yi - p)) for yi in y[:200].tolist()))
        for q, p in zip(levels.tolist(), [-1.0, 0.2, 1.0])
    ) / (200 * 3)
    assert float(pinball_loss(pred[:200], y[:200], levels)) == pytest.approx(ref)
    grid = torch.linspace(-2, 2, 401, dtype=torch.float64)
    losses = torch.stack([pinball_loss(g.view(1, 1).expand(4000, 1), y, levels[2:]) for g in grid])
    assert float(grid[losses.argmin()]) == pytest.approx(float(torch.quantile(y, 0.9)), abs=0.02)


def test_qlike_formula_and_zero_at_truth() -> None:
    pred = torch.tensor([0.01, 0.02], dtype=torch.float64)
    true = torch.tensor([0.02, 0.02], dtype=torch.float64)
    r = (true**2 + 1e-8) / (pred**2 + 1e-8)
    assert float(qlike_loss(pred, true)) == pytest.approx(float((r - r.log() - 1).mean()))
    assert float(qlike_loss(true, true)) == pytest.approx(0.0, abs=1e-12)


def test_fz0_formula() -> None:
    y = torch.tensor([-0.05, 0.01, -0.02], dtype=torch.float64)
    var = torch.tensor([0.03, 0.03, 0.01], dtype=torch.float64)
    es = torch.tensor([0.04, 0.05, 0.03], dtype=torch.float64)
    a = 0.05
    ref = 0.0
    for yi, vi, ei in zip(y.tolist(), (-var).tolist(), (-es).tolist()):
        hit = 1.0 if yi <= vi else 0.0
        ref += (
            -hit * (vi - yi) / (a * ei) + vi / ei + math.log(-ei) - 1.0
        )  # Patton, Ziegel, Chen (2019), eq. 6
    assert float(fz0_loss(y, var, es, a)) == pytest.approx(ref / 3)


def test_fz0_is_minimised_near_the_true_var_es() -> None:
    gen = torch.Generator().manual_seed(3)
    y = 0.02 * torch.randn(50_000, generator=gen, dtype=torch.float64).unsqueeze(-1)  # (N, 1)
    a = 0.05
    true_var, true_es = gaussian_var_es(torch.tensor(0.0), torch.tensor(0.02), a)
    grid_e = torch.linspace(0.025, 0.06, 36, dtype=torch.float64)
    best, arg = float("inf"), (0.0, 0.0)
    for v in torch.linspace(0.02, 0.05, 31, dtype=torch.float64):
        e = grid_e[grid_e >= v]
        # fz0_loss averages over everything: evaluate each ES candidate as its own column
        vals = torch.stack([fz0_loss(y, v.expand(1), ei.expand(1), a) for ei in e])
        i = int(vals.argmin())
        if float(vals[i]) < best:
            best, arg = float(vals[i]), (float(v), float(e[i]))
    assert arg[0] == pytest.approx(float(true_var), abs=0.0015)
    assert arg[1] == pytest.approx(float(true_es), abs=0.002)


def test_gaussian_var_es_against_normal_dist() -> None:
    mean, std = torch.tensor([0.001, -0.002]), torch.tensor([0.02, 0.05])
    var, es = gaussian_var_es(mean, std, 0.01)
    nd = NormalDist()
    for i in range(2):
        m, s = float(mean[i]), float(std[i])
        assert float(var[i]) == pytest.approx(-(m + s * nd.inv_cdf(0.01)), rel=1e-5)
        assert float(es[i]) == pytest.approx(-(m - s * nd.pdf(nd.inv_cdf(0.01)) / 0.01), rel=1e-5)


def test_ece_of_a_perfectly_calibrated_predictor_is_small() -> None:
    gen = torch.Generator().manual_seed(5)
    probs = torch.softmax(torch.randn(20000, 3, generator=gen), -1)
    labels = torch.multinomial(probs, 1, generator=gen).squeeze(-1)
    assert expected_calibration_error(probs, labels)["ece"] < 0.02


@pytest.mark.parametrize("name", ["price_predictor", "signal_generator", "risk_assessor"])
def test_model_loss_of_a_batch_is_the_mean_of_its_halves(name: str) -> None:
    # What makes DDP exact: with gradients averaged over processes, 2 processes of batch b compute the
    # gradient of one process of batch 2b iff loss(2b) = mean(loss(first b), loss(second b)), i.e. the loss
    # is a mean of per-sample terms whose normalisers do not depend on the batch.
    from _model_helpers import single_asset_batch

    from ml_attention_mechanisms import create_crypto_model
    from ml_attention_mechanisms.models._registry import get_model_entry

    kwargs = get_model_entry(name).model_cls.test_kwargs()
    probe = create_crypto_model(name, **kwargs)
    batch = single_asset_batch(probe, batch=8, horizon=2)
    batch["targets"]["signal"] = torch.tensor([0, 0, 0, 1, 2, 2, 1, 0])  # halves with different class mixes
    batch["targets"]["returns"][4:] *= 5.0  # and different scales
    batch["targets"]["drawdown"][4:] *= 5.0
    stats = probe.loss_statistics(batch["targets"])
    assert stats and set(stats) == set(probe.LOSS_STATISTICS)
    model = create_crypto_model(name, **kwargs, **stats).eval()
    model.load_state_dict(probe.state_dict())

    def loss_of(rows: slice) -> torch.Tensor:
        part = {
            k: ({t: v[rows] for t, v in val.items()} if isinstance(val, dict) else val[rows])
            for k, val in batch.items()
        }
        return model.loss(model(**model.training_inputs(part)), part)[0]

    whole, first, second = loss_of(slice(0, 8)), loss_of(slice(0, 4)), loss_of(slice(4, 8))
    torch.testing.assert_close(whole, (first + second) / 2, rtol=1e-5, atol=1e-7)
    params = [p for p in model.parameters() if p.requires_grad]
    g_whole = torch.autograd.grad(whole, params, allow_unused=True)
    g_halves = torch.autograd.grad((first + second) / 2, params, allow_unused=True)
    for a, b in zip(g_whole, g_halves):
        if a is not None and b is not None:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)


def test_price_loss_statistics_are_mean_abs_targets_of_the_split() -> None:
    from ml_attention_mechanisms import create_crypto_model

    model = create_crypto_model("price_predictor", **{"input_features": 6, "prediction_horizon": 2})
    returns = torch.tensor([[0.01, -0.03, 9.0], [-0.02, 0.04, 9.0], [float("nan"), 0.0, 9.0]])
    vol = torch.tensor([[0.01, 0.02, 9.0], [0.03, 0.04, 9.0], [0.0, 0.0, 9.0]])
    stats = model.loss_statistics({"returns": returns, "volatility": vol})
    # mean |y| over the first H = 2 horizons, non-finite entries left out
    assert stats["target_scales"] == pytest.approx((0.10 / 5, 0.10 / 6))
