"""``create_crypto_model``: build a registered model by name; the registered builders and presets.

Each model has a base name (``"price_predictor"``, ``"signal_generator"``, ``"risk_assessor"``,
``"portfolio_optimizer"``: the default config) and a ``*_small`` preset (~0.1 M parameters: trains on two CPU
cores in a few minutes on the bundled data). Presets are three-line functions calling one builder.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from torch import nn

from ..config import replace_config
from ._base import CryptoModel
from ._registry import get_model_entry, register_model
from .config import CryptoPredictionModelConfig
from .portfolio_optimizer import CryptoPortfolioOptimizerModel
from .price_predictor import CryptoPricePredictionModel
from .risk_assessor import CryptoRiskAssessorModel
from .signal_generator import CryptoSignalGeneratorModel

__all__ = ["create_crypto_model", "model_from_config"]

_M = TypeVar("_M", bound=CryptoModel)


def _small() -> CryptoPredictionModelConfig:
    """The small presets' config: d_model 64, 2 layers, 64-bar window (~0.1 M parameters; docs/models.md, "Sizes")."""
    return CryptoPredictionModelConfig(
        d_model=64, num_heads=4, num_encoder_layers=2, d_ff=128, attention_window=64
    )


def _build(model_cls: type[_M], config: CryptoPredictionModelConfig, **overrides: Any) -> _M:
    """``model_cls(replace_config(config, **overrides))``; unknown override names raise ``TypeError``."""
    return model_cls(replace_config(config, **overrides))


@register_model
def price_predictor(**overrides: Any) -> CryptoPricePredictionModel:
    """Price/volatility forecaster, default config (d_model 256, 4 layers, 128-bar window)."""
    return _build(CryptoPricePredictionModel, CryptoPredictionModelConfig(), **overrides)


@register_model
def price_predictor_small(**overrides: Any) -> CryptoPricePredictionModel:
    """~0.1 M params; 64-bar window."""
    return _build(CryptoPricePredictionModel, _small(), **overrides)


@register_model
def signal_generator(**overrides: Any) -> CryptoSignalGeneratorModel:
    """Sell/hold/buy classifier, default config."""
    return _build(CryptoSignalGeneratorModel, CryptoPredictionModelConfig(), **overrides)


@register_model
def signal_generator_small(**overrides: Any) -> CryptoSignalGeneratorModel:
    """~0.1 M params; 64-bar window."""
    return _build(CryptoSignalGeneratorModel, _small(), **overrides)


@register_model
def risk_assessor(**overrides: Any) -> CryptoRiskAssessorModel:
    """VaR/ES, volatility, drawdown and correlation, default config."""
    return _build(CryptoRiskAssessorModel, CryptoPredictionModelConfig(), **overrides)


@register_model
def risk_assessor_small(**overrides: Any) -> CryptoRiskAssessorModel:
    """~0.1 M params; 64-bar window."""
    return _build(CryptoRiskAssessorModel, _small(), **overrides)


@register_model
def portfolio_optimizer(**overrides: Any) -> CryptoPortfolioOptimizerModel:
    """Allocation across up to ``num_assets`` assets, default config."""
    return _build(CryptoPortfolioOptimizerModel, CryptoPredictionModelConfig(), **overrides)


@register_model
def portfolio_optimizer_small(**overrides: Any) -> CryptoPortfolioOptimizerModel:
    """~0.1 M params; 64-bar window, up to 128 assets."""
    return _build(CryptoPortfolioOptimizerModel, _small(), **overrides)


def create_crypto_model(model_type: str, **kwargs: Any) -> nn.Module:
    """Build a registered crypto model by name.

    Args:
        model_type: a name from :func:`list_models` (``"price_predictor"``, ``"signal_generator"``,
            ``"risk_assessor"``, ``"portfolio_optimizer"`` and their ``*_small`` presets).
        **kwargs: :class:`CryptoPredictionModelConfig` fields overriding the preset. ``None`` values are
            dropped (so unset CLI options keep the preset's values).

    Returns:
        The model (an ``nn.Module``; see its class for inputs and outputs).

    Raises:
        ValueError: unknown ``model_type`` (the message lists the valid names); a field set to a non-default
            value that this model does not use; an invalid field value.
        TypeError: keyword arguments that are not config fields (the message names them and the valid ones).

    Examples:
        >>> import torch
        >>> model = create_crypto_model("price_predictor_small", input_features=8, prediction_horizon=3)
        >>> model(torch.randn(2, 16, 8))["predictions"].shape
        torch.Size([2, 3, 2])
        >>> create_crypto_model("nope")
        Traceback (most recent call last):
        ...
        ValueError: Unknown model_type 'nope'; available: portfolio_optimizer, ...
    """
    entry = get_model_entry(model_type)
    overrides = {k: v for k, v in kwargs.items() if v is not None}
    return entry.builder(**overrides)


def model_from_config(model_type: str, config: dict[str, Any] | CryptoPredictionModelConfig) -> nn.Module:
    """Rebuild a model from a checkpoint's ``model_type`` and ``dataclasses.asdict(config)``.

    Raises:
        ValueError: unknown ``model_type`` or invalid config values.
        TypeError: keys that are not config fields.
    """
    entry = get_model_entry(model_type)
    if isinstance(config, CryptoPredictionModelConfig):
        cfg = config
    else:
        names = {f.name for f in dataclasses.fields(CryptoPredictionModelConfig)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise TypeError(
                f"config has unknown field(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}"
            )
        cfg = CryptoPredictionModelConfig(**config)
    return entry.model_cls(cfg)
