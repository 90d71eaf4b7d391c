"""Helper of the CLI tests: a refused command (one stderr line, exit 2, no traceback)."""

from __future__ import annotations

import contextlib
import io

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
