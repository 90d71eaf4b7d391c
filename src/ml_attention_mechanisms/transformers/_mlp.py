"""Position-wise feed-forward networks: plain GELU and the gated variants SwiGLU / GeGLU.

Gated variants follow Shazeer 2020 (https://arxiv.org/abs/2002.05202): ``W2 (act(W1 x) * (V x))``. The
hidden width is used as given (no 2/3 rescaling), so ``d_ff`` means the same thing for every variant; the
gated ones then hold 1.5x the parameters of the plain MLP.

Shapes:
    ``[B, T, d_model]`` in and out; hidden ``[B, T, d_ff]``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ._dropout import Dropout

__all__ = ["ACTIVATIONS", "FeedForward"]

ACTIVATIONS: tuple[str, ...] = ("gelu", "swiglu", "geglu")


class FeedForward(nn.Module):
    """Two-layer MLP, optionally gated.

    Args:
        d_model: input and output width.
        d_ff: hidden width.
        activation: ``"gelu"`` (``W2 gelu(W1 x)``), ``"swiglu"`` (SiLU gate) or ``"geglu"`` (GELU gate).
            Default: "gelu".
        dropout: dropout on the hidden activations. Default: 0.0.
        bias: biases in the linear layers. Default: True.

    Raises:
        ValueError: unknown ``activation``.

    Examples:
        >>> import torch
        >>> FeedForward(16, 32, activation="swiglu")(torch.randn(2, 5, 16)).shape
        torch.Size([2, 5, 16])
    """

    def __init__(
        self, d_model: int, d_ff: int, *, activation: str = "gelu", dropout: float = 0.0, bias: bool = True
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r}: must be one of {', '.join(ACTIVATIONS)}")
        self.activation = activation
        self.gated = activation != "gelu"
        # Gated: one matmul produces [value; gate] (B, T, 2*d_ff).
        self.w_in = nn.Linear(d_model, d_ff * (2 if self.gated else 1), bias=bias)
        self.w_out = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = self.w_in(x)
        if self.gated:
            value, gate = h.chunk(2, dim=-1)  # (B, T, d_ff) each
            act = F.silu(gate) if self.activation == "swiglu" else F.gelu(gate)
            h = act * value
        else:
            h = F.gelu(h)
        return self.w_out(self.dropout(h))
