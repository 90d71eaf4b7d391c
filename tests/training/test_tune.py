"""tune(): Optuna on the validation split only; the test split is never read and cannot move the result."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from tiny_parts import (
    SMALL_MODEL,
    SMALL_MODEL_CONFIG,
    TINY,
    install_tiny_registry,
    tiny_prepared,
    write_ohlcv_csv,
)

from ml_attention_mechanisms.training.config import load_run_config
from ml_attention_mechanisms.training.tune import tune

TRAINING = {"max_epochs": 1, "batch_size": 16, "enable_progress_bar": False}


def test_tune_never_reads_the_test_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_tiny_registry(monkeypatch)
    data = tiny_prepared(poisoned_test=True)  # any read of the test windows raises
    result = tune(TINY, data, config={"training": TRAINING}, trials=3, out=tmp_path)
    assert result.trials == 3 and result.config_path == tmp_path / "best_config.yaml"
    best = load_run_config(result.config_path)  # a complete config that `mlattn train --config` takes
    assert best.training.learning_rate == pytest.approx(result.best_params["learning_rate"])
    assert best.model["dropout"] == pytest.approx(result.best_params["dropout"])
    rows = list(csv.DictReader(open(tmp_path / "trials.csv")))
    assert len(rows) == 3 and min(float(r["val_loss"]) for r in rows if r["val_loss"]) == pytest.approx(
        result.best_val_loss
    )


def _poison_test_period(src: Path, dst: Path, share: float = 0.85) -> Path:
    """Multiply every price after the first ``share`` of the rows by 50 (still valid OHLC)."""
    lines = src.read_text().splitlines()
    head, rows = lines[0], lines[1:]
    cut = int(len(rows) * share)
    out = rows[:cut]
    for row in rows[cut:]:
        t, o, h, lo, c, v = row.split(",")
        out.append(",".join([t, *(f"{float(x) * 50:.6f}" for x in (o, h, lo, c)), v]))
    dst.write_text("\n".join([head, *out]) + "\n", encoding="utf-8")
    return dst


def test_poisoned_test_period_changes_nothing(tmp_path: Path) -> None:
    clean = [
        write_ohlcv_csv(tmp_path / "BTCUSDT_1h.csv", seed=0),
        write_ohlcv_csv(tmp_path / "ETHUSDT_1h.csv", seed=1),
    ]
    (tmp_path / "poisoned").mkdir()
    poisoned = [_poison_test_period(p, tmp_path / "poisoned" / p.name) for p in clean]
    config = {
        "model": SMALL_MODEL_CONFIG,
        "data": {"window": 16},
        "training": {**TRAINING, "limit_train_batches": 3},
    }
    a = tune(SMALL_MODEL, clean, config=config, trials=2, out=tmp_path / "a")
    b = tune(SMALL_MODEL, poisoned, config=config, trials=2, out=tmp_path / "b")
    assert a.best_params == b.best_params
    assert a.best_val_loss == b.best_val_loss  # bit for bit: nothing of the test period reached a trial
    assert (tmp_path / "a" / "trials.csv").read_text() == (tmp_path / "b" / "trials.csv").read_text()


def test_bad_trials() -> None:
    with pytest.raises(ValueError, match="--trials 0: must be an int >= 1"):
        tune(TINY, tiny_prepared(), trials=0)


def test_the_best_config_never_replaces_the_config_it_started_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_tiny_registry(monkeypatch)
    config = tmp_path / "best_config.yaml"  # a re-tune from a previous search's best, into the same folder
    config.write_text(
        "training: {max_epochs: 1, batch_size: 16, enable_progress_bar: false}\n", encoding="utf-8"
    )
    before = config.read_bytes()
    with pytest.raises(
        ValueError, match=r"--out .*best_config\.yaml: is the same file as the input --config"
    ):
        tune(TINY, tiny_prepared(), config=config, trials=1, out=tmp_path)
    assert config.read_bytes() == before
