"""The registered crypto models on CUDA: same outputs as on CPU, autocast, one finite training step.

What this file proves, on a CUDA device (every test is marked ``gpu``):

- Every registry name (tiny ``test_kwargs`` config, eval mode, float32, TF32 off) moved to CUDA gives the
  CPU outputs: floating outputs within 1e-4, integer and bool outputs equal.
- ``use_mixed_precision=True`` on CUDA runs the forward under autocast (bfloat16 on GPUs that support it,
  else float16): weights stay float32, floating outputs are float32 and finite, within the bfloat16
  tolerance of the CPU mixed-precision test of the float32 outputs, and not bit-equal to them (autocast ran).
- One training step on CUDA (``model.loss`` backward, Adam step), in float32 and with mixed precision,
  gives finite float32 gradients on the device and finite, changed parameters. The portfolio model is
  included in every test.

Dry run on CPU (checks the test logic only): ``MLATTN_TEST_DEVICE=cpu pytest tests/models/test_models_cuda.py``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from _model_helpers import multi_asset_batch, single_asset_batch
from test_model_mixed_precision import BF16_RTOL_OF_MAX, _floats, _pair

from _cuda_case import DEVICE, MARKS, assert_same_outputs, to_device
from ml_attention_mechanisms import create_crypto_model
from ml_attention_mechanisms.models._registry import get_model_entry, list_models

pytestmark = MARKS

BASE_MODELS = ("price_predictor", "signal_generator", "risk_assessor", "portfolio_optimizer")


def _tiny(name: str) -> dict[str, Any]:
    """The smallest valid config overrides of the model class behind ``name``."""
    return dict(get_model_entry(name).model_cls.test_kwargs())  # type: ignore[attr-defined]


def _batch(model: torch.nn.Module) -> dict[str, Any]:
    return multi_asset_batch(model) if model.DATA_KIND == "multi_asset" else single_asset_batch(model)  # type: ignore[operator]


@pytest.mark.parametrize("name", list_models())
@torch.no_grad()
def test_forward_on_device_matches_cpu(name: str) -> None:
    cpu = create_crypto_model(name, **_tiny(name)).eval()
    dev = copy.deepcopy(cpu).to(DEVICE)
    batch = _batch(cpu)
    assert_same_outputs(dev(**dev.training_inputs(to_device(batch))), cpu(**cpu.training_inputs(batch)))


@pytest.mark.parametrize("name", BASE_MODELS)
@torch.no_grad()
def test_mixed_precision_forward_on_device(name: str) -> None:
    fp32, mixed, batch = _pair(name)  # same weights; mixed has use_mixed_precision=True
    fp32, mixed, batch = fp32.to(DEVICE), mixed.to(DEVICE), to_device(batch)
    ref = fp32(**fp32.training_inputs(batch))  # type: ignore[operator]
    got = mixed(**mixed.training_inputs(batch))  # type: ignore[operator]
    assert all(p.dtype == torch.float32 and p.device.type == DEVICE.type for p in mixed.parameters())
    assert set(got) == set(ref)
    for key, value in ref.items():
        if not (isinstance(value, torch.Tensor) and value.is_floating_point()):
            assert torch.equal(got[key], value), key
    differs = False
    for key, value in _floats(ref).items():
        out = got[key]
        assert out.dtype == torch.float32 and out.device.type == DEVICE.type, key
        assert torch.isfinite(out).all(), key
        scale = float(value.abs().max().clamp_min(1e-6))
        torch.testing.assert_close(out, value, rtol=0.0, atol=BF16_RTOL_OF_MAX * scale, msg=key)
        differs = differs or not torch.equal(out, value)
    assert differs, "the mixed-precision forward gave float32's numbers bit for bit: no autocast ran"


@pytest.mark.parametrize("mixed", [False, True], ids=["fp32", "mixed"])
@pytest.mark.parametrize("name", BASE_MODELS)
def test_one_training_step_on_device(name: str, mixed: bool) -> None:
    kwargs = _tiny(name)
    model = create_crypto_model(name, **kwargs, use_mixed_precision=mixed).to(DEVICE).train()
    batch = to_device(_batch(model))
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    out = model(**model.training_inputs(batch))
    loss, _ = model.loss(out, batch)
    assert loss.device.type == DEVICE.type and loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads
    for g in grads:
        assert g.dtype == torch.float32 and g.device.type == DEVICE.type and torch.isfinite(g).all()
    opt.step()
    after = list(model.parameters())
    assert all(torch.isfinite(p).all() for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(after, before)), "the optimizer step changed nothing"
