"""Which extras each ``mlattn`` command needs: without them it refuses in one line (exit 2) naming the
``pip install`` to run; with only them it runs. Core commands run with no extra at all."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from _cli_helpers import run_python

from ml_attention_mechanisms._import_guard import EXTRAS
from ml_attention_mechanisms.cli.main import SUBCOMMANDS, main

OPTIONAL = tuple(module for extra in EXTRAS.values() for module in extra.modules)

# command line -> the extras it needs (docs/getting-started.md, the same table)
NEEDS: list[tuple[list[str], tuple[str, ...]]] = [
    (["demo"], ("data", "train", "eval", "viz")),
    (["train", "--model", "price_predictor_small", "--data", "x.csv"], ("data", "train")),
    (["tune", "--model", "price_predictor_small", "--data", "x.csv"], ("data", "train")),
    (["evaluate", "--run", "r", "--data", "x.csv"], ("data", "eval", "viz")),
    (["predict", "--run", "r", "--data", "x.csv", "--out", "p.csv"], ("data",)),
    (["backtest", "--signals", "s.csv"], ("data", "eval")),
    (["data-check", "x.csv"], ("data",)),
    (["export", "--model", "price_predictor_small", "-o", "m.onnx"], ("export",)),
    (["benchmark", "--suite", "all"], ("data", "train", "export")),
    (["list-models"], ()),
    (["benchmark", "--quick"], ()),
    (["export", "--model", "price_predictor_small", "--format", "torchscript", "-o", "m.pt"], ()),
    (["export", "--model", "price_predictor_small", "--format", "torch-export", "-o", "m.pt2"], ()),
]


def test_every_command_is_listed() -> None:
    assert {argv[0] for argv, _ in NEEDS} == {cmd.name for cmd in SUBCOMMANDS}


@pytest.mark.parametrize(("argv", "extras"), [(a, e) for a, e in NEEDS if e], ids=lambda v: " ".join(v))
def test_without_its_extras_a_command_says_what_to_install(
    argv: list[str],
    extras: tuple[str, ...],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for module in OPTIONAL:  # checked before the command runs: none is imported
        monkeypatch.setitem(sys.modules, module, None)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    which = f"the {', '.join(map(repr, extras))} extra{'s' if len(extras) > 1 else ''}"
    assert captured.err.startswith(f"mlattn {argv[0]}: error: this command needs {which} ("), captured.err
    assert captured.err.endswith(f'pip install "ml-attention-mechanisms[{",".join(extras)}]"\n')
    assert captured.err.count("\n") == 1


def test_help_names_the_extras(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert 'needs: pip install "ml-attention-mechanisms[data,train]"' in capsys.readouterr().out


_RUN = """
import json, sys
for module in sys.argv[1].split(","):
    sys.modules[module] = None  # not installed, for everything this process imports
from ml_attention_mechanisms.cli.main import main
print(json.dumps([main(argv) for argv in json.loads(sys.argv[2])]))
"""


def _run_with_only(extras: tuple[str, ...], commands: list[list[str]], cwd: Path) -> tuple[list[int], str]:
    """Exit codes of ``commands`` in a fresh interpreter where only ``extras`` are installed; and stderr."""
    hidden = [m for name, extra in EXTRAS.items() if name not in extras for m in extra.modules]
    proc = run_python(_RUN, ",".join(hidden), json.dumps(commands), cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


@pytest.mark.slow
def test_core_commands_run_without_any_extra(tmp_path: Path) -> None:
    core = [argv for argv, extras in NEEDS if not extras and "torch-export" not in argv]
    codes, err = _run_with_only((), core, tmp_path)
    assert codes == [0] * len(core), err
    assert err == ""  # nothing a user cannot act on
    assert (tmp_path / "m.pt").is_file()


@pytest.mark.slow
def test_data_check_and_backtest_run_with_only_their_extras(tmp_path: Path) -> None:
    t = 1_600_000_000 // 3600 * 3600 + 3600 * np.arange(200)
    close = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 200)))
    rows = [f"{s},{c:.4f},{c * 1.01:.4f},{c * 0.99:.4f},{c:.4f},10" for s, c in zip(t, close)]
    header = "timestamp,open,high,low,close,volume\n"
    (tmp_path / "BTCUSDT_1h.csv").write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    signals = [f"{s},1.0,{c:.4f}" for s, c in zip(t, close)]
    (tmp_path / "s.csv").write_text(
        "timestamp,position,close\n" + "\n".join(signals) + "\n", encoding="utf-8"
    )

    codes, err = _run_with_only(("data",), [["data-check", "BTCUSDT_1h.csv"]], tmp_path)
    assert codes == [0], err
    codes, err = _run_with_only(
        ("data", "eval"), [["backtest", "--signals", "s.csv", "--out", "b.json"]], tmp_path
    )
    assert codes == [0], err
    assert json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))["assets"]
