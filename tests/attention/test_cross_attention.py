"""CrossAttentionConfig, CrossAttention, CrossAssetAttention and MultiModalCrossAttention."""

from __future__ import annotations

import pytest
import torch

from ml_attention_mechanisms import (
    AttentionConfig,
    CrossAssetAttention,
    CrossAttention,
    CrossAttentionConfig,
    MultiHeadAttention,
    MultiModalCrossAttention,
)
from ml_attention_mechanisms.attention.reference import reference_attention

D, H = 32, 4


def test_config_validation_names_field_value_and_rule() -> None:
    with pytest.raises(ValueError, match=r"CrossAttentionConfig.num_assets=0: must be a positive int"):
        CrossAttentionConfig(d_model=D, num_heads=H, num_assets=0)
    with pytest.raises(ValueError, match=r"CrossAttentionConfig.num_heads=5: must divide d_model \(32\)"):
        CrossAttentionConfig(d_model=D, num_heads=5)
    with pytest.raises(ValueError, match=r"CrossAttentionConfig.use_cross_asset='yes'"):
        CrossAttentionConfig(d_model=D, num_heads=H, use_cross_asset="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(("tq", "tk"), [(1, 1), (3, 33), (33, 3)])
def test_cross_attention_matches_reference(tq: int, tk: int) -> None:
    layer = CrossAttention(CrossAttentionConfig(d_model=D, num_heads=H, num_kv_heads=2))
    query, context = torch.randn(2, tq, D), torch.randn(2, tk, D)
    km = torch.rand(2, tk) > 0.3
    out = layer(query, context, key_mask=km)
    q, k, v = layer.project_qkv(query, context, context)
    ref, _ = reference_attention(q, k, v, mask=km[:, None, None])
    torch.testing.assert_close(
        out, layer.out_proj(ref.float().transpose(1, 2).reshape(2, tq, D)), atol=2e-5, rtol=1e-4
    )
    with pytest.raises(
        ValueError, match=r"context must be \[batch, k_len, d_model=32\], got shape \(2, 3, 16\)"
    ):
        layer(query, torch.randn(2, 3, 16))


def test_cross_asset_attention_is_attention_over_assets_with_mask() -> None:
    cfg = CrossAttentionConfig(d_model=D, num_heads=H)
    layer = CrossAssetAttention(cfg)
    x = torch.randn(2, 5, 3, D)
    present = torch.tensor([[True, True, False], [False, False, False]])
    out = layer(x, present)
    assert out.shape == (2, 5, 3, D)
    assert (out[0, :, 2] == 0).all() and (out[1] == 0).all()  # absent assets, and bars with none present
    mha = MultiHeadAttention(cfg.attention_config())
    mha.load_state_dict(layer.attention.state_dict())
    expected = mha(x[0, :, :2])  # only the present assets, attending to each other
    torch.testing.assert_close(out[0, :, :2], expected, atol=2e-5, rtol=1e-4)
    # An absent asset's values never reach the others.
    y = x.clone()
    y[0, :, 2] = 1e3
    torch.testing.assert_close(layer(y, present)[0], out[0])


def test_num_assets_adds_identity_and_bounds_assets() -> None:
    plain = CrossAssetAttention(CrossAttentionConfig(d_model=D, num_heads=H))
    ided = CrossAssetAttention(CrossAttentionConfig(d_model=D, num_heads=H, num_assets=3))
    ided.attention.load_state_dict(plain.attention.state_dict())
    x = torch.randn(1, 4, 3, D)
    assert plain.asset_embedding is None and ided.asset_embedding is not None
    assert not torch.allclose(plain(x), ided(x))  # identity embedding changes the result
    swapped = ided(x[:, :, [1, 0, 2]], asset_ids=torch.tensor([1, 0, 2]))
    torch.testing.assert_close(swapped, ided(x)[:, :, [1, 0, 2]], atol=2e-5, rtol=1e-4)  # follows the asset
    with pytest.raises(ValueError, match=r"x has 4 assets but CrossAttentionConfig.num_assets=3"):
        ided(torch.randn(1, 2, 4, D))
    with pytest.raises(ValueError, match=r"asset_mask must be bool \[batch, assets\]"):
        plain(x, torch.ones(1, 2, dtype=torch.bool))


def _inputs(names: list[str], b: int = 2, t: int = 6) -> dict[str, torch.Tensor]:
    return {m: torch.randn(b, t, D) for m in names}


def test_multimodal_fuses_declared_modalities() -> None:
    names = ["btc", "eth", "sol"]
    fuse = MultiModalCrossAttention(CrossAttentionConfig(d_model=D, num_heads=H), names)
    data = _inputs(names)
    out = fuse(data)
    assert out.shape == (2, 6, D) and torch.isfinite(out).all()
    reordered = {m: data[m] for m in reversed(names)}
    torch.testing.assert_close(fuse(reordered), out)  # keyed by name, not by dict order
    with pytest.raises(ValueError, match=r"undeclared modality \['xrp'\] in inputs; declared: btc, eth, sol"):
        fuse({**data, "xrp": torch.randn(2, 6, D)})
    with pytest.raises(ValueError, match=r"missing modality \['sol'\]; declared: btc, eth, sol"):
        fuse({"btc": data["btc"], "eth": data["eth"]})
    with pytest.raises(ValueError, match=r"modality 'eth' has shape \(2, 5, 32\)"):
        fuse({**data, "eth": torch.randn(2, 5, D)})
    with pytest.raises(ValueError, match="duplicate"):
        MultiModalCrossAttention(CrossAttentionConfig(d_model=D, num_heads=H), ["a", "a"])


def test_use_cross_asset_and_num_assets_have_effects() -> None:
    names = ["btc", "eth"]
    off = MultiModalCrossAttention(CrossAttentionConfig(d_model=D, num_heads=H), names)
    on = MultiModalCrossAttention(CrossAttentionConfig(d_model=D, num_heads=H, use_cross_asset=True), names)
    assert off.cross_asset is None and on.cross_asset is not None
    on.load_state_dict(off.state_dict(), strict=False)
    data = _inputs(names)
    assert not torch.allclose(on(data), off(data))
    with pytest.raises(ValueError, match=r"3 modalities .* exceed CrossAttentionConfig.num_assets=2"):
        MultiModalCrossAttention(CrossAttentionConfig(d_model=D, num_heads=H, num_assets=2), ["a", "b", "c"])


def test_multimodal_masks_and_causal_no_look_ahead() -> None:
    names = ["btc", "eth"]
    fuse = MultiModalCrossAttention(CrossAttentionConfig(d_model=D, num_heads=H, causal=True), names)
    data = _inputs(names, t=8)
    base = fuse(data)
    changed = {m: x.clone() for m, x in data.items()}
    for x in changed.values():
        x[:, 5:] = torch.randn_like(x[:, 5:])
    assert torch.equal(fuse(changed)[:, :5], base[:, :5])
    masks = {"eth": torch.zeros(2, 8, dtype=torch.bool)}  # eth entirely missing: btc alone
    only_btc = MultiModalCrossAttention(
        CrossAttentionConfig(d_model=D, num_heads=H, causal=True), ["btc", "eth"]
    )
    only_btc.load_state_dict(fuse.state_dict())
    noisy = {"btc": data["btc"], "eth": torch.randn(2, 8, D) * 100}
    torch.testing.assert_close(only_btc(noisy, masks), only_btc(data, masks))
    with pytest.raises(ValueError, match=r"masks\['eth'\] must be bool \[batch, seq_len\]"):
        fuse(data, {"eth": torch.ones(2, 8)})


def test_cross_attention_accepts_attention_config() -> None:
    layer = CrossAttention(AttentionConfig(d_model=D, num_heads=H))
    assert layer(torch.randn(1, 2, D), torch.randn(1, 3, D)).shape == (1, 2, D)
    with pytest.raises(TypeError, match="CrossAttentionConfig or AttentionConfig"):
        CrossAttention({"d_model": D})  # type: ignore[arg-type]
