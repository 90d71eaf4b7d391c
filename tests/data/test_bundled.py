"""The bundled dataset: loads offline, matches the shared exports, stays small."""

from __future__ import annotations

import socket
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from ml_attention_mechanisms.data import MarketPanel, available_datasets, load_dataset
from ml_attention_mechanisms.data.bundled import _SOURCES, BUNDLED_DIR

LoadReal = Callable[[str], pd.DataFrame]


@pytest.fixture(scope="module")
def panel() -> MarketPanel:
    return load_dataset("binance-1h")


def test_loads_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("load_dataset tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert load_dataset("binance-1h", symbols=["ADA/USDT"]).symbols == ("ADA/USDT",)


def test_panel_shape_and_spans(panel: MarketPanel) -> None:
    assert "binance-1h" in available_datasets()
    assert (
        panel.symbols == ("BTC/USDT", "ETH/USDT", "LTC/USDT", "BNB/USDT", "ADA/USDT")
        and panel.timeframe == "1h"
    )
    ts = pd.to_datetime(panel.timestamps, unit="s", utc=True)
    assert ts[0] == pd.Timestamp("2017-08-17 04:00", tz="UTC") and ts[-1] == pd.Timestamp(
        "2021-06-10 00:00", tz="UTC"
    )
    first = {s: ts[np.argmax(panel.mask[:, i])] for i, s in enumerate(panel.symbols)}
    assert first["BNB/USDT"] == first["ADA/USDT"] == pd.Timestamp("2020-08-01 23:00", tz="UTC")
    # LTC: the orphan first candle, then 1,951 missing hours
    ltc = panel.symbols.index("LTC/USDT")
    assert first["LTC/USDT"] == pd.Timestamp("2017-09-22 19:00", tz="UTC")
    start = int(np.argmax(panel.mask[:, ltc]))
    assert not panel.mask[start + 1 : start + 1952, ltc].any() and panel.mask[start + 1952, ltc]
    # the unfinished 2021-06-10 00:00 candles are masked; LTC's (from a later export, cut there) is complete
    assert panel.mask[-1].tolist() == [False, False, True, False, False]
    assert (
        panel.reports["BTC/USDT"].duplicates == 2649
        and panel.reports["BTC/USDT"].path == "Binance_BTCUSDT_1h.csv"
    )


def test_files_are_small() -> None:
    total = sum(p.stat().st_size for p in BUNDLED_DIR.iterdir() if p.is_file())
    assert total < 10 * 2**20


def test_matches_the_shared_exports(load_real: LoadReal, panel: MarketPanel) -> None:
    for col, symbol in enumerate(panel.symbols):
        raw = load_real(_SOURCES[symbol][0])
        seconds = raw.index.as_unit("s").asi8
        pos = (seconds - panel.timestamps[0]) // 3600
        usable = panel.mask[pos, col]
        # every bar of the export is on the grid; masked ones are exactly the placeholders and flags
        placeholder = (raw["volume"] == 0).to_numpy()
        flagged = raw["possibly_open"].to_numpy() | raw["suspicious"].to_numpy()
        assert (usable == ~(placeholder | flagged)).all(), symbol
        assert int(panel.mask[:, col].sum()) == int(usable.sum())
        for name in ("open", "high", "low", "close", "volume", "quote_volume"):
            np.testing.assert_array_equal(panel.field(name)[pos[usable], col], raw[name].to_numpy()[usable])


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"unknown dataset 'nope'; available: binance-1h"):
        load_dataset("nope")
    with pytest.raises(ValueError, match=r"symbols \['XRP/USDT'\] not in 'binance-1h'"):
        load_dataset(symbols=["XRPUSDT"])


def test_subset_order_and_clip() -> None:
    sub = load_dataset(symbols=["ada/usdt", "BTCUSDT"], start="2021-01-01", end="2021-01-31 23:00")
    assert sub.symbols == ("ADA/USDT", "BTC/USDT") and sub.num_bars == 31 * 24
    assert sub.symbol_to_id == {"ADA/USDT": 1, "BTC/USDT": 2}
