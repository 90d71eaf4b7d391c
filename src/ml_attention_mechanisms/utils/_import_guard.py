"""Capability and optional-dependency checks, in one place."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

import torch

__all__ = ["cuda_available", "has_module", "require"]


def has_module(name: str) -> bool:
    """True if ``name`` can be imported (without importing it)."""
    return importlib.util.find_spec(name) is not None


def require(name: str, purpose: str, install: str | None = None) -> ModuleType:
    """Import ``name`` or raise ``ImportError`` saying what it is for and how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        hint = install or f"pip install {name}"
        raise ImportError(f"{purpose} needs the package {name!r}: {hint}") from exc


def cuda_available() -> bool:
    return torch.cuda.is_available()
