"""What the CUDA test files (``test_*_cuda.py``) share: their device, their marks, moving inputs there.

They are marked ``gpu`` (run with ``--gpu`` on a machine with CUDA; skipped with a reason elsewhere) and use
the ``no_tf32`` fixture of ``conftest.py`` (exact float32 matmuls, so that CUDA can be compared with the CPU).
``MLATTN_TEST_DEVICE=cpu pytest tests/<dir>/test_<name>_cuda.py`` dry-runs them on the CPU: the device
becomes ``cpu`` and the ``gpu`` mark is dropped, which checks the tests' logic (not CUDA) on any machine.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import torch

ON_CPU = os.environ.get("MLATTN_TEST_DEVICE") == "cpu"
DEVICE = torch.device("cpu" if ON_CPU else "cuda")
MARKS = [pytest.mark.usefixtures("no_tf32"), *([] if ON_CPU else [pytest.mark.gpu])]


def to_device(obj: Any) -> Any:
    """Tensors (also inside dicts, lists and tuples) moved to :data:`DEVICE`; anything else as it is."""
    if isinstance(obj, torch.Tensor):
        return obj.to(DEVICE)
    if isinstance(obj, dict):
        return {k: to_device(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v) for v in obj)
    return obj


def flat_tensors(out: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of a (nested) output dict, list or tuple, keyed by its path."""
    if isinstance(out, torch.Tensor):
        return {prefix: out}
    if isinstance(out, dict):
        return {k2: v2 for k, v in out.items() for k2, v2 in flat_tensors(v, f"{prefix}/{k}").items()}
    if isinstance(out, (list, tuple)):
        return {k2: v2 for i, v in enumerate(out) for k2, v2 in flat_tensors(v, f"{prefix}/{i}").items()}
    return {}


def assert_same_outputs(got: Any, want: Any) -> None:
    """``got`` (on :data:`DEVICE`) equals ``want`` (CPU): the same tensors, dtypes, values within 1e-4 (exact
    for integer and bool outputs)."""
    g, w = flat_tensors(got), flat_tensors(want)
    assert set(g) == set(w) and w
    for key, ref in w.items():
        out = g[key]
        assert out.device.type == DEVICE.type and out.dtype == ref.dtype, key
        if ref.is_floating_point():
            torch.testing.assert_close(out.cpu(), ref, atol=1e-4, rtol=1e-4, msg=key)
        else:
            assert torch.equal(out.cpu(), ref), key
