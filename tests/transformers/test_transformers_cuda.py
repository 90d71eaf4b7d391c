"""TradingTransformer on CUDA: the same outputs as on CPU; autocast and a backward pass stay finite.

What this file proves, on a CUDA device (every test is marked ``gpu``):

- A tiny ``TradingTransformer`` (every option off, and every option on: multi-timeframe, temporal attention,
  regime detection, risk management, cross-modal attention, multi-asset), eval mode, float32, TF32 off,
  moved to CUDA gives the CPU outputs of ``forward`` and of ``forward_steps`` (within 1e-4), also with
  absent bars (``mask``) and attention weights requested.
- With ``use_mixed_precision=True`` on CUDA: float32 weights and outputs, finite, within bfloat16 (or
  float16) tolerances of the float64 model on the CPU, and a backward pass gives finite gradients on the
  device.

Dry run on CPU (checks the test logic only):
``MLATTN_TEST_DEVICE=cpu pytest tests/transformers/test_transformers_cuda.py``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from test_trading_transformer import ALL_ON, MIXED_PRECISION_TOL, as_float64, build, inputs, tiny

from _cuda_case import DEVICE, MARKS, assert_same_outputs, flat_tensors, to_device

pytestmark = MARKS

CONFIGS: dict[str, dict[str, Any]] = {"plain": {}, "all_on": ALL_ON}


def _inputs_with_gaps(cfg: Any) -> dict[str, Any]:
    kw = inputs(cfg, b=2, t=48)
    mask = torch.ones(2, 48, dtype=torch.bool)
    mask[0, [5, 6, 30]] = False
    mask[1, -3:] = False  # the last bars absent: outputs come from bar 44
    return {**kw, "mask": mask}


@pytest.mark.parametrize("name", list(CONFIGS))
@torch.no_grad()
def test_forward_on_device_matches_cpu(name: str) -> None:
    cfg = tiny(**CONFIGS[name])
    cpu = build(cfg).eval()
    dev = copy.deepcopy(cpu).to(DEVICE)
    for kw in (inputs(cfg, b=2, t=48), _inputs_with_gaps(cfg)):
        assert_same_outputs(dev(**to_device(kw)), cpu(**kw))
    kw = inputs(cfg, b=2, t=24)
    assert_same_outputs(
        dev(**to_device(kw), need_attention_weights=True), cpu(**kw, need_attention_weights=True)
    )
    assert_same_outputs(dev.forward_steps(**to_device(kw)), cpu.forward_steps(**kw))


def test_mixed_precision_on_device_is_finite_and_close() -> None:
    cfg = tiny(**ALL_ON, use_mixed_precision=True)
    model = build(cfg).to(DEVICE).eval()
    ref = build(tiny(**ALL_ON)).double().eval()  # the same seed: the same weights, in float64 on the CPU
    with torch.no_grad():
        want = ref(**as_float64(inputs(cfg, b=2, t=48)))
    out = model(**to_device(inputs(cfg, b=2, t=48)))
    assert all(p.dtype == torch.float32 for p in model.parameters())
    for key, v in flat_tensors(out).items():
        assert v.device.type == DEVICE.type, key
        if v.is_floating_point():
            assert v.dtype == torch.float32 and torch.isfinite(v).all(), key
    for key in ("risk_score", "predictions"):
        torch.testing.assert_close(
            out[key].detach().cpu().double(), want[key].double(), **MIXED_PRECISION_TOL
        )
    (out["predictions"].sum() + out["risk_score"].sum()).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(g.device.type == DEVICE.type and torch.isfinite(g).all() for g in grads)
