"""``evaluate_run`` on files whose assets list at different times: an asset listed after the scored period
starts is scored from its own first scored bar (its first bar plus the baselines' history), with the same
figures as when it is evaluated alone from that bar; the other assets' figures do not change; the portfolio is
scored from the first bar every asset is scored on; a warning and ``metrics.json`` name that bar. (An asset
listed too late to be scored is refused: ``tests/cli/test_run_on_other_data.py``.)"""

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
from ml_attention_mechanisms.recipes._data import MIN_HISTORY

START = "2020-12-05"  # BTC's first scored bar: 816 bars of its history before it
LISTED = "2020-12-20"  # ETH's first bar: after START
COLUMNS = ["open", "high", "low", "close", "volume", "quote_volume"]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A quick four-model run evaluated on BTC and a late-listed ETH together, and on each alone."""
    from ml_attention_mechanisms.data import load_dataset

    root = tmp_path_factory.mktemp("listing")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["demo", "--quick", "--out", str(root / "run"), "--no-progress"]) == 0
    bars = load_dataset("binance-1h").between("2020-11-01", "2021-02-28 23:00")
    btc, eth = root / "BTCUSDT_1h.csv", root / "ETHUSDT_1h.csv"
    bars.to_frame("BTC/USDT")[COLUMNS].to_csv(btc)
    listed = bars.to_frame("ETH/USDT")[COLUMNS]
    listed = listed[listed.index >= LISTED]
    listed.to_csv(eth)
    # the reference: ETH's first bar plus MIN_HISTORY bars of the hourly grid (missing hours count)
    first = listed.index[listed["close"].notna()][0]
    eth_scored = (first + pd.Timedelta(hours=MIN_HISTORY)).strftime("%Y-%m-%d %H:%M")
    run = root / "run"
    both = evaluate_run(run, [btc, eth], start=START, out=root / "both", progress=False).metrics
    eth_alone = evaluate_run(run, [eth], start=eth_scored, out=root / "eth", progress=False).metrics
    btc_alone = evaluate_run(run, [btc], start=START, out=root / "btc", progress=False).metrics
    return {"both": both, "ETH": eth_alone, "BTC": btc_alone, "eth_scored": eth_scored}


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


def test_a_late_listed_asset_is_scored_from_its_own_first_scored_bar(evaluated: dict[str, Any]) -> None:
    both = evaluated["both"]
    assert both["data"]["scored_from"] == {"BTC": f"{START} 00:00", "ETH": evaluated["eth_scored"]}
    said = [w for w in both["warnings"] if w.startswith("ETH:")]
    assert len(said) == 1 and evaluated["eth_scored"] in said[0] and f"{LISTED} 00:00" in said[0]
    assert not any(w.startswith("BTC:") for w in both["warnings"])
    eth_rows = both["assets"]["ETH"]["var95"]["n"]
    assert 0 < eth_rows < both["assets"]["BTC"]["var95"]["n"]


@pytest.mark.parametrize("asset", ["BTC", "ETH"])
def test_each_asset_scores_as_it_does_alone(evaluated: dict[str, Any], asset: str) -> None:
    both, alone = evaluated["both"], evaluated[asset]
    _same(both["assets"][asset], alone["assets"][asset])
    _same(both["strategies"][f"signal_{asset}"], alone["strategies"][f"signal_{asset}"])


def test_the_portfolio_is_scored_from_the_bar_every_asset_is_scored_on(evaluated: dict[str, Any]) -> None:
    strategies = evaluated["both"]["strategies"]
    bars = {k: strategies[k]["model"]["n_bars"] for k in ("portfolio", "signal_ETH", "signal_BTC")}
    assert bars["portfolio"] == bars["signal_ETH"] < bars["signal_BTC"]
    for name, block in strategies["portfolio"]["baselines"].items():
        assert block["n_bars"] == bars["portfolio"], name
    assert pd.Timestamp(evaluated["eth_scored"]) > pd.Timestamp(START)
