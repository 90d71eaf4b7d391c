"""Ready crypto models: price, signals, risk and portfolio; their config, registry and factory.

``attention_models.py`` re-exports them under the module path of the examples; the guide is docs/models.md.
"""

from ._factory import create_crypto_model, model_from_config
from ._registry import ModelEntry, get_model_entry, is_model, list_models, register_model
from .config import CryptoPredictionModelConfig
from .ensemble import ModelEnsemble
from .portfolio_optimizer import CryptoPortfolioOptimizerModel
from .price_predictor import CryptoPricePredictionModel
from .risk_assessor import CryptoRiskAssessorModel
from .signal_generator import SIGNAL_CLASSES, CryptoSignalGeneratorModel

__all__ = [
    "SIGNAL_CLASSES",
    "CryptoPortfolioOptimizerModel",
    "CryptoPredictionModelConfig",
    "CryptoPricePredictionModel",
    "CryptoRiskAssessorModel",
    "CryptoSignalGeneratorModel",
    "ModelEnsemble",
    "ModelEntry",
    "create_crypto_model",
    "get_model_entry",
    "is_model",
    "list_models",
    "model_from_config",
    "register_model",
]
