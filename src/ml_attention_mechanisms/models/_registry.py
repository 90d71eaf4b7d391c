"""The model registry: names -> builders, filled by ``@register_model`` (after timm's ``_registry.py``).

A duplicate name raises (timm only warns). Each entry carries the model class and its capability flags, so
that training, evaluation and tests can iterate over the registry without building a model. The presets
register when ``_factory.py`` is imported, which the ``models`` package does before anything can read
the registry (importing this module imports the package first).
"""

from __future__ import annotations

import fnmatch
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

__all__ = ["ModelEntry", "get_model_entry", "is_model", "list_models", "register_model"]

_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ModelEntry:
    """One registered name.

    Attributes:
        name: the registered name (the builder's ``__name__``).
        builder: ``builder(**overrides) -> model``.
        model_cls: the class the builder returns.
        data_kind: ``"single_asset"`` or ``"multi_asset"`` (``model_cls.DATA_KIND``).
        output_kind: ``"price"``, ``"signal"``, ``"risk"`` or ``"portfolio"``.
        targets: keys the model's loss reads from ``batch["targets"]``.
        streamable: causal sliding-window attention without absolute positions (can run one bar at a time).
    """

    name: str
    builder: Callable[..., nn.Module]
    model_cls: type[nn.Module]
    data_kind: str
    output_kind: str
    targets: tuple[str, ...]
    streamable: bool


_MODELS: dict[str, ModelEntry] = {}


def register_model(fn: _F) -> _F:
    """Register ``fn`` under ``fn.__name__``; its return annotation names the model class.

    Raises:
        ValueError: the name is already registered.
        TypeError: the return annotation is not a model class with ``DATA_KIND`` and ``OUTPUT_KIND``.
    """
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is already registered (by {_MODELS[name].builder.__module__})")
    cls = typing.get_type_hints(fn).get("return")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module) and hasattr(cls, "OUTPUT_KIND")):
        raise TypeError(f"register_model: {name} must be annotated to return a model class, got {cls!r}")
    _MODELS[name] = ModelEntry(
        name=name,
        builder=fn,
        model_cls=cls,
        data_kind=cls.DATA_KIND,  # type: ignore[attr-defined]
        output_kind=cls.OUTPUT_KIND,  # type: ignore[attr-defined]
        targets=tuple(cls.TARGETS),  # type: ignore[attr-defined]
        streamable=bool(getattr(cls, "STREAMABLE", False)),
    )
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Sorted registered names matching the fnmatch ``pattern``.

    Examples:
        >>> "price_predictor" in list_models()
        True
    """
    return sorted(n for n in _MODELS if fnmatch.fnmatchcase(n, pattern))


def is_model(name: str) -> bool:
    """Whether ``name`` is registered."""
    return name in _MODELS


def get_model_entry(name: str) -> ModelEntry:
    """The :class:`ModelEntry` of ``name``.

    Raises:
        ValueError: unknown name (the message lists the registered ones).
    """
    entry = _MODELS.get(name) if isinstance(name, str) else None
    if entry is None:
        raise ValueError(f"Unknown model_type {name!r}; available: {', '.join(sorted(_MODELS))}")
    return entry
