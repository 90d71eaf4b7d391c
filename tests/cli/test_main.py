"""``mlattn`` itself: an unexpected error is one line, never a traceback (``--debug`` shows it)."""

from __future__ import annotations

import pytest

from ml_attention_mechanisms.cli.main import main


def test_unexpected_error_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml_attention_mechanisms.cli.list_models import ListModels

    def boom(cls: object, args: object) -> int:
        raise KeyError("signal")

    monkeypatch.setattr(ListModels, "run", classmethod(boom))
    assert main(["list-models"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "internal error: KeyError: 'signal'" in err and "--debug" in err
