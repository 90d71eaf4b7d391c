"""``mlattn list-models`` prints every registered model."""

from __future__ import annotations

import pytest

from ml_attention_mechanisms.cli.main import main
from ml_attention_mechanisms.models._registry import list_models


def test_list_models_prints_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list-models"]) == 0
    out = capsys.readouterr().out
    names = list_models()
    assert {"price_predictor", "signal_generator", "risk_assessor", "portfolio_optimizer"} <= set(names)
    for name in names:
        assert any(line.split()[0] == name for line in out.splitlines()[1:]), name


def test_list_models_pattern(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list-models", "*_small"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert rows and all(r.split()[0].endswith("_small") for r in rows)


def test_unknown_command_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no-such-command" in err
