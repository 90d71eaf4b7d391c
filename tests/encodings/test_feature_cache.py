"""The per-timestamp cache of the market-time features: the same values as computing them, fewer operations."""

from __future__ import annotations

import torch

from ml_attention_mechanisms.encodings import MarketTimeEncoding
from ml_attention_mechanisms.encodings._feature_cache import TimestampFeatureCache
from ml_attention_mechanisms.encodings.positional_encoding import ALiBi

T2021 = 1_609_459_200


def test_cached_features_equal_computed_ones_bit_for_bit() -> None:
    enc = MarketTimeEncoding(16)
    g = torch.Generator().manual_seed(0)
    for _ in range(4):  # hits, misses and mixes, odd shapes, unsorted and repeated timestamps
        ts = T2021 + torch.randint(0, 3 * 365 * 86_400, (3, 7), generator=g)
        ts[1, 2] = ts[0, 0]
        assert torch.equal(enc.feature_cache(ts), enc.features(ts))
        hourly = T2021 + 3600 * torch.randint(0, 5000, (2, 9), generator=g)
        assert torch.equal(enc.feature_cache(hourly), enc.features(hourly))
    x = torch.randn(3, 7, 16)
    assert torch.equal(enc(x, ts), x + enc.proj(enc.features(ts)))


def test_a_window_fills_the_next_grid_points_and_the_cache_is_bounded() -> None:
    calls: list[int] = []

    def compute(s: torch.Tensor) -> torch.Tensor:
        calls.append(s.numel())
        return s.unsqueeze(-1).double()

    cache = TimestampFeatureCache(compute, max_entries=600, ahead=8)
    window = T2021 + 3600 * torch.arange(24).unsqueeze(0)
    cache(window)
    assert calls == [24 + 8] and len(cache) == 32
    nxt = window + 8 * 3600  # the stream moved 8 bars: all known
    assert torch.equal(cache(nxt), nxt.unsqueeze(-1).double()) and calls == [32]
    cache(window + 9 * 3600)  # one new bar: it and the next 8 grid points
    assert calls == [32, 9] and len(cache) == 41
    cache(T2021 + 3600 * torch.arange(1000, 1600).unsqueeze(0))  # beyond max_entries: starts afresh
    assert len(cache) == 608


def test_alibi_distance_with_a_unit_per_row() -> None:
    alibi = ALiBi(2, time_aware=True)
    ts = torch.tensor([[0, 60, 180], [0, 7200, 10_800]])
    unit = torch.tensor([60.0, 3600.0])
    d = alibi.distance(3, 3, q_times=ts, k_times=ts, unit_seconds=unit)
    assert d[0].tolist() == [[0, 1, 3], [1, 0, 2], [3, 2, 0]] and d[1].tolist() == [
        [0, 2, 3],
        [2, 0, 1],
        [3, 1, 0],
    ]
    bias = alibi.bias(3, 3, q_times=ts, k_times=ts, unit_seconds=unit)
    torch.testing.assert_close(bias, -alibi.slopes.view(1, 2, 1, 1) * d[:, None])


def test_a_batch_across_a_period_fills_its_grid_once() -> None:
    cache = TimestampFeatureCache(lambda s: s.unsqueeze(-1), max_entries=1000, ahead=4)
    batch = T2021 + 3600 * torch.tensor([[0, 1, 2], [300, 301, 302]])  # two windows, far apart, one grid
    cache(batch)
    assert len(cache) == 303 + 4  # every hour in between, and 4 after
    inside = T2021 + 3600 * torch.arange(100, 110).unsqueeze(0)
    assert torch.equal(cache(inside), inside.unsqueeze(-1)) and len(cache) == 307  # a hit
    off_grid = torch.tensor([[T2021 + 1800, T2021 + 3600 * 900]])  # not one grid: only these and what follows
    cache(off_grid)
    assert len(cache) == 307 + 2 + 4
