"""A run knows its bar interval: time_unit_seconds from the data, bar_seconds in run.json and checkpoints."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from tiny_parts import SMALL_MODEL, SMALL_MODEL_CONFIG

from ml_attention_mechanisms.inference import StreamingConfig, StreamingPredictor
from ml_attention_mechanisms.models import create_crypto_model
from ml_attention_mechanisms.training import (
    RunConfig,
    _models,
    checkpoint_bar_seconds,
    load_checkpoint,
    load_run_config,
    read_checkpoint,
)
from ml_attention_mechanisms.training.checkpoint import atomic_save, build_payload
from ml_attention_mechanisms.training.config import run_config_from_dict
from ml_attention_mechanisms.training.run import build_model, prepare_run_data, train

DAY = 86_400
HOUR = 3_600
T0 = 1_600_041_600  # a UTC midnight


def _write_bars(path: Path, *, step: int, bars: int = 480, seed: int = 0) -> Path:
    """A generic OHLCV CSV (Unix seconds) of a random walk with bars ``step`` seconds apart."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(0.01 * rng.standard_normal(bars)))
    open_ = np.concatenate([close[:1], close[:-1]])
    high = np.maximum(open_, close) * (1 + 0.004 * rng.random(bars))
    low = np.minimum(open_, close) * (1 - 0.004 * rng.random(bars))
    volume = 10 + 10 * rng.random(bars)
    rows = [
        f"{T0 + step * i},{open_[i]:.6f},{high[i]:.6f},{low[i]:.6f},{close[i]:.6f},{volume[i]:.4f}"
        for i in range(bars)
    ]
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _config(**model: Any) -> dict[str, Any]:
    return {
        "model": {**SMALL_MODEL_CONFIG, **model},
        "data": {"window": 16},
        "training": {"max_epochs": 1, "batch_size": 32, "enable_progress_bar": False},
    }


@pytest.fixture(scope="module")
def daily_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("daily")
    data = _write_bars(root / "BTCUSDT_d.csv", step=DAY)
    result = train(SMALL_MODEL, data, config=_config(), out=root / "run")
    assert result.bar_seconds == DAY
    return result.run_dir


def test_daily_file_trains_one_bar_per_unit_and_records_it(daily_run: Path) -> None:
    record = json.loads((daily_run / "run.json").read_text(encoding="utf-8"))
    assert record["bar_seconds"] == DAY and record["timeframe"] == "1d"
    assert record["model_config"]["time_unit_seconds"] == DAY
    resolved = yaml.safe_load((daily_run / "config.yaml").read_text(encoding="utf-8"))
    assert resolved["model"]["time_unit_seconds"] == DAY  # a resume rebuilds the same model
    for name in ("best.ckpt", "last.ckpt"):
        path = daily_run / "checkpoints" / name
        assert read_checkpoint(path)["bar_seconds"] == DAY
        model, payload = load_checkpoint(path)
        assert checkpoint_bar_seconds(payload) == DAY
        assert model.config.time_unit_seconds == DAY  # type: ignore[union-attr]


def test_streaming_on_a_daily_checkpoint_steps_by_a_day(daily_run: Path) -> None:
    ckpt = daily_run / "checkpoints" / "best.ckpt"
    live = StreamingPredictor(ckpt, symbol="BTC/USDT")
    assert live.bar_seconds == DAY
    width = len(live.payload["feature_names"])
    row = np.zeros(width)
    live.update(T0, row)
    live.update(T0 + DAY, row)  # the next daily bar: no gap
    assert live.num_bars == 2 and live.stats["missing"] == 0
    live.update(T0 + 3 * DAY, row)  # one daily bar missing (hourly steps would see 47)
    assert live.num_bars == 4 and live.stats["missing"] == 1
    assert StreamingPredictor(ckpt, StreamingConfig(bar_seconds=HOUR)).bar_seconds == HOUR  # explicit wins


def test_hourly_run_model_config_is_the_default_one(tmp_path: Path) -> None:
    data = _write_bars(tmp_path / "BTCUSDT_1h.csv", step=HOUR)
    result = train(SMALL_MODEL, data, config=_config(), out=tmp_path / "run")
    record = json.loads((result.run_dir / "run.json").read_text(encoding="utf-8"))
    assert record["bar_seconds"] == HOUR and record["timeframe"] == "1h"
    # The expected model: the preset's defaults, the config's sizes, the data's width and the training
    # split's loss normalisers, and nothing about the interval.
    cfg = run_config_from_dict(_config(), where="test")
    prepared = prepare_run_data(SMALL_MODEL, data, cfg, include_test=False)
    kwargs = {**SMALL_MODEL_CONFIG, "input_features": len(prepared.feature_names)}
    probe = create_crypto_model(SMALL_MODEL, **kwargs)
    kwargs.update(_models.loss_statistics(probe, prepared.train, kwargs))
    expected = dataclasses.asdict(create_crypto_model(SMALL_MODEL, **kwargs).config)
    assert record["model_config"] == json.loads(json.dumps(expected))
    assert expected["time_unit_seconds"] == HOUR
    resolved = yaml.safe_load((result.run_dir / "config.yaml").read_text(encoding="utf-8"))
    assert "time_unit_seconds" not in resolved["model"]
    assert read_checkpoint(result.run_dir / "checkpoints" / "last.ckpt")["bar_seconds"] == HOUR


def test_mixed_intervals_are_refused_with_the_files_named(tmp_path: Path) -> None:
    hourly = _write_bars(tmp_path / "BTCUSDT_1h.csv", step=HOUR)
    daily = _write_bars(tmp_path / "ETHUSDT_d.csv", step=DAY, seed=1)
    with pytest.raises(ValueError, match="different bar intervals") as info:
        train(SMALL_MODEL, [hourly, daily], config=_config(), out=tmp_path / "run")
    message = str(info.value)
    assert f"{hourly} (1h)" in message and f"{daily} (1d)" in message
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_explicit_time_unit_seconds_wins(tmp_path: Path) -> None:
    daily = _write_bars(tmp_path / "BTCUSDT_d.csv", step=DAY)
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(_config(time_unit_seconds=60.0)), encoding="utf-8")
    for cfg in (
        load_run_config(config_file),
        run_config_from_dict(_config(time_unit_seconds=60.0), where="t"),
    ):
        assert isinstance(cfg, RunConfig)
        prepared = prepare_run_data(SMALL_MODEL, daily, cfg, include_test=False)
        assert prepared.bar_seconds == DAY
        net, kwargs = build_model(SMALL_MODEL, cfg, prepared)
        assert net.config.time_unit_seconds == 60.0 and kwargs["time_unit_seconds"] == 60.0  # type: ignore[union-attr]


def test_old_checkpoint_without_bar_seconds_loads(tmp_path: Path) -> None:
    model = create_crypto_model(SMALL_MODEL, input_features=4, **SMALL_MODEL_CONFIG).eval()
    payload = build_payload(
        model, model_type=SMALL_MODEL, feature_names=list("abcd"), scaler=None, symbols=None
    )
    assert "bar_seconds" not in payload  # what checkpoints looked like before the interval was recorded
    atomic_save(payload, tmp_path / "old.ckpt")
    assert "bar_seconds" not in read_checkpoint(tmp_path / "old.ckpt")
    loaded, got = load_checkpoint(tmp_path / "old.ckpt")
    assert checkpoint_bar_seconds(got) == HOUR  # assumed hourly
    assert StreamingPredictor(tmp_path / "old.ckpt").bar_seconds == int(loaded.config.time_unit_seconds)  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="bar_seconds=0"):
        build_payload(
            model,
            model_type=SMALL_MODEL,
            feature_names=list("abcd"),
            scaler=None,
            symbols=None,
            bar_seconds=0,
        )
    with pytest.raises(ValueError, match="bar_seconds=-5"):
        checkpoint_bar_seconds({"bar_seconds": -5})


def test_evaluation_refuses_data_of_another_interval_than_the_runs(tmp_path: Path) -> None:
    from ml_attention_mechanisms.recipes._files import load_hourly_files

    daily = _write_bars(tmp_path / "BTCUSDT_d.csv", step=DAY)
    with pytest.raises(
        ValueError, match="1d bars; the run's models, baselines and 24-bar horizons are in 1h"
    ) as info:
        load_hourly_files([daily])  # a run recording no interval: hourly
    assert str(info.value).startswith(f"--data {daily}: 1d bars")
    assert len(load_hourly_files([daily], DAY)) == 1  # a run trained on daily bars takes them
