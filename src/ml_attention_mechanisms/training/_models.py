"""The models layer as training sees it: three calls into the registry (see notes/model_contract.md).

Kept in one place so that the rest of training/ names no registry internals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

__all__ = [
    "carries_mixed_precision",
    "config_fields",
    "create_model",
    "loss_statistics",
    "model_class",
    "model_from_config",
    "residual_heads",
]


def create_model(model_type: str, **kwargs: Any) -> nn.Module:
    """``create_crypto_model(model_type, **kwargs)``."""
    from ..models._factory import create_crypto_model

    return create_crypto_model(model_type, **kwargs)  # type: ignore[no-any-return]


def model_from_config(model_type: str, config: dict[str, Any]) -> nn.Module:
    """Rebuild a model from its registry name and its config as plain data."""
    from ..models._factory import model_from_config as build

    return build(model_type, config)  # type: ignore[no-any-return]


def model_class(model_type: str) -> type[nn.Module]:
    """The class a registry name builds (for ``DATA_KIND``, ``TARGETS`` and the config fields).

    Raises:
        ValueError: unknown name (the registry's message, listing the valid ones).
    """
    from ..models import _registry

    entry = _registry.get_model_entry(model_type)
    for attr in ("model_cls", "model_class", "cls"):
        cls = getattr(entry, attr, None)
        if isinstance(cls, type):
            return cls
    raise TypeError(f"registry entry for {model_type!r} names no model class")  # pragma: no cover


def config_fields(model: nn.Module) -> set[str]:
    """Field names of ``model.config`` (empty when it has no dataclass config)."""
    config = getattr(model, "config", None)
    if config is None or not dataclasses.is_dataclass(config):
        return set()
    return {f.name for f in dataclasses.fields(config)}


def carries_mixed_precision(model: nn.Module | None) -> bool:
    """True when ``model.config.use_mixed_precision`` is set: the model autocasts its own forward.

    Then Lightning runs ``"32-true"`` (the one switch is the model's; an outer autocast would also cover the
    loss, and the model's float32 outputs keep the loss in float32).
    """
    return bool(getattr(getattr(model, "config", None), "use_mixed_precision", False))


def loss_statistics(model: nn.Module, train: Dataset[Any], given: Collection[str]) -> dict[str, Any]:
    """The config overrides that fix ``model``'s loss normalisers, from every training window's targets.

    Only for the fields of ``model.LOSS_STATISTICS`` not in ``given`` (the user's own values win); computed
    on the whole training split, the same in every DDP process, so that the loss of a batch does not depend
    on the other samples of the batch (see ``models/config.py``, "Losses").
    """
    wanted = [f for f in getattr(model, "LOSS_STATISTICS", ()) if f not in given]
    method = getattr(model, "loss_statistics", None)
    if not wanted or not callable(method):
        return {}
    parts: dict[str, list[Tensor]] = {}
    for batch in DataLoader(train, batch_size=4096, shuffle=False):
        for key, value in (batch.get("targets") or {}).items():
            if isinstance(value, Tensor):
                parts.setdefault(key, []).append(value)
    if not parts:
        return {}
    stats = method({k: torch.cat(v) for k, v in parts.items()})
    return {k: v for k, v in stats.items() if k in wanted}


def residual_heads(model: nn.Module) -> list[nn.Module]:
    """The model's variance heads with a residual weight chosen on validation data (may be empty)."""
    from ..models._scale import VarianceResidualHead

    return [m for m in model.modules() if isinstance(m, VarianceResidualHead)]
