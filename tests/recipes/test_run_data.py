"""A run's data helpers: log returns with gaps, fixed-seed window subsamples."""

from __future__ import annotations

import numpy as np

from ml_attention_mechanisms.recipes._data import log_returns, subsample


def test_log_returns_and_gaps() -> None:
    close = np.array([[100.0, 101.0, np.nan, 99.0, 100.0]])
    r = log_returns(close)
    assert r.shape == (5, 1)
    np.testing.assert_allclose(r[:, 0], [0.0, np.log(1.01), 0.0, 0.0, np.log(100 / 99)])


def test_subsample_is_fixed_sorted_and_sized() -> None:
    data = list(range(100))
    a, b = subsample(data, 10, seed=3), subsample(data, 10, seed=3)  # type: ignore[arg-type]
    assert list(a.indices) == list(b.indices) == sorted(a.indices) and len(a) == 10  # type: ignore[attr-defined]
    assert subsample(data, None, 0) is data and subsample(data, 500, 0) is data  # type: ignore[arg-type]
