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


def test_data_files_hours_without_trades_follow_the_options(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``DataOptions.missing_hours`` reaches the loader: a file with a tenth of its hours left out trains on
    them as hours without trades by default (all bars usable), and on missing bars with ``"absent"``."""
    import numpy as np
    import pytest

    from ml_attention_mechanisms.training._data import _load_panel

    n = 600
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    frame = pd.DataFrame(
        {"timestamp": pd.date_range("2021-01-01", periods=n, freq="1h", tz="UTC"), "open": close,
         "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1 + rng.random(n)}
    )  # fmt: skip
    keep = rng.random(n) >= 0.1
    keep[[0, -1]] = True
    path = tmp_path / "SOLUSDT_1h.csv"
    frame[keep].to_csv(path, index=False)
    panel, _, _ = _load_panel([path], DataOptions())
    assert panel.num_bars == n and panel.mask.all()
    panel, _, _ = _load_panel([path], DataOptions(missing_hours="absent"))
    assert panel.num_bars == n and int(panel.mask.sum()) == int(keep.sum())
    with pytest.raises(
        ValueError, match="DataOptions.missing_hours='fill': must be one of auto, no-trades, absent"
    ):
        DataOptions(missing_hours="fill")


def test_data_files_timezone_follows_the_options(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``DataOptions.timezone`` reaches the loader: clock times of UTC+9 written without a zone train on the
    bars' UTC times; a zone that is not one is refused on construction, named."""
    import numpy as np
    import pytest

    from ml_attention_mechanisms.training._data import _load_panel

    n = 48
    close = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, n)))
    utc = pd.date_range("2021-01-01", periods=n, freq="1h", tz="UTC")
    frame = pd.DataFrame(
        {"date": utc.tz_convert("Asia/Seoul").strftime("%Y-%m-%d %H:%M:%S"), "open": close,
         "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1.0}
    )  # fmt: skip
    path = tmp_path / "BTCKRW_1h.csv"
    frame.to_csv(path, index=False)
    panel, _, _ = _load_panel([path], DataOptions(timezone="Asia/Seoul"))
    assert panel.symbols == ("BTC/KRW",) and (panel.timestamps == utc.as_unit("s").asi8).all()
    panel, _, _ = _load_panel([path], DataOptions())
    assert (panel.timestamps == utc.as_unit("s").asi8 + 9 * 3600).all()
    with pytest.raises(ValueError, match="DataOptions.timezone='Asia/Seul': must be an IANA zone name"):
        DataOptions(timezone="Asia/Seul")
