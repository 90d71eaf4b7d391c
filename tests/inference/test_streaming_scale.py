"""Live scale: the predictor computes each candle's variance anchor as the data layer does on the panel, and
gives the outputs the batch model gives for that window with that scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ml_attention_mechanisms.data import align, compute_features, prepare_panel
from ml_attention_mechanisms.data.anchor import parkinson_variance
from ml_attention_mechanisms.data.windows import SingleAssetWindows
from ml_attention_mechanisms.inference import StreamingPredictor
from ml_attention_mechanisms.inference._scaling import RollingAnchor
from ml_attention_mechanisms.models import create_crypto_model, get_model_entry
from ml_attention_mechanisms.training.checkpoint import atomic_save, build_payload

SEQ = 12


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sigma = 0.01 * np.exp(np.cumsum(rng.normal(0, 0.05, n)))  # a moving volatility level
    close = 100 * np.exp(np.cumsum(sigma * rng.normal(size=n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.5, n)) * sigma)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.5, n)) * sigma)
    volume = rng.uniform(10, 100, n)
    index = pd.date_range("2021-01-01", periods=n, freq="1h", tz="UTC", name="timestamp")
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "quote_volume": volume * close,
        },
        index=index,
    )
    frame.attrs["symbol"] = "SYN/USDT"
    return frame


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    frame = _frame(700, seed=0)
    frame = frame.drop(frame.index[[300, 301, 450]])  # missing bars on the grid
    panel = align({"SYN/USDT": frame})
    prepared = prepare_panel(panel, window=96, min_periods=24, horizons=(1, 2), signal_horizon=4, fit_end=500)
    kwargs = {**get_model_entry("price_predictor").model_cls.test_kwargs(), "input_features": 17}
    kwargs["attention_window"] = 6  # reach 6 bars: a window of SEQ bars holds it
    model = create_crypto_model("price_predictor", **kwargs).eval()
    with torch.no_grad():
        model.volatility_head.proj.weight.normal_(0, 0.3)  # a non-zero residual
    payload = build_payload(
        model, model_type="price_predictor", feature_names=prepared.feature_names,
        scaler=prepared.scaler.to_dict(), symbols=prepared.symbol_to_id,
    )  # fmt: skip
    path = Path(tmp_path_factory.mktemp("ckpt")) / "best.ckpt"
    atomic_save(payload, path)
    return {"panel": panel, "prepared": prepared, "model": model, "path": path}


def test_rolling_anchor_equals_the_panels_scale(setting: dict[str, object]) -> None:
    panel, prepared = setting["panel"], setting["prepared"]
    raw = compute_features(panel)[:, 0]  # type: ignore[arg-type]  # (T, F): the data layer's raw rows
    live = RollingAnchor(prepared.scaler.to_dict())  # type: ignore[attr-defined]
    got = np.array([live.push(row) for row in raw], dtype=np.float64)
    close = panel.close  # type: ignore[attr-defined]  # NaN at missing bars
    expected = prepared.anchor.scale(  # type: ignore[attr-defined]
        np.where(panel.mask, np.log(panel.field("high") / panel.field("low")) ** 2 / (4 * np.log(2)), np.nan),  # type: ignore[attr-defined]
        np.diff(np.log(close), axis=0, prepend=np.nan) ** 2,
    )[:, 0]
    np.testing.assert_allclose(got, expected, rtol=1e-9, equal_nan=True)
    ok = prepared.mask[0]  # type: ignore[attr-defined]
    np.testing.assert_allclose(got[ok], prepared.scale[0, ok], rtol=1e-6)  # type: ignore[attr-defined]


def _stream_against_batch(
    setting: dict[str, object],
    live: StreamingPredictor,
    model: torch.nn.Module,
    keys: tuple[str, ...],
    every: int,
) -> tuple[int, np.ndarray]:
    """Feed every present bar's raw features; every ``every``-th bar that ends a training window, compare the
    stream's ``keys`` with the batch model's on that window. Returns (bars compared, the raw rows)."""
    panel, prepared = setting["panel"], setting["prepared"]
    raw = compute_features(panel)[:, 0]  # type: ignore[arg-type]
    windows = SingleAssetWindows(prepared, SEQ)  # type: ignore[arg-type]
    ends = {int(t): i for i, (_, t) in enumerate(windows.index)}
    checked = 0
    for t, ts in enumerate(panel.timestamps):  # type: ignore[attr-defined]
        if not panel.mask[t, 0]:  # type: ignore[attr-defined]
            continue  # the feed has no candle for a missing bar: the predictor inserts the gap
        out = live.update(int(ts), raw[t])
        if t in ends and t % every == 0:
            batch = {k: v.unsqueeze(0) for k, v in windows[ends[t]].items() if k != "targets"}
            with torch.no_grad():
                ref = model(**model.training_inputs(batch))  # type: ignore[operator]
            assert out is not None
            for key in keys:
                torch.testing.assert_close(out[key], ref[key], rtol=2e-4, atol=1e-7)
            checked += 1
    return checked, raw


def test_stream_gives_the_batch_outputs_with_the_scale(setting: dict[str, object]) -> None:
    panel, model = setting["panel"], setting["model"]
    live = StreamingPredictor(setting["path"], symbol="SYN/USDT")  # type: ignore[arg-type]
    assert live.anchor.readable
    checked, raw = _stream_against_batch(setting, live, model, ("volatility_forecast", "quantiles"), 25)  # type: ignore[arg-type]
    assert checked >= 10 and live.stats["missing"] == 3
    with pytest.raises(ValueError, match="scale must be a positive finite per-bar variance"):
        live.update(int(panel.timestamps[-1]), raw[-1], scale=-1.0)  # type: ignore[attr-defined]
    low = live.update(int(panel.timestamps[-1]), raw[-1], scale=1e-4)  # type: ignore[attr-defined]
    high = live.update(int(panel.timestamps[-1]), raw[-1], scale=4e-4)  # the same bar, replaced
    assert low is not None and high is not None
    torch.testing.assert_close(high["volatility_forecast"], 2 * low["volatility_forecast"], rtol=1e-5, atol=0)


def test_a_signal_checkpoint_streams_its_batch_outputs_without_a_scale_input(
    setting: dict[str, object], tmp_path: Path
) -> None:
    """The signal model takes no scale: the predictor computes the anchor only to mark bars present."""
    prepared = setting["prepared"]
    kwargs = {**get_model_entry("signal_generator").model_cls.test_kwargs(), "input_features": 17}
    model = create_crypto_model("signal_generator", **{**kwargs, "attention_window": 6}).eval()
    payload = build_payload(
        model, model_type="signal_generator", feature_names=prepared.feature_names,  # type: ignore[attr-defined]
        scaler=prepared.scaler.to_dict(), symbols=prepared.symbol_to_id,  # type: ignore[attr-defined]
    )  # fmt: skip
    atomic_save(payload, tmp_path / "signal.ckpt")
    live = StreamingPredictor(tmp_path / "signal.ckpt", symbol="SYN/USDT")
    checked, _ = _stream_against_batch(setting, live, model, ("probabilities",), 50)
    assert checked >= 5


def test_rolling_rows_over_many_windows_equal_the_whole_series() -> None:
    """A stream many times longer than the kept rows (their buffer moves to the front again and again),
    with updates of the open bar and missing bars: the scaler's rows equal a pandas rolling z-score of the
    whole series, the anchor's scale the anchor of the whole series."""
    from ml_attention_mechanisms.data.anchor import VarianceAnchor
    from ml_attention_mechanisms.inference._scaling import RollingScaler

    rng = np.random.default_rng(11)
    n, window = 120, 8
    rows = rng.normal(size=(n, 2)) * np.array([0.01, 1.0]) + np.array([0.02, 0.0])
    rows[[30, 31, 77]] = np.nan  # missing bars (recorded with push_missing below)
    names = ["log_range", "log_return_1"]
    anchor = VarianceAnchor(horizon=4, level_window=10, windows=(1, 3, 6), min_periods=3, ratio_window=12)
    anchor.coef = [0.1, 0.2, 0.3, 0.1]
    stats = {"feature_names": names, "window": window, "min_periods": 3, "clip": 5.0,
             "mean": [0.1, -0.2], "std": [1.5, 0.8], "anchor": anchor.to_dict()}  # fmt: skip
    scaler, live_anchor = RollingScaler(stats), RollingAnchor(stats)
    got_z, got_scale = [], []
    for t in range(n):
        if t in (30, 31, 77):  # missing bars, as the predictor records a gap: NaN rows, no output
            scaler.push_missing(1)
            live_anchor.push_missing(1)
            got_z.append(np.full(2, np.nan))
            got_scale.append(np.nan)
            continue
        if t % 5 == 0:  # a first print of the bar, then its update: replaced, not appended
            scaler.push(rows[t] + 1.0)
            live_anchor.push(rows[t] + 1.0)
        replace = t % 5 == 0
        got_z.append(scaler.push(rows[t], replace=replace))
        got_scale.append(live_anchor.push(rows[t], replace=replace))
    frame = pd.DataFrame(rows)
    roll = frame.rolling(window, min_periods=3)
    z = ((frame - roll.mean()) / roll.std()).to_numpy()
    want_z = np.clip((z - np.array([0.1, -0.2])) / np.array([1.5, 0.8]), -5.0, 5.0)
    np.testing.assert_allclose(np.array(got_z), want_z, rtol=1e-9, atol=1e-12, equal_nan=True)
    want_scale = anchor.scale(parkinson_variance(rows[:, 0]), rows[:, 1] ** 2)
    want_scale[[30, 31, 77]] = np.nan  # no candle, no scale asked for
    np.testing.assert_allclose(np.array(got_scale), want_scale, rtol=1e-9, equal_nan=True)


@pytest.mark.parametrize("mode", ["cached", "recompute"])
def test_warm_up_is_updating_every_candle(setting: dict[str, object], mode: str) -> None:
    """``warm_up`` runs the model on its last candles only (the reach), the older ones feeding the scaling
    and the anchor: the state is that of ``update`` on every candle. Replayed through a gap and an updated
    candle, the two predictors give the same outputs at the last replayed bar and at every later one, and
    the same counts."""
    from ml_attention_mechanisms.inference import StreamingConfig

    panel = setting["panel"]
    raw = compute_features(panel)[:, 0]  # type: ignore[arg-type]
    rows = [(int(ts), raw[t]) for t, ts in enumerate(panel.timestamps) if panel.mask[t, 0]]  # type: ignore[attr-defined]
    rows.insert(200, (rows[200][0], raw[0]))  # a candle sent, then updated by the closed one
    stop = 560  # past the second gap: the replayed tail (the reach) starts after both gaps
    config = StreamingConfig(mode=mode)
    every = StreamingPredictor(setting["path"], config, symbol="SYN/USDT")  # type: ignore[arg-type]
    for ts, row in rows[:stop]:
        expected = every.update(ts, row)
    warm = StreamingPredictor(setting["path"], config, symbol="SYN/USDT")  # type: ignore[arg-type]
    got = warm.warm_up([ts for ts, _ in rows[:stop]], np.stack([row for _, row in rows[:stop]]))
    assert warm.mode == mode and stop > warm.window and warm.stats == every.stats
    assert warm.stats["missing"] == 3 and warm.stats["updates"] == 1
    for ts, row in rows[stop:]:
        assert got is not None and expected is not None
        for key in ("volatility_forecast", "quantiles", "predictions"):
            torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-7)
        got, expected = warm.update(ts, row), every.update(ts, row)
    with pytest.raises(ValueError, match="2 timestamps and 1 feature rows"):
        warm.warm_up([0, 1], raw[:1])
