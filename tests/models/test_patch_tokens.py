"""Patch tokens (``patch_size > 1``): layout, masks, causality, every model forward/backward, streaming."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from _model_helpers import T0, hourly_timestamps, multi_asset_batch, single_asset_batch
from torch import Tensor, nn

from ml_attention_mechanisms.inference import StreamingConfig, StreamingPredictor, export_onnx, export_program
from ml_attention_mechanisms.inference._inputs import example_inputs, example_scale, takes_scale
from ml_attention_mechanisms.inference.export import max_abs_diff
from ml_attention_mechanisms.models import (
    CryptoPredictionModelConfig,
    create_crypto_model,
    get_model_entry,
    list_models,
)
from ml_attention_mechanisms.models._patches import patch_tokens

HOUR = 3600


# One registered name per model class (presets share their class's graph).
CLASSES = sorted({get_model_entry(n).model_cls: n for n in sorted(list_models(), reverse=True)}.values())


def _model(name: str, **overrides: Any) -> nn.Module:
    kwargs = {**get_model_entry(name).model_cls.test_kwargs(), "patch_size": 2, **overrides}
    return create_crypto_model(name, **kwargs)


def _batch(model: nn.Module, **kw: Any) -> dict[str, Any]:
    multi = type(model).DATA_KIND == "multi_asset"  # type: ignore[attr-defined]
    return multi_asset_batch(model, **kw) if multi else single_asset_batch(model, **kw)


def _reference_tokens(x: Tensor, ts: Tensor, mask: Tensor, p: int) -> tuple[Tensor, Tensor, Tensor]:
    """Plain loops: the bars up to each row's last present bar, left-padded with absent bars to whole patches."""
    b, t, f = x.shape
    n = -(-t // p)
    feats = torch.zeros(b, n, p * f + p)
    times = torch.zeros(b, n, dtype=torch.int64)
    present = torch.zeros(b, n, dtype=torch.bool)
    for row in range(b):
        last = int(mask[row].nonzero().max()) if mask[row].any() else 0
        for k in range(n):
            for j in range(p):
                bar = last - (n * p - 1 - (k * p + j))  # slot k*p+j of the row's grid
                if bar >= 0 and bool(mask[row, bar]):
                    feats[row, k, j * f : (j + 1) * f] = x[row, bar]
                    feats[row, k, p * f + j] = 1.0
                    present[row, k] = True
            times[row, k] = ts[row, max(last - (n * p - 1 - (k * p + p - 1)), 0)]
    return feats, times, present


def test_patch_size_is_validated() -> None:
    with pytest.raises(ValueError, match=r"patch_size=0: must be a positive int"):
        CryptoPredictionModelConfig(patch_size=0)
    with pytest.raises(ValueError, match=r"patch_size=3: must divide attention_window \(8\)"):
        CryptoPredictionModelConfig(attention_window=8, patch_size=3)
    assert CryptoPredictionModelConfig(attention_window=8, patch_size=8).patch_size == 8


@pytest.mark.parametrize("p", [2, 3, 4])
def test_patch_layout_matches_a_reference_loop(p: int) -> None:
    x, ts = torch.randn(3, 11, 2), hourly_timestamps(3, 11)
    mask = torch.ones(3, 11, dtype=torch.bool)
    mask[1, [2, 9, 10]] = False  # a gap and two missing bars at the end
    mask[2, :5] = False  # not listed yet
    x[~mask] = float("nan")  # absent values never reach a token
    tok = patch_tokens(x, p, timestamps=ts, asset_ids=torch.tensor([1, 2, 3]), mask=mask)
    feats, times, present = _reference_tokens(x.nan_to_num(0.0), ts, mask, p)
    assert tok.features.shape == (3, -(-11 // p), p * 2 + p)
    assert torch.equal(tok.features, feats)
    assert torch.equal(tok.timestamps, times)  # type: ignore[arg-type]
    assert torch.equal(tok.mask, present)  # type: ignore[arg-type]
    # The last token ends at each row's last present bar.
    assert tok.timestamps[1, -1] == ts[1, 8] and tok.timestamps[0, -1] == ts[0, 10]  # type: ignore[index]
    # Without a mask: one grid ending at the last bar, every token present (mask None).
    full = patch_tokens(x.nan_to_num(0.0), p, timestamps=ts)
    ref, ref_times, _ = _reference_tokens(x.nan_to_num(0.0), ts, torch.ones(3, 11, dtype=torch.bool), p)
    assert full.mask is None and torch.equal(full.features, ref) and torch.equal(full.timestamps, ref_times)  # type: ignore[arg-type]


def test_per_bar_asset_ids_and_extra_follow_the_patch() -> None:
    x, ts = torch.randn(1, 6, 2), hourly_timestamps(1, 6)
    mask = torch.tensor([[True, False, True, True, True, True]])
    ids = torch.tensor([[1, 1, 2, 2, 3, 4]])
    extra = torch.arange(6, dtype=torch.float32).view(1, 6, 1).expand(1, 6, 3)
    tok = patch_tokens(x, 2, timestamps=ts, asset_ids=ids, mask=mask, extra=extra)
    assert tok.asset_ids.tolist() == [[1, 2, 4]]  # type: ignore[union-attr]  # the last bar's id
    # The mean over the patch's present bars (bar 1 is absent).
    assert tok.extra[0, :, 0].tolist() == [0.0, 2.5, 4.5]  # type: ignore[index]


@pytest.mark.parametrize("name", CLASSES)
def test_every_model_with_patches_trains_and_keeps_its_output_shapes(name: str) -> None:
    torch.manual_seed(0)
    bars = _model(name, patch_size=1)
    patched = _model(name, patch_size=4)
    batch = _batch(patched, seq_len=13)
    if "mask" in batch:
        batch["mask"][0, 3] = False
    else:
        batch["asset_mask"][0, 3, 1] = False
    out = patched(**patched.training_inputs(batch))  # type: ignore[operator]
    ref = bars(**bars.training_inputs(batch))  # type: ignore[operator]
    for key, value in ref.items():
        if isinstance(value, Tensor):
            assert out[key].shape == value.shape, key
            assert torch.isfinite(out[key].float()).all(), key
    loss, _ = patched.loss(out, batch)  # type: ignore[operator]
    loss.backward()
    grads = {n: p.grad for n, p in patched.named_parameters() if p.grad is not None}
    assert all(torch.isfinite(g).all() for g in grads.values())
    assert "encoder.input_proj.weight" in grads and grads["encoder.input_proj.weight"].abs().sum() > 0
    assert patched.encoder.input_proj.in_features == 4 * patched.config.input_features + 4  # type: ignore[union-attr]


@pytest.mark.parametrize("name", CLASSES)
def test_no_look_ahead_with_patches(name: str) -> None:
    """A token's state, and a forecast made at bar t, never depend on bars after t (bit for bit)."""
    torch.manual_seed(1)
    model = _model(name, num_encoder_layers=2).eval()
    p, t_len, t = 2, 14, 8  # tokens end at bars 1, 3, 5, 7, 9, ...: bar t=8 closes no token; 7 does
    f = model.config.input_features  # type: ignore[union-attr]
    x, ts = torch.randn(3, t_len, f), hourly_timestamps(3, t_len)
    x2, ts2 = x.clone(), ts.clone()
    x2[:, t + 1 :] = 100.0 * torch.randn_like(x2[:, t + 1 :])
    ts2[:, t + 1 :] += 5 * HOUR  # later bars at other times too
    with torch.no_grad():
        h1, _ = model.encoder(x, timestamps=ts)  # type: ignore[operator]
        h2, _ = model.encoder(x2, timestamps=ts2)  # type: ignore[operator]
    closed = (t + 1) // p  # tokens whose last bar is <= t
    assert torch.equal(h1[:, :closed], h2[:, :closed])
    assert not torch.equal(h1[:, closed:], h2[:, closed:])
    # A forecast at bar t: the bars after it marked absent (and perturbed) change nothing, bit for bit, and it
    # equals the forecast from the window cut at t.
    mask = torch.ones(3, t_len, dtype=torch.bool)
    mask[:, t + 1 :] = False
    kind = get_model_entry(name).data_kind

    def run(features: Tensor, times: Tensor, m: Tensor) -> dict[str, Any]:
        if kind == "multi_asset":
            a = features.view(3, features.shape[1], 1, f).expand(-1, -1, 2, -1)
            return dict(model(a, timestamps=times, mask=m.unsqueeze(-1).expand(-1, -1, 2)))
        return dict(model(features, times, mask=m))

    with torch.no_grad():
        a, b = run(x, ts, mask), run(x2, ts2, mask)
        cut = run(x[:, : t + 1], ts[:, : t + 1], mask[:, : t + 1])
    for key, value in a.items():
        if isinstance(value, Tensor) and value.is_floating_point():
            assert torch.equal(value, b[key]), key
            if kind != "multi_asset":  # (the portfolio counts an asset whose last bar is absent as absent)
                torch.testing.assert_close(value, cut[key], rtol=1e-5, atol=1e-6, msg=key)


def test_absent_bars_have_no_effect_and_absent_tokens_are_masked() -> None:
    model = _model("price_predictor", attention_window=8).eval()
    x, ts = torch.randn(2, 12, 6), hourly_timestamps(2, 12)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[:, [1, 4, 5]] = False  # the patch of bars 4, 5 is absent as a whole
    y = x.clone()
    y[~mask] = float("nan")
    with torch.no_grad():
        out_nan = model(y, ts, mask=mask)["quantiles"]
        y[~mask] = 1e3
        out_big = model(y, ts, mask=mask)["quantiles"]
        _, weights = model.encoder(y, timestamps=ts, mask=mask, need_weights=True)
    assert torch.equal(out_nan, out_big)
    w = weights["temporal_layer0"]  # (B, H, N, N): token 2 (bars 4, 5) is never attended
    assert torch.all(w[..., 2] == 0) and torch.all(w[..., 3:, 3] > 0)


def test_patch_model_streams_by_recomputing_and_refuses_the_cached_mode() -> None:
    model = _model("price_predictor", num_encoder_layers=2).eval()
    with pytest.raises(ValueError, match="mode='cached'.*use mode='recompute'"):
        StreamingPredictor(model, config=StreamingConfig(mode="cached"))
    live = StreamingPredictor(model, asset_id=2)
    assert live.mode == "recompute" and type(model).STREAMABLE  # the class streams bar by bar; this model not
    n = 30
    rows = torch.randn(n, model.config.input_features)  # type: ignore[union-attr]
    rows[[3, 11]] = float("nan")
    times = T0 + HOUR * torch.arange(n)
    for i in range(n):
        got = live.update(int(times[i]), rows[i])
        if i in (3, 11):
            continue
        present = torch.isfinite(rows[: i + 1]).all(-1)
        x = torch.where(present.unsqueeze(-1), rows[: i + 1], torch.zeros(()))
        with torch.no_grad():
            ref = model(x[None], times[None, : i + 1], torch.tensor([2]), mask=present[None])
        for key in ("predictions", "quantiles"):
            torch.testing.assert_close(got[key], ref[key], rtol=1e-5, atol=1e-5, msg=key)


@pytest.mark.extras("export")
@pytest.mark.parametrize("name", CLASSES)
def test_patch_models_export_to_torch_export_and_onnx(name: str, tmp_path: Path) -> None:
    """As the models' own export test: dynamic batch and bars (so a dynamic number of patches)."""
    import onnxruntime as ort

    model = _model(name).eval()
    multi = get_model_entry(name).data_kind == "multi_asset"
    program = export_program(model, tmp_path / f"{name}.pt2", num_assets=3 if multi else None)
    assert program.max_abs_diff is not None and program.max_abs_diff <= 1e-4
    result = export_onnx(model, tmp_path / f"{name}.onnx", program=program)
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-4
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    for batch, seq_len in ((1, 9), (4, 12)):  # an odd length: a partial first patch
        features, timestamps = example_inputs(model, batch=batch, seq_len=seq_len)
        extra = {"scale": example_scale(model, features)} if takes_scale(model) else {}
        feeds = {"features": features.numpy(), "timestamps": timestamps.numpy()}
        got = session.run(None, {**feeds, **{k: v.numpy() for k, v in extra.items()}})
        with torch.no_grad():
            ref = model(features, timestamps=timestamps, **extra)
        assert max_abs_diff([ref[k] for k in result.output_names], [torch.from_numpy(g) for g in got]) <= 1e-4
