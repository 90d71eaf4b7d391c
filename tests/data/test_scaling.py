"""Causal per-asset scaling; training statistics as plain data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ml_attention_mechanisms.data.scaling import FeatureScaler, rolling_standardize


def test_rolling_standardize_against_loop_and_causal() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2, 3))
    z = rolling_standardize(x, window=50, min_periods=20)
    t = 120
    win = x[t - 49 : t + 1, 1, 2]
    assert z[t, 1, 2] == pytest.approx((x[t, 1, 2] - win.mean()) / win.std(ddof=1))
    assert np.isnan(z[:19]).all() and np.isfinite(z[19:]).all()
    moved = x.copy()
    moved[t + 1 :] *= 7.0
    np.testing.assert_array_equal(rolling_standardize(moved, 50, 20)[: t + 1], z[: t + 1])


def test_unseen_asset_scaled_by_its_own_history() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(0, 0.01, 2000)
    b = 50 + rng.normal(0, 3.0, 2000)  # another level and spread, "listed" after training
    x = np.stack([a, b], axis=1)[..., None]
    z = rolling_standardize(x, 200, 50)
    rows = np.zeros((2000, 2), dtype=bool)
    rows[:1000, 0] = True  # training: asset 0 only
    rows &= np.isfinite(z[..., 0])
    scaler = FeatureScaler(["f"], window=200, min_periods=50).fit(z, rows)
    out = scaler.apply(z)
    assert abs(float(np.nanmean(out[1000:, 1]))) < 0.2 and 0.8 < float(np.nanstd(out[1000:, 1])) < 1.2


def test_fit_uses_training_rows_only_and_round_trips() -> None:
    rng = np.random.default_rng(2)
    z = rng.normal(size=(100, 2, 2))
    rows = np.zeros((100, 2), dtype=bool)
    rows[:60] = True
    s1 = FeatureScaler(["a", "b"]).fit(z, rows)
    z2 = z.copy()
    z2[60:] += 100.0
    s2 = FeatureScaler(["a", "b"]).fit(z2, rows)
    assert s1.mean == s2.mean and s1.std == s2.std
    assert s1.mean[0] == pytest.approx(z[:60, :, 0].mean()) and s1.std[1] == pytest.approx(
        z[:60, :, 1].std(ddof=1)
    )
    data = json.loads(json.dumps(s1.to_dict()))  # plain data: JSON-serialisable
    again = FeatureScaler.from_dict(data)
    np.testing.assert_array_equal(again.apply(z), s1.apply(z))
    assert s1.apply(np.full((1, 1, 2), 1e9)).max() == s1.clip


def test_errors() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        FeatureScaler(["a"]).transform(np.zeros((10, 1, 1)))
    with pytest.raises(ValueError, match="missing key 'std'"):
        FeatureScaler.from_dict(
            {"feature_names": ["a"], "window": 2, "min_periods": 2, "clip": 1.0, "mean": [0.0]}
        )
    with pytest.raises(ValueError, match="no training rows"):
        FeatureScaler(["a"]).fit(np.zeros((5, 1, 1)), np.zeros((5, 1), dtype=bool))
    with pytest.raises(ValueError, match="min_periods=1"):
        rolling_standardize(np.zeros((5, 1, 1)), 10, 1)
