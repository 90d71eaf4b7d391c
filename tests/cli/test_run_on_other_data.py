"""``mlattn evaluate`` / ``predict`` / ``backtest --run`` on data a run cannot use as it is: another bar
interval, files without a symbol or given twice, a week-long gap, constant prices, a `mlattn train` run
given as ``--run``, an output path that is a file, an asset with too few bars to be scored, hours without a candle, two pairs of one base asset (a pair priced in another
coin is an asset of its own), and the run's own period
(in-sample). Each is handled (the output checked) or refused in one stderr line naming the argument and
what was expected, with exit code 2; never a traceback, never dropped silently."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _cli_helpers import refused

from _market_files import OHLCV
from ml_attention_mechanisms.cli.main import main
from ml_attention_mechanisms.recipes import predict_run


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
    refused(
        [command, "--run", str(run), "--data", str(daily), *extra], capsys, str(daily), "1d bars", "hourly"
    )


def test_files_without_symbol_or_given_twice(
    run_dir: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, later = run_dir
    anonymous = tmp_path / "prices.csv"
    later.to_csv(anonymous)
    refused(["evaluate", "--run", str(run), "--data", str(anonymous)], capsys, str(anonymous), "no symbol",
             "BTCUSDT_1h.csv")  # fmt: skip
    named = tmp_path / "BTCUSDT_1h.csv"
    later.to_csv(named)
    refused(["predict", "--run", str(run), "--data", str(named), str(named), "--out", str(tmp_path / "p.csv")],
             capsys, "BTC/USDT again", "one file per asset")  # fmt: skip


def test_week_gap_is_refused_then_scored_after_it(
    run_dir: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, later = run_dir
    gap = tmp_path / "BTCUSDT_gap.csv"
    later[(later.index < "2021-01-20") | (later.index >= "2021-01-27")].to_csv(gap)
    argv = ["evaluate", "--run", str(run), "--data", str(gap), "--out", str(tmp_path / "ev"), "--no-progress"]
    err = refused(
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


def test_an_asset_with_too_few_bars_to_score_is_refused(
    run_dir: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ETH listed 2021-01-20: its baselines' 755 bars of history end after the data do: refused, file named;
    so is an asset whose bars end before it could be scored on 48."""
    from ml_attention_mechanisms.data import load_dataset

    run, later = run_dir
    btc, eth = tmp_path / "BTCUSDT_1h.csv", tmp_path / "ETHUSDT_1h.csv"
    later.to_csv(btc)
    bars = load_dataset("binance-1h").between("2020-12-20", "2021-02-10 23:00").to_frame("ETH/USDT")[OHLCV]
    bars[bars.index >= "2021-01-20"].to_csv(eth)
    argv = ["evaluate", "--run", str(run), "--data", str(btc), str(eth)]
    refused(argv, capsys, str(eth), "too few bars to score (2021-01-20 00:00 .. 2021-02-10 23:00", "755 bars")
    bars[bars.index <= "2021-01-21 12:00"].to_csv(eth)  # the period starts 2021-01-20 11:00: 2 targets end
    refused(
        argv, capsys, str(eth), "too few bars to score (2020-12-20 00:00 .. 2021-01-21 12:00", "48 scored"
    )


def test_shorter_bars_are_aggregated_into_the_runs(
    run_dir: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    """A file of 15-minute bars whose hours are BTC's hourly candles (open, then the high, the low, the close;
    a quarter of the volume each) is aggregated into hourly bars and scored exactly as the hourly file is;
    a warning says so."""
    import json

    run, later = run_dir
    hourly = tmp_path / "BTCUSDT_1h.csv"
    later.to_csv(hourly)
    o, h, lo, c, v = (later[k].to_numpy() for k in OHLCV)
    path = np.stack([o, h, lo, c, c], axis=1)  # each quarter goes from one point to the next
    quarter = pd.DataFrame(
        {"open": path[:, :4].ravel(), "close": path[:, 1:].ravel(),
         "high": np.stack([h, h, c, c], axis=1).ravel(), "low": np.stack([o, lo, lo, c], axis=1).ravel(),
         "volume": np.repeat(v / 4, 4)},
        index=(later.index.values[:, None] + np.arange(4) * np.timedelta64(15, "m")).ravel(),
    )[list(OHLCV)]  # fmt: skip
    quarter.index = pd.DatetimeIndex(quarter.index, tz="UTC", name="timestamp")
    fine = tmp_path / "BTCUSDT_15m.csv"
    quarter.to_csv(fine)
    out = {}
    for name, file in (("1h", hourly), ("15min", fine)):
        argv = [
            "evaluate",
            "--run",
            str(run),
            "--data",
            str(file),
            "--out",
            str(tmp_path / name),
            "--no-progress",
        ]
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(argv) == 0
        out[name] = json.loads((tmp_path / name / "metrics.json").read_text(encoding="utf-8"))
    assert (
        out["15min"]["assets"] == out["1h"]["assets"]
        and out["15min"]["data"]["scored"] == out["1h"]["data"]["scored"]
    )
    # HAR-RV's first fit: the bars before the scored period less its monthly warm-up and a 24-bar target
    history = (
        pd.Timestamp(out["1h"]["data"]["scored"]["BTC"][0], tz="UTC") - later.index[0]
    ) // pd.Timedelta("1h")
    said = [w for w in out["1h"]["warnings"] if "HAR-RV is fitted on first" in w]
    assert len(said) == 1 and said[0].startswith(
        f"BTC: {history} bars of its history come before its scored period"
    )
    assert f"its first fits rest on {history - 719 - 24 + 1} rows" in said[0]
    said = [w for w in out["15min"]["warnings"] if "aggregated" in w]
    assert said == [
        f"BTC: the 15min bars of {fine} aggregated into the run's 1h bars (open of the first, high, low, "
        "close of the last, volumes summed; a bar the file covers only in part at either end left out)"
    ]


def test_hours_without_a_candle_are_said_or_refused(
    run_dir: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An export that leaves out hours: with ``--missing-hours absent`` a bar whose previous bars are missing
    has no features, so a tenth of the hours missing leaves a large share of the bars unforecast, said in a
    warning with the shares (computed here from the file), and two fifths missing is refused; by default a
    file without zero-volume candles whose short holes are that common is read with those hours written as
    hours without trades (an exchange that writes no candle for them), said in a warning, and scored."""
    import json

    run, later = run_dir
    rng = np.random.default_rng(0)
    sparse, path = later[rng.random(len(later)) >= 0.1], tmp_path / "BTCUSDT_1h.csv"
    sparse.to_csv(path)
    out = tmp_path / "ev"
    argv = ["evaluate", "--run", str(run), "--data", str(path), "--out", str(out), "--no-progress"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*argv, "--missing-hours", "absent"]) == 0
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    first, last = (pd.Timestamp(t, tz="UTC") for t in metrics["data"]["scored"]["BTC"])
    hours = int((last - first) / pd.Timedelta(hours=1)) + 1
    held = int(((sparse.index >= first) & (sparse.index <= last)).sum())
    said = [w for w in metrics["warnings"] if "have no usable candle" in w]
    assert len(said) == 1 and said[0].startswith(f"BTC: {1 - held / hours:.0%} of its scored hours"), said
    assert f"of its {held} scored bars with a candle" in said[0] and "--missing-hours no-trades" in said[0]
    sparse = later[rng.random(len(later)) >= 0.4]
    sparse.to_csv(path)
    refused([*argv[:5], "--missing-hours", "absent"], capsys, str(path), "no bar with finite features",
            "of its hours there have no usable candle")  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert not [w for w in metrics["warnings"] if "have no usable candle" in w]
    written = int((sparse.index[-1] - sparse.index[0]) / pd.Timedelta(hours=1)) + 1 - len(sparse)
    said = [w for w in metrics["warnings"] if "read as bars without trades" in w]
    assert said == [
        f"BTC: {written} 1h bars of {path} read as bars without trades (missing candles written flat at the "
        "previous close, zero-volume candles kept rather than masked as downtime); --missing-hours absent "
        "reads them as downtime"
    ]
    first, last = (pd.Timestamp(t, tz="UTC") for t in metrics["data"]["scored"]["BTC"])
    assert metrics["assets"]["BTC"]["volatility"]["model"]["n"] >= 0.95 * (
        (last - first) / pd.Timedelta(hours=1)
    )


def test_constant_prices_are_refused(
    run_dir: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, later = run_dir
    flat = later.copy()
    flat[["open", "high", "low", "close"]] = 100.0
    path = tmp_path / "XYZUSDT_1h.csv"
    flat.to_csv(path)
    for command in ("evaluate", "backtest"):
        refused(
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
    refused(
        ["evaluate", "--run", str(trained), "--data", str(data)],
        capsys,
        "a `mlattn train` run",
        "mlattn demo",
    )
    copy = tmp_path / "copy"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("*.png", "*.html"))
    shutil.copy(copy / "checkpoints" / "price_predictor_small.ckpt", copy / "checkpoints" / "zz.ckpt")
    refused(
        ["evaluate", "--run", str(copy), "--data", str(data)],
        capsys,
        "price model checkpoints price_predictor_small.ckpt, zz.ckpt",
    )
    (copy / "checkpoints" / "zz.ckpt").unlink()
    (copy / "calibration.json").unlink()
    refused(["evaluate", "--run", str(copy), "--data", str(data)], capsys, "no calibration.json")


def test_evaluate_out_is_a_file(
    run_dir: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, later = run_dir
    data = tmp_path / "BTCUSDT_1h.csv"
    later.to_csv(data)
    refused(["evaluate", "--run", str(run), "--data", str(data), "--out", str(data)], capsys,
             f"--out {data}: is a file")  # fmt: skip


def test_two_pairs_of_one_base_asset_are_refused(
    run_dir: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ETH/USDT and ETH/USD are both ``ETH``: one's forecasts would overwrite the other's."""
    run, later = run_dir
    usdt, usd = tmp_path / "ETHUSDT_1h.csv", tmp_path / "ETHUSD_1h.csv"
    later.to_csv(usdt)
    later.to_csv(usd)
    for command in ("evaluate", "predict"):
        extra = ["--out", str(tmp_path / "p.csv")] if command == "predict" else []
        refused([command, "--run", str(run), "--data", str(usdt), str(usd), *extra], capsys,
                 f"--data {usd}: ETH/USD is ETH again", "one pair per base asset")  # fmt: skip


def test_a_pair_priced_in_another_coin_is_an_asset_of_its_own(
    run_dir: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    """ETH/BTC is not ETH: it is predicted beside ETH/USDT, as an asset the run never saw. Its bars here are
    ETH/USDT's divided by 30,000 (the same returns and candle shapes, which the forecasts do not see the units
    of), so its forecasts differ from ETH/USDT's only through the asset id: the unknown asset's."""
    run, later = run_dir
    usdt, btc = tmp_path / "ETHUSDT_1h.csv", tmp_path / "ETHBTC_1h.csv"
    later.to_csv(usdt)
    (later.assign(**{c: later[c] / 30000.0 for c in ["open", "high", "low", "close"]})).to_csv(btc)
    out = tmp_path / "p.csv"
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["predict", "--run", str(run), "--data", str(usdt), str(btc), "--out", str(out), "--start",
                   "2021-02-01", "--no-progress"])  # fmt: skip
    assert rc == 0
    table = pd.read_csv(out)
    by = {s: g.set_index("timestamp") for s, g in table.groupby("symbol")}
    assert set(by) == {"ETH/USDT", "ETH/BTC"} and len(by["ETH/BTC"]) == len(by["ETH/USDT"]) > 0
    # units move a forecast by ~1e-6 (float32); another asset id by far more. The upper quantile, in units of
    # the anchor's scale, always passes through the model (the 24-bar variance may be the anchor's alone,
    # where validation set its residual weight to 0, and then no asset id can move it)
    upper = by["ETH/BTC"]["return_q0.95"] / by["ETH/USDT"]["return_q0.95"]
    assert np.isfinite(upper).all() and float(np.median(np.abs(upper - 1))) > 1e-3
    variance = by["ETH/BTC"]["variance_24h"] / by["ETH/USDT"]["variance_24h"]
    assert np.isfinite(variance).all()


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
        warnings = [w for w in warnings if w.startswith("In-sample")]  # (a short period is warned too)
        assert bool(warnings) == in_sample and ("warning: In-sample" in buf.getvalue()) == in_sample
        if in_sample:
            assert "2020-11-15 00:00" in warnings[0] and "2020-12-11 23:00" in warnings[0]


def test_the_files_quality_warnings_are_evaluates_and_predicts(
    run_dir: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    """A file whose volume turns from BTC into USDT three weeks in: ``evaluate``, ``predict`` and ``backtest
    --run`` say the data check's sentence, naming the asset and the file; ``predict_run`` issues it as a
    ``UserWarning``."""
    import json

    run, later = run_dir
    switched = later.copy()
    at = later.index[504]
    switched.loc[at:, "volume"] = (switched["volume"] * switched["close"]).loc[at:]
    path = tmp_path / "BTCUSDT_1h.csv"
    switched.to_csv(path)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["evaluate", "--run", str(run), "--data", str(path), "--out", str(tmp_path / "e"),
                     "--no-progress"]) == 0  # fmt: skip
    warnings = json.loads((tmp_path / "e" / "metrics.json").read_text(encoding="utf-8"))["warnings"]
    said = [w for w in warnings if "volume level" in w]
    assert len(said) == 1 and said[0].startswith(
        f"BTC: {path}: volume level: the week from {at:%Y-%m-%d %H:%M}"
    )
    with contextlib.redirect_stdout(io.StringIO()) as buf:
        assert (
            main(["predict", "--run", str(run), "--data", str(path), "--out", str(tmp_path / "p.csv")]) == 0
        )
    printed = [line for line in buf.getvalue().splitlines() if "volume level" in line]
    assert printed == [f"warning: {said[0]}"]
    with contextlib.redirect_stdout(io.StringIO()) as buf:
        assert main(["backtest", "--run", str(run), "--data", str(path)]) == 0
    assert [line for line in buf.getvalue().splitlines() if "volume level" in line] == [f"note: {said[0]}"]
    with pytest.warns(UserWarning, match="volume level: the week from"):
        predict_run(run, [path], tmp_path / "q.csv")


def test_times_in_another_zone_score_as_the_utc_file(
    run_dir: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An export whose times are UTC+8 clock times written without a zone: with ``--timezone`` it is scored
    exactly as the same bars written in UTC; ``backtest --signals`` refuses the option (its file has its
    own times)."""
    import json

    run, later = run_dir
    hourly, local = tmp_path / "BTCUSDT_1h.csv", tmp_path / "BTC-USDT_1h_local.csv"
    later.to_csv(hourly)
    shown = later.copy()
    shown.index = later.index.tz_convert("Asia/Shanghai").tz_localize(None).rename("datetime")
    shown.to_csv(local)
    out = {}
    for name, argv in (("utc", [str(hourly)]), ("local", [str(local), "--timezone", "Asia/Shanghai"])):
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["evaluate", "--run", str(run), "--data", *argv, "--out", str(tmp_path / name),
                         "--no-progress"]) == 0  # fmt: skip
        out[name] = json.loads((tmp_path / name / "metrics.json").read_text(encoding="utf-8"))
    assert out["local"]["assets"] == out["utc"]["assets"]
    assert out["local"]["data"]["scored"] == out["utc"]["data"]["scored"]
    signals = tmp_path / "signals.csv"
    signals.write_text("timestamp,symbol,position,close\n2021-01-01T00:00:00Z,BTC,1,100\n")
    refused(
        ["backtest", "--signals", str(signals), "--timezone", "UTC+8"],
        capsys,
        "--timezone",
        "only with --run",
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--run", str(run), "--data", str(local), "--timezone", "Asia/Shang"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "mlattn: error: argument --timezone: 'Asia/Shang': not a time zone (expected an IANA name such as "
        "'Asia/Shanghai', or an offset from UTC such as 'UTC+8' or '+05:30', at most 14 hours)\n"
    )
