"""CryptoRiskAssessorModel: VaR/ES levels, volatility, drawdown, correlation constraints, loss, masks."""

from __future__ import annotations

import pytest
import torch
from _model_helpers import TINY, hourly_timestamps, single_asset_batch

from ml_attention_mechanisms import CryptoPredictionModelConfig, CryptoRiskAssessorModel
from ml_attention_mechanisms.models._losses import fz0_loss, qlike_loss


def tiny(**kw: object) -> CryptoRiskAssessorModel:
    return CryptoRiskAssessorModel(CryptoPredictionModelConfig(**{**TINY, **kw})).eval()  # type: ignore[arg-type]


def test_single_asset_outputs() -> None:
    model = tiny()
    with torch.no_grad():
        for p in model.tail_head.parameters():
            p.normal_(0, 1.0)
        out = model(torch.randn(6, 10, 6), hourly_timestamps(6, 10))
    assert out["var"].shape == out["es"].shape == (6, 2)
    assert torch.all(out["es"] >= out["var"]) and torch.all(out["var"] > 0)
    # levels (0.05, 0.01): the 99% VaR is never below the 95% VaR
    assert torch.all(out["var"][:, 1] >= out["var"][:, 0])
    assert out["volatility"].shape == out["drawdown"].shape == (6,)
    assert torch.all(out["volatility"] > 0) and torch.all(out["drawdown"] >= 0)
    assert out["correlation"].shape == (6, 1, 1) and torch.all(out["correlation"] == 1)


def test_levels_from_config() -> None:
    assert tiny(var_confidence=0.1)(torch.randn(2, 5, 6))["var"].shape == (2, 1)
    out = tiny(var_levels=(0.01, 0.1, 0.05))(torch.randn(2, 5, 6))
    v = out["var"]
    assert v.shape == (2, 3)
    assert torch.all(v[:, 0] >= v[:, 2]) and torch.all(v[:, 2] >= v[:, 1])


def test_correlation_constraints_and_masked_assets() -> None:
    model = tiny()
    with torch.no_grad():
        for p in model.correlation_proj.parameters():
            p.normal_(0, 1.0)
    x = torch.randn(3, 8, 5, 6)
    mask = torch.ones(3, 8, 5, dtype=torch.bool)
    mask[:, :, 3] = False  # asset 3 absent everywhere
    x_nan = x.clone()
    x_nan[:, :, 3] = float("nan")
    out = model(x_nan, mask=mask)
    c = out["correlation"]
    assert c.shape == (3, 5, 5)
    torch.testing.assert_close(c, c.transpose(-1, -2), rtol=0, atol=0)
    torch.testing.assert_close(torch.diagonal(c, dim1=-2, dim2=-1), torch.ones(3, 5), rtol=0, atol=0)
    assert torch.linalg.eigvalsh(c.double()).min() > -1e-6
    assert torch.all(c[:, 3, [0, 1, 2, 4]] == 0)
    # The absent asset has no effect on the basket's risk: same as the four present assets alone.
    keep = [0, 1, 2, 4]
    alone = model(x[:, :, keep])
    torch.testing.assert_close(out["var"], alone["var"])
    torch.testing.assert_close(c[:, keep][:, :, keep], alone["correlation"])


def test_loss_components_match_formulas() -> None:
    model = tiny(prediction_horizon=2)
    batch = single_asset_batch(model, horizon=3)
    out = model(**model.training_inputs(batch))
    loss, parts = model.loss(out, batch)
    y = batch["targets"]["returns"][:, 1]
    fz = fz0_loss(y.unsqueeze(-1), out["var"], out["es"], torch.tensor([0.05, 0.01]))
    assert parts["fz0"] == pytest.approx(float(fz.detach()), rel=1e-5)
    ql = qlike_loss(out["volatility"], batch["targets"]["volatility"][:, 1])
    assert parts["qlike"] == pytest.approx(float(ql.detach()), rel=1e-5)
    dd = (out["drawdown"] - batch["targets"]["drawdown"]).abs().mean()
    assert parts["drawdown"] == pytest.approx(float(dd.detach()), rel=1e-5)  # drawdown_scale None: 1
    scaled = tiny(prediction_horizon=2, drawdown_scale=0.01)
    scaled.load_state_dict(model.state_dict())
    _, parts2 = scaled.loss(scaled(**scaled.training_inputs(batch)), batch)
    assert parts2["drawdown"] == pytest.approx(float(dd.detach()) / 0.01, rel=1e-5)
    stats = model.loss_statistics({"drawdown": torch.tensor([0.0, 0.02, 0.04, float("nan")])})
    assert stats == {"drawdown_scale": pytest.approx(0.02)}
    loss.backward()
    with pytest.raises(ValueError, match="drawdown"):
        model.loss(out, {"targets": {"returns": y, "volatility": y}})


def test_no_look_ahead_multi_asset() -> None:
    model = tiny(num_encoder_layers=2, attention_window=3)
    x = torch.randn(2, 10, 3, 6)
    ts = hourly_timestamps(2, 10)
    with torch.no_grad():
        full = model(x[:, :6], ts[:, :6])
        x2 = x.clone()
        x2[:, 6:] = 9.0
        # perturbing later bars cannot change what bars <= 5 produce (encoder states, bit for bit)
        flat = x.permute(0, 2, 1, 3).reshape(6, 10, 6)
        flat2 = x2.permute(0, 2, 1, 3).reshape(6, 10, 6)
        h1, _ = model.encoder(flat, timestamps=ts.repeat_interleave(3, 0))
        h2, _ = model.encoder(flat2, timestamps=ts.repeat_interleave(3, 0))
    assert torch.equal(h1[:, :6], h2[:, :6])
    assert full["var"].shape == (2, 2)


def test_bad_inputs() -> None:
    model = tiny()
    with pytest.raises(ValueError, match="input_features"):
        model(torch.randn(2, 5, 3, 4))
    with pytest.raises(ValueError, match="mask"):
        model(torch.randn(2, 5, 3, 6), mask=torch.ones(2, 5, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="asset_ids"):
        model(torch.randn(2, 5, 3, 6), asset_ids=torch.ones(2, 4, dtype=torch.int64))


def test_optional_correlation_target_trains_the_correlation_head() -> None:
    model = tiny(prediction_horizon=1)
    x = torch.randn(4, 8, 3, 6)
    target = torch.eye(3).expand(4, 3, 3).clone()
    target[:, 0, 1] = target[:, 1, 0] = 0.8
    batch = {
        "targets": {
            "returns": 0.01 * torch.randn(4),
            "volatility": 0.01 * torch.rand(4) + 1e-3,
            "drawdown": 0.01 * torch.rand(4),
            "correlation": target,
        }
    }
    out = model(x)
    loss, parts = model.loss(out, batch)
    assert parts["correlation"] == pytest.approx(
        float((out["correlation"] - target).square().mean().detach()), rel=1e-5
    )
    loss.backward()
    assert (
        model.correlation_proj.weight.grad is not None and model.correlation_proj.weight.grad.abs().sum() > 0
    )
