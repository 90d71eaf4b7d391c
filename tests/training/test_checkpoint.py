"""Atomic checkpoint writes, safe loads (pickled code refused, file named), a checkpoint alone predicts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch
from tiny_parts import TINY, SyntheticWindows, TinyConfig, TinyForecaster, install_tiny_registry

from ml_attention_mechanisms.training import checkpoint as ck


def _model() -> TinyForecaster:
    return TinyForecaster(TinyConfig(d_model=8))


def _payload(model: TinyForecaster) -> dict[str, Any]:
    return ck.build_payload(
        model,
        model_type=TINY,
        feature_names=["a", "b", "c", "d"],
        scaler={"mean": (0.0, 1.0)},
        symbols={"BTC": 1},
    )


def test_payload_has_the_contract_keys_and_loads_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    ck.atomic_save(_payload(_model()), path)
    raw = torch.load(path, weights_only=True)
    assert set(ck.PAYLOAD_KEYS) <= set(raw)
    assert raw["schema_version"] == ck.SCHEMA_VERSION
    assert raw["config"] == {
        "input_features": 4,
        "d_model": 8,
        "prediction_horizon": 2,
        "dropout": 0.1,
        "num_assets": 8,
        "use_mixed_precision": False,
    }
    assert raw["scaler"] == {"mean": [0.0, 1.0]} and raw["symbols"] == {"BTC": 1}
    assert raw["versions"]["torch"] == torch.__version__


def test_a_checkpoint_alone_predicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_tiny_registry(monkeypatch)
    model = _model().eval()
    path = tmp_path / "m.ckpt"
    ck.atomic_save(_payload(model), path)
    loaded, payload = ck.load_checkpoint(path)
    assert isinstance(loaded, TinyForecaster) and not loaded.training
    batch = SyntheticWindows(4)[0]
    x = batch["price_data"].unsqueeze(0)
    torch.testing.assert_close(loaded(x)["predictions"], model(x)["predictions"], rtol=0, atol=0)
    assert payload["feature_names"] == ["a", "b", "c", "d"]


class _Exploit:
    """Unpickling this would run code (the classic __reduce__ payload)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_pickled_code_is_refused_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_tiny_registry(monkeypatch)
    marker = tmp_path / "marker"
    payload = _payload(_model())
    payload["scaler"] = _Exploit(marker)
    bad = tmp_path / "crafted.ckpt"
    torch.save(payload, bad)  # plain torch.save: pickles the instance via __reduce__
    with pytest.raises(ck.UnsafeCheckpointError, match=r"crafted\.ckpt: refused to load: .*pickled code"):
        ck.load_checkpoint(bad)
    with pytest.raises(ck.UnsafeCheckpointError, match=r"crafted\.ckpt"):
        ck.read_checkpoint(bad)
    assert not marker.exists()  # nothing in the file ran


def test_not_a_checkpoint_and_missing_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=r"junk\.ckpt: not a readable torch checkpoint"):
        ck.read_checkpoint(junk)
    with pytest.raises(FileNotFoundError, match=r"checkpoint not found: .*nope\.ckpt"):
        ck.read_checkpoint(tmp_path / "nope.ckpt")
    plain = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {}}, plain)
    with pytest.raises(
        ValueError, match=r"plain\.ckpt: not a model checkpoint: missing key\(s\) schema_version"
    ):
        ck.load_checkpoint(plain)
    newer = tmp_path / "newer.ckpt"
    torch.save({**_payload(_model()), "schema_version": ck.SCHEMA_VERSION + 1}, newer)
    with pytest.raises(ValueError, match="reads checkpoints up to version"):
        ck.load_checkpoint(newer)


def test_a_crash_while_writing_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "last.ckpt"
    ck.atomic_save({"v": torch.tensor([1.0])}, path)
    before = path.read_bytes()

    def torn_save(obj: Any, fh: Any, *args: Any, **kwargs: Any) -> None:
        fh.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(ck.torch, "save", torn_save)
    with pytest.raises(OSError, match="disk full"):
        ck.atomic_save({"v": torch.tensor([2.0])}, path)
    monkeypatch.undo()

    def no_rename(src: Any, dst: Any) -> None:
        raise OSError("killed before rename")

    monkeypatch.setattr(ck.os, "replace", no_rename)
    with pytest.raises(OSError, match="killed before rename"):
        ck.atomic_save({"v": torch.tensor([3.0])}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["last.ckpt"]  # no temporary file left behind
    ck.atomic_save({"v": torch.tensor([4.0])}, path)
    assert torch.load(path, weights_only=True)["v"].item() == 4.0


def test_weights_that_do_not_fit_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_tiny_registry(monkeypatch)
    payload = _payload(_model())
    payload["config"] = {**payload["config"], "d_model": 16}
    path = tmp_path / "mismatch.ckpt"
    ck.atomic_save(payload, path)
    with pytest.raises(ValueError, match=r"mismatch\.ckpt: weights do not fit model 'tiny_forecaster'"):
        ck.load_checkpoint(path)
