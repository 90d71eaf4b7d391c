"""``use_mixed_precision``: bfloat16 autocast on CPU, float32 weights and outputs, close to float32, finite."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from _model_helpers import multi_asset_batch, single_asset_batch

from ml_attention_mechanisms import create_crypto_model
from ml_attention_mechanisms.models._registry import get_model_entry

MODELS = ("price_predictor", "signal_generator", "risk_assessor", "portfolio_optimizer")
# bfloat16 keeps 8 significant bits (relative step 2**-8 = 0.4%); through a layer or two of attention and
# MLP the errors add up to a few steps: 5% of each output's largest magnitude.
BF16_RTOL_OF_MAX = 0.05


def _pair(name: str) -> tuple[torch.nn.Module, torch.nn.Module, dict[str, Any]]:
    kwargs = get_model_entry(name).model_cls.test_kwargs()
    fp32 = create_crypto_model(name, **kwargs).eval()
    mixed = create_crypto_model(name, **kwargs, use_mixed_precision=True).eval()
    mixed.load_state_dict(fp32.state_dict())
    batch = multi_asset_batch(fp32) if fp32.DATA_KIND == "multi_asset" else single_asset_batch(fp32)
    return fp32, mixed, batch


def _floats(out: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in out.items() if isinstance(v, torch.Tensor) and v.is_floating_point()}


@pytest.mark.parametrize("name", MODELS)
def test_bf16_forward_on_cpu_is_float32_finite_and_close(name: str) -> None:
    fp32, mixed, batch = _pair(name)
    with torch.no_grad():
        ref = fp32(**fp32.training_inputs(batch))
        got = mixed(**mixed.training_inputs(batch))
    assert mixed.config.use_mixed_precision and not fp32.config.use_mixed_precision
    assert all(p.dtype == torch.float32 for p in mixed.parameters())  # weights stay float32
    assert set(got) == set(ref)
    for key, value in ref.items():
        if not (isinstance(value, torch.Tensor) and value.is_floating_point()):
            assert torch.equal(got[key], value), key  # ints and masks: unchanged
    differs = False
    for key, value in _floats(ref).items():
        out = got[key]
        assert out.dtype == torch.float32, key
        assert torch.isfinite(out).all(), key
        scale = float(value.abs().max().clamp_min(1e-6))
        torch.testing.assert_close(out, value, rtol=0.0, atol=BF16_RTOL_OF_MAX * scale, msg=key)
        differs = differs or not torch.equal(out, value)
    assert differs, "the mixed-precision forward gave float32's numbers bit for bit: no autocast ran"


@pytest.mark.parametrize("name", MODELS)
def test_bf16_training_step_has_finite_float32_gradients(name: str) -> None:
    _, mixed, batch = _pair(name)
    mixed.train()
    out = mixed(**mixed.training_inputs(batch))
    loss, _ = mixed.loss(out, batch)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in mixed.parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)


def test_mixed_precision_off_by_default_and_validated() -> None:
    from ml_attention_mechanisms import CryptoPredictionModelConfig

    assert CryptoPredictionModelConfig().use_mixed_precision is False
    with pytest.raises(ValueError, match=r"CryptoPredictionModelConfig\.use_mixed_precision=.*bool"):
        CryptoPredictionModelConfig(use_mixed_precision="yes")  # type: ignore[arg-type]
