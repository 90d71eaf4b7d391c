"""Shared benchmark machinery: interleaved median timing with spread, and peak RSS in a fresh process.

Protocol: CPU, float32, a fixed number of threads; every case warmed up, then timed ``runs`` times
with the cases of a group interleaved (round-robin), so that machine load hits all of them alike; the median
is reported with the spread (min..max as +-% of the median). Peak memory is read per case in a fresh
subprocess from the kernel's peak-RSS counter ``VmHWM`` (``/proc/self/status``), reset through
``/proc/self/clear_refs`` after set-up and warm-up, so it measures the operation alone. :class:`Target`
carries the device (CPU or CUDA: moving batches, synchronising clocks, allocator peak memory).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

__all__ = [
    "Case",
    "Target",
    "Timing",
    "format_table",
    "load_note",
    "peak_rss_in_subprocess",
    "run_peak_case",
    "time_interleaved",
]


@dataclasses.dataclass
class Case:
    """One operation to time: ``fn`` is timed; ``setup`` (untimed) runs before each call when given."""

    fn: Callable[[], object]
    setup: Callable[[], None] | None = None


@dataclasses.dataclass
class Timing:
    median_ms: float
    min_ms: float
    max_ms: float
    runs: int

    @property
    def spread_pct(self) -> float:
        """Half the min..max range as a percentage of the median."""
        return 50.0 * (self.max_ms - self.min_ms) / self.median_ms if self.median_ms else 0.0

    def __str__(self) -> str:
        return f"{self.median_ms:.2f} ms (+-{self.spread_pct:.0f}%)"


def time_interleaved(cases: dict[str, Case], *, runs: int = 10, warmup: int = 2) -> dict[str, Timing]:
    """Median wall time of each case; the cases are interleaved run by run."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for case in cases.values():
        for _ in range(warmup):
            if case.setup is not None:
                case.setup()
            case.fn()
    for _ in range(runs):
        for name, case in cases.items():
            if case.setup is not None:
                case.setup()
            t0 = time.perf_counter()
            case.fn()
            samples[name].append((time.perf_counter() - t0) * 1e3)
    return {name: Timing(statistics.median(s), min(s), max(s), len(s)) for name, s in samples.items()}


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        match = re.search(rf"^{field}:\s+(\d+) kB", fh.read(), re.MULTILINE)
    if match is None:  # pragma: no cover - non-Linux
        raise RuntimeError(f"/proc/self/status has no {field}")
    return int(match.group(1))


def run_peak_case(case: Case) -> dict[str, float]:
    """In the current (fresh) process: set up, warm up once, reset the peak counter, run once, report MB."""
    if case.setup is not None:
        case.setup()
    case.fn()  # warm-up: lazy allocations and kernel selection are not the operation's peak
    if case.setup is not None:
        case.setup()
    baseline = _status_kb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM to the current RSS
        reset = True
    except OSError:  # pragma: no cover - kernels without it: the warm-up peak may dominate
        reset = False
    case.fn()
    peak = _status_kb("VmHWM")
    return {"peak_mb": (peak - baseline) / 1024.0, "baseline_mb": baseline / 1024.0, "reset": float(reset)}


def peak_rss_in_subprocess(script: str, case_name: str, extra: list[str] | None = None) -> float:
    """Run ``script --peak CASE`` in a fresh interpreter and return the case's peak RSS increase in MB."""
    proc = subprocess.run(
        [sys.executable, script, "--peak", case_name, *(extra or [])], capture_output=True, text=True
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
        raise RuntimeError(f"peak-memory run of {case_name!r} failed (exit {proc.returncode}): {tail[0]}")
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["peak_mb"])


def load_note() -> str:
    """The machine's load while measuring (these machines are shared)."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    sep = "| " + " | ".join("-" * w for w in widths) + " |"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


@dataclasses.dataclass(frozen=True)
class Target:
    """Where and how to measure.

    ``cuda_protocol``: synchronised clocks, more warm-up, allocator memory in-process. It runs on the ``cuda``
    device, or on the CPU as a dry run of that code path where there is no GPU (``model_bench.py
    --dry-run-cuda``): synchronising is then a no-op and memory is the in-process peak RSS.
    """

    device: torch.device
    cuda_protocol: bool
    bf16: bool

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def move(self, batch: Any) -> Any:
        """``batch`` (a tensor, or dicts of them) on the device."""
        if isinstance(batch, torch.Tensor):
            return batch.to(self.device)
        if isinstance(batch, dict):
            return {k: self.move(v) for k, v in batch.items()}
        return batch

    @property
    def precision(self) -> str:
        if not self.bf16:
            return "float32"
        half = "bfloat16" if self.device.type != "cuda" or torch.cuda.is_bf16_supported() else "float16"
        return f"{half} autocast (use_mixed_precision=True, float32 weights)"

    @property
    def name(self) -> str:
        """``"cpu"`` or the CUDA device's name."""
        return torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"

    def peak_mb(self, fn: Callable[[], object]) -> float:
        """Peak memory rise (MB) of one call of ``fn``, in-process: the CUDA allocator's ``max_memory_allocated``
        after ``reset_peak_memory_stats``; on the CPU the peak RSS (:func:`run_peak_case`: one more warm-up)."""
        if self.device.type != "cuda":
            return max(run_peak_case(Case(fn=fn))["peak_mb"], 0.0)
        self.sync()
        torch.cuda.reset_peak_memory_stats(self.device)
        base = torch.cuda.memory_allocated(self.device)
        fn()
        self.sync()
        return (torch.cuda.max_memory_allocated(self.device) - base) / 2**20

    def describe(self) -> str:
        """The header: device, torch, precision, protocol."""
        if self.device.type == "cuda":
            where = (
                f"CUDA {torch.cuda.get_device_name(self.device)}, torch {torch.__version__}, {self.precision}, "
                f"float32 matmul precision {torch.get_float32_matmul_precision()!r}"
            )
        else:
            where = f"CPU {self.precision}, {torch.get_num_threads()} threads"
            if self.cuda_protocol:
                where = f"DRY RUN of the CUDA protocol on the {where}, torch {torch.__version__}"
        if self.cuda_protocol:
            memory = "allocator peak rise" if self.device.type == "cuda" else "peak RSS rise, in-process"
            where += f"; data loading excluded, host-to-device copy timed; memory = {memory}"
        return where
