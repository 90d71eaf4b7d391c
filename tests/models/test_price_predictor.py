"""CryptoPricePredictionModel: output contract, constraints, masks, order book, no look-ahead, bad inputs."""

from __future__ import annotations

import pytest
import torch
from _model_helpers import TINY, hourly_timestamps, single_asset_batch

from ml_attention_mechanisms import (
    CryptoPredictionModelConfig,
    CryptoPricePredictionModel,
    create_crypto_model,
)


def tiny(**kw: object) -> CryptoPricePredictionModel:
    cfg = {**TINY, "prediction_horizon": 3, **kw}
    return CryptoPricePredictionModel(CryptoPredictionModelConfig(**cfg)).eval()  # type: ignore[arg-type]


def test_spec_example_keys_and_shapes() -> None:
    # The spec's Quick Start, with its sizes (d_model=256, 128 bars, 50 features, ids < 10).
    model = create_crypto_model(
        model_type="price_predictor",
        d_model=256,
        input_features=50,
        prediction_horizon=5,
        prediction_targets=["price", "volatility"],
        use_risk_metrics=True,
    )
    outputs = model(
        price_data=torch.randn(4, 128, 50),
        timestamps=torch.randint(1640995200, 1672531200, (4, 128)),
        asset_ids=torch.randint(0, 10, (4, 128)),
    )
    assert next(iter(outputs)) == "predictions"
    assert outputs["predictions"].shape == (4, 5, 2)
    assert outputs["quantiles"].shape == (4, 5, 2, 5)
    assert outputs["lower"].shape == outputs["upper"].shape == (4, 5, 2)
    assert outputs["var"].shape == outputs["es"].shape == (4, 5)


def test_default_model_takes_long_sequences_and_attention_weights() -> None:
    model = create_crypto_model("price_predictor", d_model=32, num_heads=8, num_encoder_layers=1).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 520, 50))["predictions"].shape == (1, 5, 2)
        out = model(torch.randn(1, 64, 50), need_attention_weights=True)
    weights = out["attention_weights"]
    assert list(weights) == ["temporal_layer0"]
    for name, w in weights.items():
        assert name.isidentifier()  # usable in a file name
        assert w.shape == (1, 8, 64, 64)
        # causal sliding window: nothing above the diagonal, nothing older than W=128 (here all of 64 bars)
        assert torch.all(w[0].triu(1) == 0)
        torch.testing.assert_close(w.sum(-1), torch.ones(1, 8, 64))


def test_window_limits_attention() -> None:
    model = tiny(attention_window=4)
    out = model(torch.randn(2, 10, 6), need_attention_weights=True)
    w = out["attention_weights"]["temporal_layer0"]
    i, j = torch.meshgrid(torch.arange(10), torch.arange(10), indexing="ij")
    outside = (j > i) | (i - j >= 4)
    assert torch.all(w[:, :, outside] == 0)


def test_quantiles_monotone_and_median_is_prediction() -> None:
    model = tiny(quantiles=(0.05, 0.1, 0.5, 0.9, 0.95))
    with torch.no_grad():
        for p in model.quantile_head.parameters():
            p.normal_(0, 3.0)  # large random weights: crossing would show
        out = model(torch.randn(8, 12, 6), hourly_timestamps(8, 12))
    q = out["quantiles"]
    assert torch.all(q[..., 1:] >= q[..., :-1])
    torch.testing.assert_close(out["predictions"], q[..., 2])
    torch.testing.assert_close(out["lower"], q[..., 0])
    torch.testing.assert_close(out["upper"], q[..., -1])
    assert torch.all(q[:, :, 1] > 0)  # volatility quantiles are positive


def test_risk_metrics_es_at_least_var() -> None:
    model = tiny(use_risk_metrics=True, var_confidence=0.01)
    out = model(torch.randn(4, 9, 6))
    assert out["var"].shape == (4, 3)
    assert torch.all(out["var"] > 0) and torch.all(out["es"] >= out["var"])
    assert "var" not in tiny()(torch.randn(1, 5, 6))


def test_single_target() -> None:
    out = tiny(prediction_targets=["volatility"])(torch.randn(2, 7, 6))
    assert out["predictions"].shape == (2, 3, 1)
    assert torch.all(out["predictions"] > 0)


def test_quantiles_in_units_of_the_volatility_forecast() -> None:
    # Location-scale: every quantile (returns and volatility) is volatility_forecast x a standardised
    # quantile, so scaling the forecast (its log-variance residual + 2 log c) scales them all by c, horizon by
    # horizon; VaR/ES follow it too.
    model = tiny(use_risk_metrics=True)
    x, ts = torch.randn(4, 9, 6), hourly_timestamps(4, 9)
    with torch.no_grad():
        before = model(x, ts)
        factor = torch.tensor([2.0, 0.5, 3.0])  # one per horizon
        model.volatility_head.proj.bias += 2 * factor.log()  # type: ignore[union-attr]
        after = model(x, ts)
    torch.testing.assert_close(after["volatility_forecast"], before["volatility_forecast"] * factor)
    torch.testing.assert_close(after["quantiles"], before["quantiles"] * factor.view(1, 3, 1, 1))
    torch.testing.assert_close(after["var"], before["var"] * factor)
    # without a volatility target the unit is the anchor's sqrt(h * scale): the scale maps the quantiles back
    price_only = tiny(prediction_targets=["price"])
    scale = torch.tensor([1e-4, 4e-4, 1e-6, 9e-2])
    with torch.no_grad():
        q1 = price_only(x, ts, scale=scale)["quantiles"]
        q4 = price_only(x, ts, scale=4 * scale)["quantiles"]
    assert q1.shape == (4, 3, 1, 5)
    torch.testing.assert_close(q4, 2 * q1)


def test_scale_maps_every_output_back() -> None:
    # Forecasts relative to the scale: a scale k times larger multiplies variances by k, volatilities,
    # quantiles and VaR/ES by sqrt(k); the untrained residual is exactly 0, so the variance is h x scale.
    model = tiny(use_risk_metrics=True)
    x, ts = torch.randn(3, 9, 6), hourly_timestamps(3, 9)
    scale = torch.tensor([1e-4, 2.5e-5, 4e-3])
    with torch.no_grad():
        base = model(x, ts, scale=scale)
        wild = model(x, ts, scale=9 * scale)
    torch.testing.assert_close(
        base["volatility_forecast"].square(), scale.unsqueeze(-1) * torch.arange(1.0, 4.0), rtol=1e-5, atol=0
    )
    for key in ("volatility_forecast", "quantiles", "predictions", "var", "es"):
        torch.testing.assert_close(wild[key], 3 * base[key], rtol=1e-5, atol=1e-9)
    with pytest.raises(ValueError, match="scale must be positive"):
        model(x, ts, scale=torch.tensor([1e-4, 0.0, 1e-4]))
    with pytest.raises(ValueError, match=r"scale must have shape \[3\]"):
        model(x, ts, scale=torch.ones(3, 1))


def test_orderbook_data_changes_output() -> None:
    model = tiny(orderbook_features=4)
    x, ob = torch.randn(2, 10, 6), torch.randn(2, 10, 4)
    base = model(x, orderbook_data=ob)["predictions"]
    other = model(x, orderbook_data=ob + 1.0)["predictions"]
    assert not torch.allclose(base, other)
    with pytest.raises(ValueError, match="orderbook_data"):
        model(x, orderbook_data=torch.randn(2, 10, 3))
    with pytest.raises(ValueError, match="orderbook_features"):
        tiny()(x, orderbook_data=ob)


def test_masked_bars_have_no_effect() -> None:
    model = tiny(attention_window=32)  # the window counts bars, absent ones included: keep it wide here
    x = torch.randn(2, 10, 6)
    ts = hourly_timestamps(2, 10)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[:, [2, 5, 9]] = False  # gaps, and the last bar is missing
    y = x.clone()
    y[~mask] = float("nan")
    out_nan = model(y, ts, mask=mask)["quantiles"]
    y[~mask] = 1e3
    out_big = model(y, ts, mask=mask)["quantiles"]
    torch.testing.assert_close(out_nan, out_big, rtol=0, atol=0)
    # Equivalent to removing the absent bars (relative time positions, so the gaps are real gaps).
    keep = mask[0]
    out_removed = model(x[:, keep], ts[:, keep])["quantiles"]
    torch.testing.assert_close(out_nan, out_removed, rtol=1e-5, atol=1e-6)


def test_asset_ids_batch_or_per_bar_and_unknown_id_zero() -> None:
    model = tiny()
    x = torch.randn(2, 6, 6)
    a = model(x, asset_ids=torch.tensor([3, 0]))["predictions"]
    b = model(x, asset_ids=torch.tensor([3, 0]).unsqueeze(1).expand(2, 6))["predictions"]
    torch.testing.assert_close(a, b)
    none = model(x)["predictions"]
    torch.testing.assert_close(a[1], none[1])  # id 0 = unknown asset = no asset information
    with pytest.raises(ValueError, match="asset_ids"):
        model(x, asset_ids=torch.tensor([8, 1]))  # num_assets=8: ids 0..7
    with pytest.raises(ValueError, match="asset_ids"):
        model(x, asset_ids=torch.tensor([-1, 1]))


@pytest.mark.parametrize("with_time", [False, True])
def test_no_look_ahead(with_time: bool) -> None:
    model = tiny(num_encoder_layers=2, attention_window=5, orderbook_features=2)
    x, ob = torch.randn(2, 16, 6), torch.randn(2, 16, 2)
    ts = hourly_timestamps(2, 16) if with_time else None
    t = 9
    x2, ob2 = x.clone(), ob.clone()
    x2[:, t + 1 :] = torch.randn_like(x2[:, t + 1 :]) * 100
    ob2[:, t + 1 :] = 5.0
    ts2 = None
    if ts is not None:
        ts2 = ts.clone()
        ts2[:, t + 1 :] += 7 * 3600  # later bars at other times too
    with torch.no_grad():
        h1, _ = model.encode(x, ts, None, ob)
        h2, _ = model.encode(x2, ts2, None, ob2)
        assert torch.equal(h1[:, : t + 1], h2[:, : t + 1])  # bit for bit
        assert not torch.equal(h1[:, t + 1 :], h2[:, t + 1 :])
        # Truncation: the forecast made at bar t from the full window equals the forecast from bars <= t.
        at_t = model.heads(h1[:, t])
        truncated = model(x[:, : t + 1], None if ts is None else ts[:, : t + 1], None, ob[:, : t + 1])
    for key in ("quantiles", "predictions"):
        torch.testing.assert_close(at_t[key], truncated[key], rtol=1e-5, atol=1e-6)


def test_loss_is_pinball_plus_qlike() -> None:
    from ml_attention_mechanisms.models._losses import pinball_loss, qlike_loss

    model = tiny(use_risk_metrics=True, target_scales=(0.02, 0.005))
    batch = single_asset_batch(model, horizon=3)
    out = model(**model.training_inputs(batch))
    loss, parts = model.loss(out, batch)
    loss.backward()
    y = batch["targets"]["returns"]
    v = batch["targets"]["volatility"]
    levels = torch.tensor(model.config.quantiles)
    ref_price = pinball_loss(out["quantiles"][:, :, 0], y, levels) / 0.02  # fixed scale, not the batch's
    assert parts["pinball_price"] == pytest.approx(float(ref_price.detach()), rel=1e-5)
    ref_vol = pinball_loss(out["quantiles"][:, :, 1], v, levels) / 0.005
    assert parts["pinball_volatility"] == pytest.approx(float(ref_vol.detach()), rel=1e-5)
    unscaled = tiny(use_risk_metrics=True)  # target_scales None: divisor 1
    unscaled.load_state_dict(model.state_dict())
    _, parts1 = unscaled.loss(unscaled(**unscaled.training_inputs(batch)), batch)
    assert parts1["pinball_price"] == pytest.approx(0.02 * parts["pinball_price"], rel=1e-5)
    assert parts["qlike"] == pytest.approx(
        float(qlike_loss(out["volatility_forecast"], v).detach()), rel=1e-5
    )
    assert {"fz0", "pinball_volatility", "loss"} <= set(parts)
    total = (
        parts["pinball_price"]
        + parts["pinball_volatility"]
        + model.QLIKE_WEIGHT * parts["qlike"]
        + parts["fz0"]
    )
    assert parts["loss"] == pytest.approx(total, rel=1e-5)
    bad = {**batch, "targets": {**batch["targets"], "returns": y[:, :2]}}
    with pytest.raises(ValueError, match="returns"):
        model.loss(out, bad)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"price_data": torch.randn(2, 5, 7)}, "input_features=6"),
        ({"price_data": torch.randn(5, 6)}, "price_data"),
        ({"price_data": torch.randint(0, 3, (2, 5, 6))}, "floating"),
        ({"price_data": torch.full((2, 5, 6), float("nan"))}, "NaN"),
        (
            {"price_data": torch.randn(2, 5, 6), "timestamps": torch.zeros(2, 4, dtype=torch.int64)},
            "timestamps",
        ),
        ({"price_data": torch.randn(2, 5, 6), "mask": torch.ones(2, 5)}, "mask"),
        ({"price_data": torch.randn(2, 5, 6), "mask": torch.ones(2, 4, dtype=torch.bool)}, "mask"),
        ({"price_data": torch.randn(2, 5, 6), "asset_ids": torch.ones(3, dtype=torch.int64)}, "asset_ids"),
    ],
)
def test_bad_inputs(kwargs: dict[str, torch.Tensor], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tiny()(**kwargs)
