"""Export of every registered model: ONNX (ONNX Runtime), torch.export and TorchScript vs eager mode."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from ml_attention_mechanisms.inference import (
    ExportCheckError,
    export_model,
    export_onnx,
    export_program,
    export_torchscript,
)
from ml_attention_mechanisms.inference._inputs import example_inputs, example_scale, takes_scale
from ml_attention_mechanisms.inference.export import max_abs_diff
from ml_attention_mechanisms.models import create_crypto_model, get_model_entry, list_models


def _tiny(name: str) -> nn.Module:
    """The registered name's builder with its class's smallest config (presets share the class and graph)."""
    return create_crypto_model(name, **get_model_entry(name).model_cls.test_kwargs()).eval()


def _one_name_per_class() -> list[str]:
    seen: dict[type, str] = {}
    for name in list_models():
        seen.setdefault(get_model_entry(name).model_cls, name)
    return sorted(seen.values())


CLASSES = _one_name_per_class()


def test_every_registered_name_maps_to_an_exported_class() -> None:
    classes = {get_model_entry(n).model_cls for n in list_models()}
    assert {get_model_entry(n).model_cls for n in CLASSES} == classes
    assert len(CLASSES) == 4


@pytest.mark.parametrize("name", CLASSES)
def test_torch_export_and_onnx_match_eager_with_dynamic_batch(name: str, tmp_path: Path) -> None:
    """One ``torch.export`` per class (the slow step), checked as a program and, translated, in ONNX Runtime."""
    import onnx
    import onnxruntime as ort

    model = _tiny(name)
    multi = get_model_entry(name).data_kind == "multi_asset"
    program = export_program(model, tmp_path / f"{name}.pt2", num_assets=3 if multi else None)
    assert program.max_abs_diff is not None and program.max_abs_diff <= 1e-4
    loaded = torch.export.load(program.path).module()
    features, timestamps = example_inputs(model, batch=1, seq_len=9)
    scaled = takes_scale(model)  # price, risk, portfolio: forecasts relative to each asset's scale
    extra = {"scale": example_scale(model, features)} if scaled else {}
    with torch.no_grad():
        ref = model(features, timestamps=timestamps, **extra)
        got = loaded(features, timestamps, *extra.values())
    assert max_abs_diff([ref[k] for k in program.output_names], list(got)) <= 1e-4

    result = export_onnx(model, tmp_path / f"{name}.onnx", program=program)
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-4
    proto = onnx.load(str(result.path))
    assert result.opset == 18
    names = ["features", "timestamps", *(["scale"] if scaled else [])]
    assert [i.name for i in proto.graph.input] == names
    assert [o.name for o in proto.graph.output] == list(result.output_names)
    batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value  # symbolic batch axis
    # Independent of the built-in check: batch 1 and batch 4 through ONNX Runtime against eager mode.
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    for batch in (1, 4):
        features, timestamps = example_inputs(model, batch=batch, seq_len=12)
        extra = {"scale": example_scale(model, features)} if scaled else {}
        feeds = {"features": features.numpy(), "timestamps": timestamps.numpy()}
        got = session.run(None, {**feeds, **{k: v.numpy() for k, v in extra.items()}})
        with torch.no_grad():
            ref = model(features, timestamps=timestamps, **extra)
        assert max_abs_diff([ref[k] for k in result.output_names], [torch.from_numpy(g) for g in got]) <= 1e-4
    if scaled:  # the graph maps back through its scale input: 4 x the variance, 2 x the volatility
        key = "volatility_forecast" if "volatility_forecast" in result.output_names else "volatility"
        i = list(result.output_names).index(key)
        low = session.run(None, {**feeds, "scale": extra["scale"].numpy()})[i]
        high = session.run(None, {**feeds, "scale": 4 * extra["scale"].numpy()})[i]
        torch.testing.assert_close(torch.from_numpy(high), 2 * torch.from_numpy(low), rtol=1e-5, atol=1e-8)


def test_program_with_dynamic_assets_takes_any_asset_count(tmp_path: Path) -> None:
    model = _tiny("portfolio_optimizer")
    program = export_program(model, tmp_path / "p.pt2", verify=False)
    module = program.program.module()
    for assets in (2, 5):
        features, timestamps = example_inputs(model, batch=2, seq_len=10, num_assets=assets)
        scale = example_scale(model, features)
        with torch.no_grad():
            ref, got = (
                model(features, timestamps=timestamps, scale=scale),
                module(features, timestamps, scale),
            )
        assert max_abs_diff([ref[k] for k in program.output_names], list(got)) <= 1e-4
    with pytest.raises(ValueError, match="dynamic asset axis"):
        export_onnx(model, tmp_path / "p.onnx", program=program)


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_scripts(name: str, tmp_path: Path) -> None:
    model = _tiny(name)
    result = export_torchscript(model, tmp_path / f"{name}.pt")
    loaded = torch.jit.load(str(result.path))
    features, _ = example_inputs(model, batch=2, seq_len=11)
    with torch.no_grad():
        ref, got = model(features), loaded(features)
    assert list(got) == list(result.output_names)
    assert max_abs_diff([ref[k] for k in got], list(got.values())) <= 1e-4


def test_export_model_from_registry_name_and_checks_format(tmp_path: Path) -> None:
    result = export_model("signal_generator_small", tmp_path / "sig.pt", format="torchscript")
    assert result.format == "torchscript" and result.output_names[0] == "logits"
    with pytest.raises(ValueError, match="format='tflite'"):
        export_model("signal_generator_small", tmp_path / "x", format="tflite")
    with pytest.raises(ValueError, match="Unknown model_type 'nope'"):
        export_model("nope", tmp_path / "x")


def test_check_error_when_export_differs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ml_attention_mechanisms.inference.export as export_module

    monkeypatch.setattr(export_module, "max_abs_diff", lambda ref, got: 1.0)
    with pytest.raises(ExportCheckError, match=r"differs from the eager model by 1 > atol=0.0001"):
        export_torchscript(_tiny("price_predictor"), tmp_path / "p.pt")


def test_max_abs_diff_is_exact_on_integer_outputs() -> None:
    a = torch.tensor([1, 0, -1])
    assert max_abs_diff([a], [a.clone()]) == 0.0
    assert max_abs_diff([a], [torch.tensor([1, 0, 0])]) == float("inf")
    assert max_abs_diff([torch.zeros(2)], [torch.zeros(3)]) == float("inf")


def test_an_ensemble_of_price_models_exports_to_onnx(tmp_path: Path) -> None:
    """A run's ensemble (``ModelEnsemble``) is one graph: ONNX Runtime matches its eager forecasts."""
    from _ensemble_members import trained_apart
    from ml_attention_mechanisms.models import ModelEnsemble

    tiny = get_model_entry("price_predictor_small").model_cls.test_kwargs()
    members = trained_apart("price_predictor_small", 2, **tiny)
    result = export_onnx(ModelEnsemble(members).eval(), tmp_path / "ensemble.onnx")
    assert result.path.is_file() and result.max_abs_diff is not None and result.max_abs_diff < 1e-4
