"""Deployment: export (ONNX, TorchScript, ``torch.export``) and live inference (:class:`StreamingPredictor`)."""

from __future__ import annotations

from .export import (
    EXPORT_FORMATS,
    ExportCheckError,
    ExportResult,
    export_model,
    export_onnx,
    export_program,
    export_torchscript,
)
from .streaming import StreamingConfig, StreamingPredictor

__all__ = [
    "EXPORT_FORMATS",
    "ExportCheckError",
    "ExportResult",
    "StreamingConfig",
    "StreamingPredictor",
    "export_model",
    "export_onnx",
    "export_program",
    "export_torchscript",
]
