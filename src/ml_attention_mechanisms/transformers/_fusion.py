"""Input-side fusion modules of the trading transformer: timeframes and modalities.

Shapes:
    ``B`` batch, ``T`` bars, ``M`` modalities, ``d`` = ``d_model``, ``H`` heads.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..attention._masks import causal_mask, is_tracing
from ..attention.multi_head_attention import MultiHeadAttention
from ..config import AttentionConfig
from ._norms import make_norm
from ._timeframes import causal_trailing_mean

__all__ = ["CrossModalFusion", "TimeframeFusion"]


class TimeframeFusion(nn.Module):
    """Add a learned mix of causal trailing-mean views of the sequence at several bar ratios.

    ``h + W [pool_r1(h); pool_r2(h); ...]`` where ``pool_r`` is the mean of the last ``r`` present bars.

    Args:
        d_model: width.
        ratios: base bars per timeframe bar (1 = the base timeframe itself).
    """

    def __init__(self, d_model: int, ratios: tuple[int, ...]) -> None:
        super().__init__()
        self.ratios = tuple(ratios)
        self.proj = nn.Linear(d_model * len(self.ratios), d_model)

    def forward(self, h: Tensor, present: Tensor | None) -> Tensor:
        views = [causal_trailing_mean(h, r, present) for r in self.ratios]  # each (B, T, d)
        return h + self.proj(torch.cat(views, dim=-1))


class CrossModalFusion(nn.Module):
    """Each bar attends to the modality tokens (``price``, ``volume``, ...) of bars up to itself.

    Keys are the concatenation over the given modalities of ``data[m] + embedding[m]`` (``[B, M*T, d]``);
    with ``causal`` the token of bar ``s`` is visible to bar ``t`` only if ``s <= t``; tokens of missing
    bars are never visible. Pre-norm residual: ``h + dropout(attn(norm(h), tokens))``.

    Args:
        modalities: declared names, in key order.
        attention: :class:`AttentionConfig` of the cross-attention.
        norm_type: ``"layernorm"`` or ``"rmsnorm"``.
        dropout: residual dropout.
    """

    def __init__(
        self, modalities: tuple[str, ...], attention: AttentionConfig, *, norm_type: str, dropout: float
    ) -> None:
        super().__init__()
        self.modalities = tuple(modalities)
        self.d_model = attention.d_model
        self.embedding = nn.Parameter(torch.zeros(len(self.modalities), attention.d_model))
        nn.init.normal_(self.embedding, std=0.02)
        self.norm = make_norm(norm_type, attention.d_model)
        self.attn = MultiHeadAttention(attention)
        self.dropout = nn.Dropout(dropout)

    def check(self, modality_data: dict[str, Tensor], batch: int, seq_len: int) -> None:
        """Raise ``ValueError`` for undeclared names or wrong shapes."""
        unknown = sorted(set(modality_data) - set(self.modalities))
        if unknown:
            raise ValueError(
                f"modality_data has undeclared modality name(s) {unknown}; declared: {list(self.modalities)} "
                "(TradingTransformerConfig.modalities)"
            )
        if not modality_data:
            raise ValueError(f"modality_data is empty; pass some of {list(self.modalities)} or None")
        want = (batch, seq_len, self.d_model)
        for name, t in modality_data.items():
            if tuple(t.shape) != want:
                raise ValueError(
                    f"modality_data[{name!r}] must be [batch, seq, d_model] = {want}, got {tuple(t.shape)}"
                )

    def forward(
        self,
        h: Tensor,
        modality_data: dict[str, Tensor],
        *,
        present: Tensor | None,
        causal: bool,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        b, t, _ = h.shape
        if not is_tracing():
            self.check(modality_data, b, t)
        names = [m for m in self.modalities if m in modality_data]
        tokens = []
        for i, name in enumerate(self.modalities):
            if name in modality_data:
                data = modality_data[name].to(h.dtype)
                if present is not None:  # missing bars: never attended, and NaN-safe
                    data = torch.where(present.unsqueeze(-1), data, torch.zeros_like(data))
                tokens.append(data + self.embedding[i].to(h.dtype))
        kv = torch.cat(tokens, dim=1)  # (B, M*T, d)
        m = len(names)
        attn_mask = causal_mask(t, t, device=h.device).repeat(1, m) if causal else None  # (T, M*T)
        key_mask = present.repeat(1, m) if present is not None else None  # (B, M*T)
        res = self.attn(
            self.norm(h), kv, kv, attention_mask=attn_mask, need_weights=need_weights, key_mask=key_mask
        )
        out, weights = res if isinstance(res, tuple) else (res, None)
        return h + self.dropout(out), weights
