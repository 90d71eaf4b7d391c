"""Dropout whose CPU mask costs one random-number draw per element instead of two.

``nn.Dropout`` on the CPU draws its mask with ``bernoulli_``, one 64-bit draw (two Mersenne-Twister steps,
serially) per element, a large share of a small model's training step. :class:`Dropout` draws a float32
uniform per element (one 32-bit step, 24 random bits, as ``torch.rand``) and keeps where it is ``>= p``: the
same distribution (keep with probability ``1 - p`` up to ``2**-24``, kept values scaled by ``1 / (1 - p)``,
drawn from the global generator, so seeds and gradient checkpointing replay it), at about half the cost. On
other devices, and in place, it is ``nn.Dropout``.

Shapes:
    any; the output has the input's shape and dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["Dropout"]


class Dropout(nn.Dropout):
    """Inverted dropout (Srivastava et al. 2014, https://jmlr.org/papers/v15/srivastava14a.html).

    Args:
        p: probability of zeroing an element, in [0, 1). Default: 0.5.
        inplace: as ``nn.Dropout`` (then ``nn.Dropout``'s own kernel runs). Default: False.

    >>> drop = Dropout(0.1).train()
    >>> y = drop(torch.ones(1000))
    >>> bool(((y == 0) | (y == 1 / 0.9)).all())
    True
    """

    def forward(self, input: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return input  # the identity, without a dispatch
        if self.inplace or input.device.type != "cpu":
            return super().forward(input)
        keep = torch.empty(input.shape, dtype=torch.float32).uniform_().ge_(self.p)  # (...): 1.0 or 0.0
        noise = keep.to(input.dtype).div_(1.0 - self.p)  # as nn.Dropout: the kept scale in the input's dtype
        return input * noise
