"""A tiny contract-following model and synthetic windows, for the training tests (and their subprocesses)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from ml_attention_mechanisms.training import _models
from ml_attention_mechanisms.training.datamodule import PreparedData

TINY = "tiny_forecaster"


@dataclass(frozen=True, slots=True)
class TinyConfig:
    input_features: int = 4
    d_model: int = 16
    prediction_horizon: int = 2
    dropout: float = 0.1
    num_assets: int = 8
    use_mixed_precision: bool = False


class TinyForecaster(nn.Module):
    """Linear encoder + dropout + head; ``predictions [B, H, 1]``; MSE on ``targets["returns"]``."""

    DATA_KIND = "single_asset"
    OUTPUT_KIND = "price"
    TARGETS = ("returns",)

    def __init__(self, config: TinyConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = nn.Linear(config.input_features, config.d_model)
        self.asset_embedding = nn.Embedding(config.num_assets, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.d_model, config.prediction_horizon)

    @classmethod
    def test_kwargs(cls) -> dict[str, Any]:
        return {}

    def forward(
        self,
        price_data: Tensor,
        timestamps: Tensor | None = None,
        asset_ids: Tensor | None = None,
        *,
        mask: Tensor | None = None,
    ) -> dict[str, Tensor]:
        h = torch.tanh(self.encoder(price_data))  # (B, T, D)
        if mask is not None:
            h = h * mask.unsqueeze(-1).to(h.dtype)
        pooled = h.mean(dim=1)
        if asset_ids is not None:
            pooled = pooled + self.asset_embedding(asset_ids)
        return {"predictions": self.head(self.dropout(pooled)).unsqueeze(-1)}  # (B, H, 1)

    def training_inputs(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        return {"price_data": batch["price_data"], "asset_ids": batch["asset_ids"], "mask": batch["mask"]}

    def loss(self, outputs: dict[str, Tensor], batch: dict[str, Any]) -> tuple[Tensor, dict[str, float]]:
        err = outputs["predictions"][..., 0].float() - batch["targets"]["returns"].float()
        loss = err.pow(2).mean()
        return loss, {"mae": float(err.detach().abs().mean())}


def _create(model_type: str, **kwargs: Any) -> nn.Module:
    names = {f.name for f in fields(TinyConfig)}
    unknown = sorted(set(kwargs) - names)
    if unknown:
        raise TypeError(f"unknown keyword argument(s) {', '.join(unknown)}")
    return TinyForecaster(TinyConfig(**kwargs))


def install_tiny_registry(monkeypatch: Any | None = None) -> None:
    """Route the training layer's registry calls for ``TINY`` to the tiny model (others go through)."""
    orig_create, orig_from, orig_class = _models.create_model, _models.model_from_config, _models.model_class

    def create(model_type: str, **kwargs: Any) -> nn.Module:
        return _create(model_type, **kwargs) if model_type == TINY else orig_create(model_type, **kwargs)

    def from_config(model_type: str, config: dict[str, Any]) -> nn.Module:
        return _create(model_type, **config) if model_type == TINY else orig_from(model_type, config)

    def klass(model_type: str) -> type[nn.Module]:
        return TinyForecaster if model_type == TINY else orig_class(model_type)

    for name, fn in (("create_model", create), ("model_from_config", from_config), ("model_class", klass)):
        if monkeypatch is not None:
            monkeypatch.setattr(_models, name, fn)
        else:
            setattr(_models, name, fn)


class SyntheticWindows(Dataset[dict[str, Any]]):
    """``n`` windows ``[seq, features]`` whose returns target is a fixed linear function of the window."""

    def __init__(self, n: int, *, seq: int = 8, features: int = 4, horizon: int = 2, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, seq, features, generator=g)
        w = torch.linspace(-1.0, 1.0, features * horizon).reshape(features, horizon)
        self.y = self.x.mean(dim=1) @ w / math.sqrt(features) + 0.05 * torch.randn(n, horizon, generator=g)
        self.t = 1_600_000_000 + 3600 * torch.arange(seq, dtype=torch.int64)
        self.ids = torch.randint(1, 4, (n,), generator=g)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {
            "price_data": self.x[i],
            "timestamps": self.t,
            "asset_ids": self.ids[i],
            "mask": torch.ones(self.x.shape[1], dtype=torch.bool),
            "targets": {"returns": self.y[i]},
        }


class PoisonedWindows(Dataset[dict[str, Any]]):
    """A split that must never be read: any access raises."""

    def __len__(self) -> int:
        return 16

    def __getitem__(self, i: int) -> dict[str, Any]:
        raise AssertionError("the test split was read")


def tiny_prepared(
    *, n_train: int = 64, n_val: int = 32, seed: int = 0, poisoned_test: bool = False
) -> PreparedData:
    return PreparedData(
        train=SyntheticWindows(n_train, seed=seed),
        val=SyntheticWindows(n_val, seed=seed + 1),
        test=PoisonedWindows() if poisoned_test else SyntheticWindows(16, seed=seed + 2),
        feature_names=["f0", "f1", "f2", "f3"],
        symbols={"BTCUSDT": 1, "ETHUSDT": 2, "LTCUSDT": 3},
        scaler={"kind": "synthetic", "mean": [0.0] * 4},
        description="synthetic",
    )


def write_ohlcv_csv(path: Any, *, bars: int = 480, seed: int = 0, start: int = 1_600_000_000) -> Any:
    """A generic OHLCV CSV (unix seconds, hourly) of a random walk; returns ``path``."""
    g = torch.Generator().manual_seed(seed)
    t0 = start // 3600 * 3600
    close = 100.0 * torch.exp(torch.cumsum(0.01 * torch.randn(bars, generator=g, dtype=torch.float64), 0))
    open_ = torch.cat([close[:1], close[:-1]])
    high = torch.maximum(open_, close) * (1 + 0.004 * torch.rand(bars, generator=g, dtype=torch.float64))
    low = torch.minimum(open_, close) * (1 - 0.004 * torch.rand(bars, generator=g, dtype=torch.float64))
    volume = 10 + 10 * torch.rand(bars, generator=g, dtype=torch.float64)
    rows = [
        f"{t0 + 3600 * i},{open_[i]:.6f},{high[i]:.6f},{low[i]:.6f},{close[i]:.6f},{volume[i]:.4f}"
        for i in range(bars)
    ]
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


# A real registry preset, shrunk: trains in well under a second per epoch on write_ohlcv_csv data.
SMALL_MODEL = "price_predictor_small"
SMALL_MODEL_CONFIG: dict[str, Any] = {
    "d_model": 16,
    "num_heads": 2,
    "num_encoder_layers": 1,
    "d_ff": 32,
    "attention_window": 16,
    "prediction_horizon": 2,
}
