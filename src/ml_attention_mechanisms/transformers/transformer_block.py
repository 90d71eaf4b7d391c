"""Transformer encoder and decoder blocks (Vaswani et al. 2017, https://arxiv.org/abs/1706.03762).

Options: pre-norm (Xiong et al. 2020, https://arxiv.org/abs/2002.04745) or post-norm; LayerNorm or RMSNorm;
plain GELU or gated (SwiGLU / GeGLU) MLP; dropout; stochastic depth (Huang et al. 2016,
https://arxiv.org/abs/1603.09382) and gradient checkpointing (non-reentrant, RNG state preserved, so the
gradients equal those computed without it).

Attention always goes through :class:`~ml_attention_mechanisms.attention.MultiHeadAttention` (and so the
library's single kernel dispatch).

Shapes:
    ``B`` batch, ``T`` bars (queries), ``S`` memory length, ``H`` heads, ``d_model`` width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..attention._masks import PreparedMask
from ..attention.multi_head_attention import MultiHeadAttention
from ..config import AttentionConfig, check_field
from ._dropout import Dropout
from ._mlp import ACTIVATIONS, FeedForward
from ._norms import NORM_TYPES, make_norm

__all__ = [
    "DropPath",
    "TransformerBlockConfig",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
    "stochastic_depth_rates",
]


@dataclass(frozen=True, slots=True)
class TransformerBlockConfig:
    """Configuration of one encoder or decoder block.

    Args:
        d_model: width. Default: 512.
        num_heads: attention heads; must divide ``d_model``. Default: 8.
        d_ff: MLP hidden width; ``None`` = ``4 * d_model``. Default: None.
        dropout: dropout on the residual branches and MLP hidden units, in [0, 1). Default: 0.1.
        attn_dropout: dropout on the attention weights, in [0, 1). Default: 0.0.
        norm_first: pre-norm (``x + f(norm(x))``) when True, post-norm (``norm(x + f(x))``) when False.
            Default: True.
        norm_type: ``"layernorm"`` or ``"rmsnorm"``. Default: "layernorm".
        activation: ``"gelu"``, ``"swiglu"`` or ``"geglu"``. Default: "gelu".
        drop_path_rate: stochastic-depth probability of skipping this block's residual branches for a
            sample (training only), in [0, 1). Default: 0.0.
        causal: self-attention is causal. Default: False.
        use_flash_attn: fused kernels allowed (see :class:`AttentionConfig`). Default: True.
        use_gradient_checkpointing: recompute the block in the backward pass (training only). Default: False.
        norm_eps: epsilon of the norms. Default: 1e-5.

    Raises:
        ValueError: a field breaks its rule (message names field, value and rule).
    """

    d_model: int = 512
    num_heads: int = 8
    d_ff: int | None = None  # None -> 4 * d_model, the paper's ratio
    dropout: float = 0.1
    attn_dropout: float = 0.0
    norm_first: bool = True  # pre-norm trains stably without warm-up (Xiong et al. 2020)
    norm_type: str = "layernorm"
    activation: str = "gelu"
    drop_path_rate: float = 0.0
    causal: bool = False
    use_flash_attn: bool = True
    use_gradient_checkpointing: bool = False
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        n = "TransformerBlockConfig"
        check_field(
            isinstance(self.d_model, int) and self.d_model > 0,
            n,
            "d_model",
            self.d_model,
            "must be a positive int",
        )
        check_field(
            isinstance(self.num_heads, int) and self.num_heads > 0 and self.d_model % self.num_heads == 0,
            n,
            "num_heads",
            self.num_heads,
            f"must be a positive int dividing d_model ({self.d_model})",
        )
        if self.d_ff is not None:
            check_field(
                isinstance(self.d_ff, int) and self.d_ff > 0, n, "d_ff", self.d_ff, "must be a positive int"
            )
        for name in ("dropout", "attn_dropout", "drop_path_rate"):
            value = getattr(self, name)
            check_field(0.0 <= value < 1.0, n, name, value, "must be in [0, 1)")
        check_field(
            self.norm_type in NORM_TYPES, n, "norm_type", self.norm_type, f"must be one of {NORM_TYPES}"
        )
        check_field(
            self.activation in ACTIVATIONS, n, "activation", self.activation, f"must be one of {ACTIVATIONS}"
        )
        check_field(self.norm_eps > 0, n, "norm_eps", self.norm_eps, "must be positive")

    @property
    def hidden_dim(self) -> int:
        """MLP hidden width (``d_ff`` or ``4 * d_model``)."""
        return self.d_ff if self.d_ff is not None else 4 * self.d_model

    def attention_config(self, *, causal: bool | None = None) -> AttentionConfig:
        """The :class:`AttentionConfig` of this block's attention layers."""
        return AttentionConfig(
            d_model=self.d_model,
            num_heads=self.num_heads,
            dropout=self.attn_dropout,
            use_flash_attn=self.use_flash_attn,
            causal=self.causal if causal is None else causal,
        )


def stochastic_depth_rates(rate: float, num_layers: int) -> list[float]:
    """Linear decay rule of Huang et al. 2016: layer ``l`` (1-based) of ``L`` drops with ``rate * l / L``.

    The first block is almost always kept, the last drops with ``rate``.

    Examples:
        >>> stochastic_depth_rates(0.2, 4)
        [0.05, 0.1, 0.15000000000000002, 0.2]
    """
    return [rate * (i + 1) / num_layers for i in range(num_layers)]


class DropPath(nn.Module):
    """Stochastic depth: zero a residual branch for whole samples with probability ``p`` (training only).

    Kept samples are scaled by ``1 / (1 - p)`` so that the expectation is unchanged.
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.dim() - 1)  # one draw per sample
        mask = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _Residual(nn.Module):
    """``norm``, dropout and drop-path around one sub-layer, pre- or post-norm."""

    def __init__(self, config: TransformerBlockConfig) -> None:
        super().__init__()
        self.norm_first = config.norm_first
        self.norm = make_norm(config.norm_type, config.d_model, config.norm_eps)
        self.dropout = Dropout(config.dropout)
        self.drop_path = DropPath(config.drop_path_rate)

    def pre(self, x: Tensor) -> Tensor:
        return self.norm(x) if self.norm_first else x

    def post(self, x: Tensor, branch: Tensor) -> Tensor:
        if self.drop_path.p == 0.0 or not self.training:
            out = self.dropout.add_to(x, branch)  # x + dropout(branch), fused
        else:
            out = x + self.drop_path(self.dropout(branch))
        return out if self.norm_first else self.norm(out)


class _CheckpointMixin(nn.Module):
    gradient_checkpointing: bool

    def _maybe_checkpoint(self, need_weights: bool) -> bool:
        return self.gradient_checkpointing and self.training and torch.is_grad_enabled() and not need_weights


class TransformerEncoderBlock(_CheckpointMixin):
    """Self-attention + MLP block.

    Args:
        config: :class:`TransformerBlockConfig`.
        rotary: optional rotary encoding handed to the attention layer.

    Examples:
        >>> block = TransformerEncoderBlock(TransformerBlockConfig(d_model=32, num_heads=4))
        >>> block(torch.randn(2, 7, 32)).shape
        torch.Size([2, 7, 32])
    """

    def __init__(self, config: TransformerBlockConfig, *, rotary: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config
        self.gradient_checkpointing = config.use_gradient_checkpointing
        self.attn = MultiHeadAttention(config.attention_config(), rotary=rotary)
        self.attn_res = _Residual(config)
        self.mlp = FeedForward(
            config.d_model, config.hidden_dim, activation=config.activation, dropout=config.dropout
        )
        self.mlp_res = _Residual(config)

    def _forward(
        self,
        x: Tensor,
        attention_mask: Tensor | PreparedMask | None,
        key_mask: Tensor | None,
        positions: Tensor | None,
        attn_bias: Tensor | None,
        need_weights: bool,
        query_index: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        h = self.attn_res.pre(x)
        if query_index is None:
            res = self.attn(
                h,
                attention_mask=attention_mask,
                need_weights=need_weights,
                key_mask=key_mask,
                positions=positions,
                attn_bias=attn_bias,
            )
        else:  # only these queries: every key and value, their own rows of the mask
            assert isinstance(attention_mask, PreparedMask)
            rows = query_index.unsqueeze(-1).expand(-1, -1, x.shape[-1])  # (B, Q, d)
            q_pos = None
            if positions is not None:
                q_pos = positions[query_index] if positions.dim() == 1 else positions.gather(1, query_index)
            res = self.attn(
                h.gather(1, rows),
                h,
                h,
                attention_mask=attention_mask.select_queries(query_index),
                need_weights=need_weights,
                positions=q_pos,
                key_positions=positions,
            )
            x = x.gather(1, rows)  # (B, Q, d)
        attn_out, weights = res if isinstance(res, tuple) else (res, None)
        x = self.attn_res.post(x, attn_out)
        x = self.mlp_res.post(x, self.mlp(self.mlp_res.pre(x)))
        return x, weights

    def forward(
        self,
        x: Tensor,
        *,
        attention_mask: Tensor | PreparedMask | None = None,
        key_mask: Tensor | None = None,
        positions: Tensor | None = None,
        attn_bias: Tensor | None = None,
        need_weights: bool = False,
        query_index: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Run the block.

        Args:
            x: ``[B, T, d_model]``.
            attention_mask: bool (True = may attend) or additive float, ``[T, T]`` or ``[B, H, T, T]``; or a
                :class:`~ml_attention_mechanisms.attention._masks.PreparedMask` (key mask, causal window and
                bias folded once for a stack of blocks; ``key_mask`` and ``attn_bias`` stay unset then).
            key_mask: bool ``[B, T]``, True = the bar exists.
            positions: rotary positions (``[T]`` or ``[B, T]``) when a rotary encoding is attached.
            attn_bias: additive float bias broadcastable to ``[B, H, T, T]`` (ALiBi).
            need_weights: also return the attention weights ``[B, H, T, T]``.
            query_index: compute the block only at these positions ``[B, Q]`` (int64): their queries
                attend to every key of ``x`` with their own rows of the mask, which must then be a
                ``PreparedMask``; the output is ``[B, Q, d_model]`` (e.g. the last layer of an encoder whose
                model reads one bar). Default: every position.

        Returns:
            ``[B, T, d_model]`` (``[B, Q, d_model]`` with ``query_index``), or ``(output, weights)`` with
            ``need_weights=True``.

        Raises:
            ValueError: ``query_index`` without a ``PreparedMask`` (eager mode).
        """
        if query_index is not None and not isinstance(attention_mask, PreparedMask):
            raise ValueError(
                "TransformerEncoderBlock: query_index needs attention_mask to be a PreparedMask "
                f"(the queries' own mask rows are taken from it), got {type(attention_mask).__name__}"
            )
        if self._maybe_checkpoint(need_weights):
            out, _ = checkpoint(
                self._forward,
                x,
                attention_mask,
                key_mask,
                positions,
                attn_bias,
                False,
                query_index,
                use_reentrant=False,
            )
            return out  # type: ignore[no-any-return]
        out, weights = self._forward(
            x, attention_mask, key_mask, positions, attn_bias, need_weights, query_index
        )
        if need_weights:
            assert weights is not None
            return out, weights
        return out


class TransformerDecoderBlock(_CheckpointMixin):
    """Causal self-attention + cross-attention over a memory + MLP.

    Args:
        config: :class:`TransformerBlockConfig` (its ``causal`` applies to the self-attention; the
            cross-attention is never causal unless a ``memory_mask`` says so).
        rotary: optional rotary encoding for the self-attention.

    Examples:
        >>> block = TransformerDecoderBlock(TransformerBlockConfig(d_model=32, num_heads=4, causal=True))
        >>> block(torch.randn(2, 5, 32), torch.randn(2, 9, 32)).shape
        torch.Size([2, 5, 32])
    """

    def __init__(self, config: TransformerBlockConfig, *, rotary: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config
        self.gradient_checkpointing = config.use_gradient_checkpointing
        self.self_attn = MultiHeadAttention(config.attention_config(), rotary=rotary)
        self.self_res = _Residual(config)
        self.cross_attn = MultiHeadAttention(config.attention_config(causal=False))
        self.cross_res = _Residual(config)
        self.mlp = FeedForward(
            config.d_model, config.hidden_dim, activation=config.activation, dropout=config.dropout
        )
        self.mlp_res = _Residual(config)

    def _forward(
        self,
        x: Tensor,
        memory: Tensor,
        attention_mask: Tensor | None,
        key_mask: Tensor | None,
        memory_mask: Tensor | None,
        memory_key_mask: Tensor | None,
        positions: Tensor | None,
        need_weights: bool,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        weights: dict[str, Tensor] = {}
        res = self.self_attn(
            self.self_res.pre(x),
            attention_mask=attention_mask,
            need_weights=need_weights,
            key_mask=key_mask,
            positions=positions,
        )
        if isinstance(res, tuple):
            res, weights["self"] = res
        x = self.self_res.post(x, res)
        res = self.cross_attn(
            self.cross_res.pre(x),
            memory,
            attention_mask=memory_mask,
            need_weights=need_weights,
            key_mask=memory_key_mask,
        )
        if isinstance(res, tuple):
            res, weights["cross"] = res
        x = self.cross_res.post(x, res)
        x = self.mlp_res.post(x, self.mlp(self.mlp_res.pre(x)))
        return x, weights

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        *,
        attention_mask: Tensor | None = None,
        key_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        memory_key_mask: Tensor | None = None,
        positions: Tensor | None = None,
        need_weights: bool = False,
    ) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """Run the block.

        Args:
            x: targets ``[B, T, d_model]``.
            memory: encoder output ``[B, S, d_model]``.
            attention_mask: self-attention mask ``[T, T]`` or ``[B, H, T, T]`` (True = may attend).
            key_mask: bool ``[B, T]``, True = the target position exists.
            memory_mask: cross-attention mask ``[T, S]`` or ``[B, H, T, S]``.
            memory_key_mask: bool ``[B, S]``, True = the memory position exists.
            positions: rotary positions of ``x``.
            need_weights: also return ``{"self": [B, H, T, T], "cross": [B, H, T, S]}``.

        Returns:
            ``[B, T, d_model]``, or ``(output, weights dict)`` with ``need_weights=True``.
        """
        if self._maybe_checkpoint(need_weights):
            out, _ = checkpoint(
                self._forward,
                x,
                memory,
                attention_mask,
                key_mask,
                memory_mask,
                memory_key_mask,
                positions,
                False,
                use_reentrant=False,
            )
            return out  # type: ignore[no-any-return]
        out, weights = self._forward(
            x, memory, attention_mask, key_mask, memory_mask, memory_key_mask, positions, need_weights
        )
        return (out, weights) if need_weights else out
