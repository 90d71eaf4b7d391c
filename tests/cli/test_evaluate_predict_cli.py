"""``mlattn evaluate`` / ``predict`` / ``backtest`` on a quick run: later data, an asset the run never saw
(reserved unknown-asset id), and each bad input as a one-line message with exit code 2."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from ml_attention_mechanisms.cli.main import main


def _export(panel: object, symbol: str, path: Path) -> Path:
    frame = panel.to_frame(symbol)  # type: ignore[attr-defined]
    frame[["open", "high", "low", "close", "volume"]].to_csv(path)
    return path


@pytest.fixture(scope="module")
def run_and_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    from ml_attention_mechanisms.data import load_dataset

    root = tmp_path_factory.mktemp("evalrun")
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["demo", "--quick", "--models", "price_predictor_small", "signal_generator_small",
                   "--out", str(root / "run"), "--no-progress"])  # fmt: skip
    assert rc == 0
    # history from 2020-12-20 (features, baselines), scored from 2021-01-25: after the run's data
    later = load_dataset("binance-1h").between("2020-12-20", "2021-02-10 23:00")
    files = [
        _export(later, "BTC/USDT", root / "BTCUSDT_1h.csv"),
        _export(later, "ETH/USDT", root / "ETHUSDT_1h.csv"),
        _export(later, "ADA/USDT", root / "XYZUSDT_1h.csv"),  # a symbol the run never saw
    ]
    return root / "run", files


def stored_sizing(run: Path) -> dict[str, object]:
    return json.loads((run / "calibration.json").read_text(encoding="utf-8"))["sizing"]["chosen"]  # type: ignore[no-any-return]


def test_evaluate_scores_later_data_and_an_unseen_asset(
    run_and_files: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    run, files = run_and_files
    out = tmp_path / "ev"
    with contextlib.redirect_stdout(io.StringIO()) as buf:
        rc = main(["evaluate", "--run", str(run), "--data", *map(str, files), "--start", "2021-01-25",
                   "--out", str(out), "--no-progress"])  # fmt: skip
    assert rc == 0 and "the bar:" in buf.getvalue()
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert set(m["assets"]) == {"BTC", "ETH", "XYZ"}
    assert {"model", "har_rv", "garch", "last_window"} <= set(m["assets"]["XYZ"]["volatility"])
    assert {c["asset"] for c in m["bar"]["criteria"]} == {"BTC", "ETH", "XYZ", "all"}
    assert m["data"]["seen"] == {"BTC": True, "ETH": True, "XYZ": False}  # XYZ: not in the checkpoints
    vol = {c["asset"]: c for c in m["bar"]["criteria"] if c["criterion"] == "volatility"}
    assert vol["XYZ"]["seen"] is False and vol["XYZ"]["required_margin"] == 0.0
    assert m["sizing"]["chosen"] == stored_sizing(run)  # the run's sizing, applied unchanged
    stored = json.loads((run / "calibration.json").read_text(encoding="utf-8"))
    assert m["calibration"]["cqr_offsets"] == stored["cqr_offsets"]  # the run's calibration, unchanged
    assert m["data"]["periods"]["test"][0].startswith("2021-01-25")
    assert (out / "report.html").is_file()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_predict_writes_every_bar_and_asset(run_and_files: tuple[Path, list[Path]], tmp_path: Path,
                                            suffix: str) -> None:  # fmt: skip
    import pandas as pd

    run, files = run_and_files
    out = tmp_path / f"pred{suffix}"
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["predict", "--run", str(run), "--data", *map(str, files), "--start", "2021-02-01",
                   "--out", str(out)])  # fmt: skip
    assert rc == 0
    table = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert set(table["symbol"]) == {"BTC/USDT", "ETH/USDT", "XYZ/USDT"}
    assert len(table) == 3 * (10 * 24)  # 2021-02-01 00:00 .. 2021-02-10 23:00
    for col in (
        "return_forecast",
        "return_q0.05",
        "return_q0.95",
        "variance_24h",
        "signal",
        "p_buy",
        "direction",
        "position",
    ):
        values = table.loc[table["symbol"] == "XYZ/USDT", col].to_numpy(dtype=float)
        assert np.isfinite(values).all(), col
    assert (table["return_q0.05"] <= table["return_q0.95"]).all()
    from ml_attention_mechanisms.evaluation import VolTargetConfig, vol_target_positions

    holds = json.loads((run / "calibration.json").read_text(encoding="utf-8"))["sizing"]["holds"]["signal"]
    key = {"model": "signal", "always_long": "signal_long"}[holds]  # the direction the run's strategy holds
    sizing = VolTargetConfig.from_dict(stored_sizing(run)[key])  # type: ignore[arg-type]
    btc = table[table["symbol"] == "BTC/USDT"]
    if holds == "always_long":
        assert (btc["direction"] == 1.0).all()
    want = vol_target_positions(btc["direction"].to_numpy(float), btc["variance_24h"].to_numpy(float), sizing)
    np.testing.assert_allclose(btc["position"].to_numpy(float), want)  # sized by the run's stored choice


def test_predicted_figures_of_a_bar_do_not_depend_on_start(
    run_and_files: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    """The rolling calibration is warmed on the bars before ``--start`` where the data have them (as
    ``evaluate`` does): a bar's calibrated quantiles and signal are the same whether the table starts there
    or four days earlier. Calibrated from the first predicted bar only, the later start would fall back on
    the stored calibration for its first week and differ."""
    import pandas as pd

    run, files = run_and_files
    tables = []
    for start in ("2021-02-01", "2021-02-05"):
        out = tmp_path / f"pred_{start}.csv"
        with contextlib.redirect_stdout(io.StringIO()):
            rc = main(["predict", "--run", str(run), "--data", *map(str, files), "--start", start,
                       "--out", str(out)])  # fmt: skip
        assert rc == 0
        table = pd.read_csv(out)
        tables.append(table[table["timestamp"] >= "2021-02-05"].reset_index(drop=True))
    early, late = tables
    assert len(late) == 3 * 6 * 24
    columns = ["return_forecast", "return_q0.05", "return_q0.25", "return_q0.75", "return_q0.95",
               "variance_24h", "p_sell", "p_hold", "p_buy", "signal"]  # fmt: skip
    pd.testing.assert_frame_equal(
        early[["timestamp", "symbol", *columns]], late[["timestamp", "symbol", *columns]]
    )
    raw_width = late["return_q0.95"] - late["return_q0.05"]
    assert raw_width.nunique() > 100  # a real comparison: the figures move from bar to bar


def test_backtest_run_and_signals_file(run_and_files: tuple[Path, list[Path]], tmp_path: Path) -> None:
    import pandas as pd

    run, files = run_and_files
    with contextlib.redirect_stdout(io.StringIO()) as buf:
        rc = main(["backtest", "--run", str(run), "--data", *map(str, files[:1]), "--start", "2021-02-01"])
    assert rc == 0 and "BTC/USDT" in buf.getvalue()
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    ts = pd.date_range("2021-01-01", periods=300, freq="h", tz="UTC")
    pd.DataFrame({"timestamp": ts, "position": 1.0, "close": close}).to_csv(tmp_path / "s.csv", index=False)
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["backtest", "--signals", str(tmp_path / "s.csv"), "--out", str(tmp_path / "bt.json")])
    assert rc == 0
    res = json.loads((tmp_path / "bt.json").read_text(encoding="utf-8"))
    r = np.diff(np.log(close))
    expected = (np.exp(r[0]) - 0.001) * np.exp(r[1:].sum()) - 1.0  # in from the first close, 10 bps once
    assert res["assets"]["asset"]["net_return"] == pytest.approx(expected, rel=1e-9)
    assert res["backtest_config"]["fee_bps"] == 10.0


def _one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str], expected: str) -> None:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and expected in err, err


def test_bad_inputs_are_one_line_exit_2(run_and_files: tuple[Path, list[Path]], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    run, files = run_and_files
    empty = tmp_path / "empty_run"
    empty.mkdir()
    _one_line_exit_2(["evaluate", "--run", str(empty), "--data", str(files[0])], capsys, "no checkpoints")
    short = tmp_path / "BTCUSDT_short.csv"
    lines = files[0].read_text(encoding="utf-8").splitlines()[:31]
    short.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _one_line_exit_2(["evaluate", "--run", str(run), "--data", str(short)], capsys, "fewer than the window")
    _one_line_exit_2(["predict", "--run", str(run), "--data", str(files[0]), "--start", "2021-02-05",
                      "--end", "2021-02-01", "--out", str(tmp_path / "p.csv")], capsys, "after --end")  # fmt: skip
    _one_line_exit_2(["predict", "--run", str(run), "--data", str(files[0]), "--out", str(tmp_path / "p.txt")],
                     capsys, ".csv or .parquet")  # fmt: skip
    for command, flag, bad in (("evaluate", "--start", "2021-13-01"), ("predict", "--end", "2021-13-01"),
                               ("evaluate", "--start", "")):  # fmt: skip
        out = ["--out", str(tmp_path / "p.csv")] if command == "predict" else []
        _one_line_exit_2([command, "--run", str(run), "--data", str(files[0]), flag, bad, *out], capsys,
                         f"{flag} {bad!r}: not a date/time")  # fmt: skip
    late = ["evaluate", "--run", str(run), "--data", str(files[0]), "--start", "2021-02-10 12:00"]
    _one_line_exit_2(late, capsys, "(the data end at 2021-02-10 23:00; a scored bar needs the 24 after it)")
    _one_line_exit_2(["backtest", "--run", str(run)], capsys, "--data")
    _one_line_exit_2(["backtest", "--signals", str(tmp_path / "missing.csv")], capsys, "not found")
