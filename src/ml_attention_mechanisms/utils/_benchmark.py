"""Timing and memory of attention modules: :func:`benchmark_attention_implementations`.

How the figures are taken (the same for every implementation):

* Each module runs in ``eval()`` mode under ``torch.no_grad()``; ``warmup_runs`` untimed calls come first
  (kernel selection, lazy initialisation, allocator growth), then ``num_runs`` timed calls.
* Time: ``time.perf_counter`` around one call. On CUDA the device is synchronised before the clock starts
  and before it stops, so the figure is the kernel time, not the launch time.
* Memory on CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus what was
  allocated before the call: the peak of the caching allocator during the call, exact.
* Memory on CPU: the process's peak resident set (``VmHWM`` of ``/proc/self/status``), reset before each call
  by writing ``5`` to ``/proc/self/clear_refs`` (Linux), minus the resident set before the call. Free heap
  pages are handed back first with glibc's ``malloc_trim(0)`` so that a call is charged for the pages it
  touches rather than getting them free from an earlier call. It is the rise of the peak RSS: it counts
  every allocation of the call (torch's and others'), at page granularity. Where the counter cannot be
  reset (not Linux, or writing ``clear_refs`` is refused), ``memory_usage_mean_mb`` is left out of the
  result rather than reported wrong.

Units: milliseconds; MB means MiB (``2**20`` bytes) throughout the library.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import statistics
import time
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..attention import _dispatch

__all__ = ["MIB", "benchmark_attention_implementations", "peak_rss_supported"]

logger = logging.getLogger(__name__)

MIB = float(2**20)  # bytes in one MB as the library reports it (MiB)
_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


# -- CPU peak resident set ------------------------------------------------------------------------------
def _read_status_kib(field: str) -> int | None:
    try:
        with open(_STATUS, encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])  # "VmHWM:   123456 kB"
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        with open(_CLEAR_REFS, "w", encoding="ascii") as fh:
            fh.write("5")  # 5 = reset the peak resident set size to the current one (proc(5))
    except OSError:
        return False
    return True


def peak_rss_supported() -> bool:
    """True when the CPU memory figure can be measured here (Linux ``VmHWM`` that can be reset)."""
    return _read_status_kib("VmHWM") is not None and _reset_peak_rss()


_libc: Any = None


def _trim_heap() -> None:
    """Return free heap pages to the OS (glibc ``malloc_trim``); a no-op elsewhere."""
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        try:
            lib = ctypes.CDLL(name) if name else None
            _libc = lib if lib is not None and hasattr(lib, "malloc_trim") else False
        except OSError:
            _libc = False
    if _libc:
        _libc.malloc_trim(0)


class _MemoryProbe:
    """Measures the peak memory of one call on ``device`` (CUDA allocator or CPU peak RSS), in MiB."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.device = device
        self.supported = True if self.cuda else peak_rss_supported()
        self._base = 0.0

    def start(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = float(torch.cuda.memory_allocated(self.device))
        elif self.supported:
            _trim_heap()
            _reset_peak_rss()
            self._base = float(_read_status_kib("VmRSS") or 0) * 1024.0

    def stop(self) -> float | None:
        if self.cuda:
            torch.cuda.synchronize(self.device)
            return (float(torch.cuda.max_memory_allocated(self.device)) - self._base) / MIB
        if not self.supported:
            return None
        peak = float(_read_status_kib("VmHWM") or 0) * 1024.0
        return max(peak - self._base, 0.0) / MIB


# -- which kernel ran --------------------------------------------------------------------------------------
def _explain(calls: list[tuple[str, str]]) -> tuple[str, str]:
    """(backends used, in order of first use, joined by ``+``; explain_dispatch text of the first call)."""
    if not calls:
        return "none", "no call went through the attention dispatch"
    used: list[str] = []
    for name, _ in calls:
        if name not in used:
            used.append(name)
    return "+".join(used), calls[0][1]


# -- the benchmark ----------------------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _check_args(implementations: Any, input_tensor: Any, num_runs: Any, warmup_runs: Any) -> None:
    if not isinstance(implementations, Mapping) or not implementations:
        raise ValueError(
            "implementations must be a non-empty dict {name: nn.Module}, "
            f"got {type(implementations).__name__} {implementations!r:.80}"
        )
    for name, module in implementations.items():
        if not isinstance(name, str):
            raise ValueError(f"implementations keys must be str names, got {name!r}")
        if not isinstance(module, nn.Module):
            raise ValueError(f"implementations[{name!r}] must be an nn.Module, got {type(module).__name__}")
    if not isinstance(input_tensor, Tensor):
        raise ValueError(f"input_tensor must be a torch.Tensor, got {type(input_tensor).__name__}")
    if isinstance(num_runs, bool) or not isinstance(num_runs, int) or num_runs < 1:
        raise ValueError(f"num_runs={num_runs!r}: must be an int >= 1")
    if isinstance(warmup_runs, bool) or not isinstance(warmup_runs, int) or warmup_runs < 0:
        raise ValueError(f"warmup_runs={warmup_runs!r}: must be an int >= 0")


def benchmark_attention_implementations(
    implementations: Mapping[str, nn.Module],
    input_tensor: Tensor,
    num_runs: int = 10,
    *,
    warmup_runs: int = 2,
) -> dict[str, dict[str, Any]]:
    """Time each module on the same input and measure the peak memory of one call.

    Args:
        implementations: ``{name: module}``; each is called as ``module(input_tensor)``. Modules are put in
            ``eval()`` mode (and left so) and must already be on ``input_tensor``'s device.
        input_tensor: the input, e.g. ``[B, T, d_model]`` for attention layers.
        num_runs: timed calls per module. Default: 10.
        warmup_runs: untimed calls before the timed ones. Default: 2.

    Returns:
        ``{name: stats}`` with, for each name, the floats ``forward_time_mean_ms``, ``forward_time_std_ms``
        (sample standard deviation; 0 for one run), ``forward_time_min_ms``, ``forward_time_median_ms``,
        ``memory_usage_mean_mb`` and ``memory_usage_max_mb`` (MiB; see the module docstring for how, left
        out where the CPU counter cannot be reset), ``num_runs``; and two strings: ``backend`` (the kernel(s)
        the attention dispatch chose, ``+``-joined, or ``"none"``) and ``dispatch`` (the
        :func:`explain_dispatch` text for the module's first attention call).

    Raises:
        ValueError: empty or ill-typed ``implementations``, ``num_runs < 1``, ``warmup_runs < 0``, or a
            module with parameters on another device than ``input_tensor``.

    Examples:
        >>> from ml_attention_mechanisms import AttentionConfig, MultiHeadAttention
        >>> layer = MultiHeadAttention(AttentionConfig(d_model=32, num_heads=4))
        >>> stats = benchmark_attention_implementations({"mha": layer}, torch.randn(1, 8, 32), num_runs=2)
        >>> stats["mha"]["forward_time_mean_ms"] > 0
        True
    """
    _check_args(implementations, input_tensor, num_runs, warmup_runs)
    device = input_tensor.device
    results: dict[str, dict[str, Any]] = {}
    for name, module in implementations.items():
        param = next(iter(module.parameters()), None)
        if param is not None and param.device != device:
            raise ValueError(
                f"implementations[{name!r}] has parameters on {param.device}, input_tensor is on {device}"
            )
        module.eval()
        probe = _MemoryProbe(device)
        times: list[float] = []
        backend, text = "none", ""
        memory: list[float] = []
        with torch.no_grad():
            for i in range(warmup_runs + num_runs):
                timed = i >= warmup_runs
                # The first call (a warm-up one unless warmup_runs=0) records the dispatch decisions (one
                # explanation string per attention call).
                record: contextlib.AbstractContextManager[list[tuple[str, str]]] = (
                    _dispatch.record_dispatch() if i == 0 else contextlib.nullcontext([])
                )
                if timed:
                    probe.start()
                    _sync(device)
                    start = time.perf_counter()
                with record as calls:
                    module(input_tensor)
                if i == 0:
                    backend, text = _explain(calls)
                if timed:
                    _sync(device)
                    times.append((time.perf_counter() - start) * 1e3)
                    used = probe.stop()
                    if used is not None:
                        memory.append(used)
        stats: dict[str, Any] = {
            "forward_time_mean_ms": statistics.fmean(times),
            "forward_time_std_ms": statistics.stdev(times) if len(times) > 1 else 0.0,
            "forward_time_min_ms": min(times),
            "forward_time_median_ms": statistics.median(times),
            "num_runs": float(len(times)),
            "backend": backend,
            "dispatch": text,
        }
        if memory:
            stats["memory_usage_mean_mb"] = statistics.fmean(memory)
            stats["memory_usage_max_mb"] = max(memory)
        results[name] = stats
        logger.info("benchmark %s: %.3f ms (backend %s)", name, stats["forward_time_mean_ms"], backend)
    return results
