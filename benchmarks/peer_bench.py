"""The crypto models beside the libraries a user would pick instead, measured in one process.

``python benchmarks/peer_bench.py [--quick] [--threads N] [--json PATH]`` times, at one size (batch 64,
window 128 bars, d_model 128, 8 heads, 3 encoder layers, d_ff 256, 24-step horizon, 17 features, float32 on
the CPU, ``--threads`` intra-op threads, default 2):

- ``price_predictor`` as built by default (crypto attention: time-aware ALiBi and market time), the same
  with ``attention_kind="standard"`` (index ALiBi, no market time), and with ``patch_size=8`` (16 patch
  tokens);
- x-transformers ``ContinuousTransformerWrapper`` + ``Encoder`` of the same size (128 bar tokens, head dim
  16, ``ff_mult=2``, the 24 outputs read at the last token, MAE loss), as built by default and with
  ``attn_flash=True`` (its option for PyTorch's fused attention kernel, about twice as fast on the CPU);
- NeuralForecast ``PatchTST`` (hidden 128, 3 layers, patch 16 with stride 8: 16 patch tokens, its
  defaults otherwise; the univariate series as it takes it);
- like for like, since the defaults differ in regularisation (``price_predictor`` trains with dropout 0.1,
  x-transformers' ``Encoder`` with none): ``price_predictor`` with ``dropout=0``, and x-transformers with
  ``attn_flash=True`` and ``attn_dropout=ff_dropout=0.1``. These two are rows; the ratio columns stay the
  three peers as built by default.

Protocol: every model gets the same synthetic batch shapes and an AdamW step with gradient clipping at 1;
5 warm-up then 20 timed optimiser steps (forward, loss, backward, clip, step), the models interleaved step
by step so that machine load hits them alike; the median. Then the batch-1 forward in eval mode without
gradients, median of 50 (interleaved too). It prints the table, the ratios to each peer, the machine
(CPU model, load average before and after) and torch's version.

The peers are the optional ``bench`` extra (``pip install -c constraints.txt "ml-attention-mechanisms[bench]"``:
x-transformers and neuralforecast, torch held to the build in use); a peer that is not installed is skipped
and the output says which and why. A library version without patch tokens (an older checkout on
``PYTHONPATH``) skips that row the same way.

Shapes:
    ``B`` batch, ``T`` bars, ``F`` features, ``H`` horizon.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Case, format_table, load_note, time_interleaved

from ml_attention_mechanisms import CryptoPredictionModelConfig, create_crypto_model

B, T, F, D, HEADS, LAYERS, D_FF, HORIZON = 64, 128, 17, 128, 8, 3, 256, 24
DROPOUT = CryptoPredictionModelConfig().dropout  # the models' default (the peers' defaults have none)
T0 = 1_609_459_200  # 2021-01-01, hourly bars
BENCH_EXTRA = 'pip install -c constraints.txt "ml-attention-mechanisms[bench]"'


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else the platform's."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover - non-Linux
        pass
    return platform.processor() or platform.machine()


class Subject:
    """One model to time: a training step on a fixed batch and a batch-1 forward."""

    def __init__(
        self, name: str, model: nn.Module, loss: Callable[[int], Tensor], infer: Callable[[], Any]
    ) -> None:
        self.name, self.model, self._loss, self._infer = name, model, loss, infer
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        self.params = sum(p.numel() for p in model.parameters() if p.requires_grad)

    def step(self) -> None:  # train mode, set by the caller
        loss = self._loss(B)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()

    def forward(self) -> None:  # eval mode, set by the caller
        with torch.no_grad():
            self._infer()


def _series(batch: int, generator: torch.Generator) -> dict[str, Tensor]:
    start = T0 + 3600 * torch.randint(0, 20_000, (batch, 1), generator=generator)  # windows at other times
    return {
        "price_data": torch.randn(batch, T, F, generator=generator),
        "timestamps": start + 3600 * torch.arange(T),
        "asset_ids": torch.randint(1, 6, (batch,), generator=generator),
        "mask": torch.ones(batch, T, dtype=torch.bool),
        "targets": {
            "returns": 0.01 * torch.randn(batch, HORIZON, generator=generator),
            "volatility": 0.01 * torch.rand(batch, HORIZON, generator=generator) + 1e-3,
        },
    }


def ours(name: str, **overrides: Any) -> Subject:
    """``price_predictor`` at the benchmark's size (``overrides``: config fields)."""
    model: Any = create_crypto_model(
        "price_predictor",
        d_model=D,
        num_heads=HEADS,
        num_encoder_layers=LAYERS,
        d_ff=D_FF,
        attention_window=T,
        input_features=F,
        prediction_horizon=HORIZON,
        **overrides,
    )
    g = torch.Generator().manual_seed(0)
    train, one = _series(B, g), _series(1, g)

    def loss(_: int) -> Tensor:
        return model.loss(model(**model.training_inputs(train)), train)[0]  # type: ignore[no-any-return]

    return Subject(name, model, loss, lambda: model(**model.training_inputs(one)))


def x_transformers(*, flash: bool = False, dropout: float = 0.0) -> Subject | str:
    """x-transformers' continuous encoder of the same size (``flash``: its fused-attention option; ``dropout``:
    its ``attn_dropout`` and ``ff_dropout``, 0 by default), or why it cannot run."""
    try:
        from x_transformers import ContinuousTransformerWrapper, Encoder
    except ImportError:
        return f"x-transformers is not installed ({BENCH_EXTRA})"
    model = ContinuousTransformerWrapper(
        dim_in=F,
        dim_out=HORIZON,
        max_seq_len=T,
        attn_layers=Encoder(
            dim=D,
            depth=LAYERS,
            heads=HEADS,
            attn_dim_head=D // HEADS,
            ff_mult=D_FF // D,
            attn_flash=flash,
            attn_dropout=dropout,
            ff_dropout=dropout,
        ),
    )
    g = torch.Generator().manual_seed(0)
    x, y, one = torch.randn(B, T, F, generator=g), torch.randn(B, HORIZON, generator=g), torch.randn(1, T, F)
    option = (", attn_flash=True" if flash else "") + (f", dropout {dropout:g}" if dropout else "")
    return Subject(
        f"x-transformers ContinuousTransformerWrapper + Encoder (128 tokens{option})",
        model,
        lambda _: (model(x)[:, -1] - y).abs().mean(),
        lambda: model(one)[:, -1],
    )


def patchtst() -> Subject | str:
    """NeuralForecast's PatchTST (hidden 128, 3 layers, 16 patch tokens), or why it cannot run."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from neuralforecast.models import PatchTST
    except ImportError:
        return f"neuralforecast is not installed ({BENCH_EXTRA})"
    for name in ("lightning", "lightning.pytorch", "pytorch_lightning", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    model = PatchTST(
        h=HORIZON,
        input_size=T,
        hidden_size=D,
        encoder_layers=LAYERS,
        linear_hidden_size=D_FF,
        patch_len=16,
        stride=8,
    )
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(B, T, 1, generator=g), torch.randn(B, HORIZON, generator=g)
    one = {"insample_y": torch.randn(1, T, 1)}
    return Subject(
        "NeuralForecast PatchTST (hidden 128, 3 layers, 16 patch tokens)",
        model,
        lambda _: (model({"insample_y": x}).squeeze(-1) - y).abs().mean(),
        lambda: model(one),
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--quick", action="store_true", help="1 warm-up, 3 steps, 5 forwards (a smoke run)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    before = load_note()
    subjects: list[Subject] = [
        ours("price_predictor (crypto attention + market time, the default)"),
        ours(
            'price_predictor, attention_kind="standard", use_market_time=False',
            attention_kind="standard",
            use_market_time=False,
        ),
    ]
    try:
        subjects.append(ours("price_predictor, patch_size=8 (16 patch tokens)", patch_size=8))
    except TypeError as err:  # a library version without patch tokens
        print(f"# skipped price_predictor, patch_size=8: {err}", flush=True)
    peers: dict[str, Subject] = {}
    makers: tuple[tuple[str, Callable[[], Subject | str]], ...] = (
        ("x-transformers", x_transformers),
        ("x-transformers flash", lambda: x_transformers(flash=True)),
        ("PatchTST", patchtst),
    )
    for key, make in makers:
        made = make()
        if isinstance(made, str):
            print(f"# skipped peer {key}: {made}", flush=True)
        else:
            peers[key] = made
            subjects.append(made)
    # like for like: each side with the other's regularisation (rows, not ratio columns)
    subjects.append(ours("price_predictor, dropout=0 (as the peers' defaults)", dropout=0.0))
    if "x-transformers flash" in peers:
        made = x_transformers(flash=True, dropout=DROPOUT)
        assert not isinstance(made, str)
        subjects.append(made)
    warmup, steps, forwards = (1, 3, 5) if args.quick else (5, 20, 50)
    for s in subjects:
        s.model.train()  # (mode switches walk every module: kept out of the timed calls)
    train = time_interleaved({s.name: Case(s.step) for s in subjects}, runs=steps, warmup=warmup)
    for s in subjects:
        s.model.eval()
    infer = time_interleaved({s.name: Case(s.forward) for s in subjects}, runs=forwards, warmup=5)
    after = load_note()
    rows, figures = [], []
    for s in subjects:
        step_ms, fwd_ms = train[s.name].median_ms, infer[s.name].median_ms
        row = [s.name, f"{s.params / 1e3:.0f} k", f"{1e3 * B / step_ms:,.0f}", f"{fwd_ms:.2f} ms"]
        for peer in peers.values():
            row.append(
                f"{train[peer.name].median_ms / step_ms:.2f}x / {infer[peer.name].median_ms / fwd_ms:.2f}x"
            )
        rows.append(row)
        figures.append({"model": s.name, "params": s.params, "step_ms": step_ms, "windows_per_s": 1e3 * B / step_ms,
                        "forward_ms": fwd_ms})  # fmt: skip
    header = ["model", "params", "training windows/s", "batch-1 forward"]
    header += [f"vs {key} (training / forward speed)" for key in peers]
    print(
        f"CPU {cpu_model()}, {os.cpu_count()} cores, {args.threads} threads, torch {torch.__version__}, float32; "
        f"batch {B}, window {T}, d_model {D}, {HEADS} heads, {LAYERS} layers, d_ff {D_FF}, horizon {HORIZON}; "
        f"{warmup} warm-up + {steps} timed optimiser steps (median), batch-1 forward median of {forwards}"
    )
    print(f"before: {before}; after: {after}")
    print(f"peers run: {', '.join(peers) or 'none'}")
    print(format_table(header, rows))
    if args.json is not None:
        args.json.write_text(json.dumps({"threads": args.threads, "torch": torch.__version__, "cpu": cpu_model(),
                                         "load_before": before, "load_after": after, "rows": figures}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main(sys.argv[1:]))
