"""``create_positional_encoding``: one factory for the transformer config's ``pos_encoding_type`` values."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..config import replace_config
from ._base import PositionalEncoding
from .learnable_encoding import AdaptivePositionalEncoding, LearnablePositionalEncoding
from .positional_encoding import (
    ALiBiEncoding,
    LearnedPositionalEncoding,
    RoPEEncoding,
    SinusoidalPositionalEncoding,
)
from .temporal_encoding import CryptoPositionalEncoding, MarketTimeConfig

__all__ = ["POSITIONAL_ENCODING_KINDS", "create_positional_encoding"]


def _check_kwargs(
    kind: str, fn: Callable[..., Any], kwargs: dict[str, Any], extra: tuple[str, ...] = ()
) -> None:
    params = [p for p in inspect.signature(fn).parameters if p not in ("self", "d_model", "num_heads")]
    valid = [*params, *extra]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise TypeError(
            f"create_positional_encoding({kind!r}) got unknown argument(s) {', '.join(unknown)}; "
            f"valid: {', '.join(valid) or '(none)'}"
        )


def _sinusoidal(d_model: int, num_heads: int, max_seq_len: int, **kw: Any) -> PositionalEncoding:
    _check_kwargs("sinusoidal", SinusoidalPositionalEncoding.__init__, kw)
    return SinusoidalPositionalEncoding(d_model, max_seq_len=max_seq_len, **kw)


def _learned(d_model: int, num_heads: int, max_seq_len: int, **kw: Any) -> PositionalEncoding:
    _check_kwargs("learned", LearnedPositionalEncoding.__init__, kw)
    return LearnedPositionalEncoding(d_model, max_seq_len=max_seq_len, **kw)


def _rope(d_model: int, num_heads: int, max_seq_len: int, **kw: Any) -> PositionalEncoding:
    _check_kwargs("rope", RoPEEncoding.__init__, kw)
    return RoPEEncoding(d_model, num_heads, **kw)


def _alibi(d_model: int, num_heads: int, max_seq_len: int, **kw: Any) -> PositionalEncoding:
    _check_kwargs("alibi", ALiBiEncoding.__init__, kw)
    return ALiBiEncoding(d_model, num_heads, **kw)


def _crypto(d_model: int, num_heads: int, max_seq_len: int, **kw: Any) -> PositionalEncoding:
    own = {k: kw.pop(k) for k in ("time_unit_seconds", "unit") if k in kw}
    config = kw.pop("config", None) or MarketTimeConfig()
    if kw:
        config = replace_config(config, **kw)  # unknown keys: TypeError naming the valid fields
    return CryptoPositionalEncoding(d_model, num_heads, config, **own)


def _learnable(d_model: int, num_heads: int, max_seq_len: int, **kw: Any) -> PositionalEncoding:
    _check_kwargs("learnable", LearnablePositionalEncoding.__init__, kw)
    return LearnablePositionalEncoding(d_model, **kw)


def _adaptive(d_model: int, num_heads: int, max_seq_len: int, **kw: Any) -> PositionalEncoding:
    _check_kwargs("adaptive", AdaptivePositionalEncoding.__init__, kw)
    return AdaptivePositionalEncoding(d_model, **kw)


_BUILDERS: dict[str, Callable[..., PositionalEncoding]] = {
    "sinusoidal": _sinusoidal,
    "learned": _learned,
    "rope": _rope,
    "alibi": _alibi,
    "crypto": _crypto,
    "learnable": _learnable,
    "adaptive": _adaptive,
}
POSITIONAL_ENCODING_KINDS: tuple[str, ...] = tuple(_BUILDERS)


def create_positional_encoding(
    kind: str, *, d_model: int, num_heads: int, max_seq_len: int = 4096, **kwargs: Any
) -> PositionalEncoding:
    """Build the :class:`PositionalEncoding` for a ``pos_encoding_type``.

    Args:
        kind: ``"sinusoidal"``, ``"learned"`` (absolute, added to ``x``), ``"rope"`` (rotary, via
            ``pe.rotary`` and ``pe.rotary_positions``), ``"alibi"`` (bias, via ``pe.attention_bias``),
            ``"crypto"`` (market time added to ``x`` + time-aware ALiBi bias), ``"learnable"``
            (learnable Fourier features of position or elapsed time), ``"adaptive"`` (content-gated).
        d_model: model width.
        num_heads: attention heads (rope: head width ``d_model / num_heads``; alibi/crypto: slopes).
        max_seq_len: table length of the absolute encodings. Default: 4096.
        **kwargs: passed to the class (e.g. ``time_aware``, ``time_unit_seconds``, ``unit``; for
            ``"crypto"`` also the :class:`MarketTimeConfig` fields).

    Raises:
        ValueError: unknown ``kind`` (the message lists the valid names) or a bad value.
        TypeError: an argument the chosen kind does not take (the message lists the valid ones).

    Examples:
        >>> pe = create_positional_encoding("rope", d_model=32, num_heads=4)
        >>> pe.rotary is not None, pe.attention_bias(3, 3) is None
        (True, True)
    """
    builder = _BUILDERS.get(kind) if isinstance(kind, str) else None
    if builder is None:
        raise ValueError(
            f"Unknown positional encoding kind {kind!r}; valid: {', '.join(POSITIONAL_ENCODING_KINDS)}"
        )
    return builder(d_model, num_heads, max_seq_len, **kwargs)
