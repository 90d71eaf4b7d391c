"""benchmarks/peer_bench.py: a peer library that is not installed is skipped with the reason and the extra."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _peer_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("peer_bench_under_test", BENCHMARKS / "peer_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_missing_peer_is_named_with_the_bench_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _peer_bench()
    # A None entry makes `import name` raise ModuleNotFoundError, as if the package were not installed.
    for name in ("x_transformers", "neuralforecast", "neuralforecast.models"):
        monkeypatch.setitem(sys.modules, name, None)
    extra = 'pip install -c constraints.txt "ml-attention-mechanisms[bench]"'
    assert bench.x_transformers() == f"x-transformers is not installed ({extra})"
    assert bench.patchtst() == f"neuralforecast is not installed ({extra})"
