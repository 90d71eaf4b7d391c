"""``mlattn`` on data and cases nobody saw in development: another bar interval, files without a symbol or
given twice, a week-long gap, constant prices, a `mlattn train` run given as ``--run``, signals files with
duplicate rows, out-of-range positions, missing or non-positive prices, and bad export flags. Each is
either handled (the output checked) or refused in one stderr line naming the argument and what was
expected, with exit code 2; never a traceback, never dropped silently."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_attention_mechanisms.cli.main import main

OHLCV = ["open", "high", "low", "close", "volume"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A quick two-model demo run and BTC's hourly bars after its data (2020-12-20 .. 2021-02-10)."""
    from ml_attention_mechanisms.data import load_dataset

    root = tmp_path_factory.mktemp("unseen")
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["demo", "--quick", "--models", "price_predictor_small", "signal_generator_small",
                   "--out", str(root / "run"), "--no-progress"])  # fmt: skip
    assert rc == 0
    later = load_dataset("binance-1h").between("2020-12-20", "2021-02-10 23:00").to_frame("BTC/USDT")[OHLCV]
    return root / "run", later


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str], *expected: str) -> str:
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in err, err
    return err


def _daily(path: Path, days: int = 900) -> Path:
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, days)))
    ts = pd.date_range("2018-01-01", periods=days, freq="D", tz="UTC")
    frame = pd.DataFrame(
        {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 10.0}, index=ts
    )
    frame.index.name = "timestamp"
    frame.to_csv(path)
    return path


@pytest.mark.parametrize("command", ["evaluate", "predict", "backtest"])
def test_other_bar_interval_is_refused_not_mixed(
    run_dir: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    run, _ = run_dir
    daily = _daily(tmp_path / "BTCUSDT_d.csv")
    extra = ["--out", str(tmp_path / "p.csv")] if command == "predict" else []
    _refused(
        [command, "--run", str(run), "--data", str(daily), *extra], capsys, str(daily), "1d bars", "hourly"
    )


def test_files_without_symbol_or_given_twice(
    run_dir: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, later = run_dir
    anonymous = tmp_path / "prices.csv"
    later.to_csv(anonymous)
    _refused(["evaluate", "--run", str(run), "--data", str(anonymous)], capsys, str(anonymous), "no symbol",
             "BTCUSDT_1h.csv")  # fmt: skip
    named = tmp_path / "BTCUSDT_1h.csv"
    later.to_csv(named)
    _refused(["predict", "--run", str(run), "--data", str(named), str(named), "--out", str(tmp_path / "p.csv")],
             capsys, "BTC/USDT again", "one file per asset")  # fmt: skip


def test_week_gap_is_refused_then_scored_after_it(
    run_dir: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, later = run_dir
    gap = tmp_path / "BTCUSDT_gap.csv"
    later[(later.index < "2021-01-20") | (later.index >= "2021-01-27")].to_csv(gap)
    argv = ["evaluate", "--run", str(run), "--data", str(gap), "--out", str(tmp_path / "ev"), "--no-progress"]
    err = _refused(
        argv, capsys, str(gap), "no bars from 2021-01-20 00:00 for 168 h", "--start 2021-01-28 00:00"
    )
    assert "variance forecasts" not in err
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*argv, "--start", "2021-01-28 00:00"]) == 0
    # predict scores nothing: the gap's bars are rows without a close or a forecast, later bars are forecast
    out = tmp_path / "p.csv"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["predict", "--run", str(run), "--data", str(gap), "--out", str(out)]) == 0
    table = pd.read_csv(out, parse_dates=["timestamp"])
    inside = (table["timestamp"] >= "2021-01-20") & (table["timestamp"] < "2021-01-27")
    assert inside.sum() > 100 and table.loc[inside, ["close", "return_forecast"]].isna().all().all()
    later_bars = (table["timestamp"] >= "2021-02-01") & table["close"].notna()
    assert later_bars.sum() > 200 and np.isfinite(table.loc[later_bars, "return_forecast"]).all()


def test_constant_prices_are_refused(
    run_dir: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, later = run_dir
    flat = later.copy()
    flat[["open", "high", "low", "close"]] = 100.0
    path = tmp_path / "XYZUSDT_1h.csv"
    flat.to_csv(path)
    for command in ("evaluate", "backtest"):
        _refused(
            [command, "--run", str(run), "--data", str(path)],
            capsys,
            str(path),
            "no bar with finite features",
        )


def test_run_directory_must_be_a_finished_demo_run(
    run_dir: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, later = run_dir
    data = tmp_path / "BTCUSDT_1h.csv"
    later.to_csv(data)
    trained = tmp_path / "trained"  # what `mlattn train` writes: run.json, checkpoints best/last
    (trained / "checkpoints").mkdir(parents=True)
    for name in ("best.ckpt", "last.ckpt"):
        shutil.copy(run / "checkpoints" / "price_predictor_small.ckpt", trained / "checkpoints" / name)
    (trained / "run.json").write_text("{}", encoding="utf-8")
    _refused(
        ["evaluate", "--run", str(trained), "--data", str(data)],
        capsys,
        "a `mlattn train` run",
        "mlattn demo",
    )
    copy = tmp_path / "copy"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("*.png", "*.html"))
    shutil.copy(copy / "checkpoints" / "price_predictor_small.ckpt", copy / "checkpoints" / "zz.ckpt")
    _refused(["evaluate", "--run", str(copy), "--data", str(data)], capsys, "two price models", "zz.ckpt")
    (copy / "checkpoints" / "zz.ckpt").unlink()
    (copy / "calibration.json").unlink()
    _refused(["evaluate", "--run", str(copy), "--data", str(data)], capsys, "no calibration.json")


def _signals(path: Path, **columns: object) -> Path:
    rng = np.random.default_rng(0)
    n = 200
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2021-01-01", periods=n, freq="h", tz="UTC"),
            "position": 1.0,
            "close": close,
        }
    )
    for name, value in columns.items():
        frame[name] = value
    frame.to_csv(path, index=False)
    return path


def test_signals_files_refused_with_the_row_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _signals(tmp_path / "good.csv")
    frame = pd.read_csv(good)
    dup = tmp_path / "dup.csv"
    pd.concat([frame, frame.iloc[[5]].assign(position=0.0)]).to_csv(dup, index=False)
    _refused(["backtest", "--signals", str(dup)], capsys, str(dup), "2 rows share a timestamp",
             "2021-01-01 05:00")  # fmt: skip
    wide = tmp_path / "wide.csv"
    frame.assign(position=np.where(np.arange(len(frame)) == 7, 3.0, 1.0)).to_csv(wide, index=False)
    _refused(["backtest", "--signals", str(wide)], capsys, "column 'position': 3", "[-1, 1]")
    missing = tmp_path / "missing.csv"
    frame.assign(close=np.where(np.arange(len(frame)) == 50, np.nan, frame["close"])).to_csv(
        missing, index=False
    )
    _refused(["backtest", "--signals", str(missing)], capsys, "no return for the bar at 2021-01-03 02:00",
             "position is held")  # fmt: skip
    negative = tmp_path / "negative.csv"
    frame.assign(close=np.where(np.arange(len(frame)) == 9, -5.0, frame["close"])).to_csv(
        negative, index=False
    )
    _refused(["backtest", "--signals", str(negative)], capsys, "column 'close': -5", "positive price")
    words = tmp_path / "words.csv"
    frame.assign(position="long").to_csv(words, index=False)
    _refused(["backtest", "--signals", str(words)], capsys, "column 'position': 'long'", "not a number")
    stamps = tmp_path / "stamps.csv"
    frame.assign(timestamp=frame["timestamp"].where(frame.index != 3, "soon")).to_csv(stamps, index=False)
    _refused(["backtest", "--signals", str(stamps)], capsys, "line 5, column 'timestamp': 'soon'")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    _refused(["backtest", "--signals", str(empty)], capsys, str(empty), "cannot read it as CSV")
    _refused(
        ["backtest", "--signals", str(good), "--start", "2021-01-02"], capsys, "--start: only with --run"
    )


def test_signals_files_handled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Unsorted rows are sorted; a NaN close where no position is held is fine; a NaN position keeps the
    previous one (the engine's documented rule): each checked against the plain compounding of returns."""
    good = _signals(tmp_path / "good.csv")
    frame = pd.read_csv(good)
    close = frame["close"].to_numpy()
    r = np.diff(np.log(close))
    expected = (np.exp(r[0]) - 0.001) * np.exp(r[1:].sum()) - 1.0  # in at the first close, 10 bps once
    variants = {
        "unsorted": frame.sample(frac=1.0, random_state=1),
        "nan_position": frame.assign(position=np.where(np.arange(len(frame)) % 7 == 3, np.nan, 1.0)),
    }
    for name, table in variants.items():
        path = tmp_path / f"{name}.csv"
        table.to_csv(path, index=False)
        out = tmp_path / f"{name}.json"
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["backtest", "--signals", str(path), "--out", str(out)]) == 0, capsys.readouterr().err
        got = pd.read_json(out, typ="series")["assets"]["asset"]["net_return"]
        assert got == pytest.approx(expected, rel=1e-9), name


def test_export_flags_checked_before_exporting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["export", "--model", "price_predictor_small"]
    _refused([*base, "-o", str(tmp_path / "m.onnx"), "--atol", "-1"], capsys, "--atol -1.0", ">= 0")
    _refused([*base, "-o", str(tmp_path)], capsys, f"--output {tmp_path}: is a directory")
    _refused([*base, "-o", str(tmp_path / "m.onnx"), "--opset", "99"], capsys, "--opset 99: expected 18..")


def test_export_onnxruntime_failure_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ml_attention_mechanisms.inference.export as export

    class InvalidGraph(Exception):  # what onnxruntime raises for an opset newer than it implements
        __module__ = "onnxruntime.capi.onnxruntime_pybind11_state"

    def fail(*args: object, **kwargs: object) -> None:
        raise InvalidGraph("[ONNXRuntimeError] : 10 : INVALID_GRAPH : No Op registered for Attention")

    monkeypatch.setattr(export, "export_model", fail)
    _refused(["export", "--model", "price_predictor_small", "-o", str(tmp_path / "m.onnx"), "--opset", "26"],
             capsys, "--opset 26: onnxruntime", "cannot load", "use a lower --opset")  # fmt: skip


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
    _refused(["train", "--model", "price_predictor_small", "--data", str(path), "--config", str(config),
              "--out", str(tmp_path / "run")], capsys, f"--data {path}: too few bars to train on")  # fmt: skip


def test_data_check_directory_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _refused(["data-check", str(tmp_path)], capsys, f"{tmp_path}: is a directory")


def test_unexpected_error_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml_attention_mechanisms.cli.list_models import ListModels

    def boom(cls: object, args: object) -> int:
        raise KeyError("signal")

    monkeypatch.setattr(ListModels, "run", classmethod(boom))
    assert main(["list-models"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "internal error: KeyError: 'signal'" in err and "--debug" in err


def test_backtest_run_holds_positions_over_gaps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hours without a bar (a gap in the data) are skipped, said in a note: a position held over the gap
    earns the price change across it at the next bar (it was zeroed before, the jump lost)."""
    import ml_attention_mechanisms.recipes.backtest as backtest_recipe

    rng = np.random.default_rng(1)
    n = 120
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    close[40:60] = np.nan  # no bars for 20 hours
    table = pd.DataFrame({"timestamp": pd.date_range("2021-03-01", periods=n, freq="h", tz="UTC"),
                          "symbol": "BTC/USDT", "close": close, "position": 1.0})  # fmt: skip
    monkeypatch.setattr(backtest_recipe, "prediction_table", lambda *a, **k: table)
    out = tmp_path / "bt.json"
    rc = main(["backtest", "--run", "RUN", "--data", "BTCUSDT_1h.csv", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert "note: 20 hours without a bar skipped" in capsys.readouterr().out
    kept = close[np.isfinite(close)]
    r = np.diff(np.log(kept))
    expected = (np.exp(r[0]) - 0.001) * np.exp(r[1:].sum()) - 1.0
    got = pd.read_json(out, typ="series")["assets"]["BTC/USDT"]["net_return"]
    assert got == pytest.approx(expected, rel=1e-9)


def test_evaluate_out_is_a_file(
    run_dir: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, later = run_dir
    data = tmp_path / "BTCUSDT_1h.csv"
    later.to_csv(data)
    _refused(["evaluate", "--run", str(run), "--data", str(data), "--out", str(data)], capsys,
             f"--out {data}: is a file")  # fmt: skip


def test_train_data_without_symbol_or_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.DataFrame({"open": 1.0, "high": 1.1, "low": 0.9, "close": 1.0, "volume": 1.0},
                         index=pd.Index(pd.date_range("2021-01-01", periods=50, freq="h", tz="UTC"), name="timestamp"))  # fmt: skip
    anonymous, named = tmp_path / "prices.csv", tmp_path / "ETHUSDT_1h.csv"
    frame.to_csv(anonymous)
    frame.to_csv(named)
    base = ["train", "--model", "price_predictor_small", "--out", str(tmp_path / "run"), "--data"]
    _refused([*base, str(named), str(anonymous)], capsys, f"--data {anonymous}: no symbol", "BTCUSDT_1h.csv")
    _refused([*base, str(named), str(named)], capsys, "duplicate symbols", "one file per asset")


def test_two_pairs_of_one_base_asset_are_refused(
    run_dir: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ETH/USDT and ETH/BTC were both reported as ``ETH``: one's forecasts overwrote the other's."""
    run, later = run_dir
    usdt, btc = tmp_path / "ETHUSDT_1h.csv", tmp_path / "ETHBTC_1h.csv"
    later.to_csv(usdt)
    (later.assign(**{c: later[c] / 30000.0 for c in ["open", "high", "low", "close"]})).to_csv(btc)
    for command in ("evaluate", "predict"):
        extra = ["--out", str(tmp_path / "p.csv")] if command == "predict" else []
        _refused([command, "--run", str(run), "--data", str(usdt), str(btc), *extra], capsys,
                 f"--data {btc}: ETH/BTC is ETH again", "one pair per base asset")  # fmt: skip


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
    _refused(base, capsys, f"--data {anonymous}: no symbol")
    _refused([*base, "--timeout", "-1"], capsys, "--timeout -1.0: expected seconds > 0")


def test_evaluate_on_the_runs_own_period_says_in_sample(
    run_dir: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The quick run trained and validated on 2020-08-01 .. 2020-12-11: scoring bars in that span is
    in-sample, said on the terminal and in metrics.json; later bars carry no such warning."""
    import json

    from ml_attention_mechanisms.data import load_dataset

    run, later = run_dir
    early = load_dataset("binance-1h").between("2020-09-01", "2020-12-31 23:00").to_frame("BTC/USDT")[OHLCV]
    for frame, start, in_sample in ((early, "2020-11-15", True), (later, "2021-01-25", False)):
        data = tmp_path / f"BTCUSDT_{start}.csv"
        frame.to_csv(data)
        out = tmp_path / f"ev_{start}"
        with contextlib.redirect_stdout(io.StringIO()) as buf:
            rc = main(["evaluate", "--run", str(run), "--data", str(data), "--start", start, "--out", str(out),
                       "--no-progress"])  # fmt: skip
        assert rc == 0, capsys.readouterr().err
        warnings = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["warnings"]
        assert bool(warnings) == in_sample and ("warning: In-sample" in buf.getvalue()) == in_sample
        if in_sample:
            assert "2020-11-15 00:00" in warnings[0] and "2020-12-11 23:00" in warnings[0]


def _portfolio(path: Path, *, drop_btc: slice | None = None, **weights: float) -> Path:
    rng = np.random.default_rng(3)
    n = 150
    ts = pd.date_range("2021-01-01", periods=n, freq="h", tz="UTC")
    parts = []
    for symbol in ("BTC/USDT", "ETH/USDT"):
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        part = pd.DataFrame({"timestamp": ts, "symbol": symbol, "close": close,
                             "portfolio_weight": weights[symbol.split("/")[0]]})  # fmt: skip
        if drop_btc is not None and symbol == "BTC/USDT":
            part = part.drop(index=part.index[drop_btc])
        parts.append(part)
    pd.concat(parts).to_csv(path, index=False)
    return path


def test_signals_portfolio_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """All in BTC through daily rebalances earns BTC's buy and hold (the portfolio read 0.00% before: CSV
    times in microseconds were taken for nanoseconds, so no bar was a rebalance bar); a 20-hour gap in BTC's
    rows changes next to nothing (the jump is booked at its next row, the weight kept); weights outside [-1, 1] and
    a missing close under a weight are refused."""
    from ml_attention_mechanisms.evaluation.backtest import (
        BacktestConfig,
        rebalance_mask,
        run_portfolio_backtest,
    )

    path = _portfolio(tmp_path / "w.csv", BTC=1.0, ETH=0.0)
    table = pd.read_csv(path)
    r = np.stack([np.r_[0.0, np.diff(np.log(table.loc[table["symbol"] == s, "close"].to_numpy()))]
                  for s in ("BTC/USDT", "ETH/USDT")], axis=1)  # fmt: skip
    hours = 1_609_459_200 + 3600 * np.arange(r.shape[0])  # 2021-01-01 00:00 UTC on
    decide = np.asarray(rebalance_mask(hours, BacktestConfig()), dtype=bool)
    assert decide.sum() == 7  # daily at 00:00
    weights = np.where(decide[:, None], np.array([[1.0, 0.0]]), np.nan)
    expected = float(run_portfolio_backtest(weights, r, BacktestConfig()).equity[-1] - 1.0)
    assert abs(expected) > 1e-3
    gap = _portfolio(tmp_path / "gap.csv", drop_btc=slice(40, 60), BTC=1.0, ETH=0.0)
    for table in (path, gap):
        out = tmp_path / f"{table.stem}.json"
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["backtest", "--signals", str(table), "--out", str(out)]) == 0, (
                capsys.readouterr().err
            )
        got = pd.read_json(out, typ="series")["portfolio"]["net_return"]
        # in the gap, the daily rebalance resets BTC's weight before its jump is booked: a few 1e-8 apart
        assert got == pytest.approx(expected, rel=1e-9 if table == path else 1e-5), table.stem
    big = _portfolio(tmp_path / "big.csv", BTC=3.0, ETH=0.0)
    _refused(["backtest", "--signals", str(big)], capsys, "column 'portfolio_weight': 3", "[-1, 1]")
    frame = pd.read_csv(path)
    frame.loc[frame.index[(frame["symbol"] == "BTC/USDT")][30], "close"] = np.nan
    frame.to_csv(tmp_path / "nan.csv", index=False)
    _refused(["backtest", "--signals", str(tmp_path / "nan.csv")], capsys, "portfolio: no return for BTC/USDT",
             "while it has a weight")  # fmt: skip
