"""The spec's "Production Deployment / Model Optimization" block, as written, in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ml_attention_mechanisms.models import create_crypto_model


def test_spec_model_optimization_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnx
    import onnxruntime as ort

    monkeypatch.chdir(tmp_path)
    # --- the spec's block, verbatim ---
    model = create_crypto_model("price_predictor")
    model.eval()

    scripted_model = torch.jit.script(model)
    scripted_model.save("crypto_predictor.pt")

    dummy_input = torch.randn(1, 256, 50)
    torch.onnx.export(
        model,
        dummy_input,
        "crypto_predictor.onnx",
        opset_version=11,
        input_names=["features"],
        output_names=["predictions"],
    )
    # --- checks ---
    with torch.no_grad():
        eager = model(dummy_input)
    loaded = torch.jit.load("crypto_predictor.pt")
    with torch.no_grad():
        scripted_out = loaded(dummy_input)
    assert next(iter(scripted_out)) == "predictions"
    torch.testing.assert_close(scripted_out["predictions"], eager["predictions"], atol=1e-4, rtol=0)

    proto = onnx.load("crypto_predictor.onnx")
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    assert opset == 18  # torch 2.13's exporter writes >= 18; docs/inference.md says so
    assert proto.graph.output[0].name == "predictions"
    session = ort.InferenceSession("crypto_predictor.onnx", providers=["CPUExecutionProvider"])
    first = session.run(["predictions"], {"features": dummy_input.numpy()})[0]
    assert float((torch.from_numpy(first) - eager["predictions"]).abs().max()) <= 1e-4
