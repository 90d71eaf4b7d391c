"""What a run shows while it works: one line per stage, progress bars, and the time each step took."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .._import_guard import needs_extra

__all__ = ["Timings", "progress_bar", "say"]

_T = TypeVar("_T")


def say(message: str, enabled: bool) -> None:
    """One stage line on stdout (``[mlattn] message``) when ``enabled``; a run's only prints."""
    if enabled:
        print(f"[mlattn] {message}", flush=True)


def progress_bar(items: Iterable[_T], total: int, desc: str, enabled: bool) -> Iterable[_T]:
    """``items`` behind a transient tqdm bar when ``enabled`` (else ``items`` unchanged)."""
    if not enabled:
        return items
    with needs_extra("data"):
        from tqdm.auto import tqdm

    return tqdm(items, total=total, desc=desc, leave=False, dynamic_ncols=True)  # type: ignore[no-any-return]


@dataclass
class Timings:
    """Wall-clock seconds of a run's steps, in the order they ran (``metrics.json`` ``timings_s``).

    Held by the recipe that runs the steps: each step is timed where the recipe calls it.
    """

    start: float = field(default_factory=time.perf_counter)
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def measure(self, step: str) -> Iterator[None]:
        """Time the ``with`` block as ``step``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = time.perf_counter() - t0

    def add(self, seconds: Mapping[str, float]) -> None:
        """Record steps timed elsewhere (e.g. the sub-steps a scoring function returns)."""
        self.seconds.update(seconds)

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.start

    def with_total(self) -> dict[str, Any]:
        """Every step and the ``total`` so far."""
        return {**self.seconds, "total": self.elapsed()}
