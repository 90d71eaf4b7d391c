"""DDP: two CPU processes (gloo) with batch b end where one process with batch 2b ends.

The tiny model's loss is a plain mean over the windows, so the two runs are the same computation up to float
rounding. (The registry models normalise their losses per batch, e.g. the price model divides the pinball
loss by the batch's mean |y|: for them a DDP run is the same *procedure*, not bit-for-bit the same numbers.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import lightning as L
import pytest
import torch
from tiny_parts import TINY, TinyConfig, TinyForecaster, install_tiny_registry, tiny_prepared

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


def _train(tmp_path: Path, name: str, config: dict[str, object]) -> dict[str, torch.Tensor]:
    script = tmp_path / "ddp_job.py"
    script.write_text(SCRIPT.format(here=str(HERE)), encoding="utf-8")
    env = {
        k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MLATTN_RUN_DIR")
    }
    try:
        proc = subprocess.run(
            [sys.executable, str(script), json.dumps(config), str(tmp_path / name)],
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
