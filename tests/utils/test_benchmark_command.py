"""``mlattn benchmark`` (cli/benchmark.py): the table, and one-line errors with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_attention_mechanisms.cli.main import main
from ml_attention_mechanisms.utils._bench_suite import ATTENTION_IMPLEMENTATIONS, format_table


def test_quick_benchmark_prints_a_table_of_every_layer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["benchmark", "--quick"]) == 0
    out = capsys.readouterr().out.splitlines()
    header = out[1].split()
    assert header == ["name", "backend", "time_ms", "std_ms", "memory_mb", "estimate_mb", "speedup"]
    rows = {line.split()[0]: line.split() for line in out[3 : 3 + len(ATTENTION_IMPLEMENTATIONS)]}
    assert list(rows) == list(ATTENTION_IMPLEMENTATIONS)
    assert rows["standard"][1] == "math" and rows["standard"][-1] == "1.00"
    assert rows["chunked"][1] == "chunked" and rows["linear"][1] == "linear"


def test_subset_of_implementations(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["benchmark", "--quick", "--implementations", "flash", "linear"]) == 0
    out = capsys.readouterr().out
    assert "flash" in out and "standard" not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--implementations", "nope"], "unknown implementation 'nope'; available: standard"),
        (["--device", "cuda:0"], None),
        (["--device", "tpu"], "--device 'tpu'"),
        (["--d-model", "30", "--num-heads", "4"], "--num-heads 4 must divide --d-model 30"),
        (["--runs", "0"], "expected a positive int"),
    ],
)
def test_errors_are_one_line_with_exit_2(
    argv: list[str], message: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    if argv[:2] == ["--device", "cuda:0"]:
        if torch.cuda.is_available():
            return  # a CUDA machine runs it: nothing to refuse
        message = "CUDA is not available"
    try:
        code = main(["benchmark", *argv])
    except SystemExit as exc:  # argparse-level errors exit from the parser
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err
    assert "Traceback" not in err


def test_format_table_shows_nan_as_dash() -> None:
    text = format_table([{"name": "a", "x": float("nan"), "y": 1.234}])
    assert text.splitlines()[2].split() == ["a", "-", "1.23"]


def _fake_scripts(folder: Path, code: int = 0) -> Path:
    """Stand-ins for benchmarks/attention_bench.py and run_all.py that echo their arguments."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("attention_bench.py", "run_all.py"):
        (folder / name).write_text(
            f"import sys\nprint('{name} args:', ' '.join(sys.argv[1:]))\nsys.exit({code})\n", encoding="utf-8"
        )
    return folder


def test_attention_suite_runs_the_script_with_forwarded_flags(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = _fake_scripts(tmp_path / "benchmarks")
    argv = ["benchmark", "--suite", "attention", "--benchmarks-dir", str(folder), "--quick", "--runs", "3"]
    assert main([*argv, "--no-memory", "--json", str(tmp_path / "o.json")]) == 0
    out = capfd.readouterr().out
    assert f"attention_bench.py args: --quick --runs 3 --no-memory --json {tmp_path / 'o.json'}" in out
    assert "name" not in out.split("$")[0]  # the layers table is not part of this suite


def test_all_suite_prints_the_layer_table_then_runs_every_script(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = _fake_scripts(tmp_path / "b")
    assert main(["benchmark", "--suite", "all", "--benchmarks-dir", str(folder), "--quick"]) == 0
    out = capfd.readouterr().out
    assert out.index("standard") < out.index("run_all.py args: --quick")


def test_default_scripts_folder_is_the_source_trees_benchmarks() -> None:
    from ml_attention_mechanisms.cli import benchmark

    assert benchmark._DEFAULT_DIR == Path(__file__).resolve().parents[2] / "benchmarks"


def test_script_failures_and_missing_scripts(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    folder = _fake_scripts(tmp_path / "bad", code=3)
    assert main(["benchmark", "--suite", "attention", "--benchmarks-dir", str(folder)]) == 1
    assert "attention_bench.py failed with exit code 3" in capfd.readouterr().err
    assert main(["benchmark", "--suite", "attention", "--benchmarks-dir", str(tmp_path / "none")]) == 2
    err = capfd.readouterr().err
    assert "attention_bench.py not found" in err and len(err.strip().splitlines()) == 1
