"""DDP: two CPU processes (gloo) with batch b end where one process with batch 2b ends.

The tiny model's loss is a plain mean over the windows, and so are the registry models' losses (their
normalisers and class weights are fixed from the training split, not taken from each batch; see
``models/config.py``, "Losses"), so the two runs are the same computation up to float rounding: shown here
for the tiny model and for ``price_predictor_small`` on an OHLCV file. (The portfolio model's Sharpe ratio
is a statistic of the batch by definition: for it a DDP run is the same *procedure*, not the same numbers.)
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from tiny_parts import (
    SMALL_MODEL,
    SMALL_MODEL_CONFIG,
    TINY,
    TinyConfig,
    TinyForecaster,
    install_tiny_registry,
    tiny_prepared,
    write_ohlcv_csv,
)

from ml_attention_mechanisms.training.run import train

HERE = Path(__file__).resolve().parent

SCRIPT = textwrap.dedent(
    """
    import sys, json
    sys.path.insert(0, {here!r})
    import torch
    torch.set_num_threads(1)
    from tiny_parts import TINY, install_tiny_registry, tiny_prepared
    from ml_attention_mechanisms.training.run import train
    install_tiny_registry()
    config = json.loads(sys.argv[1])
    if len(sys.argv) > 3:  # a registry model on data files
        train(sys.argv[3], sys.argv[4:], config=config, out=sys.argv[2])
    else:
        train(TINY, tiny_prepared(), config=config, out=sys.argv[2])
    """
)


def _config(**training: object) -> dict[str, object]:
    base = {
        "max_epochs": 2,
        "enable_progress_bar": False,
        "early_stopping_patience": None,
        "accelerator": "cpu",
        "learning_rate": 1e-2,
        "seed": 11,
        "ddp_timeout_s": 60,  # a lost peer fails the run instead of hanging it
    }
    return {"model": {"dropout": 0.0}, "training": {**base, **training}}


def _train(
    tmp_path: Path, name: str, config: dict[str, object], *model_and_files: str
) -> dict[str, torch.Tensor]:
    script = tmp_path / "ddp_job.py"
    script.write_text(SCRIPT.format(here=str(HERE)), encoding="utf-8")
    env = {
        k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MLATTN_RUN_DIR")
    }
    try:
        proc = subprocess.run(
            [sys.executable, str(script), json.dumps(config), str(tmp_path / name), *model_and_files],
            capture_output=True,
            text=True,
            timeout=240,
            env=env,
        )
    except subprocess.TimeoutExpired as exc:  # pragma: no cover - the guard against a hang
        pytest.fail(f"training {name} did not finish in 240 s: {exc}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return torch.load(tmp_path / name / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


@pytest.mark.slow
def test_two_processes_match_one_with_the_same_global_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    two = _train(tmp_path, "ddp", _config(devices=2, strategy="ddp", batch_size=8))
    install_tiny_registry(monkeypatch)
    one = train(
        TINY, tiny_prepared(), config=_config(devices=1, batch_size=16), out=tmp_path / "single"
    ).model
    for key, value in one.state_dict().items():
        torch.testing.assert_close(two[key], value, rtol=1e-4, atol=1e-5)
    L.seed_everything(11, verbose=False)
    untrained = TinyForecaster(TinyConfig(input_features=4, dropout=0.0))
    assert not torch.allclose(two["head.weight"], untrained.head.weight)  # training moved the weights


@pytest.mark.slow
def test_price_predictor_two_processes_match_one(tmp_path: Path) -> None:
    from torch.utils.data import DataLoader

    from ml_attention_mechanisms.training.config import load_run_config
    from ml_attention_mechanisms.training.run import prepare_run_data

    data = str(write_ohlcv_csv(tmp_path / "BTCUSDT_1h.csv", seed=0))
    config: dict[str, Any] = _config(max_epochs=1, limit_train_batches=3, limit_val_batches=1)
    config["model"] = {**SMALL_MODEL_CONFIG, "dropout": 0.0, "asset_dropout": 0.0}  # no random draws
    config["data"] = {"window": 16}
    ddp = {**config["training"], "devices": 2, "strategy": "ddp", "batch_size": 8}
    two = _train(tmp_path, "ddp", {**config, "training": ddp}, SMALL_MODEL, data)
    single = {**config["training"], "devices": 1, "batch_size": 16}
    one = train(SMALL_MODEL, [data], config={**config, "training": single}, out=tmp_path / "single").model
    # Three optimiser steps: beyond a few, Adam (a sign-like step of size ~lr where the gradient is tiny)
    # turns float rounding into visible differences, as it does between any two summation orders.
    d = one.config.d_model  # type: ignore[union-attr]
    for key, value in one.state_dict().items():
        got = two[key]
        if key.endswith("attn.in_proj.bias"):
            # softmax is invariant to the key bias: its gradient is exactly 0, so Adam's steps on it are
            # rounding noise in either run; the query and value biases are compared.
            got, value = torch.cat([got[:d], got[2 * d :]]), torch.cat([value[:d], value[2 * d :]])
        torch.testing.assert_close(got, value, rtol=1e-4, atol=1e-5, msg=key)
    # ... and so the same function: forecasts on the validation windows agree
    run_cfg = load_run_config(tmp_path / "single" / "config.yaml")
    prepared = prepare_run_data(SMALL_MODEL, [data], run_cfg, include_test=False)
    batch = next(iter(DataLoader(prepared.val, batch_size=64)))  # type: ignore[arg-type]
    twin = copy.deepcopy(one)
    twin.load_state_dict(two)
    one.eval(), twin.eval()
    with torch.no_grad():
        a = one(**one.training_inputs(batch))  # type: ignore[operator]
        b = twin(**twin.training_inputs(batch))  # type: ignore[operator]
    for key in ("quantiles", "volatility_forecast"):
        torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-6, msg=key)
    record = json.loads((tmp_path / "ddp" / "run.json").read_text())["model_config"]
    assert record["target_scales"] == pytest.approx(one.config.target_scales)  # type: ignore[union-attr]
