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
