"""Registry and factory: names, presets, errors, rebuild from a checkpoint config, registry-wide smoke."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from _model_helpers import multi_asset_batch, single_asset_batch

from ml_attention_mechanisms import CryptoPredictionModelConfig, create_crypto_model, list_models
from ml_attention_mechanisms.models import get_model_entry, is_model, model_from_config, register_model
from ml_attention_mechanisms.models._base import CryptoModel

BASE = ("price_predictor", "signal_generator", "risk_assessor", "portfolio_optimizer")


def test_names_and_presets() -> None:
    names = list_models()
    for base in BASE:
        assert base in names and f"{base}_small" in names
    assert list_models("*_small") == sorted(f"{b}_small" for b in BASE)
    assert is_model("risk_assessor") and not is_model("nope")


@pytest.mark.parametrize("name", [f"{b}_small" for b in BASE])
def test_small_presets_are_small(name: str) -> None:
    model = create_crypto_model(name)
    assert 50_000 <= model.num_parameters() <= 1_000_000


def test_entry_flags() -> None:
    entry = get_model_entry("portfolio_optimizer")
    assert entry.data_kind == "multi_asset" and entry.output_kind == "portfolio"
    assert entry.targets == ("next_returns",) and not entry.streamable
    price = get_model_entry("price_predictor_small")
    assert price.data_kind == "single_asset" and price.streamable
    assert {get_model_entry(b).output_kind for b in BASE} == {"price", "signal", "risk", "portfolio"}


def test_unknown_name_lists_valid() -> None:
    with pytest.raises(ValueError, match=r"Unknown model_type 'nope'; available: .*price_predictor"):
        create_crypto_model("nope")


def test_unknown_kwargs_named() -> None:
    with pytest.raises(TypeError, match="d_modle"):
        create_crypto_model("price_predictor_small", d_modle=3)


def test_unused_field_raises_and_none_dropped() -> None:
    with pytest.raises(ValueError, match="quantiles"):
        create_crypto_model("signal_generator_small", quantiles=(0.1, 0.5, 0.9))
    with pytest.raises(ValueError, match="transaction_cost"):
        create_crypto_model("price_predictor_small", transaction_cost=0.01)
    # None is dropped: the preset's d_model survives an unset CLI option.
    model = create_crypto_model("price_predictor_small", d_model=None, quantiles=None)
    assert model.config.d_model == 64


def test_invalid_value_names_field() -> None:
    with pytest.raises(ValueError, match=r"CryptoPredictionModelConfig.num_heads=5"):
        create_crypto_model("price_predictor_small", num_heads=5)


def test_duplicate_registration_raises() -> None:
    def price_predictor() -> CryptoModel:  # same name as a registered model
        raise AssertionError

    with pytest.raises(ValueError, match="already registered"):
        register_model(price_predictor)


@pytest.mark.parametrize("name", list_models())
def test_rebuild_from_config_dict(name: str) -> None:
    cls = get_model_entry(name).model_cls
    model = create_crypto_model(name, **cls.test_kwargs())  # type: ignore[attr-defined]
    payload = dataclasses.asdict(model.config)
    loaded = torch.load(_roundtrip(payload), weights_only=True)
    clone = model_from_config(name, loaded)
    clone.load_state_dict(model.state_dict())
    assert clone.config == model.config
    with pytest.raises(TypeError, match="bogus"):
        model_from_config(name, {**payload, "bogus": 1})


def _roundtrip(obj: object) -> object:
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return buf


@pytest.mark.parametrize("name", list_models())
def test_forward_backward_smoke(name: str) -> None:
    entry = get_model_entry(name)
    model = create_crypto_model(name, **entry.model_cls.test_kwargs())  # type: ignore[attr-defined]
    assert isinstance(model.config, CryptoPredictionModelConfig)
    if entry.data_kind == "multi_asset":
        batch = multi_asset_batch(model)
    else:
        batch = single_asset_batch(model, horizon=model.config.prediction_horizon)
    assert set(entry.targets) <= set(batch["targets"]) | set(batch)
    out = model(**model.training_inputs(batch), need_attention_weights=True)
    assert out["attention_weights"] and all(k.isidentifier() for k in out["attention_weights"])
    for key, value in out.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            assert torch.isfinite(value).all(), key
    loss, parts = model.loss(out, batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert all(isinstance(v, float) for v in parts.values())
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(g is None or torch.isfinite(g).all() for g in grads)


def test_spec_module_reexports() -> None:
    import ml_attention_mechanisms as root
    from ml_attention_mechanisms.models import attention_models

    for name in (
        "CryptoPredictionModelConfig",
        "CryptoPricePredictionModel",
        "CryptoSignalGeneratorModel",
        "CryptoRiskAssessorModel",
        "CryptoPortfolioOptimizerModel",
        "create_crypto_model",
        "list_models",
    ):
        assert getattr(attention_models, name) is getattr(root, name)


@pytest.mark.parametrize("name", ["price_predictor_small", "signal_generator_small", "risk_assessor_small"])
def test_streamable_attention_layers(name: str) -> None:
    # The streaming contract: every temporal attention layer is causal with the model's sliding window and
    # there is no learned absolute position table.
    model = create_crypto_model(name)
    assert get_model_entry(name).streamable
    for block in model.encoder.blocks:
        assert block.attn.config.causal and block.attn.config.sliding_window == model.config.attention_window
    names = [n for n, _ in model.named_parameters()]
    assert not any("position" in n or "pos_emb" in n for n in names)
