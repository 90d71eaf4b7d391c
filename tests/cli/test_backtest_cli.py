"""``mlattn backtest``: signals/positions/weights files refused with the row named or handled as documented,
and a run's outputs backtested over gaps in the data."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _cli_helpers import refused

from ml_attention_mechanisms.cli.main import main


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
    refused(["backtest", "--signals", str(dup)], capsys, str(dup), "2 rows share a timestamp",
             "2021-01-01 05:00")  # fmt: skip
    wide = tmp_path / "wide.csv"
    frame.assign(position=np.where(np.arange(len(frame)) == 7, 3.0, 1.0)).to_csv(wide, index=False)
    refused(["backtest", "--signals", str(wide)], capsys, "column 'position': 3", "[-1, 1]")
    missing = tmp_path / "missing.csv"
    frame.assign(close=np.where(np.arange(len(frame)) == 50, np.nan, frame["close"])).to_csv(
        missing, index=False
    )
    refused(["backtest", "--signals", str(missing)], capsys, "no return for the bar at 2021-01-03 02:00",
             "position is held")  # fmt: skip
    negative = tmp_path / "negative.csv"
    frame.assign(close=np.where(np.arange(len(frame)) == 9, -5.0, frame["close"])).to_csv(
        negative, index=False
    )
    refused(["backtest", "--signals", str(negative)], capsys, "column 'close': -5", "positive price")
    words = tmp_path / "words.csv"
    frame.assign(position="long").to_csv(words, index=False)
    refused(["backtest", "--signals", str(words)], capsys, "column 'position': 'long'", "not a number")
    stamps = tmp_path / "stamps.csv"
    frame.assign(timestamp=frame["timestamp"].where(frame.index != 3, "soon")).to_csv(stamps, index=False)
    refused(["backtest", "--signals", str(stamps)], capsys, "line 5, column 'timestamp': 'soon'")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    refused(["backtest", "--signals", str(empty)], capsys, str(empty), "cannot read it as CSV")
    refused(["backtest", "--signals", str(good), "--start", "2021-01-02"], capsys, "--start: only with --run")
    refused(
        ["backtest", "--signals", str(good), "--missing-hours", "absent"],
        capsys,
        "--missing-hours: only with --run",
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
    refused(["backtest", "--signals", str(big)], capsys, "column 'portfolio_weight': 3", "[-1, 1]")
    frame = pd.read_csv(path)
    frame.loc[frame.index[(frame["symbol"] == "BTC/USDT")][30], "close"] = np.nan
    frame.to_csv(tmp_path / "nan.csv", index=False)
    refused(["backtest", "--signals", str(tmp_path / "nan.csv")], capsys, "portfolio: no return for BTC/USDT",
             "while it has a weight")  # fmt: skip
