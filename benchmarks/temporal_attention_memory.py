"""Peak memory of TemporalAttention on a day (1,440) and a week (10,080) of minute bars, on CPU.

Each case runs in a fresh subprocess and reports the process's peak resident memory (``VmHWM`` from
``/proc/self/status``) before and after the forward pass, next to the size a dense ``T x T`` score matrix
would need (``B * H * T * T * 4`` bytes): the chunked multi-timeframe attention never builds one.

Usage: ``python benchmarks/temporal_attention_memory.py [--quick]`` (not a test: nothing is asserted).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

CASES = [  # (batch, bars, backward)
    (4, 1_440, False),  # a day of minute bars
    (1, 10_080, False),  # a week of minutes
    (4, 10_080, False),
    (1, 10_080, True),
]
QUICK_CASES = [(4, 1_440, False), (1, 10_080, False)]


def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def child(batch: int, bars: int, backward: bool) -> None:
    import torch

    from ml_attention_mechanisms import TemporalAttention, TemporalAttentionConfig

    torch.manual_seed(0)
    cfg = TemporalAttentionConfig(d_model=256, num_heads=8, timeframe_windows=(1, 5, 15, 60, 240))
    module = TemporalAttention(cfg)
    x = torch.randn(batch, bars, 256, requires_grad=backward)
    ts = torch.arange(1640995200, 1640995200 + bars * 60, 60).repeat(batch, 1)
    before = _vm_hwm_mb()
    start = time.perf_counter()
    if backward:
        module(x, timestamps=ts).square().mean().backward()
    else:
        with torch.no_grad():
            module(x, timestamps=ts)
    seconds = time.perf_counter() - start
    dense_mb = batch * cfg.num_heads * bars * bars * 4 / 2**20
    print(
        json.dumps({"before_mb": before, "peak_mb": _vm_hwm_mb(), "seconds": seconds, "dense_mb": dense_mb})
    )


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--child":
        child(int(argv[1]), int(argv[2]), argv[3] == "1")
        return 0
    cases = QUICK_CASES if "--quick" in argv else CASES
    print(
        f"{'batch':>5} {'bars':>6} {'pass':>9} {'peak RSS MB':>12} {'+ forward MB':>13} {'dense TxT MB':>13} {'s':>7}"
    )
    for batch, bars, backward in cases:
        cmd = [sys.executable, __file__, "--child", str(batch), str(bars), "1" if backward else "0"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            print(f"{batch:>5} {bars:>6} failed: {res.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        kind = "fwd+bwd" if backward else "forward"
        print(
            f"{batch:>5} {bars:>6} {kind:>9} {r['peak_mb']:>12.0f} {r['peak_mb'] - r['before_mb']:>13.0f} "
            f"{r['dense_mb']:>13.0f} {r['seconds']:>7.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
