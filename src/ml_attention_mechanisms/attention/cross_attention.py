"""Cross-attention: one sequence attending to another, across modalities, and across assets.

Shapes:
    ``B`` batch, ``T`` bars, ``Tq``/``Tk`` query/context length, ``A`` assets, ``M`` modalities,
    ``H`` heads, ``d_model`` width.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import AttentionConfig, check_field
from ._masks import causal_mask, is_tracing
from .multi_head_attention import MultiHeadAttention

__all__ = ["CrossAssetAttention", "CrossAttention", "CrossAttentionConfig", "MultiModalCrossAttention"]


@dataclass(frozen=True, slots=True)
class CrossAttentionConfig:
    """Configuration of the cross-attention layers.

    Args:
        d_model: model width. Default: 512.
        num_heads: heads; must divide ``d_model``. Default: 8.
        dropout: attention dropout in [0, 1). Default: 0.0.
        use_cross_asset: :class:`MultiModalCrossAttention` first lets the modalities (assets) attend to each
            other at every bar (:class:`CrossAssetAttention`) before the temporal cross-attention.
            Default: False.
        num_assets: size of the learned asset-identity table; :class:`CrossAssetAttention` adds the
            identity embedding of each asset and refuses more assets than this. ``None`` = no identity
            embedding, any number of assets. Default: None.
        causal: the fused query at bar ``t`` sees every modality only up to bar ``t`` (no look-ahead).
            Default: False.
        num_kv_heads: key/value heads (grouped-query attention). Default: None (= ``num_heads``).
        bias: projection biases. Default: True.
        use_flash_attn: fast kernels allowed and preferred (as :class:`AttentionConfig`). Default: True.

    Raises:
        ValueError: a field breaks its rule (the message names field, value and rule).
    """

    d_model: int = 512
    num_heads: int = 8
    dropout: float = 0.0
    use_cross_asset: bool = False
    num_assets: int | None = None  # None -> no asset-identity embedding
    causal: bool = False
    num_kv_heads: int | None = None
    bias: bool = True
    use_flash_attn: bool = True

    def __post_init__(self) -> None:
        n = "CrossAttentionConfig"
        check_field(
            isinstance(self.use_cross_asset, bool),
            n,
            "use_cross_asset",
            self.use_cross_asset,
            "must be a bool",
        )
        if self.num_assets is not None:
            check_field(
                isinstance(self.num_assets, int)
                and not isinstance(self.num_assets, bool)
                and self.num_assets >= 1,
                n,
                "num_assets",
                self.num_assets,
                "must be a positive int or None",
            )
        try:
            self.attention_config()
        except ValueError as err:  # re-raise with this class's name
            raise ValueError(str(err).replace("AttentionConfig.", f"{n}.", 1)) from None

    def attention_config(self) -> AttentionConfig:
        """The :class:`AttentionConfig` of one attention layer built from this config."""
        return AttentionConfig(
            d_model=self.d_model,
            num_heads=self.num_heads,
            dropout=self.dropout,
            use_flash_attn=self.use_flash_attn,
            num_kv_heads=self.num_kv_heads,
            bias=self.bias,
        )


def _attention_config(config: CrossAttentionConfig | AttentionConfig) -> AttentionConfig:
    if isinstance(config, CrossAttentionConfig):
        return config.attention_config()
    if isinstance(config, AttentionConfig):
        return config
    raise TypeError(f"config must be a CrossAttentionConfig or AttentionConfig, got {type(config).__name__}")


class CrossAttention(MultiHeadAttention):
    """Queries from one sequence attend to a context sequence (Vaswani et al. 2017, encoder-decoder attention).

    Args:
        config: :class:`CrossAttentionConfig` or :class:`AttentionConfig`.
        use_flash_attn: overrides the config's switch when not None.

    Examples:
        >>> layer = CrossAttention(CrossAttentionConfig(d_model=32, num_heads=4))
        >>> layer(torch.randn(2, 5, 32), torch.randn(2, 11, 32)).shape
        torch.Size([2, 5, 32])
    """

    def __init__(
        self, config: CrossAttentionConfig | AttentionConfig, use_flash_attn: bool | None = None
    ) -> None:
        super().__init__(_attention_config(config), use_flash_attn)
        self.cross_config = config

    def forward(  # type: ignore[override]
        self,
        query: Tensor,
        context: Tensor,
        attention_mask: Tensor | None = None,
        need_weights: bool = False,
        *,
        key_mask: Tensor | None = None,
        is_causal: bool | None = None,
        attn_bias: Tensor | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Attend ``query [B, Tq, d_model]`` to ``context [B, Tk, d_model]``.

        Masks as :meth:`MultiHeadAttention.forward` (``key_mask [B, Tk]`` marks present context bars;
        ``is_causal`` aligns bottom-right). Returns ``[B, Tq, d_model]`` (and weights ``[B, H, Tq, Tk]``).
        """
        if not is_tracing() and (context.dim() != 3 or context.shape[-1] != self.d_model):
            raise ValueError(
                f"context must be [batch, k_len, d_model={self.d_model}], got shape {tuple(context.shape)} "
                f"(query {tuple(query.shape)})"
            )
        return super().forward(
            query,
            context,
            context,
            attention_mask,
            need_weights,
            key_mask=key_mask,
            is_causal=is_causal,
            attn_bias=attn_bias,
        )


class CrossAssetAttention(nn.Module):
    """Attention across the asset axis: at each bar, every asset attends to the other assets.

    Input ``[B, T, A, d_model]`` is folded to ``[B*T, A, d_model]`` and self-attended over ``A``. Absent
    assets (``asset_mask`` False) are ignored as keys and get zero output; a bar with no asset present gives
    zeros. With ``config.num_assets`` a learned asset-identity embedding (indexed by ``asset_ids``, default
    ``0..A-1``) is added to the input of the attention, so that BTC attending to ETH differs from ETH to BTC.

    Args:
        config: :class:`CrossAttentionConfig`.

    Examples:
        >>> layer = CrossAssetAttention(CrossAttentionConfig(d_model=32, num_heads=4, num_assets=3))
        >>> layer(torch.randn(2, 6, 3, 32), asset_mask=torch.tensor([[True, True, False]] * 2)).shape
        torch.Size([2, 6, 3, 32])
    """

    def __init__(self, config: CrossAttentionConfig) -> None:
        super().__init__()
        self.config = config
        self.attention = MultiHeadAttention(_attention_config(config))
        self.asset_embedding = (
            nn.Embedding(config.num_assets, config.d_model) if config.num_assets is not None else None
        )
        if self.asset_embedding is not None:
            nn.init.normal_(self.asset_embedding.weight, std=0.02)

    def forward(
        self, x: Tensor, asset_mask: Tensor | None = None, *, asset_ids: Tensor | None = None
    ) -> Tensor:
        """Args:
            x: ``[B, T, A, d_model]``.
            asset_mask: bool ``[B, A]`` or ``[B, T, A]``, True = the asset is present. Default: all present.
            asset_ids: int ``[A]`` or ``[B, A]`` rows of the identity table. Default: ``arange(A)``.

        Returns:
            ``[B, T, A, d_model]``.

        Raises:
            ValueError: wrong rank or width, a mask of the wrong shape or dtype, more assets than ``num_assets``.
        """
        b, t, a, d = x.shape if x.dim() == 4 else (0, 0, 0, 0)
        if not is_tracing():
            if x.dim() != 4 or d != self.config.d_model:
                raise ValueError(
                    f"x must be [batch, time, assets, d_model={self.config.d_model}], got shape {tuple(x.shape)}"
                )
            if asset_mask is not None and (
                asset_mask.dtype != torch.bool or tuple(asset_mask.shape) not in ((b, a), (b, t, a))
            ):
                raise ValueError(
                    f"asset_mask must be bool [batch, assets] = {(b, a)} or [batch, time, assets] = {(b, t, a)}, "
                    f"got {tuple(asset_mask.shape)} {asset_mask.dtype}"
                )
            n_assets = self.config.num_assets
            if n_assets is not None and asset_ids is None and a > n_assets:
                raise ValueError(f"x has {a} assets but CrossAttentionConfig.num_assets={n_assets}")
        if self.asset_embedding is not None:
            ids = asset_ids if asset_ids is not None else torch.arange(a, device=x.device)
            emb = self.asset_embedding(ids)  # (A, d) or (B, A, d)
            x = x + (emb[None, None] if emb.dim() == 2 else emb[:, None])
        tokens = x.reshape(b * t, a, d)  # (B*T, A, d_model)
        km = None
        if asset_mask is not None:
            km = asset_mask[:, None, :].expand(b, t, a) if asset_mask.dim() == 2 else asset_mask
            km = km.reshape(b * t, a)  # (B*T, A)
        out = self.attention(tokens, key_mask=km)
        assert isinstance(out, Tensor)
        if km is not None:
            out = out * km.unsqueeze(-1).to(out.dtype)  # absent assets: zero output
        return out.reshape(b, t, a, d)


class MultiModalCrossAttention(nn.Module):
    """Fuse several named input streams (modalities or assets) into one sequence ``[B, T, d_model]``.

    Each declared modality has a learned identity embedding. With ``use_cross_asset`` the modalities first
    attend to each other bar by bar (:class:`CrossAssetAttention`). Then a consensus query (the mean of the
    modalities at each bar) cross-attends to all modalities' bars at once (keys ``[B, M*T, d_model]``), and
    the result is added to the query and layer-normalised. With ``config.causal`` bar ``t`` sees every
    modality only up to ``t``.

    Args:
        config: :class:`CrossAttentionConfig`.
        modalities: the declared modality names (unique, non-empty, at most ``num_assets`` when set).

    Raises:
        ValueError: no modalities, duplicates, or more than ``num_assets`` with ``use_cross_asset``.

    Examples:
        >>> cfg = CrossAttentionConfig(d_model=32, num_heads=4, use_cross_asset=True, num_assets=4)
        >>> fuse = MultiModalCrossAttention(cfg, ["btc", "eth"])
        >>> fuse({"btc": torch.randn(2, 8, 32), "eth": torch.randn(2, 8, 32)}).shape
        torch.Size([2, 8, 32])
    """

    def __init__(self, config: CrossAttentionConfig, modalities: Sequence[str]) -> None:
        super().__init__()
        names = list(modalities)
        if not names or any(not isinstance(m, str) or not m for m in names):
            raise ValueError(f"modalities must be a non-empty list of non-empty names, got {modalities!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"modalities has duplicate names: {names}")
        if config.num_assets is not None and len(names) > config.num_assets:
            raise ValueError(
                f"{len(names)} modalities {names} exceed CrossAttentionConfig.num_assets={config.num_assets}"
            )
        self.config = config
        self.modalities = names
        self.modality_embedding = nn.Parameter(torch.randn(len(names), config.d_model) * 0.02)
        self.cross_asset = CrossAssetAttention(config) if config.use_cross_asset else None
        self.cross = CrossAttention(config)
        self.norm = nn.LayerNorm(config.d_model)

    def _check(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor] | None) -> None:
        declared = ", ".join(self.modalities)
        for label, keys in (("inputs", set(inputs)), ("masks", set(masks or {}))):
            extra = sorted(keys - set(self.modalities))
            if extra:
                raise ValueError(f"undeclared modality {extra} in {label}; declared: {declared}")
        missing = [m for m in self.modalities if m not in inputs]
        if missing:
            raise ValueError(f"missing modality {missing}; declared: {declared}")
        first = inputs[self.modalities[0]]
        want = (first.shape[0], first.shape[1], self.config.d_model) if first.dim() == 3 else None
        for m in self.modalities:
            x = inputs[m]
            if x.dim() != 3 or tuple(x.shape) != want:
                raise ValueError(
                    f"modality {m!r} has shape {tuple(x.shape)}; every modality must be "
                    f"[batch, seq_len, d_model={self.config.d_model}] with the same batch and seq_len "
                    f"({self.modalities[0]!r}: {tuple(first.shape)})"
                )
            mk = (masks or {}).get(m)
            if mk is not None and (mk.dtype != torch.bool or tuple(mk.shape) != tuple(x.shape[:2])):
                raise ValueError(
                    f"masks[{m!r}] must be bool [batch, seq_len] = {tuple(x.shape[:2])}, got "
                    f"{tuple(mk.shape)} {mk.dtype}"
                )

    def forward(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor] | None = None) -> Tensor:
        """Args:
            inputs: ``{name: [B, T, d_model]}`` for exactly the declared modalities.
            masks: optional ``{name: bool [B, T]}``, True = the bar of that modality is present.

        Returns:
            The fused sequence ``[B, T, d_model]``.

        Raises:
            ValueError: an undeclared or missing modality (naming the declared ones), or shapes that differ.
        """
        if not is_tracing():
            self._check(inputs, masks)
        x = torch.stack([inputs[m] for m in self.modalities], dim=2)  # (B, T, M, d)
        b, t, nm, d = x.shape
        present = None
        if masks:
            ones = torch.ones(b, t, dtype=torch.bool, device=x.device)
            present = torch.stack([masks.get(m, ones) for m in self.modalities], dim=2)  # (B, T, M)
        x = x + self.modality_embedding.to(x.dtype)  # (B, T, M, d)
        if self.cross_asset is not None:
            x = x + self.cross_asset(x, present)
        if present is None:
            query = x.mean(dim=2)  # (B, T, d): the consensus of the modalities
        else:
            w = present.unsqueeze(-1).to(x.dtype)
            query = (x * w).sum(dim=2) / w.sum(dim=2).clamp_min(1.0)
        context = x.permute(0, 2, 1, 3).reshape(b, nm * t, d)  # (B, M*T, d), modality-major
        key_mask = None if present is None else present.permute(0, 2, 1).reshape(b, nm * t)
        attn_mask = (
            causal_mask(t, t, device=x.device).repeat(1, nm) if self.config.causal else None
        )  # (T, M*T)
        fused = self.cross(query, context, attn_mask, key_mask=key_mask)
        assert isinstance(fused, Tensor)
        return self.norm(query + fused)
