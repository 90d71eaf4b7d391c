"""A live candle whose time cannot belong to the stream (milliseconds, off the grid, a jump beyond the
configured horizon) is refused in one line, and the stream goes on as if it had never arrived."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

from ml_attention_mechanisms.inference import StreamingConfig, StreamingPredictor
from ml_attention_mechanisms.models import create_crypto_model, get_model_entry

T0 = 1_700_000_000 // 3600 * 3600
HOUR = 3600


def _predictor(mode: str, **config: Any) -> StreamingPredictor:
    kwargs = {**get_model_entry("price_predictor").model_cls.test_kwargs(), "num_encoder_layers": 2}
    model = create_crypto_model("price_predictor", **kwargs).eval()
    return StreamingPredictor(model, StreamingConfig(mode=mode, **config))


def _state(live: StreamingPredictor) -> tuple[Any, ...]:
    return (dict(live.stats), live.last_timestamp, live.cache_lengths, len(live._bars))


def _same(a: dict[str, Any] | None, b: dict[str, Any] | None) -> None:
    assert a is not None and b is not None
    for key, value in b.items():
        if isinstance(value, Tensor):
            torch.testing.assert_close(a[key], value, rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["cached", "recompute"])
@pytest.mark.parametrize(
    ("bad_ts", "reason"),
    [
        ((T0 + 5 * HOUR) * 1000, r"is not Unix seconds between 1970 and 2286; it looks like milliseconds"),
        ((T0 + 5 * HOUR) * 1_000_000, r"it looks like microseconds"),
        (-HOUR, r"is not Unix seconds"),
        (T0 + 4 * HOUR + 1800, r"is off the stream's 3600 s grid: 1800 s after the open bar"),
        (T0 + 4 * HOUR + 10_002 * HOUR, r"leaves 10001 missing bars after the open bar .*max_gap_bars=10000"),
    ],
)
def test_an_implausible_candle_is_refused_and_changes_nothing(mode: str, bad_ts: int, reason: str) -> None:
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(9, 6))
    live, clean = _predictor(mode), _predictor(mode)
    clean.model.load_state_dict(live.model.state_dict())
    for i in range(5):
        live.update(T0 + i * HOUR, rows[i])
        clean.update(T0 + i * HOUR, rows[i])
    before = _state(live)
    with pytest.raises(ValueError, match=f"candle refused: timestamp {bad_ts} .*{reason}") as info:
        live.update(bad_ts, rows[5])
    assert "\n" not in str(info.value)
    assert _state(live) == before
    for i in range(5, 9):  # the later, correct candles are all taken, exactly as without the bad one
        _same(live.update(T0 + i * HOUR, rows[i]), clean.update(T0 + i * HOUR, rows[i]))
    assert live.stats == clean.stats and live.stats["late"] == 0


def test_the_first_candle_in_milliseconds_is_refused() -> None:
    live = _predictor("cached")
    with pytest.raises(ValueError, match=r"looks like milliseconds \(2023-11-14T22:00:00Z if so\)"):
        live.update(T0 * 1000, np.zeros(6))
    assert live.num_bars == 0 and live.last_timestamp is None


def test_the_gap_horizon_is_configurable() -> None:
    live = _predictor("cached", max_gap_bars=3)
    live.update(T0, np.zeros(6))
    live.update(T0 + 4 * HOUR, np.zeros(6))  # 3 missing bars: bridged
    assert live.stats["missing"] == 3
    with pytest.raises(
        ValueError, match=r"leaves 4 missing bars after the open bar .*max_gap_bars=3; reset\(\)"
    ):
        live.update(T0 + 9 * HOUR, np.zeros(6))
    unlimited = _predictor("cached", max_gap_bars=None)
    unlimited.update(T0, np.zeros(6))
    unlimited.update(T0 + 50_000 * HOUR, np.zeros(6))
    assert unlimited.stats["missing"] == 49_999
    with pytest.raises(ValueError, match=r"StreamingConfig\.max_gap_bars=-1: must be an int >= 0"):
        StreamingConfig(max_gap_bars=-1)
