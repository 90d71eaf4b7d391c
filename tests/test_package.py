"""Package-level contracts: version, lazy exports, and a light import."""

from __future__ import annotations

from collections.abc import Callable

import ml_attention_mechanisms as mam


def test_version_is_a_string() -> None:
    assert isinstance(mam.__version__, str) and mam.__version__.count(".") == 2


def test_every_export_resolves() -> None:
    for name in mam.__all__:
        assert getattr(mam, name) is not None, name


def test_unknown_attribute_raises() -> None:
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        mam.Nope  # noqa: B018


def test_import_pulls_in_nothing_heavy(
    modules_loaded_by: Callable[[str, tuple[str, ...]], list[str]],
) -> None:
    # A fresh interpreter: importing the package (and its attention layer) loads torch only.
    heavy = (
        "pandas",
        "lightning",
        "pytorch_lightning",
        "matplotlib",
        "plotly",
        "onnx",
        "onnxruntime",
        "sklearn",
        "arch",
    )
    assert modules_loaded_by("import ml_attention_mechanisms as m; m.MultiHeadAttention", heavy) == []
