"""ml-attention-mechanisms: attention mechanisms, market-time encodings, transformer blocks and ready models
for crypto market data.

Public names are exported lazily from their modules (see ``_EXPORTS``), so that ``import
ml_attention_mechanisms`` imports torch and nothing heavy: no pandas, lightning, matplotlib, plotly or onnx
(they are imported by the layers that need them, when those are used).
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

# public name -> module (relative to this package) that defines it. One line per name; the API reference
# (docs/api/index.md) lists the same names.
_EXPORTS: dict[str, str] = {
    # configs
    "AttentionConfig": "config",
    # training (Lightning is imported only when train/tune run)
    "TrainingConfig": "training.config",
    "train": "training.run",
    "load_checkpoint": "training.checkpoint",
    # attention
    "MultiHeadAttention": "attention.multi_head_attention",
    "attend": "attention._dispatch",
    "attention_backend": "attention._dispatch",
    "explain_dispatch": "attention._dispatch",
    "record_dispatch": "attention._dispatch",
    "reference_attention": "attention.reference",
    # transformers
    "TemporalAttention": "attention.temporal_attention",
    "TemporalAttentionConfig": "attention.temporal_attention",
    "TradingTransformer": "transformers.trading_transformer",
    "TradingTransformerConfig": "transformers._config",
    "create_trading_transformer": "transformers.trading_transformer",
    "TransformerBlockConfig": "transformers.transformer_block",
    "TransformerEncoderBlock": "transformers.transformer_block",
    "TransformerDecoderBlock": "transformers.transformer_block",
    "qlike_loss": "transformers._losses",
    "regime_loss": "transformers._losses",
    "SelfAttention": "attention.self_attention",
    "LinearAttention": "attention.self_attention",
    "ChunkedAttention": "attention.self_attention",
    "CryptoMultiHeadAttention": "attention.self_attention",
    "choose_chunk_size": "attention.self_attention",
    "CausalAttention": "attention.causal_attention",
    "KVCache": "attention.causal_attention",
    "CrossAttentionConfig": "attention.cross_attention",
    "CrossAttention": "attention.cross_attention",
    "MultiModalCrossAttention": "attention.cross_attention",
    "CrossAssetAttention": "attention.cross_attention",
    # models
    "CryptoPredictionModelConfig": "models.config",
    "CryptoPricePredictionModel": "models.price_predictor",
    "CryptoSignalGeneratorModel": "models.signal_generator",
    "CryptoRiskAssessorModel": "models.risk_assessor",
    "CryptoPortfolioOptimizerModel": "models.portfolio_optimizer",
    "create_crypto_model": "models._factory",
    "list_models": "models._registry",
    # encodings
    "PositionalEncoding": "encodings._base",
    "create_positional_encoding": "encodings._factory",
    "to_unix_seconds": "encodings._time",
    "detect_time_unit": "encodings._time",
    "SinusoidalPositionalEncoding": "encodings.positional_encoding",
    "LearnedPositionalEncoding": "encodings.positional_encoding",
    "RotaryPositionalEncoding": "encodings.positional_encoding",
    "ALiBi": "encodings.positional_encoding",
    "RoPEEncoding": "encodings.positional_encoding",
    "ALiBiEncoding": "encodings.positional_encoding",
    "MarketTimeEncoding": "encodings.temporal_encoding",
    "MarketTimeConfig": "encodings.temporal_encoding",
    "CryptoPositionalEncoding": "encodings.temporal_encoding",
    "LearnablePositionalEncoding": "encodings.learnable_encoding",
    "AdaptivePositionalEncoding": "encodings.learnable_encoding",
    # data (pandas is imported only when these are used)
    "load_ohlcv": "data.loader",
    "validate_ohlcv": "data.validation",
    "DataValidationError": "data.validation",
    "QualityReport": "data.validation",
    "MarketPanel": "data.panel",
    "align": "data.panel",
    "resample_ohlcv": "data.panel",
    "load_dataset": "data.bundled",
    "compute_features": "data.features",
    "FeatureScaler": "data.scaling",
    "prepare_panel": "data.windows",
    "SingleAssetWindows": "data.windows",
    "MultiAssetWindows": "data.windows",
    "split_by_time": "data.splits",
    "default_split": "data.splits",
    "walk_forward_splits": "data.splits",
    # utils
    "AttentionAnalyzer": "utils.attention_utils",
    "AttentionDebugger": "utils.attention_utils",
    "AttentionMemoryOptimizer": "utils.attention_utils",
    "benchmark_attention_implementations": "utils.attention_utils",
    "AttentionHeatmapVisualizer": "utils.visualization",
    "VisualizationConfig": "utils.visualization",
    # inference (export and live inference; onnx/onnxruntime imported only when exporting)
    "StreamingPredictor": "inference.streaming",
    "StreamingConfig": "inference.streaming",
    "export_model": "inference.export",
    "export_onnx": "inference.export",
    "export_program": "inference.export",
    "export_torchscript": "inference.export",
    # evaluation (numpy-only on import, scipy/sklearn/arch/plotly/matplotlib inside functions)
    "BacktestConfig": "evaluation.backtest",
    "run_backtest": "evaluation.backtest",
    "run_portfolio_backtest": "evaluation.backtest",
    "evaluate_bar": "evaluation.criteria",
    "diebold_mariano": "evaluation.significance",
    "write_metrics_json": "evaluation.metrics_io",
    "write_report": "evaluation.report",
    "DemoConfig": "recipes",
    "run_demo": "recipes",
    "evaluate_run": "recipes",
    "predict_run": "recipes",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ml_attention_mechanisms' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # cache: the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
