"""``mlattn train`` / ``mlattn tune``: exit codes, one-line errors caught before training, --debug, outputs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from _cli_helpers import refused

from ml_attention_mechanisms.cli.main import main

MODEL = "price_predictor_small"
SMALL = {"d_model": 16, "num_heads": 2, "num_encoder_layers": 1, "d_ff": 32, "attention_window": 16,
         "prediction_horizon": 2}  # fmt: skip


def _csv(path: Path, *, bars: int = 480, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    t = 1_600_000_000 // 3600 * 3600 + 3600 * np.arange(bars)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, bars)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.004, bars))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.004, bars))
    vol = rng.uniform(10, 20, bars)
    lines = [
        f"{a},{b:.6f},{c:.6f},{d:.6f},{e:.6f},{f:.4f}"
        for a, b, c, d, e, f in zip(t, open_, high, low, close, vol)
    ]
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    return [_csv(tmp_path / "BTCUSDT_1h.csv", seed=0), _csv(tmp_path / "ETHUSDT_1h.csv", seed=1)]


def _config(tmp_path: Path, **sections: dict[str, Any]) -> Path:
    content: dict[str, Any] = {
        "model": dict(SMALL),
        "data": {"window": 16},
        "training": {"max_epochs": 1, "batch_size": 32, "enable_progress_bar": False},
    }
    for name, values in sections.items():
        content[name] = {**content[name], **values}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], pattern: str, code: int = 2) -> str:
    try:
        got = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        got = int(exc.code or 0)
    assert got == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert pattern in err, err
    return err


def test_train_writes_a_run(tmp_path: Path, files: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = ["train", "--model", MODEL, "--data", *map(str, files), "--config", str(_config(tmp_path))]
    assert main([*argv, "--out", str(out), "--seed", "3"]) == 0
    assert f"run: {out}" in capsys.readouterr().out
    record = json.loads((out / "run.json").read_text())
    assert record["data_files_sha256"] == {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    assert record["model_config"]["input_features"] == 17  # the data layer's default feature set
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["training"]["seed"] == 3 and resolved["model"]["input_features"] == 17
    payload = torch.load(out / "checkpoints" / "best.ckpt", weights_only=True)
    assert payload["symbols"] == {"BTC/USDT": 1, "ETH/USDT": 2} and len(payload["feature_names"]) == 17


def test_missing_data_file(tmp_path: Path, files: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.csv"
    _fails(
        capsys,
        ["train", "--model", MODEL, "--data", str(files[0]), str(missing)],
        f"--data: file not found: {missing}",
    )


def test_wrong_typed_config_value(
    tmp_path: Path, files: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, training={"max_epochs": "three"})
    _fails(capsys, ["train", "--model", MODEL, "--data", str(files[0]), "--config", str(cfg)],
           f"{cfg}: training.max_epochs='three': expected int")  # fmt: skip


def test_wrong_typed_model_value(
    tmp_path: Path, files: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, model={"d_model": "big"})
    _fails(capsys, ["train", "--model", MODEL, "--data", str(files[0]), "--config", str(cfg)],
           "config model section for 'price_predictor_small': CryptoPredictionModelConfig.d_model='big'")  # fmt: skip
    cfg = _config(tmp_path, model={"d_modle": 16})
    _fails(capsys, ["train", "--model", MODEL, "--data", str(files[0]), "--config", str(cfg)], "d_modle")


def test_unknown_config_key(tmp_path: Path, files: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, training={"learning_rat": 0.1})
    _fails(capsys, ["train", "--model", MODEL, "--data", str(files[0]), "--config", str(cfg)],
           "training: unknown key(s) learning_rat; valid:")  # fmt: skip


def test_horizon_longer_than_the_data(
    tmp_path: Path, files: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, model={"prediction_horizon": 600})
    _fails(capsys, ["train", "--model", MODEL, "--data", str(files[0]), "--config", str(cfg)],
           "the horizon (600 bars) is longer than the data (480 bars)")  # fmt: skip


def test_too_few_bars_for_the_window(
    tmp_path: Path, files: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, data={"window": 479})
    _fails(capsys, ["train", "--model", MODEL, "--data", str(files[0]), "--config", str(cfg)],
           "too few bars (480) for data.window=479 plus the 2-bar horizon")  # fmt: skip


def test_empty_training_split(tmp_path: Path, files: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, data={"train_end": "2020-09-13 20:00", "val_end": "2020-09-25 00:00"})
    _fails(capsys, ["train", "--model", MODEL, "--data", str(files[0]), "--config", str(cfg)],
           "the training split is empty")  # fmt: skip


def test_usage_errors(tmp_path: Path, files: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    _fails(
        capsys, ["train", "--model", "nope", "--data", str(files[0])], "Unknown model_type 'nope'; available:"
    )
    _fails(capsys, ["train", "--data", str(files[0])], "--model: required")
    _fails(capsys, ["train", "--resume", str(tmp_path / "gone")], "--resume: run directory not found")
    _fails(capsys, ["train", "--model", MODEL, "--data", str(files[0]), "--config", str(tmp_path / "c.yaml")],
           "--config: file not found")  # fmt: skip
    _fails(capsys, ["train", "--model", MODEL, "--data", str(files[0]), "--max-epochs", "0"], "--max-epochs")
    _fails(capsys, ["tune", "--model", MODEL, "--data", str(files[0]), "--trials", "0"], "--trials")


def test_debug_shows_the_traceback(
    tmp_path: Path, files: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nope.csv")
    assert main(["--debug", "train", "--model", MODEL, "--data", missing]) == 2
    assert "Traceback" in capsys.readouterr().err
    assert main(["train", "--model", MODEL, "--data", missing, "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_resume_refuses_a_crafted_checkpoint(
    tmp_path: Path, files: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["train", "--model", MODEL, "--data", *map(str, files), "--config", str(_config(tmp_path))]
    assert main([*argv, "--out", str(out)]) == 0
    capsys.readouterr()
    last = out / "checkpoints" / "last.ckpt"
    payload = torch.load(last, weights_only=True)
    payload["scaler"] = _Exploit()
    torch.save(payload, last)
    _fails(capsys, ["train", "--resume", str(out), "--max-epochs", "2"], f"{last}: refused to load")


class _Exploit:
    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("this must never run",))


def test_train_on_too_few_bars_names_the_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    n = 100
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    ts = pd.date_range("2021-01-01", periods=n, freq="h", tz="UTC")
    frame = pd.DataFrame({"open": close, "high": close * 1.002, "low": close * 0.998, "close": close,
                          "volume": 5.0}, index=pd.Index(ts, name="timestamp"))  # fmt: skip
    path = tmp_path / "BTCUSDT_1h.csv"
    frame.to_csv(path)
    config = tmp_path / "tiny.yaml"
    config.write_text(
        "model: {d_model: 16, num_heads: 2, num_encoder_layers: 1, d_ff: 32, attention_window: 16}\n"
        "data: {window: 16}\ntraining: {max_epochs: 1, batch_size: 8, enable_progress_bar: false}\n",
        encoding="utf-8",
    )
    refused(["train", "--model", "price_predictor_small", "--data", str(path), "--config", str(config),
              "--out", str(tmp_path / "run")], capsys, f"--data {path}: too few bars to train on")  # fmt: skip


def test_train_data_without_symbol_or_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.DataFrame({"open": 1.0, "high": 1.1, "low": 0.9, "close": 1.0, "volume": 1.0},
                         index=pd.Index(pd.date_range("2021-01-01", periods=50, freq="h", tz="UTC"), name="timestamp"))  # fmt: skip
    anonymous, named = tmp_path / "prices.csv", tmp_path / "ETHUSDT_1h.csv"
    frame.to_csv(anonymous)
    frame.to_csv(named)
    base = ["train", "--model", "price_predictor_small", "--out", str(tmp_path / "run"), "--data"]
    refused([*base, str(named), str(anonymous)], capsys, f"--data {anonymous}: no symbol", "BTCUSDT_1h.csv")
    refused([*base, str(named), str(named)], capsys, "duplicate symbols", "one file per asset")


def test_tune_names_the_data_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.DataFrame({"open": 1.0, "high": 1.1, "low": 0.9, "close": 1.0, "volume": 1.0},
                         index=pd.Index(pd.date_range("2021-01-01", periods=50, freq="h", tz="UTC"), name="timestamp"))  # fmt: skip
    anonymous = tmp_path / "prices.csv"
    frame.to_csv(anonymous)
    base = [
        "tune",
        "--model",
        "price_predictor_small",
        "--out",
        str(tmp_path / "t"),
        "--data",
        str(anonymous),
    ]
    refused(base, capsys, f"--data {anonymous}: no symbol")
    refused([*base, "--timeout", "-1"], capsys, "--timeout -1.0: expected seconds > 0")


def test_reading_options_set_the_runs_data_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--missing-hours`` and ``--timezone`` set the run's ``data.missing_hours`` and ``data.timezone``
    (written to its config.yaml) over the YAML config's; refused with the bundled dataset and with
    ``--resume``."""
    path = _csv(tmp_path / "BTCUSDT_1h.csv", bars=1200)
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [line for i, line in enumerate(lines) if i < 100 or i % 50 != 0]  # holes of one hour
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    config = _config(tmp_path)
    runs = {}
    for mode in (None, "no-trades"):
        out = tmp_path / f"run-{mode}"
        extra = [] if mode is None else ["--missing-hours", mode, "--timezone", "UTC+8"]
        argv = ["train", "--model", MODEL, "--data", str(path), "--config", str(config), "--out", str(out)]
        assert main([*argv, *extra]) == 0
        data = yaml.safe_load((out / "config.yaml").read_text())["data"]
        runs[mode] = (data["missing_hours"], data["timezone"])
    capsys.readouterr()
    assert runs == {None: ("auto", None), "no-trades": ("no-trades", "UTC+8")}
    _fails(capsys, ["train", "--model", MODEL, "--data", "binance-1h", "--missing-hours", "absent"],
           "--missing-hours: reads data files; the bundled dataset binance-1h has its own bars")  # fmt: skip
    _fails(capsys, ["train", "--model", MODEL, "--data", "binance-1h", "--timezone", "UTC+8"],
           "--timezone: reads data files; the bundled dataset binance-1h has its own bars")  # fmt: skip
    _fails(capsys, ["train", "--resume", str(tmp_path / "run-None"), "--missing-hours", "absent"],
           "--missing-hours: not with --resume")  # fmt: skip
    _fails(capsys, ["train", "--resume", str(tmp_path / "run-None"), "--timezone", "Asia/Tokyo"],
           "--timezone: not with --resume")  # fmt: skip
