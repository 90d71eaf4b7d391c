"""Output names and model loading shared by export and live inference (example inputs: the models').

Shapes:
    ``B`` batch, ``T`` bars, ``A`` assets, ``F`` features.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..models._examples import EXAMPLE_START_SECONDS, example_inputs, is_multi_asset, model_config

__all__ = [
    "EXAMPLE_START_SECONDS",
    "example_inputs",
    "example_scale",
    "is_multi_asset",
    "load_model",
    "model_config",
    "output_names",
    "takes_scale",
]


def takes_scale(model: nn.Module) -> bool:
    """Whether ``model``'s forward takes the asset's ``scale`` (the price, risk and portfolio models)."""
    import inspect

    return "scale" in inspect.signature(model.forward).parameters


def example_scale(model: nn.Module, features: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Random positive per-bar variances ``[B]`` (``[B, A]`` multi-asset) around 1e-4 for ``features``."""
    shape = tuple(features.shape[:1]) + (tuple(features.shape[2:3]) if is_multi_asset(model) else ())
    return 1e-4 * torch.exp(0.5 * torch.randn(shape, generator=generator))


def output_names(model: nn.Module, features: Tensor, timestamps: Tensor | None = None) -> list[str]:
    """The tensor outputs of ``model`` in its dict order (``predictions`` first for the price model)."""
    with torch.no_grad():
        out = model(features, timestamps=timestamps)
    return [k for k, v in out.items() if isinstance(v, Tensor)]


def load_model(
    source: nn.Module | str | os.PathLike[str], **overrides: Any
) -> tuple[nn.Module, dict[str, Any]]:
    """A model in eval mode and its checkpoint payload (empty for a module or a registry name).

    Args:
        source: an ``nn.Module``; a checkpoint file written by training (``*.ckpt``, ``*.pt``, any existing
            path); or a registered name (``create_crypto_model(source, **overrides)``).
        **overrides: config fields for a registry name (refused otherwise).

    Raises:
        ValueError: unknown name, bad checkpoint (named), overrides with a module or checkpoint.
        FileNotFoundError: a path-like ``source`` that does not exist.
    """
    if isinstance(source, nn.Module):
        if overrides:
            raise ValueError(
                f"config overrides {sorted(overrides)} apply to a registry name, not to a module"
            )
        return source.eval(), {}
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        looks_like_path = path.suffix != "" or os.sep in str(source) or path.exists()
        if looks_like_path:
            if overrides:
                raise ValueError(f"config overrides {sorted(overrides)} cannot change checkpoint {path}")
            from ..training.checkpoint import load_checkpoint

            model, payload = load_checkpoint(path)
            return model.eval(), payload
        from ..models import create_crypto_model

        return create_crypto_model(str(source), **overrides).eval(), {}
    raise TypeError(
        f"expected a model, a checkpoint path or a registered model name, got {type(source).__name__}"
    )
