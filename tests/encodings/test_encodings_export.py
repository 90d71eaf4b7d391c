"""Each encoding inside a tiny attention model, exported with the dynamo ONNX exporter and run in
onnxruntime, gives the eager result (also at a batch size and length other than the traced ones).

Needs the ``export`` extra (onnx, onnxscript, onnxruntime): the core-only CI run leaves this file out."""

from __future__ import annotations

import calendar
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from ml_attention_mechanisms import AttentionConfig, MultiHeadAttention
from ml_attention_mechanisms.encodings import POSITIONAL_ENCODING_KINDS, create_positional_encoding

D, H = 16, 2
_BOUNDARIES = [
    calendar.timegm((2021, 3, 28, 1, 0, 0)),  # EU summer time starts
    calendar.timegm((2021, 3, 14, 7, 0, 0)),  # US daylight time starts
    calendar.timegm((2021, 11, 7, 6, 0, 0)),  # US daylight time ends
    calendar.timegm((2024, 4, 20, 0, 0, 0)),  # halving, a Saturday midnight
    calendar.timegm((2022, 6, 1, 8, 0, 0)),  # funding
    calendar.timegm((2022, 1, 3, 0, 0, 0)),  # a Monday midnight
    calendar.timegm((2023, 10, 29, 1, 0, 0)),  # EU summer time ends
]
_EDGES = sorted({t + d for t in _BOUNDARIES for d in (-1, 0, 1)}, key=lambda t: (t * 7919) % 1009)[:21]
pytestmark = pytest.mark.extras("export")

_EXTRA = {"rope": {"time_aware": True, "time_unit_seconds": 60}, "learnable": {"time_aware": True}}


class _Tiny(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.pe = create_positional_encoding(
            kind, d_model=D, num_heads=H, max_seq_len=64, **_EXTRA.get(kind, {})
        )
        self.attn = MultiHeadAttention(AttentionConfig(d_model=D, num_heads=H), rotary=self.pe.rotary)

    def forward(self, x: Tensor, timestamps: Tensor) -> Tensor:
        t = x.shape[1]
        h = self.pe(x, timestamps)
        bias = self.pe.attention_bias(t, t, timestamps)
        out = self.attn(h, positions=self.pe.rotary_positions(t, timestamps), attn_bias=bias)
        assert isinstance(out, Tensor)
        return out


@pytest.mark.slow
@pytest.mark.parametrize("kind", POSITIONAL_ENCODING_KINDS)
def test_encoding_exports_to_onnx_and_matches_eager(kind: str, tmp_path: Path) -> None:
    import onnxruntime as ort

    model = _Tiny(kind).eval()
    x = torch.randn(2, 10, D)
    ts = torch.randint(1_640_995_200, 1_672_531_200, (2, 10))
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", max=64)
    program = torch.onnx.export(
        model, (x, ts), dynamo=True, dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}), verbose=False
    )
    assert program is not None
    path = tmp_path / f"{kind}.onnx"
    program.save(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    # Another shape; unsorted 2021-2024 instants one second either side of the boundaries where float32
    # arithmetic would slip (midnight, DST changes, funding times, a halving); and the same in milliseconds.
    x2 = torch.randn(3, 7, D)
    ts2 = torch.tensor(_EDGES).view(3, 7)
    with torch.no_grad():
        want = model(x2, ts2)
    for stamps in (ts2, ts2 * 1000):
        got = session.run(None, {names[0]: x2.numpy(), names[1]: stamps.numpy()})[0]
        torch.testing.assert_close(torch.from_numpy(got), want, atol=1e-5, rtol=1e-5)
