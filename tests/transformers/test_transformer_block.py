"""Encoder/decoder blocks against torch's own layers, stochastic depth, checkpointing, norms and MLPs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ml_attention_mechanisms.transformers import (
    FeedForward,
    RMSNorm,
    TransformerBlockConfig,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
    stochastic_depth_rates,
)
from ml_attention_mechanisms.transformers.transformer_block import DropPath

D, H, FF = 32, 4, 64


def _copy_encoder(ours: TransformerEncoderBlock, ref: nn.TransformerEncoderLayer) -> None:
    with torch.no_grad():
        ours.attn.in_proj.weight.copy_(ref.self_attn.in_proj_weight)
        ours.attn.in_proj.bias.copy_(ref.self_attn.in_proj_bias)
        ours.attn.out_proj.weight.copy_(ref.self_attn.out_proj.weight)
        ours.attn.out_proj.bias.copy_(ref.self_attn.out_proj.bias)
        ours.mlp.w_in.load_state_dict(ref.linear1.state_dict())
        ours.mlp.w_out.load_state_dict(ref.linear2.state_dict())
        ours.attn_res.norm.load_state_dict(ref.norm1.state_dict())
        ours.mlp_res.norm.load_state_dict(ref.norm2.state_dict())


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("causal", [True, False])
def test_encoder_block_matches_torch_layer(norm_first: bool, causal: bool) -> None:
    cfg = TransformerBlockConfig(
        d_model=D, num_heads=H, d_ff=FF, dropout=0.0, norm_first=norm_first, causal=causal
    )
    ours = TransformerEncoderBlock(cfg).double().eval()
    ref = (
        nn.TransformerEncoderLayer(
            D, H, FF, dropout=0.0, activation="gelu", batch_first=True, norm_first=norm_first
        )
        .double()
        .eval()
    )
    _copy_encoder(ours, ref)
    x = torch.randn(2, 9, D, dtype=torch.float64)
    key_mask = torch.ones(2, 9, dtype=torch.bool)
    key_mask[1, 2] = False
    src_mask = nn.Transformer.generate_square_subsequent_mask(9, dtype=torch.float64) if causal else None
    pad = torch.zeros(2, 9, dtype=torch.float64).masked_fill(~key_mask, float("-inf"))
    want = ref(x, src_mask=src_mask, src_key_padding_mask=pad if causal else ~key_mask, is_causal=causal)
    got = ours(x, key_mask=key_mask)
    torch.testing.assert_close(got, want)


def test_decoder_block_matches_torch_layer() -> None:
    cfg = TransformerBlockConfig(d_model=D, num_heads=H, d_ff=FF, dropout=0.0, causal=True)
    ours = TransformerDecoderBlock(cfg).double().eval()
    ref = nn.TransformerDecoderLayer(
        D, H, FF, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    )
    ref = ref.double().eval()
    with torch.no_grad():
        for mine, theirs in ((ours.self_attn, ref.self_attn), (ours.cross_attn, ref.multihead_attn)):
            mine.in_proj.weight.copy_(theirs.in_proj_weight)
            mine.in_proj.bias.copy_(theirs.in_proj_bias)
            mine.out_proj.load_state_dict(theirs.out_proj.state_dict())
        ours.mlp.w_in.load_state_dict(ref.linear1.state_dict())
        ours.mlp.w_out.load_state_dict(ref.linear2.state_dict())
        ours.self_res.norm.load_state_dict(ref.norm1.state_dict())
        ours.cross_res.norm.load_state_dict(ref.norm2.state_dict())
        ours.mlp_res.norm.load_state_dict(ref.norm3.state_dict())
    tgt, mem = torch.randn(2, 5, D, dtype=torch.float64), torch.randn(2, 7, D, dtype=torch.float64)
    mem_mask = torch.ones(2, 7, dtype=torch.bool)
    mem_mask[0, -2:] = False
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    want = ref(tgt, mem, tgt_mask=tgt_mask, memory_key_padding_mask=~mem_mask, tgt_is_causal=True)
    got, weights = ours(tgt, mem, memory_key_mask=mem_mask, need_weights=True)
    torch.testing.assert_close(got, want)
    assert weights["self"].shape == (2, H, 5, 5) and weights["cross"].shape == (2, H, 5, 7)
    assert torch.all(weights["self"][..., 0, 1:] == 0)  # causal self-attention
    assert torch.all(weights["cross"][0, ..., -2:] == 0)  # masked memory


def test_rmsnorm_matches_formula() -> None:
    norm = RMSNorm(D, eps=1e-6)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(3, 4, D)
    xd = x.double()
    want = xd / torch.sqrt(xd.pow(2).mean(-1, keepdim=True) + 1e-6) * norm.weight.double()
    torch.testing.assert_close(norm(x), want.float())
    assert norm(x.bfloat16()).dtype == torch.bfloat16


@pytest.mark.parametrize("activation", ["gelu", "swiglu", "geglu"])
def test_feedforward_variants_match_formula(activation: str) -> None:
    ff = FeedForward(D, FF, activation=activation).double()
    x = torch.randn(2, 3, D, dtype=torch.float64)
    h = x @ ff.w_in.weight.T + ff.w_in.bias
    if activation == "gelu":
        hidden = F.gelu(h)
    else:
        value, gate = h[..., :FF], h[..., FF:]
        hidden = (F.silu(gate) if activation == "swiglu" else F.gelu(gate)) * value
    torch.testing.assert_close(ff(x), hidden @ ff.w_out.weight.T + ff.w_out.bias)


def test_block_options_change_structure() -> None:
    base = TransformerEncoderBlock(TransformerBlockConfig(d_model=D, num_heads=H, d_ff=FF))
    rms = TransformerEncoderBlock(
        TransformerBlockConfig(d_model=D, num_heads=H, d_ff=FF, norm_type="rmsnorm")
    )
    glu = TransformerEncoderBlock(
        TransformerBlockConfig(d_model=D, num_heads=H, d_ff=FF, activation="swiglu")
    )
    assert isinstance(base.attn_res.norm, nn.LayerNorm) and isinstance(rms.attn_res.norm, RMSNorm)
    assert glu.mlp.w_in.out_features == 2 * FF and base.mlp.w_in.out_features == FF
    assert TransformerBlockConfig(d_model=D, num_heads=H).hidden_dim == 4 * D


def test_stochastic_depth_linear_over_depth() -> None:
    rates = stochastic_depth_rates(0.3, 3)
    torch.testing.assert_close(torch.tensor(rates), torch.tensor([0.1, 0.2, 0.3]))


def test_drop_path_drops_whole_samples_in_training_only() -> None:
    dp = DropPath(0.5)
    x = torch.ones(400, 3, 2)
    y = dp.train()(x)
    per_sample = y.flatten(1)
    assert set(per_sample.unique().tolist()) <= {0.0, 2.0}
    assert torch.all(per_sample.min(1).values == per_sample.max(1).values)  # a sample is dropped whole
    assert 0.35 < (per_sample[:, 0] == 0).float().mean() < 0.65
    assert torch.equal(dp.eval()(x), x)


def test_block_with_stochastic_depth_skips_branches() -> None:
    block = TransformerEncoderBlock(
        TransformerBlockConfig(d_model=D, num_heads=H, dropout=0.0, drop_path_rate=0.9)
    )
    block.train()
    x = torch.randn(64, 5, D)
    y = block(x)
    same = (y == x).flatten(1).all(1)
    assert same.any() and (~same).any()  # some samples skipped both branches, others did not


@pytest.mark.parametrize("decoder", [False, True])
def test_gradient_checkpointing_gives_identical_gradients(decoder: bool) -> None:
    kw = dict(d_model=D, num_heads=H, d_ff=FF, dropout=0.2, drop_path_rate=0.3, causal=True)
    grads = []
    for ckpt in (False, True):
        torch.manual_seed(0)
        cls = TransformerDecoderBlock if decoder else TransformerEncoderBlock
        block = cls(TransformerBlockConfig(**kw, use_gradient_checkpointing=ckpt)).train()  # type: ignore[arg-type]
        x = torch.randn(4, 6, D, requires_grad=True)
        torch.manual_seed(1)
        out = block(x, torch.randn(4, 3, D)) if decoder else block(x)
        out.square().sum().backward()  # type: ignore[union-attr]
        grads.append([x.grad] + [p.grad for p in block.parameters()])
    for a, b in zip(*grads):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_heads", 5),
        ("dropout", -0.1),
        ("drop_path_rate", 1.0),
        ("norm_type", "batchnorm"),
        ("activation", "relu"),
    ],
)
def test_bad_block_config_names_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"TransformerBlockConfig.{field}="):
        TransformerBlockConfig(d_model=D, **{field: value})  # type: ignore[arg-type]


def _allow_fused_seen(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    import ml_attention_mechanisms.attention.multi_head_attention as mha

    seen: list[bool] = []
    original = mha.attend

    def spy(*a: object, **k: object) -> object:
        seen.append(bool(k["allow_fused"]))
        return original(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(mha, "attend", spy)
    return seen


def test_remaining_block_fields_have_effects(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(2, 6, D)
    seen = _allow_fused_seen(monkeypatch)
    TransformerEncoderBlock(TransformerBlockConfig(d_model=D, num_heads=H, use_flash_attn=False))(x)
    TransformerEncoderBlock(TransformerBlockConfig(d_model=D, num_heads=H))(x)
    assert seen == [False, True]
    outs = []
    for kw in ({}, {"attn_dropout": 0.5}, {"norm_eps": 10.0}):
        torch.manual_seed(0)
        block = TransformerEncoderBlock(
            TransformerBlockConfig(d_model=D, num_heads=H, dropout=0.0, **kw)
        ).train()
        torch.manual_seed(1)
        outs.append(block(x))
    assert not torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])
