"""DemoConfig: validated on construction, each message naming the field."""

from __future__ import annotations

import pytest

from ml_attention_mechanisms.recipes import DemoConfig


def test_demo_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="models"):
        DemoConfig(models=("nope",))
    with pytest.raises(ValueError, match="window"):
        DemoConfig(window=1)
    assert DemoConfig.quick().window < DemoConfig().window


def test_models_are_registry_names_one_of_each_kind() -> None:
    from ml_attention_mechanisms.models import get_model_entry

    cfg = DemoConfig(models=("price_predictor", "portfolio_optimizer_small"))  # any registered preset
    assert cfg.batch_size_for("price_predictor") == cfg.batch_size
    assert get_model_entry("portfolio_optimizer_small").output_kind == "portfolio"
    assert cfg.batch_size_for("portfolio_optimizer_small") == max(4, cfg.batch_size // 4)
    with pytest.raises(ValueError, match=r"DemoConfig\.models.*price_predictor_small.*repeat a kind"):
        DemoConfig(models=("price_predictor", "price_predictor_small"))  # the second would replace the first


def test_stored_config_round_trip() -> None:
    cfg = DemoConfig.quick(models=("price_predictor_small",))
    stored = {**cfg.to_dict(), "unknown_key": 1}
    again = DemoConfig.from_stored(stored, assets=("XYZ",), window=8)
    assert again.models == cfg.models and again.assets == ("XYZ",) and again.window == 8
    assert again.model_overrides == cfg.model_overrides
