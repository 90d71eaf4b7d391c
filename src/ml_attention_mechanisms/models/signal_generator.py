"""Sell / hold / buy signals with calibrated confidence.

Labels come from the data layer (``targets["signal"]``: 0 sell, 1 hold, 2 buy), net of a cost threshold
(e.g. triple-barrier, Lopez de Prado 2018), so "hold" means "not worth the cost". Loss: class-weighted
cross-entropy. Confidence is the top-class probability after temperature scaling (Guo et al. 2017,
https://arxiv.org/abs/1706.04599) fitted on validation data with :meth:`calibrate_temperature`;
:meth:`reliability` reports the expected calibration error and the reliability table.

Shapes:
    ``B`` batch, ``T`` bars, ``F`` features.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..attention._masks import is_tracing
from ._backbone import TemporalEncoder
from ._base import COMMON_FIELDS, CryptoModel, require_targets
from ._inputs import check_asset_ids, check_finite, check_mask, check_series, check_timestamps_shape
from ._losses import expected_calibration_error
from ._scale import drop_asset_ids
from .config import CryptoPredictionModelConfig

__all__ = ["SIGNAL_CLASSES", "CryptoSignalGeneratorModel"]

SIGNAL_CLASSES: tuple[str, ...] = ("sell", "hold", "buy")


class CryptoSignalGeneratorModel(CryptoModel):
    """Classify the next move as sell / hold / buy from a causal sliding-window transformer's last state.

    Args:
        config: :class:`CryptoPredictionModelConfig`; reads the common fields and ``class_weights``.

    Attributes:
        temperature: buffer (saved in the state dict) dividing the logits; 1 until calibrated.
    """

    DATA_KIND: ClassVar[str] = "single_asset"
    OUTPUT_KIND: ClassVar[str] = "signal"
    TARGETS: ClassVar[tuple[str, ...]] = ("signal",)
    USED_FIELDS: ClassVar[frozenset[str]] = COMMON_FIELDS | {"class_weights", "asset_dropout"}
    LOSS_STATISTICS: ClassVar[tuple[str, ...]] = ("class_weights",)

    temperature: Tensor

    def __init__(self, config: CryptoPredictionModelConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        self.encoder = TemporalEncoder(c)
        self.classifier = nn.Linear(c.d_model, len(SIGNAL_CLASSES))
        self.register_buffer("temperature", torch.ones(()))

    def encode(
        self,
        price_data: Tensor,
        timestamps: Tensor | None = None,
        asset_ids: Tensor | None = None,
        need_attention_weights: bool = False,
        *,
        mask: Tensor | None = None,
        last_only: bool = False,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Per-bar states ``[B, T, d_model]`` (causal; per patch ``[B, N, d_model]`` with ``patch_size > 1``;
        ``[B, 1, d_model]`` at the last present bar with ``last_only``)."""
        if not is_tracing():
            c = self.config
            check_series(price_data, "price_data", features=c.input_features, multi_asset=False)
            b, t = price_data.shape[0], price_data.shape[1]
            check_mask(mask, "mask", ((b, t),))
            check_timestamps_shape(timestamps, "timestamps", (b, t))
            check_asset_ids(asset_ids, "asset_ids", batch=b, seq_len=t, num_assets=c.num_assets)
            check_finite(price_data, "price_data", mask)
        return self.encoder(
            price_data,
            timestamps=timestamps,
            asset_ids=drop_asset_ids(asset_ids, self.config.asset_dropout, self.training),
            mask=mask,
            need_weights=need_attention_weights,
            last_only=last_only,
        )

    def heads(self, h: Tensor) -> dict[str, Tensor]:
        """Outputs from states ``h [B, d_model]``."""
        logits = self.classifier(h) / self.temperature
        probabilities = torch.softmax(logits, dim=-1)
        confidence, index = probabilities.max(dim=-1)
        return {
            "logits": logits,
            "probabilities": probabilities,
            "signal": index - 1,  # 0 sell, 1 hold, 2 buy -> -1, 0, 1
            "confidence": confidence,
        }

    def forward(
        self,
        price_data: Tensor,
        timestamps: Tensor | None = None,
        asset_ids: Tensor | None = None,
        need_attention_weights: bool = False,
        *,
        mask: Tensor | None = None,
    ) -> dict[str, Any]:
        """Signal at the last present bar.

        Args:
            price_data: features ``[B, T, F]``.
            timestamps: int64 Unix seconds ``[B, T]``.
            asset_ids: ``[B]`` or ``[B, T]`` ids in ``[0, num_assets)`` (0 = unknown).
            need_attention_weights: add ``attention_weights`` ``{"temporal_layer<i>": [B, H, T, T]}``.
            mask: bool ``[B, T]``, True = the bar exists.

        Returns:
            dict: ``logits``/``probabilities [B, 3]`` (sell, hold, buy; temperature-scaled), ``signal [B]``
            in {-1, 0, 1}, ``confidence [B]`` (top probability), ``attention_weights`` on request.

        Raises:
            ValueError: bad shapes, feature count, NaN in present bars, asset id out of range (eager).
        """
        with self.mixed_precision(price_data.device):
            states, weights = self.encode(
                price_data, timestamps, asset_ids, need_attention_weights, mask=mask, last_only=True
            )
            out: dict[str, Any] = dict(self.heads(states[:, -1]))
        if need_attention_weights:
            out["attention_weights"] = weights
        return self.float_outputs(out)

    def loss(self, outputs: dict[str, Any], batch: dict[str, Any]) -> tuple[Tensor, dict[str, float]]:
        """Class-weighted cross-entropy on ``batch["targets"]["signal"]`` (0 sell, 1 hold, 2 buy).

        Weights: ``class_weights`` (``None``: 1, 1, 1), fixed, so the loss is the plain mean of per-sample
        terms ``w_y * CE`` (not normalised by the batch's weight sum, which would depend on the batch).
        """
        targets = require_targets(batch, self.TARGETS, type(self).__name__)
        labels = targets["signal"].long().view(-1)
        logits = outputs["logits"]
        cw = self.config.class_weights or (1.0, 1.0, 1.0)
        weight = torch.tensor(cw, dtype=logits.dtype, device=logits.device)
        ce = (F.cross_entropy(logits, labels, reduction="none") * weight[labels]).mean()
        acc = (logits.argmax(-1) == labels).float().mean()
        return ce, {"loss": float(ce.detach()), "cross_entropy": float(ce.detach()), "accuracy": float(acc)}

    def loss_statistics(self, targets: Mapping[str, Tensor]) -> dict[str, Any]:
        """``{"class_weights": n / (3 n_c)}``: balanced over the training split's labels (absent class: 1)."""
        labels = targets["signal"].long().view(-1)
        counts = torch.bincount(labels, minlength=3).double()
        n = float(counts.sum())
        return {"class_weights": tuple(n / (3.0 * float(c)) if c > 0 else 1.0 for c in counts)}

    @torch.no_grad()
    def calibrate_temperature(self, logits: Tensor, labels: Tensor, *, max_iter: int = 200) -> float:
        """Fit temperature scaling on validation outputs and store it (Guo et al. 2017).

        Finds ``t > 0`` minimising the cross-entropy of ``logits / t`` (LBFGS on ``log t``) and multiplies
        the stored temperature by it, so that later ``confidence`` values are calibrated.

        Args:
            logits: ``outputs["logits"]`` of the validation set ``[N, 3]`` (as returned, i.e. already
                divided by the current temperature).
            labels: true classes ``[N]`` (0 sell, 1 hold, 2 buy).
            max_iter: LBFGS iterations. Default: 200.

        Returns:
            The new stored temperature.

        Raises:
            ValueError: shapes disagree or labels are outside {0, 1, 2}.
        """
        if logits.dim() != 2 or logits.shape[-1] != 3 or labels.shape != logits.shape[:1]:
            raise ValueError(
                f"logits must be [N, 3] and labels [N]; got {tuple(logits.shape)} and {tuple(labels.shape)}"
            )
        if labels.numel() == 0 or int(labels.min()) < 0 or int(labels.max()) > 2:
            raise ValueError("labels must be non-empty classes in {0, 1, 2} (sell, hold, buy)")
        z, y = logits.detach().double(), labels.long()
        log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

        def closure() -> Tensor:
            opt.zero_grad()
            with torch.enable_grad():
                loss = F.cross_entropy(z / log_t.exp(), y)
                loss.backward()
            return loss

        with torch.enable_grad():
            opt.step(closure)
        factor = float(log_t.detach().exp())
        self.temperature.mul_(factor)
        return float(self.temperature)

    @staticmethod
    def reliability(probabilities: Tensor, labels: Tensor, num_bins: int = 10) -> dict[str, object]:
        """Expected calibration error and reliability table of ``probabilities [N, 3]`` against ``labels``."""
        return expected_calibration_error(probabilities, labels, num_bins)
