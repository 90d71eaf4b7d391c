"""Dropout whose CPU mask costs a quarter of ``nn.Dropout``'s random-number generation.

``nn.Dropout`` on the CPU draws its mask with ``bernoulli_``: one 64-bit Mersenne-Twister draw per element,
serially, a large share of a small model's training step. :class:`Dropout` takes 32 random bits per element
from a 64-bit SFC64 stream (O'Neill's small fast counting generator, as NumPy ships it: two elements per
draw, about a nanosecond each) and keeps an element when its bits lie in a set of probability ``1 - p``
(exact to ``2**-32``); kept values are scaled by ``1 / (1 - p)`` as ``nn.Dropout`` does. The stream is
seeded from PyTorch's global generator at each call, so ``torch.manual_seed`` and gradient checkpointing
(which replays that generator) decide the mask. On other devices, in place, and for ``p`` above ``1 - 2**-32``
it is ``nn.Dropout``.

Shapes:
    any; the output has the input's shape and dtype.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["Dropout", "keep_mask"]


def keep_mask(shape: torch.Size, p: float) -> Tensor:
    """A CPU bool tensor of ``shape``, each element True with probability ``1 - p`` (to ``2**-32``)."""
    n = shape.numel()
    seed = int(torch.randint(0, 2**62, (1,)))  # from the global generator: seeds and checkpoints replay it
    bits = np.random.SFC64(seed).random_raw((n + 1) // 2)  # (ceil(n/2),) uint64: two 32-bit lanes each
    lanes = torch.from_numpy(bits).view(torch.int32)[:n]  # uniform over the int32 range
    drop_below = round(p * 2**32) - 2**31  # P(lane < drop_below) = p
    return (lanes >= drop_below).view(shape)


class Dropout(nn.Dropout):
    """Inverted dropout (Srivastava et al. 2014, https://jmlr.org/papers/v15/srivastava14a.html).

    Args:
        p: probability of zeroing an element, in [0, 1]. Default: 0.5.
        inplace: as ``nn.Dropout`` (then ``nn.Dropout``'s own kernel runs). Default: False.

    >>> drop = Dropout(0.1).train()
    >>> y = drop(torch.ones(1000))
    >>> bool(((y == 0) | (y == 1 / 0.9)).all())
    True
    """

    def _fast(self, input: Tensor) -> bool:
        return not self.inplace and input.device.type == "cpu" and self.p <= 1.0 - 2.0**-32

    def _noise(self, input: Tensor) -> Tensor:
        """``1 / (1 - p)`` (in the input's dtype, as ``nn.Dropout`` computes it) where kept, else 0."""
        # (bool -> dtype, then scaled in place: a bool tensor times a scale is a slow, unvectorised cast)
        return keep_mask(input.shape, self.p).to(input.dtype).div_(1.0 - self.p)

    def forward(self, input: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return input  # the identity, without a dispatch
        if not self._fast(input):
            return super().forward(input)
        return input * self._noise(input)

    def add_to(self, x: Tensor, branch: Tensor) -> Tensor:
        """``x + self(branch)``, in one pass on the CPU (a residual connection)."""
        if not self.training or self.p == 0.0:
            return x + branch
        if not self._fast(branch):
            return x + super().forward(branch)
        return torch.addcmul(x, branch, self._noise(branch))
