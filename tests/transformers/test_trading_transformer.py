"""TradingTransformer: spec examples, every config field's effect, causality, masks, checkpoints, compile."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
import torch

from ml_attention_mechanisms import TradingTransformer, TradingTransformerConfig, create_trading_transformer
from ml_attention_mechanisms.config import replace_config

T0 = 1640995200
TINY: dict[str, Any] = dict(d_model=32, num_heads=4, num_encoder_layers=2, input_features=8, max_seq_len=64)
ALL_ON: dict[str, Any] = dict(
    use_multi_timeframe=True,
    use_temporal_attention=True,
    use_market_regime_detection=True,
    use_risk_management=True,
    use_cross_modal_attention=True,
    use_multi_asset=True,
    temporal_windows=(1, 5, 15),
    prediction_horizon=3,
)


def tiny(**kw: Any) -> TradingTransformerConfig:
    return TradingTransformerConfig(**{**TINY, **kw})


def build(cfg: TradingTransformerConfig, seed: int = 0) -> TradingTransformer:
    torch.manual_seed(seed)
    return TradingTransformer(cfg)


def inputs(cfg: TradingTransformerConfig, b: int = 2, t: int = 64) -> dict[str, Any]:
    g = torch.Generator().manual_seed(5)
    kw: dict[str, Any] = {
        "x": torch.randn(b, t, cfg.input_features, generator=g),
        "timestamps": (T0 + cfg.bar_seconds * torch.arange(t)).repeat(b, 1),
    }
    if cfg.use_multi_asset:
        kw["asset_ids"] = torch.tensor([1, 2][:b])
    if cfg.use_cross_modal_attention:
        kw["modality_data"] = {m: torch.randn(b, t, cfg.d_model, generator=g) for m in cfg.modalities[:2]}
    return kw


def as_float64(kw: dict[str, Any]) -> dict[str, Any]:
    """``inputs(...)`` with every floating tensor in float64 (timestamps and ids unchanged)."""

    def cast(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: cast(x) for k, x in v.items()}
        return v.double() if isinstance(v, torch.Tensor) and v.is_floating_point() else v

    return {k: cast(v) for k, v in kw.items()}


# Mixed precision against a float64 reference with the same weights (eval mode: dropout off). bfloat16
# autocast rounds every matmul operand to 8 significant bits (unit roundoff 2**-9 ~ 2e-3) and accumulates in
# float32: torch's bfloat16 rtol (1.6e-2) and an atol of one such rounding at the outputs' scale (|y| < 1).
# float16 (CUDA autocast when bfloat16 is unsupported) is 8x finer and passes the same bound.
MIXED_PRECISION_TOL = {"rtol": 1.6e-2, "atol": 2e-3}
FLOAT32_TOL = {"rtol": 1.3e-6, "atol": 1e-5}  # torch's float32 defaults


# -- the spec's examples ---------------------------------------------------------------------------------
def test_spec_quick_start_runs_as_written() -> None:
    model = create_trading_transformer(
        input_features=100,
        output_dim=1,
        d_model=512,
        num_heads=8,
        num_encoder_layers=6,
        use_multi_timeframe=True,
        use_market_regime_detection=True,
        use_risk_management=True,
        use_temporal_attention=True,
    )
    x = torch.randn(4, 256, 100)
    timestamps = torch.randint(1640995200, 1672531200, (4, 256))
    modality_data = {
        "price": torch.randn(4, 256, 512),
        "volume": torch.randn(4, 256, 512),
        "news": torch.randn(4, 256, 512),
        "orderbook": torch.randn(4, 256, 512),
    }
    with torch.no_grad():
        outputs = model(x=x, timestamps=timestamps, modality_data=modality_data, need_attention_weights=True)
    assert outputs["predictions"].shape == (4, 1)
    assert outputs["risk_score"].shape == (4, 1) and bool((outputs["risk_score"] > 0).all())
    assert outputs["regime_probabilities"].shape == (4, model.config.num_regimes)
    torch.testing.assert_close(outputs["regime_probabilities"].sum(-1), torch.ones(4))
    weights = outputs["attention_weights"]
    assert weights["cross_modal"].shape == (4, 8, 256, 4 * 256)
    assert all(weights[f"encoder_layer_{i}"].shape == (4, 8, 256, 256) for i in range(6))


def test_spec_advanced_configuration_builds_and_runs() -> None:
    config = TradingTransformerConfig(
        d_model=768,
        num_heads=12,
        num_encoder_layers=8,
        d_ff=3072,
        input_features=150,
        output_dim=3,
        max_seq_len=2048,
        use_multi_timeframe=True,
        timeframes=["1m", "5m", "15m", "1h", "4h", "1d"],  # type: ignore[arg-type]
        use_multi_asset=True,
        num_assets=100,
        use_market_regime_detection=True,
        num_regimes=7,
        use_risk_management=True,
        use_temporal_attention=True,
        use_cross_modal_attention=True,
        use_gradient_checkpointing=True,
        use_mixed_precision=True,
        stochastic_depth_rate=0.15,
        pos_encoding_type="crypto",
    )
    model = TradingTransformer(config)
    n = model.num_parameters()
    assert n == sum(p.numel() for p in model.parameters()) and n > 50_000_000
    with torch.no_grad():
        out = model(
            torch.randn(2, 16, 150),
            timestamps=(T0 + 60 * torch.arange(16)).repeat(2, 1),
            asset_ids=torch.tensor([3, 99]),
        )
    assert out["predictions"].shape == (2, 3) and out["regime_probabilities"].shape == (2, 7)
    assert all(torch.isfinite(v).all() for v in out.values() if isinstance(v, torch.Tensor))


# -- every field has an observable effect -------------------------------------------------------------------
FIELD_CASES: list[tuple[str, Any, dict[str, Any]]] = [
    ("d_model", 64, {}),
    ("num_heads", 8, {}),
    ("num_encoder_layers", 3, {}),
    ("d_ff", 48, {}),
    ("dropout", 0.3, {}),
    ("attn_dropout", 0.3, {}),
    ("norm_first", False, {}),
    ("norm_type", "rmsnorm", {}),
    ("activation", "swiglu", {}),
    ("causal", False, {}),
    ("input_features", 9, {}),
    ("output_dim", 2, {}),
    ("prediction_horizon", 3, {}),
    ("use_multi_timeframe", True, {}),
    ("timeframes", ("1m", "5m"), {"use_multi_timeframe": True}),
    ("base_timeframe", "5m", {"use_multi_timeframe": True, "timeframes": ("5m", "15m")}),
    ("use_multi_asset", True, {}),
    ("num_assets", 16, {"use_multi_asset": True}),
    ("use_market_regime_detection", True, {}),
    ("num_regimes", 3, {"use_market_regime_detection": True}),
    ("use_risk_management", True, {}),
    ("use_temporal_attention", True, {}),
    ("temporal_windows", (1, 3), {"use_temporal_attention": True, "use_multi_timeframe": True}),
    ("use_cross_modal_attention", True, {}),
    ("modalities", ("price", "sentiment"), {"use_cross_modal_attention": True}),
    ("use_mixed_precision", True, {}),
    ("stochastic_depth_rate", 0.5, {}),
    ("pos_encoding_type", "learned", {}),
    ("pos_encoding_type", "rope", {}),
    ("pos_encoding_type", "alibi", {}),
    ("pos_encoding_type", "crypto", {}),
]
SPECIAL_FIELDS = {"max_seq_len", "asset_symbols", "use_gradient_checkpointing"}  # tested below


def test_field_cases_cover_every_field() -> None:
    covered = {f for f, _, _ in FIELD_CASES} | SPECIAL_FIELDS
    assert covered == {f.name for f in dataclasses.fields(TradingTransformerConfig)}


@pytest.mark.parametrize(
    ("field", "value", "extra"), FIELD_CASES, ids=[f"{f}={v}" for f, v, _ in FIELD_CASES]
)
def test_every_field_has_an_observable_effect(field: str, value: Any, extra: dict[str, Any]) -> None:
    base_cfg = tiny(**extra)
    mod_cfg = replace_config(base_cfg, **{field: value})
    results = []
    for cfg in (base_cfg, mod_cfg):
        model = build(cfg).train()  # train mode: dropout and stochastic depth act
        kw = inputs(mod_cfg if field == "input_features" else base_cfg)
        if field == "modalities":
            kw["modality_data"] = {"price": kw["modality_data"]["price"]}
        if field == "input_features":
            kw["x"] = kw["x"][..., : cfg.input_features]
        torch.manual_seed(1)
        out = model.forward_steps(**kw)
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)}
        results.append((shapes, {k: v for k, v in out.items() if isinstance(v, torch.Tensor)}))
    (s0, o0), (s1, o1) = results
    structural = s0 != s1 or set(o0) != set(o1) or any(o0[k].shape != o1[k].shape for k in o0)
    assert structural or not torch.equal(o0["predictions"], o1["predictions"])


def test_max_seq_len_limits_the_window() -> None:
    model = build(tiny(max_seq_len=16))
    model(torch.randn(1, 16, 8))
    with pytest.raises(ValueError, match="max_seq_len=16"):
        model(torch.randn(1, 17, 8))


def test_asset_symbols_map_travels_in_state_dict() -> None:
    cfg = tiny(use_multi_asset=True, asset_symbols=("BTC", "ETH"))
    model = build(cfg)
    assert model.asset_id("ETH") == 2 and model.asset_id("DOGE") == 0
    other = build(tiny(use_multi_asset=True, asset_symbols=("ETH", "BTC")))
    with pytest.raises(ValueError, match="asset_symbols"):
        other.load_state_dict(model.state_dict())


def test_gradient_checkpointing_same_gradients_and_used(monkeypatch: pytest.MonkeyPatch) -> None:
    import ml_attention_mechanisms.transformers.transformer_block as tb

    calls = []
    original = tb.checkpoint

    def spy(*a: Any, **k: Any) -> Any:
        calls.append(1)
        return original(*a, **k)

    monkeypatch.setattr(tb, "checkpoint", spy)
    grads = []
    for flag in (False, True):
        cfg = tiny(**ALL_ON, use_gradient_checkpointing=flag, stochastic_depth_rate=0.3)
        model = build(cfg).train()
        torch.manual_seed(3)
        out = model(**inputs(cfg))
        (out["predictions"].sum() + out["risk_score"].sum()).backward()
        grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    assert len(calls) == 2  # one per encoder block, only with the flag
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        assert torch.equal(grads[0][name], grads[1][name]), name


# -- causality, masks --------------------------------------------------------------------------------------
@pytest.mark.parametrize("pos", ["sinusoidal", "learned", "rope", "alibi", "crypto"])
def test_no_look_ahead_bit_for_bit(pos: str) -> None:
    cfg = tiny(**ALL_ON, pos_encoding_type=pos)
    model = build(cfg).eval()
    kw = inputs(cfg)
    out = model.forward_steps(**kw)
    t = 37
    kw2 = {
        **kw,
        "x": kw["x"].clone(),
        "modality_data": {k: v.clone() for k, v in kw["modality_data"].items()},
    }
    kw2["x"][:, t + 1 :] = torch.randn_like(kw2["x"][:, t + 1 :]) * 5
    for v in kw2["modality_data"].values():
        v[:, t + 1 :] += 3.0
    out2 = model.forward_steps(**kw2)
    for key in ("horizon_predictions", "regime_logits", "risk_score"):
        assert torch.equal(out[key][:, : t + 1], out2[key][:, : t + 1]), key
        assert not torch.equal(out[key][:, t + 1 :], out2[key][:, t + 1 :]), key


def test_forward_equals_per_step_output_of_truncated_window() -> None:
    cfg = tiny(**ALL_ON)
    model = build(cfg).eval()
    kw = inputs(cfg)
    steps = model.forward_steps(**kw)
    t = 40
    short = {
        "x": kw["x"][:, : t + 1],
        "timestamps": kw["timestamps"][:, : t + 1],
        "asset_ids": kw["asset_ids"],
        "modality_data": {k: v[:, : t + 1] for k, v in kw["modality_data"].items()},
    }
    out = model(**short)
    torch.testing.assert_close(out["predictions"], steps["predictions"][:, t])
    torch.testing.assert_close(out["regime_probabilities"], steps["regime_probabilities"][:, t])


def test_missing_bars_have_no_effect() -> None:
    cfg = tiny(**ALL_ON)
    model = build(cfg).eval()
    kw = inputs(cfg)
    mask = torch.rand(2, 64) > 0.3
    mask[:, -1] = False  # the last bar is missing: outputs come from the last present one
    out = model(**kw, mask=mask)
    kw2 = {**kw, "x": torch.where(mask.unsqueeze(-1), kw["x"], torch.randn_like(kw["x"]) * 100)}
    kw2["modality_data"] = {
        k: torch.where(mask.unsqueeze(-1), v, torch.full_like(v, float("nan")))
        for k, v in kw["modality_data"].items()
    }
    out2 = model(**kw2, mask=mask)
    for key, value in out.items():
        assert torch.equal(value, out2[key]), key
    # The mask excludes the bars (a zeroed but present bar is not the same thing).
    zeroed = {**kw, "x": torch.where(mask.unsqueeze(-1), kw["x"], torch.zeros_like(kw["x"]))}
    assert not torch.equal(model(**zeroed)["predictions"], out["predictions"])
    last = 63 - torch.flip(mask, [1]).int().argmax(1)
    steps = model.forward_steps(**kw, mask=mask)
    torch.testing.assert_close(out["predictions"], steps["predictions"][torch.arange(2), last])


# -- outputs, helpers -----------------------------------------------------------------------------------
def test_outputs_predict_next_and_attention_maps() -> None:
    cfg = tiny(**ALL_ON)
    model = build(cfg).eval()
    kw = inputs(cfg)
    x = kw.pop("x")
    out = model(x, **kw, need_attention_weights=True)
    assert out["horizon_predictions"].shape == (2, 3, 1)
    nxt = model.predict_next_timestep(x, num_predictions=2, **kw)
    assert nxt.shape == (2, 2, 1)
    torch.testing.assert_close(nxt, out["horizon_predictions"][:, :2])
    with pytest.raises(ValueError, match="prediction_horizon=3"):
        model.predict_next_timestep(x, num_predictions=4, **kw)
    maps = model.get_attention_maps(x, **kw)
    assert maps.keys() == out["attention_weights"].keys() == model.attention_layers().keys()
    for name, w in maps.items():
        assert re.fullmatch(r"[A-Za-z0-9_]+", name)
        assert w.dim() == 4 and w.shape[:3] == (2, cfg.num_heads, 64)
        torch.testing.assert_close(w, out["attention_weights"][name])
    assert torch.all(maps["encoder_layer_0"].triu(1) == 0)  # causal


def test_state_dict_round_trip() -> None:
    cfg = tiny(**ALL_ON, asset_symbols=("BTC",))
    a, b = build(cfg, seed=0).eval(), build(cfg, seed=1).eval()
    b.load_state_dict(a.state_dict())
    kw = inputs(cfg)
    for key, value in a(**kw).items():
        assert torch.equal(value, b(**kw)[key]), key


def test_torch_compile_matches_eager() -> None:
    cfg = tiny(use_market_regime_detection=True, use_risk_management=True)
    model = build(cfg).eval()
    compiled = torch.compile(model, backend="aot_eager")  # dynamo + AOT autograd, without the C++ build
    x = torch.randn(2, 16, 8)
    with torch.no_grad():
        want, got = model(x), compiled(x)
    for key in want:
        torch.testing.assert_close(got[key], want[key])


def test_mixed_precision_float32_weights_and_outputs_no_nan() -> None:
    cfg = tiny(**ALL_ON, use_mixed_precision=True)
    model = build(cfg).train()
    out = model(**inputs(cfg))
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in out.values())
    (out["predictions"].sum() + out["risk_score"].sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    # the same weights (same seed) in float64 are the reference (computed in float64, returned in float32 by
    # the model's contract: a 6e-8 rounding); the float32 model matches it within float32 tolerances, the
    # mixed-precision one within bfloat16's (MIXED_PRECISION_TOL)
    with torch.no_grad():
        want = build(tiny(**ALL_ON)).double().eval()(**as_float64(inputs(cfg)))
        plain = build(tiny(**ALL_ON)).eval()(**inputs(cfg))
        mixed = model.eval()(**inputs(cfg))
    for key in ("risk_score", "predictions"):
        torch.testing.assert_close(plain[key].double(), want[key].double(), **FLOAT32_TOL)
        torch.testing.assert_close(mixed[key].double(), want[key].double(), **MIXED_PRECISION_TOL)


# -- errors ------------------------------------------------------------------------------------------------
def test_input_errors() -> None:
    cfg = tiny(**ALL_ON, num_assets=8)
    model = build(cfg)
    kw = inputs(cfg)
    with pytest.raises(ValueError, match=r"asset id 8 out of range \[0, num_assets=8\)"):
        model(**{**kw, "asset_ids": torch.tensor([1, 8])})
    with pytest.raises(ValueError, match="asset id -1"):
        model(**{**kw, "asset_ids": torch.tensor([-1, 0])})
    model(**{**kw, "asset_ids": torch.zeros(2, 64, dtype=torch.long)})  # [B, T] ids, 0 = unknown
    with pytest.raises(ValueError, match=r"undeclared modality name\(s\) \['tweets'\]; declared: \['price'"):
        model(**{**kw, "modality_data": {"tweets": torch.randn(2, 64, 32)}})
    with pytest.raises(ValueError, match="modality_data\\['price'\\] must be"):
        model(**{**kw, "modality_data": {"price": torch.randn(2, 63, 32)}})
    plain = build(tiny())
    with pytest.raises(ValueError, match="use_cross_modal_attention is False"):
        plain(kw["x"], modality_data={"price": torch.randn(2, 64, 32)})
    with pytest.raises(ValueError, match="use_multi_asset is False"):
        plain(kw["x"], asset_ids=torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="input_features=8"):
        plain(torch.randn(2, 64, 9))
    with pytest.raises(ValueError, match="mask must be bool"):
        plain(kw["x"], mask=torch.ones(2, 64))


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"d_model": 30}, "d_model"),
        ({"num_regimes": 1}, "num_regimes"),
        ({"dropout": -0.1}, "dropout"),
        ({"stochastic_depth_rate": -0.1}, "stochastic_depth_rate"),
        ({"attn_dropout": 1.0}, "attn_dropout"),
        ({"timeframes": ("1m", "7x")}, "timeframes"),
        ({"timeframes": ("30s", "1m")}, "timeframes"),
        ({"base_timeframe": "1minute"}, "base_timeframe"),
        ({"pos_encoding_type": "fourier"}, "pos_encoding_type"),
        ({"num_assets": 2, "asset_symbols": ("A", "B")}, "asset_symbols"),
        ({"modalities": ("price", "price")}, "modalities"),
        ({"temporal_windows": (0,)}, "temporal_windows"),
        ({"num_encoder_layers": 0}, "num_encoder_layers"),
        ({"norm_type": "batch"}, "norm_type"),
        ({"activation": "relu"}, "activation"),
    ],
)
def test_bad_config_raises_naming_field(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=f"TradingTransformerConfig.{field}="):
        tiny(**kw)


def test_timeframe_finer_than_base_raises_when_built() -> None:
    with pytest.raises(ValueError, match="not finer"):
        create_trading_transformer(**TINY, base_timeframe="5m", timeframes=("1m", "15m"))


def test_factory_defaults_and_unknown_keys() -> None:
    assert create_trading_transformer(**TINY).cross_modal is not None
    assert create_trading_transformer(**TINY, use_cross_modal_attention=False).cross_modal is None
    with pytest.raises(TypeError, match="unknown field"):
        create_trading_transformer(**TINY, num_layers=3)
