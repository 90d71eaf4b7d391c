"""Attention mechanisms; every kernel call goes through :mod:`._dispatch`."""

from ._dispatch import attend, attention_backend, explain_dispatch
from .multi_head_attention import MultiHeadAttention
from .reference import reference_attention

__all__ = ["MultiHeadAttention", "attend", "attention_backend", "explain_dispatch", "reference_attention"]
