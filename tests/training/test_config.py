"""TrainingConfig validation and the YAML mapping (unknown keys and wrong types named)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_attention_mechanisms.training.config import (
    ConfigError,
    DataOptions,
    RunConfig,
    TrainingConfig,
    dump_run_config,
    load_run_config,
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_maps_onto_the_dataclasses(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "model:\n  d_model: 32\n  dropout: 0.2\ndata:\n  window: 16\n  symbols: [BTCUSDT, ETHUSDT]\n"
        "training:\n  max_epochs: 3\n  learning_rate: 1\n  precision: bf16-mixed\n  gradient_clip_val: null\n",
    )
    cfg = load_run_config(path)
    assert cfg.model == {"d_model": 32, "dropout": 0.2}
    assert cfg.data == DataOptions(window=16, symbols=("BTCUSDT", "ETHUSDT"))
    assert cfg.training.max_epochs == 3
    assert cfg.training.learning_rate == 1.0 and isinstance(cfg.training.learning_rate, float)
    assert cfg.training.precision == "bf16-mixed" and cfg.training.gradient_clip_val is None


def test_round_trip(tmp_path: Path) -> None:
    cfg = RunConfig(
        model={"d_model": 16},
        data=DataOptions(window=8, symbols=("BTCUSDT",)),
        training=TrainingConfig(max_epochs=2, seed=7),
    )
    dump_run_config(cfg, tmp_path / "c.yaml")
    assert load_run_config(tmp_path / "c.yaml") == cfg


def test_precision_number_is_read_as_text(tmp_path: Path) -> None:
    assert load_run_config(_write(tmp_path, "training:\n  precision: 32\n")).training.precision == "32"


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("training:\n  max_epoch: 3\n", r"run.yaml: training: unknown key\(s\) max_epoch; valid: max_epochs"),
        ("data:\n  windw: 3\n", r"data: unknown key\(s\) windw"),
        ("trainng:\n  max_epochs: 3\n", r"unknown section\(s\) trainng; valid: model, data, training"),
        ("training:\n  max_epochs: three\n", r"training.max_epochs='three': expected int"),
        ("training:\n  learning_rate: fast\n", r"training.learning_rate='fast': expected float"),
        ("training:\n  deterministic: 1\n", r"training.deterministic=1: expected bool"),
        ("training:\n  max_epochs: 2.5\n", r"training.max_epochs=2.5: expected int"),
        ("data:\n  symbols: BTC\n", r"data.symbols='BTC': expected list of str or null"),
        ("training:\n  max_epochs: 0\n", r"TrainingConfig.max_epochs=0: must be an int >= 1"),
        ("training:\n  precision: fp16\n", r"TrainingConfig.precision='fp16': must be one of"),
        ("- a\n- b\n", r"expected a mapping with sections"),
        ("training: [1, 2]\n", r"training: expected a mapping of TrainingConfig fields"),
        ("training: {max_epochs: [\n", r"not a valid YAML file"),
    ],
)
def test_bad_files_name_the_key_and_value(tmp_path: Path, text: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        load_run_config(_write(tmp_path, text))


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"config file not found: .*nope\.yaml"):
        load_run_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("batch_size", 0, "must be an int >= 1"),
        ("learning_rate", 0.0, "must be > 0"),
        ("warmup_fraction", 1.0, r"must be in \[0, 1\)"),
        ("min_lr_ratio", 1.5, r"must be in \[0, 1\]"),
        ("gradient_clip_val", -1.0, "must be > 0 or None"),
        ("early_stopping_patience", 0, "must be an int >= 1 or None"),
        ("strategy", "fsdp", "must be one of"),
        ("accelerator", "tpu", "must be one of"),
        ("seed", -1, "must be an int >= 0"),
    ],
)
def test_training_config_messages(field: str, value: object, rule: str) -> None:
    with pytest.raises(ValueError, match=rf"TrainingConfig\.{field}={value!r}: {rule}"):
        TrainingConfig(**{field: value})  # type: ignore[arg-type]


def test_data_options_messages() -> None:
    with pytest.raises(ValueError, match=r"DataOptions\.window=1: must be an int >= 2"):
        DataOptions(window=1)
    assert TrainingConfig(devices=2, num_nodes=3).world_size == 6
