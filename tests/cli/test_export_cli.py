"""``mlattn export``: from a registry name or a checkpoint, each format, one-line errors and exit codes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from _cli_helpers import refused

from ml_attention_mechanisms.cli.main import main
from ml_attention_mechanisms.models import create_crypto_model, get_model_entry
from ml_attention_mechanisms.training.checkpoint import atomic_save, build_payload


def _checkpoint(path: Path) -> torch.nn.Module:
    kwargs = get_model_entry("price_predictor_small").model_cls.test_kwargs()
    model = create_crypto_model("price_predictor_small", **kwargs).eval()
    payload = build_payload(
        model,
        model_type="price_predictor_small",
        feature_names=[f"f{i}" for i in range(6)],
        scaler=None,
        symbols=None,
    )
    atomic_save(payload, path)
    return model


def test_export_checkpoint_to_torchscript(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _checkpoint(tmp_path / "best.ckpt")
    out_file = tmp_path / "out" / "model.pt"
    assert (
        main(
            [
                "export",
                "--checkpoint",
                str(tmp_path / "best.ckpt"),
                "--format",
                "torchscript",
                "-o",
                str(out_file),
            ]
        )
        == 0
    )
    line = capsys.readouterr().out
    assert "torchscript" in line and "outputs predictions" in line and "max |diff| vs eager" in line
    x = torch.randn(2, 10, 6)
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.load(str(out_file))(x)["predictions"], model(x)["predictions"])


def test_export_registry_name_to_torch_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "sig.pt2"
    code = main(
        ["export", "--model", "signal_generator_small", "--format", "torch-export", "-o", str(out_file)]
    )
    assert code == 0 and out_file.is_file()
    assert "inputs features, timestamps" in capsys.readouterr().out


def test_missing_checkpoint_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--checkpoint", str(tmp_path / "nope.ckpt"), "-o", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "nope.ckpt" in err


def test_unknown_model_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--model", "nope", "-o", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Unknown model_type 'nope'" in err


def test_bad_format_and_missing_source_exit_2(tmp_path: Path) -> None:
    for argv in (
        ["export", "--model", "price_predictor", "--format", "tflite", "-o", "x"],
        ["export", "-o", str(tmp_path / "x")],
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2


def test_failed_check_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import ml_attention_mechanisms.inference.export as export_module

    monkeypatch.setattr(export_module, "max_abs_diff", lambda ref, got: 0.5)
    code = main(
        ["export", "--model", "risk_assessor_small", "--format", "torchscript", "-o", str(tmp_path / "r.pt")]
    )
    assert code == 1
    assert "differs from the eager model by 0.5" in capsys.readouterr().err


def test_export_flags_checked_before_exporting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["export", "--model", "price_predictor_small"]
    refused([*base, "-o", str(tmp_path / "m.onnx"), "--atol", "-1"], capsys, "--atol -1.0", ">= 0")
    refused([*base, "-o", str(tmp_path)], capsys, f"--output {tmp_path}: is a directory")
    refused([*base, "-o", str(tmp_path / "m.onnx"), "--opset", "99"], capsys, "--opset 99: expected 18..")


def test_export_onnxruntime_failure_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ml_attention_mechanisms.inference.export as export

    class InvalidGraph(Exception):  # what onnxruntime raises for an opset newer than it implements
        __module__ = "onnxruntime.capi.onnxruntime_pybind11_state"

    def fail(*args: object, **kwargs: object) -> None:
        raise InvalidGraph("[ONNXRuntimeError] : 10 : INVALID_GRAPH : No Op registered for Attention")

    monkeypatch.setattr(export, "export_model", fail)
    refused(["export", "--model", "price_predictor_small", "-o", str(tmp_path / "m.onnx"), "--opset", "26"],
             capsys, "--opset 26: onnxruntime", "cannot load", "use a lower --opset")  # fmt: skip


def test_export_num_assets_refused_for_a_single_asset_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml_attention_mechanisms.inference import export as export_module

    target = tmp_path / "m.onnx"
    rc, out, err = _run(
        ["export", "--model", "price_predictor_small", "--num-assets", "3", "-o", str(target)], capsys
    )
    assert rc == 2 and out == "" and err.count("\n") == 1 and not target.exists()
    assert "--num-assets 3: only for a portfolio (multi-asset) model" in err
    assert "price_predictor_small is a CryptoPricePredictionModel" in err
    # a portfolio model goes on to the export with the count (the export itself is tested elsewhere)
    seen: dict[str, Any] = {}

    def fake_export(source: Any, path: Any, **kwargs: Any) -> Any:
        seen.update(source=source, **kwargs)
        return SimpleNamespace(path=path, format="onnx", opset=18, input_names=["x"], output_names=["y"],
                               max_abs_diff=None)  # fmt: skip

    monkeypatch.setattr(export_module, "export_model", fake_export)
    argv = ["export", "--model", "portfolio_optimizer_small", "--num-assets", "3", "-o", str(target)]
    rc, out, err = _run(argv, capsys)
    assert rc == 0 and err == "" and seen["num_assets"] == 3
    assert type(seen["source"]).__name__ != "str"  # the model loaded for the check is the one exported


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_over_its_own_checkpoint_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    ckpt = tmp_path / "a.ckpt"
    _checkpoint(ckpt)
    before = ckpt.read_bytes()
    (tmp_path / "sub").mkdir()
    for output in (ckpt, tmp_path / "sub" / ".." / "a.ckpt"):  # the same file, however it is spelled
        assert main(["export", "--checkpoint", str(ckpt), "-o", str(output), "--format", fmt]) == 2
        err = capsys.readouterr().err
        assert (
            err.count("\n") == 1
            and f"--output {output}: is the same file as the input --checkpoint {ckpt}" in err
        )
    assert ckpt.read_bytes() == before
    from ml_attention_mechanisms.inference import export_model

    with pytest.raises(ValueError, match=r"a\.ckpt: is the same file as the input checkpoint "):
        export_model(ckpt, ckpt, format=fmt)
    assert ckpt.read_bytes() == before
