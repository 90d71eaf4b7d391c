"""Attention mechanisms; every kernel call goes through :mod:`._dispatch`."""

from ._dispatch import attend, attention_backend, explain_dispatch, record_dispatch
from .causal_attention import CausalAttention, KVCache
from .cross_attention import (
    CrossAssetAttention,
    CrossAttention,
    CrossAttentionConfig,
    MultiModalCrossAttention,
)
from .multi_head_attention import MultiHeadAttention
from .reference import reference_attention
from .self_attention import (
    ChunkedAttention,
    CryptoMultiHeadAttention,
    LinearAttention,
    SelfAttention,
    choose_chunk_size,
)

__all__ = [
    "CausalAttention",
    "ChunkedAttention",
    "CrossAssetAttention",
    "CrossAttention",
    "CrossAttentionConfig",
    "CryptoMultiHeadAttention",
    "KVCache",
    "LinearAttention",
    "MultiHeadAttention",
    "MultiModalCrossAttention",
    "SelfAttention",
    "attend",
    "attention_backend",
    "choose_chunk_size",
    "explain_dispatch",
    "record_dispatch",
    "reference_attention",
]
