"""What ``mlattn train``, ``tune`` and ``export`` print: their own result lines, nothing a user cannot act on
(Lightning's GPU/TPU banners and cloud tips, torch.onnx's torchvision notes, Optuna's study name, torch
deprecation warnings raised inside Lightning).

The commands run in a fresh interpreter, as a user runs them: those libraries write through logging
handlers bound to the process's stderr when they are imported, which pytest's capture does not see.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _cli_helpers import run_python
from test_export_cli import _checkpoint
from test_train_cli import MODEL, _config, _csv

_RUN = """
import json, sys
from ml_attention_mechanisms.cli.main import main
for argv in json.loads(sys.argv[1]):
    code = main(argv)
    sys.stdout.flush()
    print(f"@@ {code}", flush=True)
    print("@@", file=sys.stderr, flush=True)
"""


def _outputs(commands: list[list[str]], cwd: Path) -> list[tuple[int, str, str]]:
    """(exit code, stdout, stderr) of each command, run one after the other in one fresh interpreter."""
    proc = run_python(_RUN, json.dumps(commands), cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    outs, errs = proc.stdout.split("@@ ")[:-1], proc.stderr.split("@@\n")[:-1]
    codes = [int(o.partition("\n")[0]) for o in proc.stdout.split("@@ ")[1:]]
    outs = [outs[0], *(o.partition("\n")[2] for o in outs[1:])]
    return list(zip(codes, outs, errs, strict=True))


@pytest.mark.slow
def test_train_tune_and_export_print_their_results_only(tmp_path: Path) -> None:
    # log_every_n_steps=1: else Lightning rightly warns that 3 batches are fewer than its logging interval
    data = str(_csv(tmp_path / "BTCUSDT_1h.csv"))
    config = str(_config(tmp_path, training={"log_every_n_steps": 1}))
    _checkpoint(tmp_path / "best.ckpt")  # a tiny price model to export
    train, tune, export = _outputs(
        [
            ["train", "--model", MODEL, "--data", data, "--config", config, "--out", "run"],
            ["tune", "--model", MODEL, "--data", data, "--config", config, "--trials", "1", "--out", "tune"],
            ["export", "--checkpoint", "best.ckpt", "-o", "m.onnx"],
        ],
        tmp_path,
    )
    code, out, err = train
    assert code == 0 and out.startswith("run: run\nbest checkpoint: ") and out.count("\n") == 4, out
    assert err == "", err

    code, out, err = tune
    assert code == 0 and out.startswith("best val_loss ") and out.count("\n") == 2, out
    # Optuna's one line per trial (its value and parameters) is progress a user reads; nothing else
    assert [line.split("] ")[1].split(" with value")[0] for line in err.splitlines()] == [
        "Trial 0 finished"
    ], err

    code, out, err = export
    assert (
        code == 0
        and out.startswith("wrote m.onnx (onnx, opset 18); inputs features")
        and out.count("\n") == 1
    )
    assert err == "", err
