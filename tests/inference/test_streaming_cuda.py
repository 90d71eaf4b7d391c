"""StreamingPredictor on CUDA: one candle at a time on the GPU equals the same stream on the CPU.

Every test is marked ``gpu``. The CPU stream is itself checked against the batch model in
``test_streaming_predictor.py``; here the same candles (with an absent bar, a replaced open bar and a gap)
go through a predictor on CUDA (``device="cuda"``) and one on the CPU, cached and recompute modes, and every
output must agree (float32, TF32 off) and live on the predictor's device.

Dry run on CPU (checks the test logic only): ``MLATTN_TEST_DEVICE=cpu pytest tests/inference/test_streaming_cuda.py``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from test_streaming_predictor import HOUR, T0, _diff, _model

from _cuda_case import DEVICE, MARKS
from ml_attention_mechanisms.inference import StreamingConfig, StreamingPredictor

pytestmark = MARKS


@pytest.mark.parametrize("name", ["price_predictor", "risk_assessor"])
@pytest.mark.parametrize("mode", ["cached", "recompute"])
def test_stream_on_cuda_equals_stream_on_cpu(name: str, mode: str) -> None:
    model = _model(name)
    cfg_model: Any = model.config
    n = 2 * int(cfg_model.attention_window) + 5
    rows = torch.randn(n, int(cfg_model.input_features))
    rows[4] = float("nan")  # an absent bar
    times = T0 + HOUR * torch.arange(n)
    times[n // 2 :] += 3 * HOUR  # a gap of three bars: absent bars inserted
    cfg = StreamingConfig(mode=mode)
    cpu = StreamingPredictor(model, cfg, asset_id=1)
    gpu = StreamingPredictor(copy.deepcopy(model), cfg, asset_id=1, device=DEVICE)
    assert gpu.device.type == DEVICE.type and cpu.device.type == "cpu"
    assert next(gpu.model.parameters()).device.type == DEVICE.type
    for t in range(n):
        gpu.update(int(times[t]), (rows[t] + 0.5).numpy())  # the open bar, then replaced
        got = gpu.update(int(times[t]), rows[t].numpy())
        want = cpu.update(int(times[t]), (rows[t] + 0.5).numpy())
        want = cpu.update(int(times[t]), rows[t].numpy())
        assert got is not None and want is not None
        assert all(v.device.type == DEVICE.type for v in got.values() if isinstance(v, torch.Tensor))
        cpu_view = {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in got.items()}
        assert _diff(cpu_view, want) <= 1e-4, t
    assert gpu.stats == cpu.stats and gpu.stats["missing"] == 3
