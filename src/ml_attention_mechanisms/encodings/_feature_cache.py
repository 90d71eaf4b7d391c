"""A per-timestamp cache for features that are fixed functions of time (the market-time features).

The calendar, trading-session, funding, halving and seasonal features of a bar depend on its timestamp alone, and a
model meets the same timestamps again and again: every training epoch, the sliding windows of a stream
(each new window shares all but one bar with the last), a batch of assets on one time grid. Computing them
costs a few hundred small tensor operations per call, whatever the number of bars, which dominates a
batch-1 forward. :class:`TimestampFeatureCache` keeps the features of the timestamps it has seen, sorted,
and answers a call with one ``searchsorted`` and one gather when every timestamp is known.

On a miss it computes the unknown timestamps and, since bars sit on a grid (spacing: the smallest gap between
the call's timestamps), every grid point between the call's first and last timestamp (when that fits in half
the cache: a training batch drawn across a dataset fills it once) and the next ``ahead`` grid points after the
newest one, so that a stream keeps hitting. These are values of a fixed function of time, not data: nothing
about later bars is read. The
cached rows are the rows the function returns (it is elementwise), so cached and computed features are the
same bit for bit (tested). The cache holds at most ``max_entries`` timestamps (then it starts afresh), lives
on the device of its last call, and is bypassed while tracing or exporting. Threads may share it: its keys
and values are replaced together, so a call never reads one without the other.

Shapes:
    ``S`` any shape of timestamps, ``K`` cached timestamps, ``F`` features.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ._time import MAX_UNIX_SECONDS

__all__ = ["TimestampFeatureCache"]


class TimestampFeatureCache:
    """Features of int64 Unix seconds, remembered per timestamp.

    Args:
        compute: validated seconds ``[1, M]`` -> features ``[1, M, F]`` (elementwise in time).
        max_entries: the most timestamps kept. Default: 65536 (7 years of hourly bars).
        ahead: grid points computed past the newest timestamp of a miss. Default: 256.
    """

    def __init__(
        self, compute: Callable[[Tensor], Tensor], *, max_entries: int = 65536, ahead: int = 256
    ) -> None:
        self.compute = compute
        self.max_entries = max_entries
        self.ahead = ahead
        # (keys (K,) sorted and unique, values (K, F)): replaced as one object, so a call that runs while
        # another thread adds timestamps reads one consistent pair.
        self.state: tuple[Tensor, Tensor] | None = None

    def __len__(self) -> int:
        return 0 if self.state is None else int(self.state[0].numel())

    def clear(self) -> None:
        """Forget every timestamp."""
        self.state = None

    def __call__(self, seconds: Tensor) -> Tensor:
        """Features ``[*S, F]`` of validated int64 Unix seconds ``[*S]``."""
        flat = seconds.reshape(-1).contiguous()  # (numel(S),)
        state = self.state
        rows = self._lookup(state, flat)
        if rows is None:
            state = self._add(state, flat)
            rows = self._lookup(state, flat)
        assert state is not None and rows is not None
        return state[1][rows].view(*seconds.shape, -1)

    @staticmethod
    def _lookup(state: tuple[Tensor, Tensor] | None, flat: Tensor) -> Tensor | None:
        """Rows of ``flat`` in ``state``, or None when one is missing."""
        if state is None or state[0].device != flat.device or flat.numel() == 0:
            return None
        keys = state[0]
        rows = torch.searchsorted(keys, flat).clamp_max(keys.numel() - 1)
        return rows if bool((keys[rows] == flat).all()) else None

    def _grid(self, new: Tensor) -> Tensor:
        """``new`` (sorted, unique) and the grid points it implies: every point of the grid between its first
        and last timestamp when they all lie on one grid and it fits in half the cache (a training batch drawn
        across a dataset then fills the cache once), and the next ``ahead`` points after the last one."""
        if new.numel() < 2:
            return new
        step = int(torch.diff(new).min())
        first, last = int(new[0]), int(new[-1])
        points = (last - first) // step + 1
        if points <= self.max_entries // 2 and bool(((new - first) % step == 0).all()):
            new = torch.arange(first, last + 1, step, device=new.device)  # the whole span of the grid
        ahead = last + step * torch.arange(1, self.ahead + 1, device=new.device)
        return torch.cat((new, ahead[ahead <= MAX_UNIX_SECONDS]))

    def _add(self, state: tuple[Tensor, Tensor] | None, flat: Tensor) -> tuple[Tensor, Tensor]:
        new = self._grid(torch.unique(flat))  # sorted
        if (
            state is None
            or state[0].device != new.device
            or state[0].numel() + new.numel() > self.max_entries
        ):
            state = None  # empty, moved, or full: start afresh
        else:
            new = new[~torch.isin(new, state[0])]
        computed = self.compute(new.unsqueeze(0))[0]  # (M, F)
        if state is None:
            merged = (new, computed)
        else:
            keys = torch.cat((state[0], new))
            order = torch.argsort(keys)
            merged = (keys[order], torch.cat((state[1], computed))[order])
        self.state = merged
        return merged
