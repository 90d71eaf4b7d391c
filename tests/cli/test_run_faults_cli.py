"""``mlattn evaluate`` / ``predict`` / ``backtest`` on a damaged or tampered run: a bad calibration, invalid JSON,
NaN or exploding weights are refused in one line naming the file (exit 2); every model and baseline figure
of a table is computed on the same rows; no command writes over one of its own inputs."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from _cli_helpers import refused

from ml_attention_mechanisms.cli.main import main
from ml_attention_mechanisms.training.checkpoint import atomic_save, read_checkpoint

MODELS = ["price_predictor_small", "signal_generator_small", "risk_assessor_small"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], str]:
    from ml_attention_mechanisms.data import load_dataset

    root = tmp_path_factory.mktemp("faultrun")
    with contextlib.redirect_stdout(io.StringIO()) as table:
        rc = main(["demo", "--quick", "--models", *MODELS, "--out", str(root / "run"), "--no-progress"])
    assert rc == 0
    later = load_dataset("binance-1h").between("2020-12-20", "2021-02-10 23:00")
    files = []
    for symbol, name in (("BTC/USDT", "BTCUSDT_1h.csv"), ("ETH/USDT", "ETHUSDT_1h.csv")):
        frame = later.to_frame(symbol)
        frame[["open", "high", "low", "close", "volume"]].to_csv(root / name)
        files.append(root / name)
    return root / "run", files, table.getvalue()


@pytest.fixture
def run(finished: tuple[Path, list[Path], str], tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(finished[0], copy)
    return copy


def _commands(run: Path, files: list[Path], tmp: Path) -> dict[str, list[str]]:
    data = ["--data", *map(str, files), "--start", "2021-01-25"]
    return {
        "evaluate": ["evaluate", "--run", str(run), *data, "--out", str(tmp / "ev"), "--no-progress"],
        "predict": ["predict", "--run", str(run), *data, "--out", str(tmp / "p.csv")],
        "backtest": ["backtest", "--run", str(run), *data],
    }


def _edit_calibration(run: Path, **changes: Any) -> Path:
    path = run / "calibration.json"
    cal = json.loads(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(cal.get(key), dict):
            cal[key] = {**cal[key], **value}
        else:
            cal[key] = value
    path.write_text(json.dumps(cal), encoding="utf-8")  # json writes NaN as the non-standard literal NaN
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"variance_scale": float("nan")}, "variance_scale"),
        ({"variance_scale": -2.0}, "variance_scale"),
        ({"var_scale": {"0.05": -1.0}}, "var_scale"),
        ({"cqr_offsets": {"0.05": "wide"}}, "cqr_offsets"),
        ({"quantile_levels": [0.95, 0.5, 0.05]}, "quantile_levels"),
        ({"signal_temperature": float("inf")}, "signal_temperature"),
    ],
)
def test_a_bad_calibration_is_refused_by_every_command(
    finished: tuple[Path, list[Path], str],
    run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    changes: dict[str, Any],
    field: str,
) -> None:
    path = _edit_calibration(run, **changes)
    for name, argv in _commands(run, finished[1], tmp_path).items():
        refused(argv, capsys, f"{path}: {field}")
        assert not (tmp_path / "p.csv").exists() and not (tmp_path / "ev").exists(), name


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("calibration.json", "[]", "expected a JSON object {...}, found list"),
        ("calibration.json", '{"variance_scale": 1.0,', "not valid JSON"),
        ("demo_config.json", "{oops}", "not valid JSON"),
        ("metrics.json", "[1, 2", "not valid JSON"),
    ],
)
def test_invalid_json_in_a_run_is_named(
    finished: tuple[Path, list[Path], str],
    run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    text: str,
    message: str,
) -> None:
    (run / name).write_text(text, encoding="utf-8")
    argv = _commands(run, finished[1], tmp_path)["evaluate"]
    refused(argv, capsys, f"{run / name}: {message}")


def _damage_weights(run: Path, model: str, how: str) -> Path:
    path = run / "checkpoints" / f"{model}.ckpt"
    payload = read_checkpoint(path)
    state = payload["state_dict"]
    if how == "nan":
        key = next(k for k, v in state.items() if v.is_floating_point() and v.ndim == 2)
        state[key].view(-1)[0] = float("nan")
    else:  # finite weights whose forecasts overflow
        for v in state.values():
            if v.is_floating_point() and v.ndim == 2:
                v.mul_(1e30)
    atomic_save(payload, path)
    return path


@pytest.mark.slow
def test_nan_weights_are_refused_by_predict_and_backtest(
    finished: tuple[Path, list[Path], str], run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _damage_weights(run, "risk_assessor_small", "nan")
    for name in ("predict", "backtest"):
        refused(_commands(run, finished[1], tmp_path)[name], capsys, f"{path}: refused: weight ", "NaN")
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.slow
def test_forecasts_that_blow_up_are_an_error_naming_model_asset_and_time(
    finished: tuple[Path, list[Path], str], run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _damage_weights(run, "price_predictor_small", "explode")
    for name in ("evaluate", "predict"):
        err = refused(
            _commands(run, finished[1], tmp_path)[name], capsys, "model price_predictor_small, asset "
        )
        assert "where its inputs were finite" in err and " UTC " in err


def _sample_sizes(metrics: dict[str, Any]) -> dict[tuple[str, str], set[float]]:
    sizes: dict[tuple[str, str], set[float]] = {}
    for asset, res in metrics["assets"].items():
        for block in ("returns", "volatility", "interval90"):
            sizes[(asset, block)] = {float(v["n"]) for v in res[block].values()}
        for key in ("var95", "var99"):
            sizes[(asset, key)] = {float(res[key]["n"])} | {
                float(b[key]["n"]) for b in res["var_baselines"].values()
            }
    return sizes


@pytest.mark.slow
def test_every_figure_of_a_table_is_computed_on_the_same_rows(
    finished: tuple[Path, list[Path], str], run: Path, tmp_path: Path
) -> None:
    demo_run, files, demo_table = finished
    demo = json.loads((demo_run / "metrics.json").read_text(encoding="utf-8"))
    with contextlib.redirect_stdout(io.StringIO()) as table:
        assert main(_commands(run, files, tmp_path)["evaluate"]) == 0
    evaluated = json.loads((tmp_path / "ev" / "metrics.json").read_text(encoding="utf-8"))
    for metrics, printed in ((demo, demo_table), (evaluated, table.getvalue())):
        for (asset, block), sizes in _sample_sizes(metrics).items():
            assert len(sizes) == 1, (asset, block, sizes)
        assert "rows" in printed.splitlines()[0]  # the row count is shown beside each figure
        n = int(metrics["assets"]["BTC"]["volatility"]["model"]["n"])
        line = next(x for x in printed.splitlines() if x.startswith("BTC") and "QLIKE" in x)
        assert line.split()[-1] == str(n) or f" {n} " in line


@pytest.mark.slow
def test_no_command_writes_over_one_of_its_inputs(
    finished: tuple[Path, list[Path], str], run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [tmp_path / f.name for f in finished[1]]
    for src, dst in zip(finished[1], files):
        shutil.copy(src, dst)
    before = files[0].read_bytes()
    data = ["--data", *map(str, files), "--start", "2021-01-25"]
    refused(
        ["predict", "--run", str(run), *data, "--out", str(files[0])],
        capsys,
        f"--out {files[0]}: is the same file as the input --data {files[0]}",
    )
    assert files[0].read_bytes() == before
    metrics_before = (run / "metrics.json").read_bytes()
    refused(
        ["evaluate", "--run", str(run), *data, "--out", str(run), "--no-progress"], capsys, f"--out {run}: "
    )
    assert (run / "metrics.json").read_bytes() == metrics_before
    signals = tmp_path / "s.csv"
    signals.write_text("timestamp,position,close\n2021-01-01T00:00:00Z,1,100\n2021-01-01T01:00:00Z,1,101\n")
    refused(
        ["backtest", "--signals", str(signals), "--out", str(signals)],
        capsys,
        f"--out {signals}: is the same file as the input --signals {signals}",
    )


def test_a_second_demo_on_a_directory_in_use_isrefused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os
    import subprocess
    import sys

    out = tmp_path / "demo"
    code = "import sys, time; from pathlib import Path; from ml_attention_mechanisms.training._run_dir import RunLock;"
    code += "lock = RunLock(Path(sys.argv[1])); print('held', flush=True); time.sleep(60)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        argv = ["demo", "--quick", "--models", "price_predictor_small", "--out", str(out), "--no-progress"]
        refused(argv, capsys, f"{out}: in use by another run (pid {holder.pid} on ")
        assert sorted(p.name for p in out.iterdir()) == ["run.lock"]
    finally:
        holder.kill()
        holder.wait()
