"""Market data: real exports in, leakage-free model tensors out (see ARCHITECTURE.md and the README).

Reading: :func:`load_ohlcv` (with a :class:`QualityReport`; bad input raises :class:`DataValidationError`).
"""

from .loader import load_ohlcv
from .validation import DataValidationError, QualityReport, validate_ohlcv

__all__ = ["DataValidationError", "QualityReport", "load_ohlcv", "validate_ohlcv"]
