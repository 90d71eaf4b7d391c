"""The ready crypto models under the module path of the examples: re-exports the four models, their config and the factory.

``from ml_attention_mechanisms.models.attention_models import CryptoPricePredictionModel`` and the package
root (``from ml_attention_mechanisms import create_crypto_model``) give the same objects; each model lives in
its own module (``price_predictor.py``, ``signal_generator.py``, ``risk_assessor.py``,
``portfolio_optimizer.py``).
"""

from __future__ import annotations

from ._factory import create_crypto_model, model_from_config
from ._registry import get_model_entry, is_model, list_models
from .config import CryptoPredictionModelConfig
from .portfolio_optimizer import CryptoPortfolioOptimizerModel
from .price_predictor import CryptoPricePredictionModel
from .risk_assessor import CryptoRiskAssessorModel
from .signal_generator import CryptoSignalGeneratorModel

__all__ = [
    "CryptoPortfolioOptimizerModel",
    "CryptoPredictionModelConfig",
    "CryptoPricePredictionModel",
    "CryptoRiskAssessorModel",
    "CryptoSignalGeneratorModel",
    "create_crypto_model",
    "get_model_entry",
    "is_model",
    "list_models",
    "model_from_config",
]
