"""The causal, streamable temporal encoder shared by the crypto models.

Why this shape: the price, signal and risk models must stream one candle at a time
forever. So the encoder has

- **no learned absolute positions**: order enters only through a relative, time-aware ALiBi bias (Press et
  al. 2022, https://arxiv.org/abs/2108.12409) whose distance is the elapsed time between two bars in
  ``time_unit_seconds`` (the index distance when no timestamps are given), so a gap in the data weakens
  attention across it;
- **causal sliding-window attention** (window ``W = attention_window``): every attention layer is a
  :class:`~ml_attention_mechanisms.attention.MultiHeadAttention` whose config says ``causal=True,
  sliding_window=W``, i.e. the weights and semantics of ``CausalAttention(config, sliding_window=W)`` with
  a rolling ``KVCache`` of ``W`` bars; memory per step is bounded;
- **per-bar features only**: the input projection, the asset embedding and the market-time encoding
  (calendar, sessions, funding clock, ...) of each bar depend on that bar alone.

``attention_kind="standard"`` (an ablation) keeps everything but the time: the ALiBi distance is the index
distance between bars (a gap in the data counts as one bar) and there is no market-time encoding, i.e. plain
causal sliding-window multi-head attention with relative index positions; timestamps are then ignored.

Hence the state at bar ``t`` depends only on bars ``t - W' .. t`` (``W'`` grows with depth) and never on later
bars (tested bit for bit).

The blocks are the transformer layer's :class:`TransformerEncoderBlock` (pre-norm, GELU MLP).

**Patch tokens** (``patch_size = p > 1``, see ``_patches.py``): the tokens are patches of ``p`` bars ending at
the window's last present bar, timed at their last bar; everything above then runs over tokens (a token
attends the ``W / p`` latest tokens). ``p`` times fewer tokens: the projections and MLPs cost ``p`` times
less and the attention ``p**2`` times less. Such an encoder streams by recomputing the window, not bar by bar.

Cost: the key mask, the causal window and the ALiBi bias are folded once per forward into one
:class:`~ml_attention_mechanisms.attention._masks.PreparedMask` that every layer reuses; a model that reads
only the last present bar (``last_only=True``) runs the last layer for that bar alone (its keys and values
still come from every bar).

Shapes:
    ``B`` batch, ``T`` bars, ``N`` tokens (``T``, or ``ceil(T / p)`` patches), ``F`` features, ``H`` heads,
    ``d`` = ``d_model``.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from ..attention._masks import PreparedMask, is_tracing, prepare_mask
from ..encodings._time import to_unix_seconds
from ..encodings.positional_encoding import ALiBiEncoding
from ..encodings.temporal_encoding import DAY, WEEK, MarketTimeConfig, MarketTimeEncoding
from ..transformers.transformer_block import TransformerBlockConfig, TransformerEncoderBlock
from ._patches import last_present_index, patch_input_features, patch_tokens
from .config import CryptoPredictionModelConfig

__all__ = ["MODEL_MARKET_TIME", "TemporalEncoder", "last_present"]

# The models' market time: the daily and weekly cycles (Fourier terms of the hour of day and the weekday,
# trading sessions with DST, weekend, the funding clock). Month of year, the yearly seasonality and the
# halving phase are left out: with a few years of training data they name the training period's regime
# rather than a cycle (on walk-forward folds of the bundled data, forecasts of the next period's variance
# paid for them: 24-bar QLIKE 1.09 -> 1.03 of the variance anchor's with them removed).
MODEL_MARKET_TIME = MarketTimeConfig(calendar=False, halving=False, seasonality_periods=(DAY, WEEK))


def last_present(h: Tensor, mask: Tensor | None) -> Tensor:
    """The state ``[B, d]`` at each row's last present bar (the last bar when ``mask`` is None).

    Args:
        h: ``[B, T, d]``.
        mask: bool ``[B, T]`` (True = present) or None.
    """
    if mask is None:
        return h[:, -1]
    idx = last_present_index(mask)  # (B,): last present bar (0 when none)
    return h.gather(1, idx.view(-1, 1, 1).expand(-1, 1, h.shape[-1])).squeeze(1)


class TemporalEncoder(nn.Module):
    """Input projection + market time + asset embedding + causal windowed ALiBi transformer blocks.

    Args:
        config: :class:`CryptoPredictionModelConfig` (``d_model``, ``num_heads``, ``num_encoder_layers``,
            ``d_ff``, ``dropout``, ``input_features``, ``attention_window``, ``time_unit_seconds``,
            ``use_market_time``, ``attention_kind``, ``num_assets``, ``patch_size``).
        use_asset_ids: build the asset embedding (``num_assets`` rows, row 0 = unknown asset, kept at zero).
            Default: True.

    Attributes:
        attention_window: the sliding window ``W`` of every attention layer, in bars.
        patch_size: bars per token (1: bar tokens).
        layer_names: names of the attention layers, as used in ``attention_weights``.
    """

    def __init__(self, config: CryptoPredictionModelConfig, *, use_asset_ids: bool = True) -> None:
        super().__init__()
        c = config
        self.attention_window = c.attention_window
        self.patch_size = c.patch_size
        self.num_heads = c.num_heads
        self.input_proj = nn.Linear(patch_input_features(c.input_features, c.patch_size), c.d_model)
        self.asset_embedding = nn.Embedding(c.num_assets, c.d_model, padding_idx=0) if use_asset_ids else None
        crypto = c.attention_kind == "crypto"
        self.attention_kind = c.attention_kind
        self.market_time = (
            MarketTimeEncoding(c.d_model, MODEL_MARKET_TIME) if c.use_market_time and crypto else None
        )
        # "standard": index distance (ALiBiEncoding ignores timestamps unless time_aware), also when streaming
        self.alibi = ALiBiEncoding(
            c.d_model, c.num_heads, time_aware=crypto, time_unit_seconds=c.time_unit_seconds
        )
        block_config = TransformerBlockConfig(
            d_model=c.d_model, num_heads=c.num_heads, d_ff=c.hidden_dim, dropout=c.dropout, causal=True
        )
        self.token_window = c.attention_window // c.patch_size  # tokens each token attends, its own included
        self.blocks = nn.ModuleList()
        for _ in range(c.num_encoder_layers):
            block = TransformerEncoderBlock(block_config)
            # Declare the window on the attention layer itself (MultiHeadAttention reads
            # config.sliding_window when causal): same weights as CausalAttention(sliding_window=W).
            block.attn.config = dataclasses.replace(block.attn.config, sliding_window=self.token_window)
            self.blocks.append(block)
        self.norm = nn.LayerNorm(c.d_model)
        self.layer_names = [f"temporal_layer{i}" for i in range(c.num_encoder_layers)]

    def _seconds(self, timestamps: Tensor | None, x: Tensor) -> Tensor | None:
        """Timestamps as validated int64 Unix seconds (once per call), or None when the encoder ignores them."""
        if timestamps is None or self.attention_kind != "crypto":
            return None
        if not is_tracing() and tuple(timestamps.shape) != tuple(x.shape[:2]):
            raise ValueError(
                f"timestamps must have shape [batch, seq_len] = {tuple(x.shape[:2])}, got {tuple(timestamps.shape)}"
            )
        return to_unix_seconds(timestamps)

    def embed(
        self,
        x: Tensor,
        *,
        timestamps: Tensor | None = None,
        asset_ids: Tensor | None = None,
        mask: Tensor | None = None,
        extra: Tensor | None = None,
    ) -> Tensor:
        """Per-token embedding ``[B, N, d]`` of features ``x [B, N, F]`` (bar tokens: absent bars read as
        zeros; patch tokens: ``x`` is :func:`patch_tokens`' features, ``p * F + p`` wide)."""
        return self._embed(x, self._seconds(timestamps, x), asset_ids, mask, extra)

    def _embed(
        self,
        x: Tensor,
        seconds: Tensor | None,
        asset_ids: Tensor | None,
        mask: Tensor | None,
        extra: Tensor | None,
    ) -> Tensor:
        if self.patch_size == 1 and mask is not None:  # absent bars read as zeros (NaN there has no effect)
            x = x.masked_fill(~mask.unsqueeze(-1), 0.0)  # (zero_masked's values; where is slower on the CPU)
        h = self.input_proj(x)  # (B, N, d)
        if extra is not None:
            h = h + extra
        if self.asset_embedding is not None and asset_ids is not None:
            emb = self.asset_embedding(asset_ids)  # (B, d) or (B, N, d)
            h = h + (emb.unsqueeze(1) if emb.dim() == 2 else emb)
        if self.market_time is not None and seconds is not None:
            h = h + self.market_time.encode_seconds(seconds).to(h.dtype)  # (B, N, d), cached per timestamp
        return h

    def _tokens(
        self,
        x: Tensor,
        seconds: Tensor | None,
        asset_ids: Tensor | None,
        mask: Tensor | None,
        extra: Tensor | None,
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """``(embedded tokens [B, N, d], their seconds [B, N], their mask [B, N])``."""
        if self.patch_size == 1:
            return self._embed(x, seconds, asset_ids, mask, extra), seconds, mask
        tok = patch_tokens(
            x, self.patch_size, timestamps=seconds, asset_ids=asset_ids, mask=mask, extra=extra
        )
        return (
            self._embed(tok.features, tok.timestamps, tok.asset_ids, None, tok.extra),
            tok.timestamps,
            tok.mask,
        )

    def attention_mask(
        self, seconds: Tensor | None, mask: Tensor | None, batch: int, tokens: int
    ) -> PreparedMask:
        """Key mask, causal window and ALiBi bias of every layer, folded once: ``[B|1, H, N, N]``.

        On the CPU (eager), a key mask with every bar present is dropped and rows whose timestamps lie on one
        grid (the same gaps) share one distance matrix: the folded mask is then ``[1, H, N, N]``, which the
        fused kernel reads for every row at no cost, instead of ``[B, H, N, N]`` (the same values)."""
        probe = seconds if seconds is not None else mask
        if probe is not None and probe.device.type == "cpu" and not is_tracing():
            if mask is not None and bool(mask.all()):
                mask = None
            if seconds is not None and seconds.shape[0] > 1:
                offsets = seconds - seconds[:, :1]  # (B, N)
                if bool((offsets == offsets[:1]).all()):
                    seconds = seconds[:1]  # one distance matrix for every row
        # The bias is -slope_h x distance: the masks are folded into the distance, then it is scaled per head.
        distance = self.alibi.alibi.distance(tokens, tokens, q_times=seconds, k_times=seconds)  # (B|1, N, N)
        return prepare_mask(
            tokens,
            tokens,
            key_mask=mask,
            bias=-distance.unsqueeze(1),
            head_scale=self.alibi.slopes,
            is_causal=True,
            window=self.token_window,
            batch=batch,
            heads=self.num_heads,
        )

    def forward(
        self,
        x: Tensor,
        *,
        timestamps: Tensor | None = None,
        asset_ids: Tensor | None = None,
        mask: Tensor | None = None,
        extra: Tensor | None = None,
        need_weights: bool = False,
        name_prefix: str = "",
        last_only: bool = False,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Encode ``x [B, T, F]`` into per-token states ``[B, N, d]``.

        Args:
            x: features ``[B, T, F]``.
            timestamps: int64 Unix seconds ``[B, T]`` (time-aware ALiBi and market time), or None (index
                distance, no market time).
            asset_ids: ``[B]`` or ``[B, T]`` ids (0 = unknown).
            mask: bool ``[B, T]``, True = the bar exists; absent bars are never attended and their values
                have no effect.
            extra: an additive per-bar embedding ``[B, T, d]`` (e.g. the projected order book).
            need_weights: also return each layer's weights ``[B, H, N, N]``.
            name_prefix: prefix of the weight names.
            last_only: return only the state at each row's last present bar, ``[B, 1, d]``; the last layer
                then runs for that bar alone (unless weights are requested).

        Returns:
            ``(states [B, N, d] or [B, 1, d], {layer name: weights})``; ``N = T`` for bar tokens,
            ``ceil(T / patch_size)`` for patch tokens (the last one ends at the last present bar).
        """
        h, seconds, mask = self._tokens(x, self._seconds(timestamps, x), asset_ids, mask, extra)
        b, t = h.shape[0], h.shape[1]
        prepared = self.attention_mask(seconds, mask, b, t)
        readout: Tensor | None = None  # the token the models read: the last present bar's
        if last_only:
            if self.patch_size == 1 and mask is not None:
                readout = last_present_index(mask).unsqueeze(1)  # (B, 1)
            else:  # no mask, or patches (the last one ends at the last present bar)
                readout = torch.full((b, 1), t - 1, dtype=torch.long, device=h.device)
        weights: dict[str, Tensor] = {}
        last = len(self.blocks) - 1
        for i, (name, block) in enumerate(zip(self.layer_names, self.blocks)):
            rows = readout if i == last and not need_weights else None
            out = block(h, attention_mask=prepared, need_weights=need_weights, query_index=rows)
            if isinstance(out, tuple):
                h, weights[name_prefix + name] = out
            else:
                h = out
            if rows is not None:
                readout = None  # h holds the read-out rows only
        if readout is not None:  # weights were requested: every row was computed
            h = h.gather(1, readout.unsqueeze(-1).expand(-1, -1, h.shape[-1]))  # (B, 1, d)
        return self.norm(h), weights
