"""Scaling state and restart: the predictor scales like the data layer and restarts from a checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ml_attention_mechanisms.data.scaling import FeatureScaler
from ml_attention_mechanisms.inference import StreamingPredictor
from ml_attention_mechanisms.inference._scaling import RollingScaler
from ml_attention_mechanisms.models import create_crypto_model, get_model_entry
from ml_attention_mechanisms.training import train
from ml_attention_mechanisms.training.checkpoint import atomic_save, build_payload

T0 = 1_700_000_000
HOUR = 3600
F = 6


def _scaler(rng: np.random.Generator) -> FeatureScaler:
    names = [f"f{i}" for i in range(F)]
    return FeatureScaler(
        names,
        window=16,
        min_periods=4,
        clip=3.0,
        mean=(rng.normal(size=F) * 0.1).tolist(),
        std=rng.uniform(0.5, 2, F).tolist(),
    )


def _raw(rng: np.random.Generator, n: int) -> np.ndarray:
    raw = rng.normal(size=(n, F)) * rng.uniform(0.5, 3.0, F) + rng.normal(size=F)
    raw[7, 2] = np.nan  # one undefined feature
    raw[12] = np.nan  # a missing bar
    return raw


def test_rolling_scaler_equals_the_data_layers_scaling() -> None:
    rng = np.random.default_rng(0)
    scaler = _scaler(rng)
    raw = _raw(rng, 40)
    reference = scaler.transform(raw[:, None, :])[:, 0]  # (T, F) float32, NaN where undefined
    rolling = RollingScaler(scaler.to_dict())
    got = np.stack([rolling.push(row) for row in raw]).astype(np.float32)
    np.testing.assert_allclose(got, reference, atol=1e-5, equal_nan=True)
    assert np.isnan(got[:3]).all()  # the warm-up (min_periods=4)


def test_checkpoint_stream_scales_and_restarts(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    kwargs = {**get_model_entry("price_predictor").model_cls.test_kwargs(), "num_encoder_layers": 2}
    model = create_crypto_model("price_predictor", **kwargs).eval()
    scaler = _scaler(rng)
    payload = build_payload(
        model, model_type="price_predictor", feature_names=scaler.feature_names, scaler=scaler.to_dict(),
        symbols={"BTCUSDT": 3},
    )  # fmt: skip
    atomic_save(payload, tmp_path / "best.ckpt")
    n = 60
    raw = _raw(rng, n)
    times = T0 + HOUR * np.arange(n)
    # The batch reference: the data layer's scaling over the whole history, absent bars masked.
    scaled = torch.from_numpy(scaler.transform(raw[:, None, :])[:, 0])
    present = torch.isfinite(scaled).all(-1)
    x = torch.where(present.unsqueeze(-1), scaled, torch.zeros(()))

    live = StreamingPredictor(tmp_path / "best.ckpt", symbol="BTCUSDT")
    outputs = []
    for t in range(n):
        out = live.update(int(times[t]), raw[t])
        if not present[: t + 1].any():
            assert out is None  # nothing defined yet (the scaler's warm-up)
            outputs.append(None)
            continue
        with torch.no_grad():
            ref = live.model(
                x[: t + 1].unsqueeze(0),
                timestamps=torch.from_numpy(times[: t + 1]).unsqueeze(0),
                asset_ids=torch.tensor([3]),
                mask=present[: t + 1].unsqueeze(0),
            )
        assert out is not None
        torch.testing.assert_close(out["predictions"], ref["predictions"], atol=1e-5, rtol=0)
        outputs.append(out)

    # Restart at bar 40 from the checkpoint: replay reach + scaler window bars, then continue.
    stop, replay = 40, live.window + scaler.window
    again = StreamingPredictor(tmp_path / "best.ckpt", symbol="BTCUSDT")
    again.warm_up(times[stop - replay : stop], raw[stop - replay : stop])
    for t in range(stop, n):
        out = again.update(int(times[t]), raw[t])
        assert out is not None
        torch.testing.assert_close(out["predictions"], outputs[t]["predictions"], atol=1e-5, rtol=0)


def test_a_trained_checkpoint_streams_by_any_spelling_of_its_pair(tmp_path: Path) -> None:
    """A real training stores the data layer's symbols (``"BTC/USDT"``); ``symbol="BTCUSDT"`` (the
    restart example of docs/inference.md) names the same pair."""

    result = train(
        "price_predictor_small",
        "binance-1h",
        config={
            "model": {
                "d_model": 16,
                "num_heads": 2,
                "num_encoder_layers": 1,
                "d_ff": 32,
                "attention_window": 16,
            },
            "data": {"window": 16, "symbols": ["BTC/USDT", "ETH/USDT"], "stride": 48},
            "training": {
                "max_epochs": 1,
                "batch_size": 32,
                "limit_train_batches": 2,
                "limit_val_batches": 1,
                "enable_progress_bar": False,
            },
        },
        out=tmp_path / "run",
    )
    assert result.best_checkpoint is not None
    stored = torch.load(result.best_checkpoint, weights_only=True)["symbols"]
    assert set(stored) == {"BTC/USDT", "ETH/USDT"}
    for spelling, pair in (("BTCUSDT", "BTC/USDT"), ("btc-usdt", "BTC/USDT"), ("ETH/USDT", "ETH/USDT")):
        live = StreamingPredictor(result.best_checkpoint, symbol=spelling)
        assert live.asset_id is not None and int(live.asset_id) == stored[pair]
    with pytest.raises(
        ValueError, match=r"symbol 'SOLUSDT' is not in the checkpoint's symbols \(BTC/USDT, ETH/USDT\)"
    ):
        StreamingPredictor(result.best_checkpoint, symbol="SOLUSDT")
