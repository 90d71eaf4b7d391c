"""Window datasets: the batch contract, slices of the prepared arrays, no look-ahead end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from _data_fixtures import random_walk_frame
from torch.utils.data import DataLoader

from ml_attention_mechanisms.data import align
from ml_attention_mechanisms.data.splits import split_by_time
from ml_attention_mechanisms.data.windows import MultiAssetWindows, SingleAssetWindows, prepare_panel

SMALL = {"window": 48, "min_periods": 24, "horizons": (1, 4), "signal_horizon": 6, "num_regimes": 3}


def _frames(n: int = 400) -> dict[str, pd.DataFrame]:
    late = random_walk_frame(n - 150, seed=3, start="2021-01-07 06:00")  # listed later
    return {"A/USDT": random_walk_frame(n, seed=1), "B/USDT": random_walk_frame(n, seed=2), "C/USDT": late}


def test_single_asset_contract() -> None:
    panel = align(_frames())
    prep = prepare_panel(panel, **SMALL)
    ds = SingleAssetWindows(prep, 32)
    sample = ds[0]
    assert set(sample) == {"price_data", "timestamps", "asset_ids", "mask", "scale", "targets"}
    assert sample["scale"].shape == () and sample["scale"].dtype == torch.float32 and sample["scale"] > 0
    assert sample["price_data"].shape == (32, 17) and sample["price_data"].dtype == torch.float32
    assert sample["timestamps"].shape == (32,) and sample["timestamps"].dtype == torch.int64
    assert sample["asset_ids"].shape == () and sample["asset_ids"].dtype == torch.int64
    assert sample["mask"].shape == (32,) and sample["mask"].dtype == torch.bool
    tg = sample["targets"]
    assert (
        tg["returns"].shape == (2,)
        and tg["volatility"].shape == (2,)
        and tg["returns"].dtype == torch.float32
    )
    assert (
        tg["signal"].dtype == torch.int64 and tg["regime"].dtype == torch.int64 and tg["drawdown"].shape == ()
    )
    batch = next(iter(DataLoader(ds, batch_size=8, shuffle=True)))
    assert batch["price_data"].shape == (8, 32, 17) and batch["targets"]["returns"].shape == (8, 2)
    assert batch["asset_ids"].shape == (8,)
    # every sample: the end bar present, targets defined and equal to the prepared arrays
    for i in range(0, len(ds), 97):
        a, t = ds.index[i]
        s = ds[i]
        assert s["mask"][-1] and int(s["asset_ids"]) == a + 1
        assert int(s["timestamps"][-1]) == panel.timestamps[t]
        assert s["targets"]["returns"][0] == pytest.approx(
            np.log(panel.close[t + 1, a] / panel.close[t, a]), rel=1e-5
        )
        assert np.isfinite(s["price_data"].numpy()).all()
        assert (s["price_data"][~s["mask"]] == 0).all()
    assert prep.symbol_to_id == {"A/USDT": 1, "B/USDT": 2, "C/USDT": 3}


def test_multi_asset_contract() -> None:
    panel = align(_frames())
    prep = prepare_panel(panel, **SMALL)
    ds = MultiAssetWindows(prep, 16, stride=5)
    s = ds[len(ds) // 3]
    assert s["asset_features"].shape == (16, 3, 17) and s["asset_mask"].shape == (16, 3)
    assert s["volume_data"].shape == (16, 3) and (s["volume_data"] >= 0).all()
    assert s["next_returns"].shape == (3,) and s["next_returns_mask"].dtype == torch.bool
    assert s["asset_ids"].tolist() == [1, 2, 3] and s["targets"]["target_mask"].shape == (3,)
    t = int(ds.index[len(ds) // 3])
    expected = panel.close[t + 1] / panel.close[t] - 1
    got = s["next_returns"].numpy()
    ok = s["next_returns_mask"].numpy()
    np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-5)
    assert (got[~ok] == 0).all()
    np.testing.assert_array_equal(prep.close.T, panel.close)  # closes for backtests, NaN where missing
    # before its listing, asset C is masked and its features are zero
    early = ds[0]
    assert not early["asset_mask"][:, 2].any() and (early["asset_features"][:, 2] == 0).all()


def test_no_look_ahead_end_to_end() -> None:
    frames = _frames()
    base = prepare_panel(align(frames), **SMALL)
    t = 260
    moved_frames = {}
    for k, f in frames.items():
        g = f.copy()
        cut = g.index.as_unit("s").asi8 > align(frames).timestamps[t]
        g.loc[cut, ["open", "high", "low", "close"]] *= 1.7
        g.loc[cut, "volume"] *= 0.1
        moved_frames[k] = g
    moved = prepare_panel(align(moved_frames), scaler=base.scaler.to_dict(), **SMALL)
    a = SingleAssetWindows(base, 32, positions=np.arange(t + 1))
    b = SingleAssetWindows(moved, 32, positions=np.arange(t + 1))
    # the same samples (targets may differ near t: they look ahead by design), the same inputs
    common = {tuple(x) for x in a.index} & {tuple(x) for x in b.index}
    assert len(common) > 100
    ia = {tuple(x): i for i, x in enumerate(a.index)}
    ib = {tuple(x): i for i, x in enumerate(b.index)}
    for key in sorted(common):
        sa, sb = a[ia[key]], b[ib[key]]
        assert torch.equal(sa["price_data"], sb["price_data"]) and torch.equal(sa["mask"], sb["mask"])


def test_scaler_fitted_on_training_period_only() -> None:
    frames = _frames()
    panel = align(frames)
    split = split_by_time(
        panel.timestamps, train_end=int(panel.timestamps[200]), val_end=int(panel.timestamps[300]), horizon=6
    )
    p1 = prepare_panel(panel, fit_end=split.train_end, **SMALL)
    later = {k: f.copy() for k, f in frames.items()}
    for f in later.values():
        cut = f.index.as_unit("s").asi8 > panel.timestamps[split.train_end]
        f.loc[cut, ["open", "high", "low", "close"]] *= np.exp(np.linspace(0, 1, int(cut.sum())))[:, None]
    p2 = prepare_panel(align(later), fit_end=split.train_end, **SMALL)
    assert p1.scaler.mean == p2.scaler.mean and p1.scaler.std == p2.scaler.std
    assert len(SingleAssetWindows(p1, 32, positions=split.train)) > 0


def test_multi_timeframe_inputs_and_errors() -> None:
    panel = align(_frames(24 * 16))
    prep = prepare_panel(panel, timeframes=("4h",), **SMALL)
    assert prep.num_features == 34 and prep.feature_names[17] == "4h:log_return_1"
    only_b = SingleAssetWindows(prep, 32, symbols=["b-usdt"])
    assert len(only_b) > 0 and set(only_b.index[:, 0].tolist()) == {1}
    with pytest.raises(ValueError, match=r"symbols \['X/USDT'\]: not in the data"):
        SingleAssetWindows(prep, 32, symbols=["X/USDT"])
    with pytest.raises(ValueError, match="seq_len=0"):
        SingleAssetWindows(prep, 0)
    with pytest.raises(ValueError, match="differ from"):
        prepare_panel(panel, scaler=prep.scaler, **SMALL)
