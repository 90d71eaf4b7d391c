"""Helpers of the CLI tests: a refused command (one stderr line, exit 2, no traceback); a fresh interpreter."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml_attention_mechanisms.cli.main import main


def refused(argv: list[str], capsys: pytest.CaptureFixture[str], *expected: str) -> str:
    """Run ``mlattn argv``; assert exit 2 with one stderr line (no traceback) holding every ``expected``."""
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in err, err
    return err


def run_python(code: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -c code args...`` in a fresh interpreter in ``cwd``, importing this package from the same
    place as the tests do; stdout and stderr captured as text."""
    import ml_attention_mechanisms

    source = str(Path(ml_attention_mechanisms.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, env=env, check=False
    )
