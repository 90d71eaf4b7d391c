"""The LightningModule that trains any registry model, and the schedule it uses.

The model brings its own wiring (notes/model_contract.md): ``model.training_inputs(batch)`` gives the forward's
keyword arguments and ``model.loss(outputs, batch)`` the scalar loss and a few named parts. This module adds
the optimiser (AdamW), the learning-rate schedule (linear warm-up, then cosine decay to a floor), logging,
per-epoch seeding (so that a resumed run draws the same dropout masks as an uninterrupted one), the choice
of a variance model's residual weights on each validation epoch (per horizon, the weight with the lowest
validation QLIKE among ``0`` = the variance anchor alone ... ``1`` = the full learned residual, stored in the
model, so that the checkpoint of an epoch forecasts with the weights chosen on that epoch), and the checkpoint payload (so
that a checkpoint alone predicts).
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from .._import_guard import needs_extra
from ._models import residual_heads
from .checkpoint import build_payload
from .config import TrainingConfig

with needs_extra("train"):
    import lightning as L

if TYPE_CHECKING:
    from .datamodule import PreparedData

__all__ = ["ForecastModule", "warmup_cosine_factor"]

_PREFIX = "model."


def warmup_cosine_factor(step: int, *, total_steps: int, warmup_steps: int, min_ratio: float) -> float:
    """Multiplier of the peak learning rate at optimiser step ``step`` (0-based).

    Linear warm-up ``(step + 1) / warmup_steps`` for the first ``warmup_steps`` steps, then a cosine from 1
    down to ``min_ratio`` at ``total_steps`` (Loshchilov & Hutter 2017, https://arxiv.org/abs/1608.03983,
    without restarts); ``min_ratio`` after that.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(total_steps - warmup_steps, 1)
    progress = min(max(step - warmup_steps, 0) / decay_steps, 1.0)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _batch_size(batch: dict[str, Any]) -> int:
    for value in batch.values():
        if isinstance(value, Tensor) and value.dim() > 0:
            return int(value.shape[0])
    return 1


class ForecastModule(L.LightningModule):
    """Wraps a registry model for Lightning.

    Args:
        model: a model following the contract (``training_inputs``, ``loss``, a dataclass ``config``).
        training: the optimiser, schedule and seed settings.
        model_type: the registry name (stored in checkpoints).
        feature_names: the data's feature columns, in order (stored in checkpoints).
        scaler: data statistics as plain data (stored in checkpoints). Default: None.
        symbols: ``{symbol: asset id}`` (stored in checkpoints). Default: None.
        bar_seconds: the bar interval of the training data in seconds (stored in checkpoints as
            ``"bar_seconds"``). Default: None (unknown: not stored).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        training: TrainingConfig,
        model_type: str,
        feature_names: list[str] | tuple[str, ...],
        scaler: dict[str, Any] | None = None,
        symbols: dict[str, int] | None = None,
        bar_seconds: int | None = None,
    ) -> None:
        super().__init__()
        for attr in ("training_inputs", "loss"):
            if not callable(getattr(model, attr, None)):
                raise TypeError(f"model {type(model).__name__} has no {attr}() (see the model contract)")
        self.model = model
        self.training_config = training
        self.model_type = model_type
        self.feature_names = list(feature_names)
        self.scaler = scaler or {}
        self.bar_seconds = bar_seconds
        self.symbols = symbols or {}
        self._residual: tuple[Tensor, Tensor] | None = None  # validation QLIKE sums per candidate weight

    @classmethod
    def for_data(
        cls, model: nn.Module, prepared: PreparedData, *, training: TrainingConfig, model_type: str
    ) -> ForecastModule:
        """The module for ``model`` trained on ``prepared``: its feature names, scaler, symbols and bar
        interval go into every checkpoint."""
        return cls(
            model,
            training=training,
            model_type=model_type,
            feature_names=prepared.feature_names,
            scaler=prepared.scaler,
            symbols=prepared.symbols,
            bar_seconds=prepared.bar_seconds,
        )

    # -- steps ----------------------------------------------------------------------------------------
    def forward(self, batch: dict[str, Any]) -> dict[str, Tensor]:  # type: ignore[override]
        return self.model(**self.model.training_inputs(batch))  # type: ignore[operator,no-any-return]

    def _step(self, batch: dict[str, Any], stage: str) -> Tensor:
        outputs = self(batch)
        loss, parts = self.model.loss(outputs, batch)  # type: ignore[operator]
        scores = getattr(self.model, "residual_scores", None)
        if stage == "val" and callable(scores):
            got = scores(outputs, batch)
            if got is not None:
                sums, count = (t.detach() for t in got)
                if self._residual is not None:
                    sums, count = sums + self._residual[0], count + self._residual[1]
                self._residual = (sums, count)
        size = _batch_size(batch)
        sync = stage != "train"  # validation figures are averaged over every process (DDP)
        on_step = stage == "train"
        self.log(
            f"{stage}_loss",
            loss.detach().float(),
            prog_bar=True,
            on_step=on_step,
            on_epoch=True,
            batch_size=size,
            sync_dist=sync,
        )
        for name, value in dict(parts).items():
            if name in ("loss", f"{stage}_loss"):
                continue  # already logged as {stage}_loss
            value = value.detach() if isinstance(value, Tensor) else value
            self.log(
                f"{stage}_{name}",
                float(value),
                on_step=on_step,
                on_epoch=True,
                batch_size=size,
                sync_dist=sync,
            )
        return loss  # type: ignore[no-any-return]

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:  # type: ignore[override]
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:  # type: ignore[override]
        return self._step(batch, "val")

    def on_validation_epoch_start(self) -> None:
        # validation scores the full residual (weight 1); the weight is chosen at the epoch's end
        self._residual = None
        for head in residual_heads(self.model):
            head.residual_weight.fill_(1.0)  # type: ignore[operator]

    def on_validation_epoch_end(self) -> None:
        heads = residual_heads(self.model)
        if not heads or self._residual is None:
            return
        sums, counts = (self.trainer.strategy.reduce(t, reduce_op="sum") for t in self._residual)
        for head in heads:
            head.choose_residual_weights(sums, counts)  # type: ignore[operator]
            self.log("val_residual_weight", float(head.residual_weight[-1]), sync_dist=False)  # type: ignore[index]

    def on_train_epoch_start(self) -> None:
        # Dropout and any other randomness of epoch e depend only on (seed, e, rank): an epoch redone after a
        # resume draws exactly what the uninterrupted run drew.
        seed = (self.training_config.seed * 1_000_003 + self.current_epoch * 7919 + self.global_rank) % 2**31
        random.seed(seed)
        np.random.seed(seed)  # noqa: NPY002 - the legacy global stream is the one user code may draw from
        torch.manual_seed(seed)

    # -- optimisation ---------------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        cfg = self.training_config
        decay: list[nn.Parameter] = []
        no_decay: list[nn.Parameter] = []
        for name, param in self.model.named_parameters():
            if not param.requires_grad:
                continue
            # Biases, norms and embeddings are not decayed (the usual AdamW recipe, e.g. nanoGPT).
            (no_decay if param.dim() < 2 or "embed" in name.lower() else decay).append(param)
        groups = [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.learning_rate)
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        warmup = round(cfg.warmup_fraction * total)
        min_ratio = cfg.min_lr_ratio

        def factor(step: int) -> float:
            return warmup_cosine_factor(step, total_steps=total, warmup_steps=warmup, min_ratio=min_ratio)

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # -- checkpoints ----------------------------------------------------------------------------------
    def payload(self) -> dict[str, Any]:
        """The model part of a checkpoint (weights, config, features, statistics, symbols, versions)."""
        return build_payload(
            self.model,
            model_type=self.model_type,
            feature_names=self.feature_names,
            scaler=self.scaler,
            symbols=self.symbols,
            bar_seconds=self.bar_seconds,
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The contract's payload, with the model's own parameter names (no "model." prefix), so that
        # load_checkpoint needs nothing of Lightning; Lightning's resume state stays beside it.
        payload = self.payload()
        checkpoint.update(payload)
        checkpoint.pop("hyper_parameters", None)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Lightning loads "state_dict" into this module right after this hook: put the prefix back.
        state = checkpoint.get("state_dict", {})
        if state and not any(k.startswith(_PREFIX) for k in state):
            checkpoint["state_dict"] = {_PREFIX + k: v for k, v in state.items()}
