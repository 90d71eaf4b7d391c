"""CryptoPortfolioOptimizerModel: the spec's Example 3, weight constraints, masks, liquidity, risk, errors."""

from __future__ import annotations

from statistics import NormalDist

import pytest
import torch
from _model_helpers import TINY, hourly_timestamps

from ml_attention_mechanisms import CryptoPortfolioOptimizerModel, CryptoPredictionModelConfig
from ml_attention_mechanisms.models._losses import sharpe_with_costs


def tiny(**kw: object) -> CryptoPortfolioOptimizerModel:
    cfg = {**TINY, "risk_lookback": 5, **kw}
    return CryptoPortfolioOptimizerModel(CryptoPredictionModelConfig(**cfg)).eval()  # type: ignore[arg-type]


def inputs(b: int = 3, t: int = 10, a: int = 4, f: int = 6) -> dict[str, torch.Tensor]:
    return {
        "asset_features": torch.randn(b, t, a, f),
        "current_weights": torch.softmax(torch.randn(b, a), -1),
        "volume_data": torch.rand(b, t, a) + 0.5,
        "timestamps": hourly_timestamps(b, t),
    }


@pytest.mark.slow
def test_spec_example_3_exactly() -> None:
    config = CryptoPredictionModelConfig(
        d_model=384,
        num_assets=20,
        input_features=75,
        use_risk_metrics=True,
        risk_lookback=30,
        var_confidence=0.05,
    )
    optimizer = CryptoPortfolioOptimizerModel(config)
    asset_features = torch.randn(4, 128, 20, 75)
    current_weights = torch.softmax(torch.randn(4, 20), dim=-1)
    volume_data = torch.rand(4, 128, 20)
    with torch.no_grad():  # the example only prints: skip the autograd graph to keep the suite fast
        outputs = optimizer(
            asset_features=asset_features, current_weights=current_weights, volume_data=volume_data
        )
    assert outputs["optimal_weights"].shape == (4, 20)
    assert outputs["expected_returns"].shape == (4, 20)
    assert outputs["improvement_potential"].shape == (4,)
    assert outputs["trades"].shape == (4, 20)
    assert outputs["var"].shape == outputs["es"].shape == (4,)
    torch.testing.assert_close(outputs["optimal_weights"].sum(-1), torch.ones(4))


def test_long_only_simplex_and_trades() -> None:
    model = tiny()
    x = inputs()
    out = model(**x)
    w = out["optimal_weights"]
    assert torch.all(w >= 0)
    torch.testing.assert_close(w.sum(-1), torch.ones(3))
    torch.testing.assert_close(out["trades"], w - x["current_weights"])
    assert out["expected_returns"].shape == (3, 4) and out["improvement_potential"].shape == (3,)


def test_long_short_gross_limit() -> None:
    model = tiny(long_only=False, gross_exposure=1.5)
    with torch.no_grad():
        model.score_head.weight.normal_(0, 3.0)
    x = inputs(b=8)
    out = model(**x)
    w = out["optimal_weights"]
    assert torch.all(w.abs().sum(-1) <= 1.5 + 1e-5)
    assert (w < 0).any()


@pytest.mark.parametrize("assets", [1, 3, 8])
def test_any_number_of_assets_up_to_num_assets(assets: int) -> None:
    out = tiny()(**inputs(a=assets))
    assert out["optimal_weights"].shape == (3, assets)
    with pytest.raises(ValueError, match="num_assets=8"):
        tiny()(**inputs(a=9))


def test_masked_assets_get_zero_weight_and_have_no_effect() -> None:
    model = tiny()
    x = inputs(a=5)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[:, 2] = False
    cw = x["current_weights"].clone()
    cw[:, 2] = 0.0
    cw = cw / cw.sum(-1, keepdim=True)
    feats = x["asset_features"].clone()
    feats[:, :, 2] = float("nan")
    vol = x["volume_data"].clone()
    vol[:, :, 2] = float("nan")
    out = model(feats, cw, vol, x["timestamps"], mask=mask)
    assert torch.all(out["optimal_weights"][:, 2] == 0)
    keep = [0, 1, 3, 4]
    alone = model(x["asset_features"][:, :, keep], cw[:, keep], x["volume_data"][:, :, keep], x["timestamps"])
    for key in ("optimal_weights", "expected_returns", "trades"):
        torch.testing.assert_close(out[key][:, keep], alone[key], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        out["improvement_potential"], alone["improvement_potential"], rtol=1e-4, atol=1e-5
    )


def test_thinner_volume_gives_smaller_trade_and_higher_cost() -> None:
    model = tiny()
    x = inputs(b=4, a=4)
    x["volume_data"] = torch.ones(4, 10, 4)
    thick = model(**x)
    x["volume_data"][:, :, 1] = 0.01  # asset 1 becomes 100x thinner
    thin = model(**x)
    assert torch.all(thin["cost_rate"][:, 1] > thick["cost_rate"][:, 1])
    torch.testing.assert_close(thick["cost_rate"], torch.full((4, 4), model.config.transaction_cost))
    assert torch.all(thin["trades"][:, 1].abs() < thick["trades"][:, 1].abs())


def test_improvement_potential_and_risk_formulas() -> None:
    model = tiny(use_risk_metrics=True, var_confidence=0.01)
    x = inputs()
    out = model(**x)
    w, w0, mu, sig = (
        out["optimal_weights"],
        out["current_weights"],
        out["expected_returns"],
        out["volatility"],
    )
    corr = model._correlation(
        x["asset_features"], torch.ones(3, 10, 4, dtype=torch.bool), torch.ones(3, 4, dtype=torch.bool)
    )
    cov = sig.unsqueeze(-1) * corr * sig.unsqueeze(-2)
    sd_new = torch.sqrt(torch.einsum("ba,bac,bc->b", w, cov, w))
    sd_cur = torch.sqrt(torch.einsum("ba,bac,bc->b", w0, cov, w0))
    net = (mu * w).sum(-1) - (out["cost_rate"] * (w - w0).abs()).sum(-1)
    torch.testing.assert_close(out["improvement_potential"], net / sd_new - (mu * w0).sum(-1) / sd_cur)
    z = NormalDist().inv_cdf(0.01)
    m = (mu * w).sum(-1)
    torch.testing.assert_close(out["var"], -(m + sd_new * z))
    torch.testing.assert_close(out["es"], -(m - sd_new * NormalDist().pdf(z) / 0.01))


def test_risk_lookback_window_of_the_correlation() -> None:
    model = tiny(risk_lookback=4, return_feature_index=2)
    x = torch.randn(2, 10, 3, 6)
    ones, present = torch.ones(2, 10, 3, dtype=torch.bool), torch.ones(2, 3, dtype=torch.bool)
    base = model._correlation(x, ones, present)
    # reference: shrunk Pearson correlation of column 2 over the last 4 bars
    r = x[:, -4:, :, 2].double()
    ref = torch.stack([torch.corrcoef(r[i].T) for i in range(2)])
    torch.testing.assert_close(
        base.double(), 0.9 * ref + 0.1 * torch.eye(3, dtype=torch.float64), rtol=1e-5, atol=1e-5
    )
    y = x.clone()
    y[:, :6] = torch.randn(2, 6, 3, 6)  # bars before the lookback
    y[:, :, :, 0] = 0.0  # other columns
    torch.testing.assert_close(model._correlation(y, ones, present), base)


def test_loss_is_net_sharpe_plus_nll() -> None:
    model = tiny()
    x = inputs(b=6)
    out = model(**x)
    nxt = 0.01 * torch.randn(6, 4)
    loss, parts = model.loss(out, {"next_returns": nxt})
    ref, _ = sharpe_with_costs(out["optimal_weights"], nxt, out["current_weights"], out["cost_rate"])
    r = (out["optimal_weights"] * nxt).sum(-1) - (out["cost_rate"] * out["trades"].abs()).sum(-1)
    torch.testing.assert_close(ref, -(r.mean() / r.std(unbiased=False)), rtol=1e-4, atol=1e-6)
    assert parts["sharpe"] == pytest.approx(-float(ref.detach()), rel=1e-5)
    loss.backward()


def test_no_look_ahead() -> None:
    model = tiny(num_encoder_layers=2, attention_window=4)
    x = torch.randn(2, 12, 3, 6)
    x2 = x.clone()
    x2[:, 8:] = 7.0
    ts = hourly_timestamps(6, 12)
    with torch.no_grad():
        h1, _ = model.encoder(x.permute(0, 2, 1, 3).reshape(6, 12, 6), timestamps=ts)
        h2, _ = model.encoder(x2.permute(0, 2, 1, 3).reshape(6, 12, 6), timestamps=ts)
    assert torch.equal(h1[:, :8], h2[:, :8])


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"asset_features": torch.randn(3, 10, 4, 5)}, "input_features=6"),
        ({"current_weights": torch.full((3, 4), 0.3)}, "sum to 1"),
        ({"current_weights": torch.full((3, 5), 0.2)}, "current_weights"),
        ({"volume_data": torch.rand(3, 10, 5)}, "volume_data"),
        ({"volume_data": -torch.rand(3, 10, 4)}, "negative"),
        ({"timestamps": torch.zeros(3, 9, dtype=torch.int64)}, "timestamps"),
        ({"mask": torch.ones(3, 5, dtype=torch.bool)}, "mask"),
    ],
)
def test_bad_inputs(change: dict[str, torch.Tensor], match: str) -> None:
    x = {**inputs(), **change}
    with pytest.raises(ValueError, match=match):
        tiny()(**x)


def test_nan_in_present_entry_raises() -> None:
    x = inputs()
    x["asset_features"][0, 3, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="asset_features contains NaN"):
        tiny()(**x)


@pytest.mark.parametrize("layers", [0, 1])
def test_cross_asset_layers_zero_scores_each_asset_on_its_own(layers: int) -> None:
    """With ``num_cross_asset_layers=0`` an asset's allocation score, expected return and volatility read only
    its own bars: changing the other assets' features leaves them bit for bit; with one layer they change."""
    model = tiny(num_cross_asset_layers=layers)
    assert len(model.cross_asset) == layers
    scores: list[torch.Tensor] = []
    model.score_head.register_forward_hook(lambda _m, _i, out: scores.append(out.squeeze(-1)))
    x = inputs(b=2, t=8, a=3)
    y = {**x, "asset_features": x["asset_features"].clone()}
    y["asset_features"][:, :, 1:] = torch.randn_like(y["asset_features"][:, :, 1:])  # assets 1, 2 change
    with torch.no_grad():
        a, b = model(**x), model(**y)
    for key, first, second in (
        ("score", scores[0][:, 0], scores[1][:, 0]),
        ("expected_returns", a["expected_returns"][:, 0], b["expected_returns"][:, 0]),
        ("volatility", a["volatility"][:, 0], b["volatility"][:, 0]),
    ):
        assert torch.equal(first, second) == (layers == 0), key
    with torch.no_grad():
        weights = model(**x, need_attention_weights=True)["attention_weights"]
    assert sum(name.startswith("cross_asset") for name in weights) == layers
