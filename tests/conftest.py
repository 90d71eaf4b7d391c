"""Shared test set-up: seeding, the ``--gpu`` and ``--benchmark`` switches, the ``extras`` marker, tiny fixtures."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from ml_attention_mechanisms._import_guard import EXTRAS

TESTS = Path(__file__).resolve().parent

# Two cores: keep each test process to one intra-op thread (pytest-xdist runs two processes).
torch.set_num_threads(int(os.environ.get("MLATTN_TEST_THREADS", "1")))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--gpu", action="store_true", default=False, help="run CUDA test cases")
    parser.addoption(
        "--benchmark",
        action="store_true",
        default=False,
        help="run speed-ratio assertions (marked benchmark)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_bench = config.getoption("--benchmark") or "benchmark" in (config.getoption("-m") or "")
    run_gpu = config.getoption("--gpu")
    for item in items:
        for mark in item.iter_markers("extras"):  # the core-only run deselects these: a typo would hide one
            if not mark.args or not set(mark.args) <= set(EXTRAS):
                raise pytest.UsageError(
                    f"{item.nodeid}: extras{mark.args}: expected names of {sorted(EXTRAS)}"
                )
        if "benchmark" in item.keywords and not run_bench:
            item.add_marker(pytest.mark.skip(reason="speed-ratio test: run with --benchmark or -m benchmark"))
        if "gpu" in item.keywords:
            if not run_gpu:
                item.add_marker(pytest.mark.skip(reason="CUDA case: run with --gpu"))
            elif not torch.cuda.is_available():
                item.add_marker(pytest.mark.skip(reason="CUDA is not available on this machine"))


@pytest.fixture
def no_tf32() -> Iterator[None]:
    """Exact float32 matmuls on CUDA (TF32 keeps 10 mantissa bits), restored afterwards."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


@pytest.fixture(autouse=True)
def _one_native_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """Evaluation and recipe tests: one BLAS/OpenMP thread per test process (2 shared cores; scikit-learn's
    and numpy's native threads would oversubscribe them)."""
    if not {"evaluation", "recipes"} & set(request.path.relative_to(TESTS).parts[:1]):
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    random.seed(16)
    np.random.seed(16)  # noqa: NPY002 - legacy global state is what library code may use
    torch.manual_seed(16)


def _modules_loaded_by(statements: str, roots: tuple[str, ...]) -> list[str]:
    """Run ``statements`` in a fresh interpreter; return the loaded modules whose top package is in ``roots``."""
    code = (
        f"import sys, json\n{statements}\n"
        f"print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in {roots!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return list(json.loads(out.strip().splitlines()[-1]))


@pytest.fixture
def modules_loaded_by() -> Callable[[str, tuple[str, ...]], list[str]]:
    """The import-weight checks' one helper: ``modules_loaded_by(statements, roots) -> [module, ...]``."""
    return _modules_loaded_by
