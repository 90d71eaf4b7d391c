"""The models layer as training sees it: three calls into the registry (see notes/model_contract.md).

Kept in one place so that the rest of training/ names no registry internals.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

__all__ = ["config_fields", "create_model", "model_class", "model_from_config"]


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
