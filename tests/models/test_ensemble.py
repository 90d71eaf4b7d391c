"""ModelEnsemble: the members' outputs combined (against a float64 reference computed here), one member
equal to itself, its refusals, and members trained apart (other loss normalisers) accepted."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from _ensemble_members import trained_apart
from ml_attention_mechanisms.inference._inputs import takes_scale
from ml_attention_mechanisms.models import ModelEnsemble

SMALL = {
    "d_model": 16,
    "num_heads": 2,
    "num_encoder_layers": 1,
    "d_ff": 32,
    "attention_window": 8,
    "input_features": 5,
}


def _members(name: str, n: int = 3, **overrides: object) -> list[torch.nn.Module]:
    return trained_apart(name, n, **{**SMALL, **overrides})


def _inputs(batch: int = 4, bars: int = 12) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    return {
        "price_data": torch.randn(batch, bars, 5, generator=g),
        "timestamps": 1_600_000_000 + 3600 * torch.arange(bars).repeat(batch, 1),
        "scale": 1e-4 * torch.exp(torch.randn(batch, generator=g)),
    }


@torch.no_grad()
def test_price_ensemble_averages_quantiles_and_the_variance() -> None:
    members = _members("price_predictor_small", prediction_horizon=4)
    x = _inputs()
    got = ModelEnsemble(members).eval()(**x)
    outs = [m(**x) for m in members]
    assert set(got) == set(outs[0])
    for key in ("predictions", "quantiles", "lower", "upper"):
        ref = torch.stack([o[key].double() for o in outs]).mean(0)
        torch.testing.assert_close(got[key].double(), ref, rtol=1e-6, atol=1e-9)
    variance = torch.stack([o["volatility_forecast"].double() ** 2 for o in outs]).mean(0)
    torch.testing.assert_close(got["volatility_forecast"].double() ** 2, variance, rtol=1e-5, atol=0)
    assert (got["quantiles"].diff(dim=-1) >= 0).all()  # still ordered
    # the members disagree: the check above is not about identical models
    assert not torch.allclose(outs[0]["volatility_forecast"], outs[1]["volatility_forecast"])


@torch.no_grad()
def test_risk_ensemble_averages_var_es_and_the_variance() -> None:
    members = _members("risk_assessor_small", n=2, prediction_horizon=1, var_levels=(0.05, 0.01))
    x = _inputs()
    got = ModelEnsemble(members).eval()(**x)
    outs = [m(**x) for m in members]
    for key in ("var", "es", "drawdown"):
        torch.testing.assert_close(got[key].double(), (outs[0][key].double() + outs[1][key].double()) / 2)
    variance = (outs[0]["volatility"].double() ** 2 + outs[1]["volatility"].double() ** 2) / 2
    torch.testing.assert_close(got["volatility"].double() ** 2, variance, rtol=1e-5, atol=0)


@torch.no_grad()
def test_one_member_is_the_member_and_attention_is_averaged() -> None:
    (member,) = _members("price_predictor_small", n=1)
    x = _inputs()
    got, ref = ModelEnsemble([member])(**x), member(**x)
    for key, value in ref.items():
        torch.testing.assert_close(got[key], value, rtol=0, atol=0)
    pair = _members("price_predictor_small", n=2)
    maps = ModelEnsemble(pair)(**x, need_attention_weights=True)["attention_weights"]
    one = [m(**x, need_attention_weights=True)["attention_weights"] for m in pair]
    for layer, w in maps.items():
        torch.testing.assert_close(w, (one[0][layer] + one[1][layer]) / 2)


def test_reads_inputs_as_its_members() -> None:
    ensemble = ModelEnsemble(_members("price_predictor_small", n=2))
    assert takes_scale(ensemble)
    assert ensemble.OUTPUT_KIND == "price" and ensemble.DATA_KIND == "single_asset"
    assert ensemble.config == ensemble.members[0].config
    batch = {"price_data": torch.zeros(1, 4, 5), "scale": torch.ones(1)}
    assert ensemble.training_inputs(batch) == ensemble.members[0].training_inputs(batch)


def test_members_trained_apart_differ_only_in_loss_normalisers() -> None:
    a, b = _members("price_predictor_small", n=2)
    b.config = dataclasses.replace(b.config, target_scales=(0.01, 0.02))
    assert len(ModelEnsemble([a, b]).members) == 2


@pytest.mark.parametrize(
    ("members", "match"),
    [
        (lambda: [], "members is empty"),
        (lambda: _members("signal_generator_small", n=2), "expected price or risk models"),
        (
            lambda: [*_members("price_predictor_small", n=1), *_members("risk_assessor_small", n=1)],
            "member 1 is a CryptoRiskAssessorModel",
        ),
        (
            lambda: [
                *_members("price_predictor_small", n=1),
                *_members("price_predictor_small", n=1, d_ff=64),
            ],
            r"differs from member 0's in \['d_ff'\]",
        ),
    ],
    ids=["empty", "signal", "two-classes", "two-configs"],
)
def test_refuses_what_it_cannot_average(members: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ModelEnsemble(members())  # type: ignore[operator]
