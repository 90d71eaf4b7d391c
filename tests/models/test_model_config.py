"""CryptoPredictionModelConfig: validation messages, lists stored as tuples, derived values, and the
observable effect of ``attention_kind`` on the encoder (elapsed-time bias and market time only for "crypto")."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch

from ml_attention_mechanisms import CryptoPredictionModelConfig
from ml_attention_mechanisms.inference import StreamingPredictor
from ml_attention_mechanisms.models import create_crypto_model, get_model_entry
from ml_attention_mechanisms.models.config import changed_fields

T0 = 1_700_000_000
HOUR = 3600


def test_defaults_and_derived() -> None:
    c = CryptoPredictionModelConfig()
    assert c.head_dim == 32 and c.hidden_dim == 1024
    assert c.var_alpha == 0.05 and c.risk_levels == (0.05, 0.01)
    assert CryptoPredictionModelConfig(var_confidence=0.01).risk_levels == (0.01,)
    assert CryptoPredictionModelConfig(var_levels=[0.1, 0.05]).risk_levels == (0.1, 0.05)
    assert changed_fields(c) == []


def test_lists_become_tuples_and_asdict_is_plain() -> None:
    c = CryptoPredictionModelConfig(prediction_targets=["price"], quantiles=[0.1, 0.5, 0.9])
    assert c.prediction_targets == ("price",) and c.quantiles == (0.1, 0.5, 0.9)
    assert hash(c)
    d = dataclasses.asdict(c)
    assert CryptoPredictionModelConfig(**d) == c
    assert changed_fields(c) == ["prediction_targets", "quantiles"]


@pytest.mark.parametrize(
    ("kwargs", "field", "rule"),
    [
        ({"d_model": 0}, "d_model", "positive int"),
        ({"num_heads": 3}, "num_heads", "must divide d_model"),
        ({"dropout": 1.0}, "dropout", r"\[0, 1\)"),
        ({"attention_window": 0}, "attention_window", "positive int"),
        ({"prediction_targets": ["price", "spread"]}, "prediction_targets", "distinct names"),
        ({"prediction_targets": []}, "prediction_targets", "non-empty"),
        ({"quantiles": (0.1, 0.9)}, "quantiles", "containing 0.5"),
        ({"quantiles": (0.9, 0.5, 0.1)}, "quantiles", "increasing"),
        ({"var_confidence": 0.95}, "var_confidence", "tail probability"),
        ({"var_levels": (0.05, 0.7)}, "var_levels", r"\(0, 0.5\)"),
        ({"var_levels": (0.05,), "var_confidence": 0.01}, "var_levels", "not both"),
        ({"class_weights": (1.0, 2.0)}, "class_weights", "three positive"),
        ({"return_feature_index": 50}, "return_feature_index", "input_features=50"),
        ({"gross_exposure": 0.5}, "gross_exposure", ">= 1"),
        ({"transaction_cost": -0.1}, "transaction_cost", r"\[0, 1\)"),
        ({"orderbook_features": -1}, "orderbook_features", ">= 0"),
        ({"time_unit_seconds": 0.0}, "time_unit_seconds", "positive"),
        ({"target_scales": (0.01,)}, "target_scales", r"one positive finite scale per prediction target \(2"),
        ({"target_scales": (0.01, -1.0)}, "target_scales", "positive finite"),
        ({"drawdown_scale": 0.0}, "drawdown_scale", "positive finite"),
        ({"class_weights": (1.0, float("inf"), 1.0)}, "class_weights", "three positive"),
        ({"attention_kind": "linear"}, "attention_kind", r"one of \('crypto', 'standard'\)"),
        ({"num_cross_asset_layers": -1}, "num_cross_asset_layers", "int >= 0"),
        ({"num_cross_asset_layers": True}, "num_cross_asset_layers", "int >= 0"),
    ],
)
def test_messages_name_field_value_rule(kwargs: dict[str, object], field: str, rule: str) -> None:
    with pytest.raises(ValueError, match=rf"CryptoPredictionModelConfig\.{field}=.*{rule}"):
        CryptoPredictionModelConfig(**kwargs)  # type: ignore[arg-type]


def _price_model(**overrides: Any) -> torch.nn.Module:
    kwargs = {**get_model_entry("price_predictor").model_cls.test_kwargs(), "num_encoder_layers": 2}
    return create_crypto_model("price_predictor", **{**kwargs, **overrides}).eval()


def _median(model: torch.nn.Module, x: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = model(x, timestamps=times.unsqueeze(0))
    return out["quantiles"]


@pytest.mark.parametrize("kind", ["crypto", "standard"])
def test_attention_kind_decides_whether_time_matters(kind: str) -> None:
    """Same weights, same bars: moving the timestamps (a 10-hour gap, another hour of the day) changes the
    "crypto" model's output (elapsed-time ALiBi, market time) and leaves the "standard" one bit for bit."""
    model = _price_model(attention_kind=kind)
    enc = model.encoder
    assert enc.attention_kind == kind
    assert (enc.market_time is not None) == (kind == "crypto")
    assert enc.alibi.time_aware == (kind == "crypto")
    t = 12
    x = torch.randn(1, t, model.config.input_features)
    times = T0 + HOUR * torch.arange(t)
    gap = times.clone()
    gap[6:] += 10 * HOUR  # a gap in the data
    shifted = times + 5 * HOUR  # same spacing, other hours of the day
    base = _median(model, x, times)
    for other in (gap, shifted):
        moved = _median(model, x, other)
        if kind == "crypto":
            assert not torch.allclose(moved, base, atol=1e-6)
        else:
            assert torch.equal(moved, base)
    if kind == "standard":  # index distance: the same as giving no timestamps at all
        with torch.no_grad():
            assert torch.equal(model(x)["quantiles"], base)


def test_standard_attention_streams_like_the_batch_model() -> None:
    """The cached streaming path (inference/) reads the encoder's own ALiBi: index distances for "standard"."""
    model = _price_model(attention_kind="standard")
    window = model.config.attention_window
    n = window + 5
    rows = torch.randn(n, model.config.input_features)
    times = T0 + HOUR * torch.arange(n)
    live = StreamingPredictor(model, asset_id=2)
    assert live.mode == "cached"
    for t in range(n):
        out = live.update(int(times[t]), rows[t].numpy())
        with torch.no_grad():
            ref = model(rows[None, : t + 1], timestamps=times[None, : t + 1], asset_ids=torch.tensor([2]))
        assert out is not None
        for key, value in ref.items():
            if torch.is_tensor(value) and value.is_floating_point():
                assert float((out[key] - value).abs().max()) <= 1e-5, (t, key)
