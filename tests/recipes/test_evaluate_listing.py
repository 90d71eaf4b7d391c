"""``evaluate_run`` on files whose assets list and end at different times: each asset is scored over its own
span (from its first bar plus the baselines' history when it lists late; up to the last bar whose 24-bar
target it completes when its bars end early), with the same figures as when it is evaluated alone over that
span; the portfolio is scored on the bars every asset is scored on; a warning and ``metrics.json`` name the
spans. (Too few bars to score an asset are refused: ``tests/cli/test_run_on_other_data.py``.)"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ml_attention_mechanisms.cli.main import main
from ml_attention_mechanisms.recipes import evaluate_run
from ml_attention_mechanisms.recipes._data import HORIZON, MIN_HISTORY

START = "2020-12-05"  # the period's first scored bar: 816 bars of BTC's and LTC's history before it
LISTED = "2020-12-20"  # ETH's first bar: after START
ENDS = "2021-02-10 23:00"  # LTC's last bar: before the data end (2021-02-28 23:00)
COLUMNS = ["open", "high", "low", "close", "volume", "quote_volume"]


def _time(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%d %H:%M")


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A quick four-model run evaluated on BTC, a late-listed ETH and an early-ending LTC together, and on
    each alone over its span."""
    from ml_attention_mechanisms.data import load_dataset

    root = tmp_path_factory.mktemp("listing")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["demo", "--quick", "--out", str(root / "run"), "--no-progress"]) == 0
    bars = load_dataset("binance-1h").between("2020-11-01", "2021-02-28 23:00")
    frames = {a: bars.to_frame(f"{a}/USDT")[COLUMNS] for a in ("BTC", "ETH", "LTC")}
    frames["ETH"] = frames["ETH"][frames["ETH"].index >= LISTED]
    frames["LTC"] = frames["LTC"][frames["LTC"].index <= ENDS]
    files = {}
    for asset, frame in frames.items():
        files[asset] = root / f"{asset}USDT_1h.csv"
        frame.to_csv(files[asset])
    # the references: on the hourly grid (missing hours count), ETH's first bar plus MIN_HISTORY bars; the
    # last scored decision HORIZON bars before an asset's last bar (the grid's last: BTC's)
    last_bar = frames["BTC"].index[-1]
    spans = {
        "BTC": [f"{START} 00:00", _time(last_bar - pd.Timedelta(hours=HORIZON))],
        "ETH": [
            _time(frames["ETH"].index[frames["ETH"]["close"].notna()][0] + pd.Timedelta(hours=MIN_HISTORY)),
            _time(last_bar - pd.Timedelta(hours=HORIZON)),
        ],
        "LTC": [f"{START} 00:00", _time(pd.Timestamp(ENDS) - pd.Timedelta(hours=HORIZON))],
    }
    run = root / "run"
    out: dict[str, Any] = {"spans": spans, "run": run, "frames": frames, "root": root}
    out["all"] = evaluate_run(
        run, list(files.values()), start=START, out=root / "all", progress=False
    ).metrics
    for asset, path in files.items():
        out[asset] = evaluate_run(
            run, [path], start=spans[asset][0], out=root / asset, progress=False
        ).metrics
    return out


def _leaves(tree: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """Every number of a metrics block, by its path."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, f"{path}/{key}")
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _leaves(value, f"{path}[{i}]")
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        yield path, float(tree)


def _same(a: Any, b: Any) -> None:
    left, right = dict(_leaves(a)), dict(_leaves(b))
    assert left.keys() == right.keys()
    differ = [k for k in left if not np.isclose(left[k], right[k], rtol=1e-9, atol=0.0, equal_nan=True)]
    assert not differ, differ[:5]


def _hours(span: list[str]) -> float:
    return (pd.Timestamp(span[1]) - pd.Timestamp(span[0])) / pd.Timedelta(hours=1)


def test_each_asset_is_scored_over_its_own_span_and_told(evaluated: dict[str, Any]) -> None:
    both, spans = evaluated["all"], evaluated["spans"]
    assert both["data"]["scored"] == spans
    for asset in ("ETH", "LTC"):
        said = [w for w in both["warnings"] if w.startswith(f"{asset}:") and "not over the whole period" in w]
        assert len(said) == 1 and f"{spans[asset][0]} .. {spans[asset][1]}" in said[0], said
    assert "first bar (2020-12-20 00:00)" in next(w for w in both["warnings"] if w.startswith("ETH: scored"))
    assert f"last bar ({ENDS})" in next(w for w in both["warnings"] if w.startswith("LTC: scored"))
    assert not any(w.startswith("BTC:") and "whole period" in w for w in both["warnings"])


@pytest.mark.parametrize("asset", ["BTC", "ETH", "LTC"])
def test_each_asset_scores_as_it_does_alone(evaluated: dict[str, Any], asset: str) -> None:
    both, alone = evaluated["all"], evaluated[asset]
    assert alone["data"]["scored"] == {asset: evaluated["spans"][asset]}
    _same(both["assets"][asset], alone["assets"][asset])
    _same(both["strategies"][f"signal_{asset}"], alone["strategies"][f"signal_{asset}"])


def test_the_portfolio_is_scored_on_the_bars_every_asset_is_scored_on(evaluated: dict[str, Any]) -> None:
    strategies, spans = evaluated["all"]["strategies"], evaluated["spans"]
    for asset, span in spans.items():
        assert strategies[f"signal_{asset}"]["model"]["n_bars"] == _hours(span)
    common = [max(s[0] for s in spans.values()), min(s[1] for s in spans.values())]  # ETH's start, LTC's end
    assert strategies["portfolio"]["model"]["n_bars"] == _hours(common)
    for name, block in strategies["portfolio"]["baselines"].items():
        assert block["n_bars"] == _hours(common), name


def test_spans_without_common_bars_are_refused_with_a_portfolio_model(
    evaluated: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """BTC's bars ending before ETH is scored: no bar to score the run's portfolio on: one line naming both
    spans, exit 2."""
    root, frames = evaluated["root"], evaluated["frames"]
    btc, eth = root / "early" / "BTCUSDT_1h.csv", root / "early" / "ETHUSDT_1h.csv"
    btc.parent.mkdir()
    frames["BTC"][frames["BTC"].index <= "2021-01-15 23:00"].to_csv(btc)
    frames["ETH"].to_csv(eth)
    argv = ["evaluate", "--run", str(evaluated["run"]), "--data", str(btc), str(eth), "--start", START]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fewer than 48 common bars" in err, err
    assert f"BTC {START} 00:00 .. 2021-01-14 23:00" in err and f"ETH {evaluated['spans']['ETH'][0]}" in err, (
        err
    )
