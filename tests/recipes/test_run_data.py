"""A run's data helpers: log returns with gaps, fixed-seed window subsamples."""

from __future__ import annotations

import numpy as np
import pytest

from ml_attention_mechanisms.recipes._data import log_returns, subsample


def test_log_returns_and_gaps() -> None:
    close = np.array([[100.0, 101.0, np.nan, 99.0, 100.0]])
    r = log_returns(close)
    assert r.shape == (5, 1)
    # previous-tick: the move across the missing bar lands on the first bar after it
    np.testing.assert_allclose(r[:, 0], [0.0, np.log(1.01), 0.0, np.log(99 / 101), np.log(100 / 99)])


def test_log_returns_keep_every_move_whatever_bars_are_missing() -> None:
    """The returns of any span add up to its price change, and the realised variance of a path with gaps
    is that of the path sampled at the bars that have a price: nothing is lost to a gap."""
    rng = np.random.default_rng(0)
    full = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, size=(2, 400)), axis=1))
    gappy = full.copy()
    gappy[0, rng.choice(np.arange(1, 399), size=40, replace=False)] = np.nan
    gappy[1, :50] = np.nan  # listed later
    r = log_returns(gappy)
    for a in range(2):
        priced = np.flatnonzero(np.isfinite(gappy[a]))
        np.testing.assert_allclose(
            r[priced[0] :, a].sum(), np.log(gappy[a, priced[-1]] / gappy[a, priced[0]])
        )
        np.testing.assert_allclose(
            r[:, a] ** 2 @ np.ones(400), (np.diff(np.log(gappy[a, priced])) ** 2).sum()
        )
        assert (r[~np.isfinite(gappy[a]), a] == 0).all()


def test_subsample_is_fixed_sorted_and_sized() -> None:
    data = list(range(100))
    a, b = subsample(data, 10, seed=3), subsample(data, 10, seed=3)  # type: ignore[arg-type]
    assert list(a.indices) == list(b.indices) == sorted(a.indices) and len(a) == 10  # type: ignore[attr-defined]
    assert subsample(data, None, 0) is data and subsample(data, 500, 0) is data  # type: ignore[arg-type]


def test_scored_span_narrows_for_a_late_listing_and_an_early_end_only() -> None:
    """The period's span, from first bar + MIN_HISTORY for a late listing, to HORIZON bars before the last
    bar when the bars end a day or more before the grid's; a shorter absence at the end is tolerated."""
    from _recipe_helpers import fake_data

    from ml_attention_mechanisms.recipes._data import HORIZON, MIN_HISTORY, scored_span

    n, start = 3000, 1000
    data = fake_data(np.zeros((n, 2)), start)
    data.test_end = n - HORIZON
    close = data.prepared.close
    assert scored_span(data, 0) == slice(start, n - HORIZON)
    for listed, first in ((0, start), (start - MIN_HISTORY, start), (start, start + MIN_HISTORY)):
        close[1] = 1.0
        close[1, :listed] = np.nan
        assert scored_span(data, 1).start == first, listed
    for absent, stop in ((1, n - HORIZON), (HORIZON - 1, n - HORIZON), (HORIZON, n - 2 * HORIZON)):
        close[1] = 1.0
        close[1, n - absent :] = np.nan
        assert scored_span(data, 1).stop == stop, absent  # last bar n-1-absent: stop = last - HORIZON + 1
    close[1] = np.nan
    span = scored_span(data, 1)
    assert span.start >= span.stop


def test_the_default_scored_start_leaves_har_rv_its_history_where_the_file_allows() -> None:
    """``evaluate`` without ``--start``: a quarter in, at least the baselines' 755 bars in, and HAR-RV's 2,160
    (90 days) in where at least 30 days stay to score after them (and the last 24-bar target)."""
    from ml_attention_mechanisms.evaluation.baselines import HAR_MIN_TRAIN
    from ml_attention_mechanisms.recipes._data import HORIZON, MIN_HISTORY, MIN_SCORED_BARS
    from ml_attention_mechanisms.recipes._files import _scored_first

    assert (HAR_MIN_TRAIN, MIN_HISTORY, MIN_SCORED_BARS) == (2160, 755, 720)
    for n, first in ((1272, 755), (2500, 2500 - HORIZON - 720), (4000, 2160), (7697, 2160), (12000, 3000)):
        assert _scored_first(3600 * np.arange(n, dtype=np.int64), None, None, np.ones(n, bool)) == first, n
    present = np.ones(2500, bool)
    present[2000:2010] = False  # ten bars without a candle among the last 720: the start moves ten earlier
    assert _scored_first(3600 * np.arange(2500, dtype=np.int64), None, None, present) == 2500 - HORIZON - 730
    every = np.ones(4000, bool)
    assert (
        _scored_first(3600 * np.arange(4000, dtype=np.int64), 3600 * 800, "x", every) == 800
    )  # --start wins


def test_a_start_too_late_to_score_names_the_data_end_and_the_last_start() -> None:
    """``--start`` within the last 24 bars (or past them): refused with the data's last bar and the latest
    start that leaves a 24-bar target, not just "too late"."""
    from ml_attention_mechanisms.recipes._data import HORIZON
    from ml_attention_mechanisms.recipes._files import _scored_first

    n, hour = 4000, 3600
    ts = hour * np.arange(n, dtype=np.int64)
    with pytest.raises(ValueError) as err:
        _scored_first(ts, int(ts[n - HORIZON + 3]), "late", np.ones(n, bool))
    assert str(err.value) == (
        f"--start late: fewer than {HORIZON} bars of the data after it (the data end at 1970-06-16 15:00; a "
        f"scored bar needs the {HORIZON} after it); start before 1970-06-15 16:00"
    )
