"""What attention heads do: entropy, reach, sparsity and redundancy, from the weights of any model.

Shapes:
    ``B`` batch, ``H`` heads, ``Tq`` queries, ``Tk`` keys. Weights are ``[B, H, Tq, Tk]`` (or ``[H, Tq, Tk]``,
    read as ``B = 1``), each row a distribution over keys; a row of zeros is a query that could attend to
    nothing (fully masked) and is left out of every average.

Query ``i`` sits at key position ``i + Tk - Tq`` (bottom-right alignment, as the library's causal masks and
cached decoding use it), so a self-attention map has query ``i`` at key ``i``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["AttentionAnalyzer", "LayerAttentionStats"]


@dataclass(frozen=True)
class LayerAttentionStats:
    """Per-head statistics of one layer (every tensor is float64 on the CPU).

    Attributes:
        entropy: ``[H]`` mean entropy of a query's distribution, in nats.
        distance_bars: ``[H]`` mean attention distance ``sum_k p_qk |pos_q - pos_k|``, in bars.
        distance_seconds: ``[H]`` the same distance in seconds from timestamps, or ``None`` without them.
        sparsity: ``[H]`` fraction of the weights of valid rows below the analyzer's threshold.
        redundancy: ``[H, H]`` cosine similarity between the heads' attention maps (1 on the diagonal).
        head_redundancy: ``[H]`` each head's highest similarity to another head (0 with a single head).
    """

    entropy: Tensor
    distance_bars: Tensor
    distance_seconds: Tensor | None
    sparsity: Tensor
    redundancy: Tensor
    head_redundancy: Tensor

    @property
    def num_heads(self) -> int:
        return int(self.entropy.shape[0])


class AttentionAnalyzer:
    """Per layer and head statistics of attention weights.

    Methods: :meth:`attention_entropy`, :meth:`attention_distance`, :meth:`attention_sparsity`,
    :meth:`head_redundancy` (one layer's weights each), :meth:`analyze_layer` (all four),
    :meth:`analyze` (a model's ``attention_weights`` dict) and :meth:`summary` (one row per layer and head).

    Args:
        sparsity_threshold: a weight below it counts as "not attended" in :meth:`attention_sparsity`.
            Default: 0.01.
        row_sum_tolerance: how far a row's sum may be from 1 (or 0) before the weights are refused.
            Default: 1e-2 (half-precision weights are accepted).

    Raises:
        ValueError: a threshold outside its range.

    Examples:
        >>> analyzer = AttentionAnalyzer()
        >>> w = torch.softmax(torch.randn(2, 4, 8, 8), dim=-1)
        >>> analyzer.analyze({"layer0": w})["layer0"].entropy.shape
        torch.Size([4])
    """

    def __init__(self, sparsity_threshold: float = 0.01, *, row_sum_tolerance: float = 1e-2) -> None:
        if not 0.0 < sparsity_threshold < 1.0:
            raise ValueError(f"sparsity_threshold={sparsity_threshold!r}: must be in (0, 1)")
        if not 0.0 < row_sum_tolerance < 1.0:
            raise ValueError(f"row_sum_tolerance={row_sum_tolerance!r}: must be in (0, 1)")
        self.sparsity_threshold = float(sparsity_threshold)
        self.row_sum_tolerance = float(row_sum_tolerance)

    # -- input checks --------------------------------------------------------------------------------
    def _weights(self, weights: Tensor, name: str = "weights") -> tuple[Tensor, Tensor]:
        """Validated float64 ``[B, H, Tq, Tk]`` weights and the valid-row mask ``[B, H, Tq]``."""
        if not isinstance(weights, Tensor):
            raise ValueError(f"{name} must be a tensor [B, H, Tq, Tk], got {type(weights).__name__}")
        if weights.dim() == 3:
            weights = weights.unsqueeze(0)  # (1, H, Tq, Tk)
        if weights.dim() != 4 or not weights.is_floating_point() or weights.numel() == 0:
            raise ValueError(
                f"{name} must be a non-empty floating tensor [B, H, Tq, Tk] or [H, Tq, Tk], "
                f"got {weights.dtype} of shape {tuple(weights.shape)}"
            )
        w = weights.detach().to("cpu", torch.float64)
        if not torch.isfinite(w).all():
            raise ValueError(f"{name} contains NaN or Inf")
        if (w < 0).any():
            raise ValueError(
                f"{name} has negative entries (min {w.min().item():.3g}); expected probabilities"
            )
        sums = w.sum(dim=-1)  # (B, H, Tq)
        valid = sums > self.row_sum_tolerance
        bad = valid & ((sums - 1.0).abs() > self.row_sum_tolerance)
        if bad.any():
            raise ValueError(
                f"{name}: rows must sum to 1 (or 0 for a fully masked query); "
                f"{int(bad.sum())} rows do not (e.g. {sums[bad][0].item():.4f})"
            )
        return w, valid

    @staticmethod
    def _masked_mean(per_row: Tensor, valid: Tensor) -> Tensor:
        """Mean over batch and queries of ``per_row [B, H, Tq]`` where ``valid``: ``[H]`` (0 if none)."""
        count = valid.sum(dim=(0, 2)).clamp(min=1)
        return (per_row * valid).sum(dim=(0, 2)) / count

    # -- statistics of one layer -------------------------------------------------------------------------
    def attention_entropy(self, weights: Tensor) -> Tensor:
        """Mean entropy ``-sum_k p log p`` (nats, ``0 log 0 = 0``) of each head's query rows: ``[H]``.

        ``0`` is a head that looks at one key; ``log(Tk)`` one that spreads evenly over ``Tk`` keys.
        """
        return self._entropy(*self._weights(weights))

    def _entropy(self, w: Tensor, valid: Tensor) -> Tensor:
        plogp = torch.where(w > 0, w * torch.log(w.clamp(min=1e-300)), torch.zeros_like(w))
        return self._masked_mean(-plogp.sum(dim=-1), valid)

    def attention_distance(
        self,
        weights: Tensor,
        timestamps: Tensor | None = None,
        *,
        query_timestamps: Tensor | None = None,
    ) -> Tensor:
        """Mean distance from a query to what it attends to, ``sum_k p_qk |pos_q - pos_k|``: ``[H]``.

        Args:
            weights: ``[B, H, Tq, Tk]``.
            timestamps: key timestamps ``[B, Tk]`` or ``[Tk]`` (int64 Unix seconds). Given, the distance is
                in seconds; otherwise in bars.
            query_timestamps: ``[B, Tq]`` or ``[Tq]`` for cross-attention. Default: the last ``Tq`` key
                timestamps (self-attention, bottom-right aligned).

        Raises:
            ValueError: timestamps whose shape does not fit the weights.
        """
        w, valid = self._weights(weights)
        return self._distance(w, valid, timestamps, query_timestamps)

    def _distance(
        self, w: Tensor, valid: Tensor, timestamps: Tensor | None, query_timestamps: Tensor | None
    ) -> Tensor:
        b, _, tq, tk = w.shape
        if timestamps is None:
            q_pos = torch.arange(tq, dtype=torch.float64) + (tk - tq)  # bottom-right alignment
            k_pos = torch.arange(tk, dtype=torch.float64)
            dist = (q_pos[:, None] - k_pos[None, :]).abs()  # (Tq, Tk)
        else:
            k_t = self._times(timestamps, b, tk, "timestamps")  # (B, Tk)
            if query_timestamps is None:
                if tq > tk:
                    raise ValueError(f"Tq={tq} > Tk={tk}: pass query_timestamps for these weights")
                q_t = k_t[:, tk - tq :]
            else:
                q_t = self._times(query_timestamps, b, tq, "query_timestamps")
            dist = (q_t[:, :, None] - k_t[:, None, :]).abs()[:, None]  # (B, 1, Tq, Tk)
        return self._masked_mean((w * dist).sum(dim=-1), valid)

    @staticmethod
    def _times(t: Tensor, batch: int, length: int, name: str) -> Tensor:
        if not isinstance(t, Tensor) or t.dim() not in (1, 2) or t.shape[-1] != length:
            shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{name} must be [B, {length}] or [{length}], got {shape}")
        t = t.detach().to("cpu", torch.float64)
        if t.dim() == 1:
            t = t.expand(batch, length)
        if t.shape[0] not in (1, batch):
            raise ValueError(f"{name} has batch {t.shape[0]}, the weights have {batch}")
        return t.expand(batch, length)

    def attention_sparsity(self, weights: Tensor) -> Tensor:
        """Fraction of each head's weights (valid rows, masked keys included) below the threshold: ``[H]``."""
        return self._sparsity(*self._weights(weights))

    def _sparsity(self, w: Tensor, valid: Tensor) -> Tensor:
        below = (w < self.sparsity_threshold).to(torch.float64).mean(dim=-1)  # (B, H, Tq)
        return self._masked_mean(below, valid)

    def head_redundancy(self, weights: Tensor) -> Tensor:
        """Cosine similarity between the heads' maps, each flattened over batch, queries, keys: ``[H, H]``.

        Two heads with similarity near 1 attend alike and one of them may be pruned. A head whose weights are
        all zero has similarity 0 to every head (itself included).
        """
        return self._redundancy(self._weights(weights)[0])

    @staticmethod
    def _redundancy(w: Tensor) -> Tensor:
        flat = w.transpose(0, 1).reshape(w.shape[1], -1)  # (H, B*Tq*Tk)
        norms = flat.norm(dim=1)
        unit = flat / norms.clamp(min=1e-300)[:, None]
        return unit @ unit.T  # (H, H)

    def analyze_layer(
        self,
        weights: Tensor,
        timestamps: Tensor | None = None,
        *,
        query_timestamps: Tensor | None = None,
    ) -> LayerAttentionStats:
        """All statistics of one layer's weights ``[B, H, Tq, Tk]``."""
        w, valid = self._weights(weights)
        redundancy = self._redundancy(w)
        h = redundancy.shape[0]
        others = redundancy.masked_fill(torch.eye(h, dtype=torch.bool), float("-inf"))
        head_red = others.max(dim=1).values if h > 1 else torch.zeros(1, dtype=torch.float64)
        seconds = None
        if timestamps is not None:
            seconds = self._distance(w, valid, timestamps, query_timestamps)
        return LayerAttentionStats(
            entropy=self._entropy(w, valid),
            distance_bars=self._distance(w, valid, None, None),
            distance_seconds=seconds,
            sparsity=self._sparsity(w, valid),
            redundancy=redundancy,
            head_redundancy=head_red,
        )

    # -- a whole model ----------------------------------------------------------------------------------
    def analyze(
        self,
        attention_weights: Mapping[str, Tensor | None],
        timestamps: Tensor | None = None,
    ) -> dict[str, LayerAttentionStats]:
        """Statistics of every layer of a model's ``attention_weights`` dict (layer name -> ``[B, H, Tq, Tk]``).

        ``None`` entries (layers that returned no weights) are skipped. ``timestamps`` ``[B, Tk]`` adds the
        distance in seconds to layers whose key length matches it.

        Raises:
            ValueError: not a mapping, or a layer's weights are malformed (the message names the layer).
        """
        if not isinstance(attention_weights, Mapping):
            raise ValueError(
                f"attention_weights must be a dict layer name -> [B, H, Tq, Tk], "
                f"got {type(attention_weights).__name__}"
            )
        out: dict[str, LayerAttentionStats] = {}
        for name, weights in attention_weights.items():
            if weights is None:
                continue
            try:
                use_times = timestamps is not None and timestamps.shape[-1] == weights.shape[-1]
                out[name] = self.analyze_layer(weights, timestamps if use_times else None)
            except ValueError as exc:
                raise ValueError(f"attention_weights[{name!r}]: {exc}") from exc
        return out

    def summary(
        self,
        attention_weights: Mapping[str, Tensor | None],
        timestamps: Tensor | None = None,
    ) -> list[dict[str, float | int | str]]:
        """One row per layer and head (``layer``, ``head``, ``entropy``, ``distance_bars``,
        ``distance_seconds`` (NaN without timestamps), ``sparsity``, ``head_redundancy``): ready for a table
        or ``pandas.DataFrame(rows)``."""
        rows: list[dict[str, float | int | str]] = []
        for layer, st in self.analyze(attention_weights, timestamps).items():
            for h in range(st.num_heads):
                rows.append(
                    {
                        "layer": layer,
                        "head": h,
                        "entropy": float(st.entropy[h]),
                        "distance_bars": float(st.distance_bars[h]),
                        "distance_seconds": (
                            float(st.distance_seconds[h]) if st.distance_seconds is not None else math.nan
                        ),
                        "sparsity": float(st.sparsity[h]),
                        "head_redundancy": float(st.head_redundancy[h]),
                    }
                )
        return rows
