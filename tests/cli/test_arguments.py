"""One set of command-line conventions: every command takes the global flags (``--debug``,
``--no-progress``) before or after its name, ``evaluate``/``predict``/``backtest`` share one ``--run``/
``--data``/``--start``/``--end`` block, and each help text says what the command does."""

from __future__ import annotations

import contextlib
import io

import pytest

from ml_attention_mechanisms.cli.main import SUBCOMMANDS, build_parser, main

# the fewest arguments each command's parser needs (what the command then does is tested elsewhere)
REQUIRED = {
    "demo": [],
    "list-models": [],
    "benchmark": [],
    "train": [],
    "tune": [],
    "data-check": ["x.csv"],
    "evaluate": ["--run", "r", "--data", "x.csv"],
    "predict": ["--run", "r", "--data", "x.csv", "--out", "p.csv"],
    "backtest": ["--signals", "s.csv"],
    "export": ["--model", "price_predictor_small", "-o", "m.onnx"],
}


def test_every_command_is_covered() -> None:
    assert sorted(REQUIRED) == sorted(cmd.name for cmd in SUBCOMMANDS)


# ids "mlattn-<command>": a bare "benchmark" id would read as the benchmark marker (conftest) and skip
@pytest.mark.parametrize("name", sorted(REQUIRED), ids=lambda n: f"mlattn-{n}")
def test_global_flags_before_or_after_the_command(name: str) -> None:
    parser = build_parser()
    plain = parser.parse_args([name, *REQUIRED[name]])
    assert plain.debug is False and plain.no_progress is False
    for argv in (
        ["--debug", "--no-progress", name, *REQUIRED[name]],
        [name, *REQUIRED[name], "--debug", "--no-progress"],
        ["--debug", name, *REQUIRED[name], "--no-progress"],
    ):
        args = parser.parse_args(argv)
        assert args.debug is True and args.no_progress is True, argv


@pytest.mark.parametrize("name", ["evaluate", "predict", "backtest"])
def test_run_commands_share_one_argument_block(name: str) -> None:
    parser = build_parser()
    args = parser.parse_args([name, *REQUIRED[name]])
    assert {"run", "data", "start", "end"} <= set(vars(args))
    sub = next(a for a in parser._subparsers._group_actions if a.choices)  # type: ignore[union-attr]
    help_text = sub.choices[name].format_help()  # type: ignore[index]
    for flag in (
        "--run DIR",
        "--data FILE [FILE ...]",
        "--start START",
        "--end END",
        "--debug",
        "--no-progress",
    ):
        assert flag in help_text, (name, flag)


def test_predict_accepts_no_progress(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    """It was refused as an unknown argument; now it is accepted and the run fails on the missing run."""
    rc = main(["predict", "--run", "nowhere", "--data", "x.csv", "--out", "p.csv", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err == "mlattn predict: error: --run nowhere: no such directory\n"


def test_help_texts_describe_each_command() -> None:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit):
        main(["--help"])
    text = buf.getvalue()
    for cmd in SUBCOMMANDS:
        assert cmd.name in text and len(cmd.help.split()) >= 6, cmd.name
    assert "main job" not in text
    assert "train the four small models" in text
