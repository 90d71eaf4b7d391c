"""Public configuration dataclasses.

Every config is a frozen dataclass validated on construction: a bad value raises ``ValueError`` naming
the field, the value and the rule. Overrides go through :func:`replace_config`, which rejects unknown
keys with a ``TypeError`` listing the valid field names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["AttentionConfig", "check_field", "replace_config"]

_C = TypeVar("_C")


def check_field(ok: bool, cls_name: str, name: str, value: Any, rule: str) -> None:
    """Raise ``ValueError("Cls.name=value: rule")`` unless ``ok``.

    The one helper every config uses, so that every message has the same shape.
    """
    if not ok:
        raise ValueError(f"{cls_name}.{name}={value!r}: {rule}")


def replace_config(config: _C, **overrides: Any) -> _C:
    """``dataclasses.replace`` that names unknown keys and the valid ones.

    Raises:
        TypeError: a key is not a field of ``config``.
    """
    names = [f.name for f in dataclasses.fields(config)]  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise TypeError(
            f"{type(config).__name__} got unknown field(s) {', '.join(unknown)}; valid: {', '.join(names)}"
        )
    return dataclasses.replace(config, **overrides)  # type: ignore[type-var]


@dataclass(frozen=True, slots=True)
class AttentionConfig:
    """Configuration of one multi-head attention layer.

    Args:
        d_model: model width. Default: 512.
        num_heads: query heads; must divide ``d_model``. Default: 8.
        dropout: dropout on the attention weights, in [0, 1). Default: 0.0.
        use_flash_attn: fast fused kernels (SDPA flash / memory-efficient, or the ``flash-attn`` package on
            CUDA when installed) are allowed and preferred. Never forced: asking for weights takes the exact
            math path. ``False`` always takes the math path. Default: True.
        num_kv_heads: key/value heads; ``None`` = ``num_heads`` (MHA), fewer = grouped-query attention.
        bias: biases in the input and output projections. Default: True.
        causal: each query attends only to keys at or before its position (bottom-right aligned when the
            query is shorter than the keys, as in cached decoding). Default: False.
        sliding_window: with ``causal``, attend only to the last ``sliding_window`` positions (the query's
            own included). ``None`` = unlimited. Default: None.
        max_seq_len: longest key sequence accepted (``None`` = no limit). Default: None.
        scale: softmax scale; ``None`` = ``1/sqrt(head_dim)``. Default: None.

    Raises:
        ValueError: a field breaks its rule; the message names the field, value and rule.
    """

    d_model: int = 512
    num_heads: int = 8
    dropout: float = 0.0
    use_flash_attn: bool = True  # fast kernels allowed and preferred, never forced
    num_kv_heads: int | None = None  # None -> MHA; fewer -> GQA
    bias: bool = True
    causal: bool = False  # the causal variants set it
    sliding_window: int | None = None  # bounded memory when streaming forever (a rolling window)
    max_seq_len: int | None = None
    scale: float | None = None

    def __post_init__(self) -> None:
        n = "AttentionConfig"
        check_field(
            isinstance(self.d_model, int) and self.d_model > 0,
            n,
            "d_model",
            self.d_model,
            "must be a positive int",
        )
        check_field(
            isinstance(self.num_heads, int) and self.num_heads > 0,
            n,
            "num_heads",
            self.num_heads,
            "must be a positive int",
        )
        check_field(
            self.d_model % self.num_heads == 0,
            n,
            "num_heads",
            self.num_heads,
            f"must divide d_model ({self.d_model})",
        )
        check_field(0.0 <= self.dropout < 1.0, n, "dropout", self.dropout, "must be in [0, 1)")
        if self.num_kv_heads is not None:
            check_field(
                isinstance(self.num_kv_heads, int)
                and self.num_kv_heads > 0
                and self.num_heads % self.num_kv_heads == 0,
                n,
                "num_kv_heads",
                self.num_kv_heads,
                f"must be a positive int dividing num_heads ({self.num_heads})",
            )
        if self.sliding_window is not None:
            check_field(
                isinstance(self.sliding_window, int) and self.sliding_window >= 1,
                n,
                "sliding_window",
                self.sliding_window,
                "must be a positive int or None",
            )
            check_field(self.causal, n, "sliding_window", self.sliding_window, "requires causal=True")
        if self.max_seq_len is not None:
            check_field(
                isinstance(self.max_seq_len, int) and self.max_seq_len >= 1,
                n,
                "max_seq_len",
                self.max_seq_len,
                "must be a positive int or None",
            )
        if self.scale is not None:
            check_field(self.scale > 0, n, "scale", self.scale, "must be positive or None")

    @property
    def head_dim(self) -> int:
        """Width of one head: ``d_model // num_heads``."""
        return self.d_model // self.num_heads

    @property
    def kv_heads(self) -> int:
        """Number of key/value heads (``num_kv_heads`` or ``num_heads``)."""
        return self.num_kv_heads if self.num_kv_heads is not None else self.num_heads
