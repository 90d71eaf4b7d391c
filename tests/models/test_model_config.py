"""CryptoPredictionModelConfig: validation messages, lists stored as tuples, derived values."""

from __future__ import annotations

import dataclasses

import pytest

from ml_attention_mechanisms import CryptoPredictionModelConfig
from ml_attention_mechanisms.models.config import changed_fields


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
    ],
)
def test_messages_name_field_value_rule(kwargs: dict[str, object], field: str, rule: str) -> None:
    with pytest.raises(ValueError, match=rf"CryptoPredictionModelConfig\.{field}=.*{rule}"):
        CryptoPredictionModelConfig(**kwargs)  # type: ignore[arg-type]
