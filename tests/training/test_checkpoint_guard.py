"""A checkpoint is trusted only after its content hash, its config's sizes, the fit of its weights and their
finiteness are checked: a damaged file, a config asking for terabytes, NaN weights are refused, named."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
from tiny_parts import TINY, TinyConfig, TinyForecaster, install_tiny_registry

from ml_attention_mechanisms.training import _models
from ml_attention_mechanisms.training import checkpoint as ck


def _payload() -> dict[str, Any]:
    return ck.build_payload(
        TinyForecaster(TinyConfig(d_model=8)),
        model_type=TINY,
        feature_names=list("abcd"),
        scaler={},
        symbols={},
    )


def _flip_one_bit_of_a_weight(path: Path) -> None:
    """Flip one bit inside the bytes of the largest tensor stored in the zip (not its metadata)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.file_size // 2] ^= 0x10
    path.write_bytes(bytes(data))


def test_a_bit_flipped_checkpoint_is_refused_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_tiny_registry(monkeypatch)
    path = tmp_path / "best.ckpt"
    ck.atomic_save(_payload(), path)
    ck.load_checkpoint(path)  # intact: loads
    _flip_one_bit_of_a_weight(path)
    torch.load(path, weights_only=True)  # torch itself reads the damaged file without a word
    with pytest.raises(
        ValueError, match=r"best\.ckpt: refused to load: its contents do not match the content hash"
    ):
        ck.load_checkpoint(path)
    with pytest.raises(ValueError, match=r"best\.ckpt: refused to load"):
        ck.read_checkpoint(path)


def test_the_hash_covers_every_value_and_a_file_without_one_still_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml_attention_mechanisms.training import _checkpoint_guard as guard

    install_tiny_registry(monkeypatch)
    base = _payload()
    path = tmp_path / "sealed.ckpt"
    ck.atomic_save(base, path)
    assert torch.load(path, weights_only=True)[guard.HASH_KEY] == guard.content_sha256(base)
    for key, value in (("symbols", {"BTC/USDT": 1}), ("feature_names", list("abce")), ("bar_seconds", 60)):
        assert guard.content_sha256({**base, key: value}) != guard.content_sha256(base), key
    weights = dict(base["state_dict"])
    name = next(iter(weights))
    weights[name] = weights[name].clone()
    weights[name].view(-1)[0] += 1e-6
    assert guard.content_sha256({**base, "state_dict": weights}) != guard.content_sha256(base)
    old = tmp_path / "old.ckpt"
    torch.save(base, old)  # written before checkpoints carried a hash: nothing to check, loads as before
    model, payload = ck.load_checkpoint(old)
    assert guard.HASH_KEY not in payload and isinstance(model, TinyForecaster)


def test_a_config_asking_for_terabytes_is_refused_before_anything_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[dict[str, Any]] = []

    def spy(model_type: str, config: dict[str, Any]) -> Any:
        builds.append(config)
        raise AssertionError("the model was built")

    monkeypatch.setattr(_models, "model_from_config", spy)
    payload = ck.build_payload(
        TinyForecaster(TinyConfig()), model_type="price_predictor", feature_names=["a"], scaler={}, symbols={}
    )
    payload["config"] = {"d_model": 2**20, "num_heads": 8, "input_features": 4}
    path = tmp_path / "huge.ckpt"
    ck.atomic_save(payload, path)
    with pytest.raises(
        ValueError, match=r"huge\.ckpt: config d_model=1048576 is beyond the largest supported value 16,384"
    ):
        ck.load_checkpoint(path)
    assert builds == []


def test_weights_that_do_not_fit_are_refused_on_the_meta_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config within the bounds but larger than the file's weights: compared on ``meta``, never built."""
    install_tiny_registry(monkeypatch)
    real = _models.model_from_config
    devices: list[str] = []

    def recording(model_type: str, config: dict[str, Any]) -> Any:
        model = real(model_type, config)
        devices.append(next(model.parameters()).device.type)
        return model

    monkeypatch.setattr(_models, "model_from_config", recording)
    payload = _payload()
    payload["config"] = {**payload["config"], "d_model": 4096}
    path = tmp_path / "bigger.ckpt"
    ck.atomic_save(payload, path)
    with pytest.raises(
        ValueError,
        match=r"bigger\.ckpt: weights do not fit model 'tiny_forecaster': encoder\.weight has shape ",
    ):
        ck.load_checkpoint(path)
    assert devices == ["meta"]


def test_nan_weights_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_tiny_registry(monkeypatch)
    payload = _payload()
    payload["state_dict"]["head.bias"][0] = float("nan")
    path = tmp_path / "nan.ckpt"
    ck.atomic_save(payload, path)
    with pytest.raises(ValueError, match=r"nan\.ckpt: refused: weight head\.bias holds NaN values"):
        ck.load_checkpoint(path)
    payload["state_dict"]["head.bias"][0] = float("inf")
    ck.atomic_save(payload, path)
    with pytest.raises(ValueError, match=r"weight head\.bias holds infinite values"):
        ck.load_checkpoint(path)


def test_registry_models_load_through_the_meta_check(tmp_path: Path) -> None:
    """The four model kinds build on ``meta`` with the weights' exact names and shapes."""
    from ml_attention_mechanisms.models import create_crypto_model

    for name in (
        "price_predictor_small",
        "signal_generator_small",
        "risk_assessor_small",
        "portfolio_optimizer_small",
    ):
        model = create_crypto_model(name, d_model=16, num_heads=2, num_encoder_layers=1, d_ff=32).eval()
        path = tmp_path / f"{name}.ckpt"
        ck.atomic_save(
            ck.build_payload(model, model_type=name, feature_names=["a"], scaler={}, symbols={}), path
        )
        loaded, _ = ck.load_checkpoint(path)
        for key, value in model.state_dict().items():
            torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0)
