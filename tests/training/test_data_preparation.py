"""--data binance-1h through the data layer: the default split, windows, statistics and the files hashed."""

from __future__ import annotations

import pandas as pd

from ml_attention_mechanisms.data.bundled import BUNDLED_DIR, DEFAULT_SPLIT
from ml_attention_mechanisms.training._data import prepare_data
from ml_attention_mechanisms.training.config import DataOptions


def _end_time(ds, i: int) -> int:  # type: ignore[no-untyped-def]
    return int(ds[i]["timestamps"][-1])


def test_bundled_dataset_default_split() -> None:
    options = DataOptions(window=16, stride=24, symbols=("BTC/USDT",))
    data = prepare_data("binance-1h", options, data_kind="single_asset", horizon=3, include_test=True)
    assert data.symbols == {"BTC/USDT": 1} and len(data.feature_names) == 17 and data.bar_seconds == 3600
    assert (
        BUNDLED_DIR / "binance-1h.json" in data.files
        and BUNDLED_DIR / "binance-1h__BTCUSDT.csv.gz" in data.files
    )
    assert data.scaler["feature_names"] == data.feature_names
    train_end = pd.Timestamp(DEFAULT_SPLIT["train"][1], tz="UTC").timestamp()
    val_start = pd.Timestamp(DEFAULT_SPLIT["val"][0], tz="UTC").timestamp()
    val_end = pd.Timestamp(DEFAULT_SPLIT["val"][1], tz="UTC").timestamp()
    assert data.test is not None
    last_train = max(_end_time(data.train, i) for i in range(len(data.train)))
    assert last_train + 3 * 3600 <= train_end  # purged: its 3-bar targets stay in the training period
    val_times = [_end_time(data.val, i) for i in range(len(data.val))]
    assert val_start < min(val_times) and max(val_times) + 3 * 3600 <= val_end
    assert _end_time(data.test, 0) > val_end
    batch = data.train[0]
    assert batch["targets"]["returns"].shape == (3,) and batch["price_data"].shape == (16, 17)


def test_tuning_builds_no_test_split() -> None:
    options = DataOptions(window=16, stride=48, symbols=("ETH/USDT",))
    data = prepare_data("binance-1h", options, data_kind="multi_asset", horizon=2, include_test=False)
    assert data.test is None and data.train[0]["asset_features"].shape == (16, 1, 17)
