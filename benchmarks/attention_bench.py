"""Attention benchmarks: ``python benchmarks/attention_bench.py`` (``--quick`` for a smoke run).

CPU, float32, 2 threads (``OMP_WAIT_POLICY=PASSIVE`` unless set), batch 4, 8 heads, d_model 512; every group of
cases is timed interleaved, median
of 10 runs after 2 warm-ups, spread = half the min..max range; the peak RSS of each case is read in a fresh
subprocess (``VmHWM`` reset after set-up and warm-up). Prints the per-case table, then the targets
with the measured ratio and PASS / MISS. ``--json PATH`` also writes the figures.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning: on a shared, oversubscribed machine spinning threads steal
# the cores the other thread of a 2-thread region needs, which turned a ~1 ms decode step into ~30-70 ms.
# It must be set before the OpenMP runtime starts (at ``import torch``); an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    Case,
    Timing,
    format_table,
    load_note,
    peak_rss_in_subprocess,
    run_peak_case,
    time_interleaved,
)

from ml_attention_mechanisms import (
    AttentionConfig,
    CausalAttention,
    ChunkedAttention,
    LinearAttention,
    MultiHeadAttention,
)
from ml_attention_mechanisms.attention._dispatch import attend, explain_dispatch

THREADS, BATCH, HEADS, D_MODEL = 2, 4, 8, 512
HEAD_DIM = D_MODEL // HEADS


def _config(**kw: object) -> AttentionConfig:
    return AttentionConfig(d_model=D_MODEL, num_heads=HEADS, **kw)  # type: ignore[arg-type]


def _x(t: int, batch: int = BATCH) -> torch.Tensor:
    return torch.randn(batch, t, D_MODEL)


def _pair() -> tuple[MultiHeadAttention, nn.MultiheadAttention]:
    """Our layer and torch's with the same weights (the same work: packed projections included)."""
    ours = MultiHeadAttention(_config())
    theirs = nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True)
    with torch.no_grad():
        ours.in_proj.weight.copy_(theirs.in_proj_weight)
        ours.out_proj.weight.copy_(theirs.out_proj.weight)
    return ours, theirs


def _train(module: nn.Module, call: Callable[[], torch.Tensor]) -> Case:
    module.train()

    def setup() -> None:
        for p in module.parameters():
            p.grad = None

    return Case(lambda: call().sum().backward(), setup)


def _infer(module: nn.Module, call: Callable[[], object]) -> Case:
    module.eval()

    def fn() -> None:
        with torch.no_grad():
            call()

    return Case(fn)


def _mha_cases(kind: str, t: int) -> dict[str, Callable[[], Case]]:
    def ours() -> Case:
        layer, _ = _pair()
        x = _x(t)
        if kind == "train":
            return _train(layer, lambda: layer(x))  # type: ignore[arg-type,return-value]
        return _infer(layer, lambda: layer(x, is_causal=kind == "causal"))

    def theirs() -> Case:
        _, layer = _pair()
        x = _x(t)
        mask = ~torch.ones(t, t, dtype=torch.bool).tril() if kind == "causal" else None
        call = lambda: layer(x, x, x, attn_mask=mask, need_weights=False, is_causal=mask is not None)[0]  # noqa: E731
        return _train(layer, call) if kind == "train" else _infer(layer, call)

    return {f"mha_{kind}_ours_{t}": ours, f"mha_{kind}_torch_{t}": theirs}


def _kernel_cases(t: int) -> dict[str, Callable[[], Case]]:
    def qkv() -> tuple[torch.Tensor, ...]:
        return tuple(torch.randn(BATCH, HEADS, t, HEAD_DIM) for _ in range(3))

    def fast() -> Case:
        q, k, v = qkv()
        return Case(lambda: attend(q, k, v, is_causal=True))

    def naive() -> Case:  # explicit score matrix + boolean causal mask + softmax
        q, k, v = qkv()
        mask = torch.ones(t, t, dtype=torch.bool).tril()
        return Case(lambda: attend(q, k, v, mask=mask, backend="math"))

    return {f"causal_fast_path_{t}": fast, f"naive_masked_softmax_{t}": naive}


def _layer_case(make: Callable[[], nn.Module], t: int, batch: int = BATCH) -> Callable[[], Case]:
    def build() -> Case:
        layer = make()
        x = _x(t, batch)
        return _infer(layer, lambda: layer(x))

    return build


def _decode_cases(context: int) -> dict[str, Callable[[], Case]]:
    def step() -> Case:
        layer = CausalAttention(_config()).eval()
        x = _x(context + 1)
        with torch.no_grad():
            prefilled = layer.new_cache()
            layer(x[:, : context - 1], cache=prefilled)
            layer.step(x[:, context - 1], prefilled)  # grows the buffer past `context`
        holder: dict[str, object] = {}

        def setup() -> None:  # a shallow copy shares the buffer: each run decodes position `context` again
            holder["cache"] = copy.copy(prefilled)

        return Case(lambda: _no_grad(lambda: layer.step(x[:, context], holder["cache"])), setup)  # type: ignore[arg-type]

    def recompute() -> Case:
        layer = CausalAttention(_config()).eval()
        x = _x(context + 1)
        return _infer(layer, lambda: layer(x))

    return {f"decode_step_cached_{context}": step, f"decode_recompute_{context}": recompute}


def _no_grad(fn: Callable[[], object]) -> object:
    with torch.no_grad():
        return fn()


def registry(quick: bool) -> tuple[dict[str, Callable[[], Case]], list[list[str]], dict[str, int]]:
    """All case builders, the timing groups (interleaved together), and the sizes used."""
    s = {"t1": 1024, "t2": 2048, "long": 8192, "mem": 8192, "ctx": 1024, "table": 1024}
    if quick:
        s = {"t1": 256, "t2": 512, "long": 2048, "mem": 2048, "ctx": 256, "table": 256}
    cases: dict[str, Callable[[], Case]] = {}
    groups: list[list[str]] = []
    for t in (s["t1"], s["t2"]):
        for kind in ("train", "infer", "causal"):
            group = _mha_cases(kind, t)
            cases.update(group)
            groups.append(list(group))
    group = _kernel_cases(s["t2"])
    cases.update(group)
    groups.append(list(group))
    mem = {
        f"fast_path_b1_{s['mem']}": _layer_case(lambda: MultiHeadAttention(_config()), s["mem"], 1),
        f"math_path_b1_{s['mem']}": _layer_case(
            lambda: MultiHeadAttention(_config(), use_flash_attn=False), s["mem"], 1
        ),
        f"chunked_64mb_b1_{s['mem']}": _layer_case(
            lambda: ChunkedAttention(_config(), max_memory_mb=64), s["mem"], 1
        ),
    }
    cases.update(mem)
    groups.append(list(mem))
    # The scaling pair is timed in a group of its own, so that the 3 s SDPA case is not interleaved
    # between its two cases; the speed comparison with SDPA has its own pair.
    lin = {
        f"linear_{s['t2']}": _layer_case(lambda: LinearAttention(_config()), s["t2"]),
        f"linear_{s['long']}": _layer_case(lambda: LinearAttention(_config()), s["long"]),
    }
    cases.update(lin)
    groups.append(list(lin))
    vs = {
        f"linear_vs_sdpa_{s['long']}": _layer_case(lambda: LinearAttention(_config()), s["long"]),
        f"sdpa_{s['long']}": _layer_case(lambda: MultiHeadAttention(_config()), s["long"]),
    }
    cases.update(vs)
    groups.append(list(vs))
    group = _decode_cases(s["ctx"])
    cases.update(group)
    groups.append(list(group))
    tt = s["table"]
    table = {
        f"table_standard_math_{tt}": _layer_case(
            lambda: MultiHeadAttention(_config(), use_flash_attn=False), tt
        ),
        f"table_fused_sdpa_{tt}": _layer_case(lambda: MultiHeadAttention(_config()), tt),
        f"table_linear_{tt}": _layer_case(lambda: LinearAttention(_config()), tt),
        f"table_chunked_{tt}": _layer_case(lambda: ChunkedAttention(_config(), max_memory_mb=16), tt),
    }
    cases.update(table)
    groups.append(list(table))
    return cases, groups, s


def targets(s: dict[str, int]) -> list[tuple[str, str, str, str, float]]:
    """(description, numerator case, denominator case, op, threshold) with ratio = numerator / denominator."""
    t1, t2, long, mem, ctx = s["t1"], s["t2"], s["long"], s["mem"], s["ctx"]
    out = []
    for t in (t1, t2):
        out.append(
            (
                f"MHA / torch MHA, training fwd+bwd, {t}",
                f"mha_train_ours_{t}",
                f"mha_train_torch_{t}",
                "<=",
                1.10,
            )
        )
        out.append(
            (
                f"MHA / torch MHA, inference, no mask, {t}",
                f"mha_infer_ours_{t}",
                f"mha_infer_torch_{t}",
                "<=",
                1.0,
            )
        )
    out.append(
        (
            f"torch MHA / MHA, inference, causal, {t1}",
            f"mha_causal_torch_{t1}",
            f"mha_causal_ours_{t1}",
            ">=",
            2.5,
        )
    )
    out.append(
        (
            f"torch MHA / MHA, inference, causal, {t2}",
            f"mha_causal_torch_{t2}",
            f"mha_causal_ours_{t2}",
            ">=",
            3.0,
        )
    )
    out.append(
        (
            f"naive masked softmax / causal fast path, {t2}",
            f"naive_masked_softmax_{t2}",
            f"causal_fast_path_{t2}",
            ">=",
            5.0,
        )
    )
    out.append(
        (
            f"peak memory fast / math path, b1 {mem}",
            f"fast_path_b1_{mem}",
            f"math_path_b1_{mem}",
            "<=mem",
            0.25,
        )
    )
    out.append((f"LinearAttention {long} / {t2}", f"linear_{long}", f"linear_{t2}", "<=", 5.0))
    out.append((f"SDPA MHA / LinearAttention, {long}", f"sdpa_{long}", f"linear_vs_sdpa_{long}", ">=", 3.0))
    out.append(
        (
            f"recompute / cached decode step, context {ctx}",
            f"decode_recompute_{ctx}",
            f"decode_step_cached_{ctx}",
            ">=",
            20.0,
        )
    )
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, 3 runs: a smoke run, not the protocol"
    )
    parser.add_argument("--runs", type=int, default=None, help="timed runs per case (default 10, quick 3)")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-case peak-RSS subprocesses")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--only", default=None, help="run only the groups with a case name containing this")
    parser.add_argument("--peak", default=None, help=argparse.SUPPRESS)  # child mode: one case's peak RSS
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    cases, groups, sizes = registry(args.quick)
    if args.peak is not None:
        print(json.dumps(run_peak_case(cases[args.peak]())))
        return 0
    if args.only is not None:
        groups = [g for g in groups if any(args.only in name for name in g)]
        cases = {name: cases[name] for g in groups for name in g}
    runs = args.runs or (3 if args.quick else 10)
    print(
        f"# attention benchmarks: CPU float32, {THREADS} threads, batch {BATCH}, {HEADS} heads, d_model {D_MODEL}"
    )
    print(f"# {runs} timed runs per case after 2 warm-ups, groups interleaved; {load_note()} at start")
    print(f"# OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset: libgomp default, spins)')}")
    q = torch.randn(BATCH, HEADS, 8, HEAD_DIM)
    print(
        "# dispatch for causal self-attention: " + explain_dispatch(q, q, q, is_causal=True).splitlines()[-1]
    )
    timings: dict[str, Timing] = {}
    for group in groups:
        built = {name: cases[name]() for name in group}
        timings.update(time_interleaved(built, runs=runs))
        del built
        print(f"#   timed {', '.join(group)}", flush=True)
    peaks: dict[str, float] = {}
    if not args.no_memory:
        extra = ["--quick"] if args.quick else []
        for name in cases:
            peaks[name] = peak_rss_in_subprocess(__file__, name, extra)
    print(f"# {load_note()} at end\n")
    rows = [
        [
            name,
            f"{timings[name].median_ms:.2f}",
            f"+-{timings[name].spread_pct:.0f}%",
            f"{peaks[name]:.0f}" if name in peaks else "-",
        ]
        for name in cases
    ]
    print(format_table(["case", "median ms", "spread", "peak RSS MB"], rows))
    trows, missed = [], 0
    for desc, num, den, op, thr in targets(sizes):
        if num not in timings or den not in timings:
            continue
        if op == "<=mem":
            if num not in peaks:
                continue
            ratio, ok = peaks[num] / max(peaks[den], 1e-9), peaks[num] / max(peaks[den], 1e-9) <= thr
        else:
            ratio = timings[num].median_ms / timings[den].median_ms
            ok = ratio <= thr if op == "<=" else ratio >= thr
        missed += not ok
        trows.append([desc, f"{ratio:.2f}x", f"{op.replace('mem', '')} {thr}", "PASS" if ok else "MISS"])
    print()
    print(format_table(["target", "measured", "target", "result"], trows))
    if args.json is not None:
        payload = {
            "sizes": sizes,
            "runs": runs,
            "timings_ms": {k: vars(v) for k, v in timings.items()},
            "peak_rss_mb": peaks,
            "targets": trows,
        }
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
