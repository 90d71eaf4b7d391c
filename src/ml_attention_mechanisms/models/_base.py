"""What every crypto model shares: config checks, capability flags, the training contract.

The training contract (agreed with training/ and evaluation/):

- class attributes ``DATA_KIND`` (``"single_asset"``/``"multi_asset"``), ``OUTPUT_KIND``, ``TARGETS`` (the keys
  ``loss`` reads from ``batch["targets"]``), ``STREAMABLE``;
- ``config``: the :class:`CryptoPredictionModelConfig`;
- ``test_kwargs()``: the smallest valid config overrides (for registry-wide tests);
- ``training_inputs(batch)``: a data-layer batch -> the forward's keyword arguments;
- ``loss(outputs, batch)``: ``(scalar loss, {component: float})``, a mean of per-sample terms whose
  normalisers come from the config, not from the batch (see ``config.py``, "Losses");
- ``loss_statistics(targets)``: those normalisers (config overrides) computed once from the training split.

Mixed precision: with ``use_mixed_precision`` each forward runs under
:func:`~ml_attention_mechanisms.transformers._precision.forward_autocast` (the one autocast helper of the
library, shared with ``TradingTransformer``) and returns float32 outputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ..transformers._precision import forward_autocast
from ._scriptable import scriptable_form
from .config import CryptoPredictionModelConfig, changed_fields

__all__ = ["COMMON_FIELDS", "CryptoModel", "require_targets"]

COMMON_FIELDS: frozenset[str] = frozenset(
    {
        "d_model",
        "num_heads",
        "num_encoder_layers",
        "d_ff",
        "dropout",
        "input_features",
        "attention_window",
        "patch_size",
        "time_unit_seconds",
        "use_market_time",
        "attention_kind",
        "num_assets",
        "use_mixed_precision",
    }
)


def require_targets(batch: dict[str, Any], keys: tuple[str, ...], model: str) -> dict[str, Tensor]:
    """``batch["targets"]`` with ``keys`` present.

    Raises:
        ValueError: ``targets`` missing or lacking a key (the message names the model and the keys).
    """
    targets = batch.get("targets")
    if not isinstance(targets, dict):
        raise ValueError(
            f"{model}.loss needs batch['targets'] (a dict with {list(keys)}), got {type(targets).__name__}"
        )
    missing = [k for k in keys if k not in targets]
    if missing:
        raise ValueError(f"{model}.loss needs batch['targets'][{missing}]; present: {sorted(targets)}")
    return targets


class CryptoModel(nn.Module):
    """Base class of the four crypto models.

    Args:
        config: the model config. Default: ``CryptoPredictionModelConfig()``.

    Raises:
        TypeError: ``config`` is not a :class:`CryptoPredictionModelConfig`.
        ValueError: ``config`` sets (to a non-default value) a field this model does not use.
    """

    DATA_KIND: ClassVar[str] = "single_asset"
    OUTPUT_KIND: ClassVar[str] = ""
    TARGETS: ClassVar[tuple[str, ...]] = ()
    STREAMABLE: ClassVar[bool] = True
    USED_FIELDS: ClassVar[frozenset[str]] = COMMON_FIELDS
    LOSS_STATISTICS: ClassVar[tuple[str, ...]] = ()  # config fields that loss_statistics() fills

    def __init__(self, config: CryptoPredictionModelConfig | None = None) -> None:
        super().__init__()
        config = CryptoPredictionModelConfig() if config is None else config
        if not isinstance(config, CryptoPredictionModelConfig):
            raise TypeError(f"config must be a CryptoPredictionModelConfig, got {type(config).__name__}")
        unused = [f for f in changed_fields(config) if f not in self.USED_FIELDS]
        if unused:
            raise ValueError(
                f"{type(self).__name__} does not use {', '.join(unused)} (set to "
                f"{', '.join(repr(getattr(config, f)) for f in unused)}); fields it uses: "
                f"{', '.join(sorted(self.USED_FIELDS))}"
            )
        self.config = config
        if config.patch_size > 1:
            # A patch token spans several bars, so there is no bar-by-bar (KV-cached) form: such a model streams
            # by recomputing its window (StreamingPredictor's "recompute" mode).
            self.__dict__["STREAMABLE"] = False

    @classmethod
    def test_kwargs(cls) -> dict[str, Any]:
        """The smallest valid config overrides (tiny widths, one layer, few features)."""
        return {
            "d_model": 16,
            "num_heads": 2,
            "num_encoder_layers": 1,
            "d_ff": 32,
            "dropout": 0.0,
            "input_features": 6,
            "attention_window": 8,
            "num_assets": 8,
        }

    def __prepare_scriptable__(self) -> nn.Module:
        """The form ``torch.jit.script(model)`` compiles: the model traced (eval mode) behind a scriptable
        ``forward(features) -> Dict[str, Tensor]`` (see ``_scriptable.py``)."""
        return scriptable_form(self)

    def mixed_precision(self, device: torch.device) -> AbstractContextManager[None]:
        """Autocast for the forward when ``config.use_mixed_precision`` (else a no-op context).

        The same context as ``TradingTransformer``: bfloat16 on CPU; bfloat16, else float16, on CUDA.
        """
        return forward_autocast(bool(self.config.use_mixed_precision), device)

    @staticmethod
    def float_outputs(out: dict[str, Any]) -> dict[str, Any]:
        """``out`` with floating tensors (and dicts of them) as float32; int and bool outputs unchanged."""

        def to32(v: Any) -> Any:
            return v.float() if isinstance(v, Tensor) and v.is_floating_point() else v

        return {
            k: {n: to32(w) for n, w in v.items()} if isinstance(v, dict) else to32(v) for k, v in out.items()
        }

    def loss_statistics(self, targets: Mapping[str, Tensor]) -> dict[str, Any]:
        """Config overrides that fix the loss's normalisers, computed from the training split's targets.

        Args:
            targets: every training window's ``targets`` (as a data loader collates them: ``[N, ...]``).

        Returns:
            ``{field: value}`` for the fields of :attr:`LOSS_STATISTICS` (empty here: no normaliser).
        """
        return {}

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def training_inputs(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Single-asset batch -> forward kwargs (``price_data``, ``timestamps``, ``asset_ids``, ``mask``).

        Accepts ``price_data`` or ``x`` for the features.
        """
        x = batch.get("price_data", batch.get("x"))
        if x is None:
            raise ValueError(
                f"{type(self).__name__}.training_inputs needs batch['price_data'] (or 'x'); got {sorted(batch)}"
            )
        return {
            "price_data": x,
            "timestamps": batch.get("timestamps"),
            "asset_ids": batch.get("asset_ids"),
            "mask": batch.get("mask"),
        }

    def loss(self, outputs: dict[str, Any], batch: dict[str, Any]) -> tuple[Tensor, dict[str, float]]:
        """The training loss; each model overrides it."""
        raise NotImplementedError(f"{type(self).__name__} has no loss")
