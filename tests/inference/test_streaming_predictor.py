"""StreamingPredictor: equal to the batch model over the whole history at every step, in bounded memory.

The reference is the model itself run over the whole history so far (float32, its own sliding-window mask),
with absent bars masked exactly as the data layer's windows mask them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from ml_attention_mechanisms.inference import StreamingConfig, StreamingPredictor
from ml_attention_mechanisms.models import create_crypto_model, get_model_entry

T0 = 1_700_000_000
HOUR = 3600
STREAMED = ["price_predictor", "signal_generator", "risk_assessor"]


def _model(name: str, **overrides: Any) -> nn.Module:
    kwargs = {**get_model_entry(name).model_cls.test_kwargs(), "num_encoder_layers": 2, **overrides}
    return create_crypto_model(name, **kwargs).eval()


def _batch(model: nn.Module, rows: Tensor, times: Tensor, asset_id: int | None = None) -> dict[str, Any]:
    """The model over the whole history: NaN rows are absent bars (masked, zero-filled)."""
    present = torch.isfinite(rows).all(-1)
    x = torch.where(present.unsqueeze(-1), rows, torch.zeros(()))
    kwargs: dict[str, Any] = {"timestamps": times.unsqueeze(0), "mask": present.unsqueeze(0)}
    if asset_id is not None:
        kwargs["asset_ids"] = torch.tensor([asset_id])
    with torch.no_grad():
        return dict(model(x.unsqueeze(0), **kwargs))


def _diff(a: dict[str, Any], b: dict[str, Any]) -> float:
    worst = 0.0
    for key, ref in b.items():
        if isinstance(ref, Tensor):
            got = a[key]
            if ref.is_floating_point():
                worst = max(worst, float((got - ref).abs().max()))
            else:
                assert torch.equal(got, ref), key
    return worst


@pytest.mark.parametrize("name", STREAMED)
def test_cached_stream_equals_batch_model_at_every_step(name: str) -> None:
    model = _model(name)
    window = model.config.attention_window
    n = 2 * window + 7  # more than 2W steps: the caches roll
    rows = torch.randn(n, model.config.input_features)
    rows[[3, 10, 11]] = float("nan")  # absent bars (undefined features)
    times = T0 + HOUR * torch.arange(n)
    live = StreamingPredictor(model, asset_id=2)
    assert live.mode == "cached"
    for t in range(n):
        live.update(int(times[t]), (rows[t] + 0.5).numpy())  # a first print of the still-open bar ...
        out = live.update(int(times[t]), rows[t].numpy())  # ... replaced by its final values
        ref = _batch(model, rows[: t + 1], times[: t + 1], asset_id=2)
        assert out is not None
        assert _diff(out, ref) <= 1e-5, t
        assert max(live.cache_lengths) <= window  # bounded memory
    assert live.cache_lengths == [window, window]
    assert live.stats == {"bars": n, "updates": n, "late": 0, "missing": 0}


def test_gaps_insert_absent_bars_on_the_grid() -> None:
    model = _model("price_predictor")
    window = model.config.attention_window
    steps = [1, 1, 3, 1, 1, window + 4, 1, 1, 2, 1]  # grid steps between candles (2 = one missing bar)
    times_list = [T0]
    for s in steps:
        times_list.append(times_list[-1] + s * HOUR)
    grid = torch.arange(T0, times_list[-1] + HOUR, HOUR)
    rows = torch.full((len(grid), model.config.input_features), float("nan"))
    live = StreamingPredictor(model)
    for ts in times_list:
        i = (ts - T0) // HOUR
        rows[i] = torch.randn(model.config.input_features)
        out = live.update(ts, rows[i].numpy())
        assert out is not None
        assert _diff(out, _batch(model, rows[: i + 1], grid[: i + 1])) <= 1e-5
        assert max(live.cache_lengths) <= window
    assert live.stats["missing"] == sum(s - 1 for s in steps)
    assert live.num_bars == len(grid)


def test_late_candle_is_dropped_or_raises() -> None:
    model = _model("signal_generator")
    rows = torch.randn(4, model.config.input_features)
    live = StreamingPredictor(model)
    for i in range(3):
        out = live.update(T0 + i * HOUR, rows[i].numpy())
    assert out is not None
    late = live.update(T0 + HOUR, rows[3].numpy())  # bar 1 is closed
    assert late is out and live.stats["late"] == 1 and live.num_bars == 3
    strict = StreamingPredictor(model, StreamingConfig(late_policy="raise"))
    strict.update(T0 + HOUR, rows[0].numpy())
    with pytest.raises(
        ValueError, match=r"late candle: timestamp 1700000000 is before the open bar 1700003600"
    ):
        strict.update(T0, rows[1].numpy())


def test_duplicate_candle_returns_the_same_outputs() -> None:
    model = _model("risk_assessor")
    live = StreamingPredictor(model)
    row = torch.randn(model.config.input_features).numpy()
    live.update(T0, torch.randn(model.config.input_features).numpy())
    first = live.update(T0 + HOUR, row)
    again = live.update(T0 + HOUR, row)
    assert first is not None and again is not None and _diff(again, first) == 0.0
    assert live.num_bars == 2 and live.stats["updates"] == 1


def test_open_bar_turning_absent_falls_back_to_the_last_present_bar() -> None:
    model = _model("price_predictor")
    live = StreamingPredictor(model)
    rows = torch.randn(3, model.config.input_features)
    closed = live.update(T0, rows[0].numpy())
    live.update(T0 + HOUR, rows[1].numpy())
    back = live.update(T0 + HOUR, np.full(model.config.input_features, np.nan))
    assert back is closed


def test_recompute_mode_equals_cached_mode() -> None:
    model = _model("price_predictor")
    cached = StreamingPredictor(model)
    recompute = StreamingPredictor(model, StreamingConfig(mode="recompute"))
    assert recompute.mode == "recompute" and recompute.window == 2 * (model.config.attention_window - 1) + 1
    for i in range(2 * model.config.attention_window + 3):
        row = torch.randn(model.config.input_features).numpy()
        a, b = cached.update(T0 + i * HOUR, row), recompute.update(T0 + i * HOUR, row)
        assert a is not None and b is not None and _diff(a, b) <= 1e-5


def test_portfolio_model_recomputes_the_window_and_equals_the_batch_model() -> None:
    model = _model("portfolio_optimizer")
    live = StreamingPredictor(model)
    assert live.mode == "recompute"
    n, assets, f = live.window + 6, 3, model.config.input_features
    rows = torch.randn(n, assets, f)
    rows[4, 1] = float("nan")
    volume = torch.rand(n, assets) + 0.5
    times = T0 + HOUR * torch.arange(n)
    for t in range(n):
        out = live.update(int(times[t]), rows[t].numpy(), volume=volume[t].numpy())
        present = torch.isfinite(rows[: t + 1]).all(-1)
        x = torch.where(present.unsqueeze(-1), rows[: t + 1], torch.zeros(()))
        with torch.no_grad():
            ref = model(
                x.unsqueeze(0),
                timestamps=times[: t + 1].unsqueeze(0),
                mask=present.unsqueeze(0),
                volume_data=volume[: t + 1].unsqueeze(0),
            )
        assert out is not None and _diff(out, ref) <= 1e-5, t


def test_bad_inputs_are_named() -> None:
    model = _model("price_predictor")
    live = StreamingPredictor(model)
    with pytest.raises(
        ValueError, match=r"features must be \[input_features\] with input_features=6, got shape \(5,\)"
    ):
        live.update(T0, np.zeros(5))
    with pytest.raises(ValueError, match="timestamp must be int Unix seconds"):
        live.update(1.5, np.zeros(6))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"asset_id=99: expected an id in \[0, num_assets=8\)"):
        StreamingPredictor(model, asset_id=99)
    with pytest.raises(ValueError, match="symbol 'ETHUSDT' is not in the checkpoint's symbols"):
        StreamingPredictor(model, symbol="ETHUSDT")
    with pytest.raises(ValueError, match="mode='cached'"):
        StreamingPredictor(_model("portfolio_optimizer"), StreamingConfig(mode="cached"))


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("bar_seconds", 0, "must be a positive int or None"),
        ("late_policy", "keep", "must be one of"),
        ("mode", "fast", "must be one of"),
        ("window", -1, "must be a positive int or None"),
    ],
)
def test_streaming_config_messages(field: str, value: object, rule: str) -> None:
    with pytest.raises(ValueError, match=rf"StreamingConfig\.{field}={value!r}: {rule}"):
        StreamingConfig(**{field: value})  # type: ignore[arg-type]


def test_reset_starts_a_new_stream() -> None:
    model = _model("price_predictor")
    live = StreamingPredictor(model)
    rows = torch.randn(12, model.config.input_features)
    for i in range(12):
        live.update(T0 + i * HOUR, rows[i].numpy())
    live.reset()
    assert live.num_bars == 0 and live.cache_lengths == [0, 0] and live.last_timestamp is None
    out = live.update(T0, rows[0].numpy())  # an earlier timestamp is fine after a reset
    assert out is not None and _diff(out, _batch(model, rows[:1], torch.tensor([T0]))) <= 1e-5


@pytest.mark.parametrize("name", STREAMED)
def test_default_models_stream_in_cached_mode(name: str) -> None:
    """The registry's default configs (4 layers, W = 128): cached, bounded, equal to the batch model."""
    model = create_crypto_model(name).eval()
    window = model.config.attention_window
    n = 2 * window + 3
    rows = torch.randn(n, model.config.input_features)
    times = T0 + HOUR * torch.arange(n)
    live = StreamingPredictor(model)
    assert live.mode == "cached"
    checks = {window - 1, 2 * window, n - 1}
    for t in range(n):
        out = live.update(int(times[t]), rows[t].numpy())
        if t in checks:
            assert out is not None and _diff(out, _batch(model, rows[: t + 1], times[: t + 1])) <= 1e-5, t
    assert live.cache_lengths == [window] * model.config.num_encoder_layers


def test_an_ensemble_streams_by_recompute_and_equals_its_members_averaged() -> None:
    """A run's ensemble of price models (``ModelEnsemble``) streams one candle at a time by recompute: at
    every step, the members' own streams combined (quantiles averaged, variances averaged)."""
    from _ensemble_members import trained_apart
    from ml_attention_mechanisms.models import ModelEnsemble

    kwargs = {**get_model_entry("price_predictor").model_cls.test_kwargs(), "num_encoder_layers": 2}
    members = trained_apart("price_predictor", 2, **kwargs)
    live = StreamingPredictor(ModelEnsemble(members).eval())
    alone = [StreamingPredictor(m) for m in members]
    assert live.mode == "recompute"
    for i in range(2 * members[0].config.attention_window + 3):
        row = torch.randn(members[0].config.input_features).numpy()
        out = live.update(T0 + i * HOUR, row)
        each = [s.update(T0 + i * HOUR, row) for s in alone]
        assert out is not None and all(e is not None for e in each)
        mean_q = (each[0]["quantiles"] + each[1]["quantiles"]) / 2  # type: ignore[index]
        variance = (each[0]["volatility_forecast"] ** 2 + each[1]["volatility_forecast"] ** 2) / 2  # type: ignore[index]
        assert float((out["quantiles"] - mean_q).abs().max()) <= 1e-5
        assert float((out["volatility_forecast"] ** 2 - variance).abs().max()) <= 1e-7
